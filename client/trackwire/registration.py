"""`trackwire.register_model`: the fluent way into the model registry, as MLflow's."""

from __future__ import annotations

import sys

from trackwire import errors
from trackwire.artifacts import MODELS_SCHEME, RUNS_SCHEME, parse_runs_uri
from trackwire.registry_entities import ModelVersion


def register_model(
    model_uri: str,
    name: str,
    await_registration_for: int = 300,
    *,
    tags: dict[str, str] | None = None,
) -> ModelVersion:
    """Registers the model at `model_uri` as the next version of `name`, creating the
    registered model if it does not exist yet; returns the new version.

    `model_uri` is `runs:/<run_id>/<path>` (files the run already stores: nothing is
    copied) or a `models:/` URI of another version (the new version points at the same
    files). `await_registration_for` is accepted for MLflow compatibility.
    """
    from trackwire.fluent import _client

    client = _client()
    try:
        client.create_registered_model(name)
        print(f"Successfully registered model '{name}'.", file=sys.stderr)
    except errors.AlreadyExistsError:
        print(
            f"Registered model '{name}' already exists. Creating a new version of this model...",
            file=sys.stderr,
        )
    if model_uri.startswith(RUNS_SCHEME):
        source, run_id = model_uri, parse_runs_uri(model_uri)[0]
    elif model_uri.startswith(MODELS_SCHEME):
        from trackwire.artifacts import resolve

        resolved = resolve(model_uri, client.tracking_uri)
        other = client.get_model_version(resolved.model_name, resolved.model_version)
        source, run_id = other.source, other.run_id
    else:
        source, run_id = model_uri, None
    version = client.create_model_version(name, source, run_id, tags=tags)
    print(f"Created version '{version.version}' of model '{name}'.", file=sys.stderr)
    return version
