"""Trackwire: experiment tracking over gRPC.

import trackwire
trackwire.set_experiment("churn")
with trackwire.start_run(run_name="baseline"):
    trackwire.log_param("C", 1.0)
    for step in range(100):
        trackwire.log_metric("loss", 1 / (step + 1), step=step)
"""

__version__ = "0.1.0"

# The public names and the module each comes from, loaded on first use: `import
# trackwire.v1` (the server imports the stubs) runs this file, and should load no client
# code. `import trackwire; trackwire.log_metric(...)` and `from trackwire import
# TrackwireClient` load what they name.
_EXPORTS = {
    "TrackwireClient": "trackwire.client",
    "Experiment": "trackwire.entities",
    "FileInfo": "trackwire.entities",
    "Metric": "trackwire.entities",
    "MetricHistory": "trackwire.entities",
    "Run": "trackwire.entities",
    "RunInfo": "trackwire.entities",
    "ViewType": "trackwire.entities",
    "TrackwireException": "trackwire.errors",
    "PermissionDeniedError": "trackwire.errors",
    "UnauthenticatedError": "trackwire.errors",
    "set_tracking_token": "trackwire.credentials",
    "register_model": "trackwire.registration",
    "ModelVersion": "trackwire.registry_entities",
    "RegisteredModel": "trackwire.registry_entities",
    **dict.fromkeys(
        (
            "ActiveRun",
            "active_run",
            "create_experiment",
            "delete_experiment",
            "delete_run",
            "delete_tag",
            "end_run",
            "flush",
            "get_artifact_uri",
            "get_experiment",
            "get_experiment_by_name",
            "get_run",
            "get_tracking_uri",
            "last_active_run",
            "log_artifact",
            "log_artifacts",
            "log_dict",
            "log_figure",
            "log_metric",
            "log_metrics",
            "log_param",
            "log_params",
            "log_table",
            "log_text",
            "search_experiments",
            "search_runs",
            "set_experiment",
            "set_tag",
            "set_tags",
            "set_tracking_uri",
            "start_run",
        ),
        "trackwire.fluent",
    ),
}
# Submodules loaded on first use too (`trackwire.sklearn.log_model(...)` works without
# `import trackwire.sklearn`); each flavor imports its library lazily as well.
_LAZY_SUBMODULES = (
    "artifacts",
    "lightgbm",
    "models",
    "pyfunc",
    "pytorch",
    "sklearn",
    "tensorflow",
    "tracking",
    "xgboost",
)


def __getattr__(name: str):
    import importlib

    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # found directly from now on
        return value
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"trackwire.{name}")
    raise AttributeError(f"module 'trackwire' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_LAZY_SUBMODULES))


# The public names: what _EXPORTS loads, and the two submodules named in the guide.
__all__ = sorted([*_EXPORTS, "artifacts", "tracking"])
