"""Trackwire: experiment tracking over gRPC.

import trackwire
trackwire.set_experiment("churn")
with trackwire.start_run(run_name="baseline"):
    trackwire.log_param("C", 1.0)
    for step in range(100):
        trackwire.log_metric("loss", 1 / (step + 1), step=step)
"""

from trackwire import artifacts, tracking
from trackwire.client import TrackwireClient
from trackwire.entities import Experiment, FileInfo, Metric, MetricHistory, Run, RunInfo, ViewType
from trackwire.errors import TrackwireException
from trackwire.fluent import (
    ActiveRun,
    active_run,
    create_experiment,
    delete_experiment,
    delete_run,
    delete_tag,
    end_run,
    flush,
    get_artifact_uri,
    get_experiment,
    get_experiment_by_name,
    get_run,
    get_tracking_uri,
    last_active_run,
    log_artifact,
    log_artifacts,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    search_experiments,
    search_runs,
    set_experiment,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
)
from trackwire.registration import register_model
from trackwire.registry_entities import ModelVersion, RegisteredModel

__version__ = "0.1.0"

__all__ = [
    "ActiveRun",
    "Experiment",
    "FileInfo",
    "Metric",
    "MetricHistory",
    "ModelVersion",
    "RegisteredModel",
    "Run",
    "RunInfo",
    "TrackwireClient",
    "TrackwireException",
    "artifacts",
    "ViewType",
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
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "register_model",
    "search_experiments",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
    "tracking",
]
