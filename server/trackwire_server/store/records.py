"""Plain records the store returns: no Peewee rows escape the store."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ExperimentRecord:
    experiment_id: int
    name: str
    artifact_location: str
    lifecycle_stage: int
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class MetricRecord:
    key: str
    value: float
    timestamp: int
    step: int


@dataclass
class MetricPointColumns:
    """Metric points of one run in columns (LogBatch): point i has the key
    keys[key_index[i]] (key_index may be empty with one key), value values[i], step
    steps[i] (empty: 0) and timestamp timestamps[i] (empty or 0: now). The columns are any
    sequences numpy takes (protobuf's repeated fields as they are)."""

    keys: list[str]
    key_index: object
    values: object
    steps: object
    timestamps: object


@dataclass
class RunRecord:
    run_id: str
    experiment_id: int
    name: str
    status: int
    start_time: int
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: int
    parent_run_id: str | None
    user_id: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[MetricRecord] = field(default_factory=list)


@dataclass
class ModelVersionRecord:
    name: str
    version: int
    creation_time: int
    last_update_time: int
    user_id: str
    current_stage: str
    description: str
    source: str
    run_id: str
    status: int
    status_message: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)


@dataclass
class RegisteredModelRecord:
    name: str
    creation_time: int
    last_update_time: int
    description: str
    latest_versions: list[ModelVersionRecord] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> version
