"""The one place that turns store records into protos and back."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from trackwire.v1 import artifact_service_pb2 as artifact_pb
from trackwire.v1 import experiment_pb2, registered_model_pb2, run_pb2, tracking_service_pb2
from trackwire_server.artifacts.repository import FileEntry
from trackwire_server.store.records import (
    ExperimentRecord,
    MetricPointColumns,
    MetricRecord,
    ModelVersionRecord,
    RegisteredModelRecord,
    RunRecord,
)
from trackwire_server.store.writes import NewRun


def timestamp(ms: int | None) -> Timestamp | None:
    if ms is None:
        return None
    ts = Timestamp()
    ts.FromMilliseconds(ms)
    return ts


def millis(ts: Timestamp, present: bool) -> int | None:
    """Milliseconds of a Timestamp field, or None when the field is unset."""
    return ts.ToMilliseconds() if present else None


def experiment(record: ExperimentRecord) -> experiment_pb2.Experiment:
    return experiment_pb2.Experiment(
        experiment_id=str(record.experiment_id),
        name=record.name,
        artifact_location=record.artifact_location,
        lifecycle_stage=record.lifecycle_stage,
        tags=[experiment_pb2.ExperimentTag(key=k, value=v) for k, v in sorted(record.tags.items())],
        create_time=timestamp(record.creation_time),
        update_time=timestamp(record.last_update_time),
    )


def run_info(record: RunRecord) -> run_pb2.RunInfo:
    return run_pb2.RunInfo(
        run_id=record.run_id,
        experiment_id=str(record.experiment_id),
        run_name=record.name,
        status=record.status,
        start_time=timestamp(record.start_time),
        end_time=timestamp(record.end_time),
        artifact_uri=record.artifact_uri,
        lifecycle_stage=record.lifecycle_stage,
        parent_run_id=record.parent_run_id or "",
        user_id=record.user_id,
    )


def run(record: RunRecord) -> run_pb2.Run:
    message = run_pb2.Run(info=run_info(record))
    data = message.data
    for m in record.metrics:
        data.metrics.add(key=m.key, value=m.value, timestamp_ms=m.timestamp, step=m.step)
    for key, value in record.params.items():
        data.params.add(key=key, value=value)
    for key, value in record.tags.items():
        data.tags.add(key=key, value=value)
    return message


def run_table(records: list[RunRecord]) -> tracking_service_pb2.RunTable:
    """Runs as columns; one column per key, in name order."""
    n = len(records)
    table = tracking_service_pb2.RunTable(
        run_ids=[r.run_id for r in records],
        experiment_ids=[str(r.experiment_id) for r in records],
        statuses=[r.status for r in records],
        artifact_uris=[r.artifact_uri for r in records],
        start_times_ms=[r.start_time for r in records],
        end_times_ms=[r.end_time or 0 for r in records],
        run_names=[r.name for r in records],
    )
    kinds: dict[str, dict[str, dict[int, object]]] = {"metrics": {}, "params": {}, "tags": {}}
    metrics, params, tags = kinds.values()
    for i, r in enumerate(records):
        for m in r.metrics:
            cells = metrics.get(m.key)
            if cells is None:
                cells = metrics[m.key] = {}
            cells[i] = m.value
        for kind, values in ((params, r.params), (tags, r.tags)):
            for key, value in values.items():
                cells = kind.get(key)
                if cells is None:
                    cells = kind[key] = {}
                cells[i] = value
    named = {
        f"{prefix}.{key}": (prefix, cells)
        for prefix, keyed in kinds.items()
        for key, cells in keyed.items()
    }
    rows = range(n)
    for name in sorted(named):
        prefix, cells = named[name]
        present = [i in cells for i in rows] if len(cells) < n else [True] * n
        if prefix == "metrics":
            numbers = list(cells.values()) if len(cells) == n else [cells.get(i, 0.0) for i in rows]
            table.columns.add(name=name, numbers=numbers, present=present)
        else:
            strings = list(cells.values()) if len(cells) == n else [cells.get(i, "") for i in rows]
            table.columns.add(name=name, strings=strings, present=present)
    return table


def metric_records(metrics) -> list[MetricRecord]:
    """Repeated Metric messages as records (inline: batches hold thousands)."""
    return [MetricRecord(m.key, m.value, m.timestamp_ms, m.step) for m in metrics]


def metric_point_columns(columns) -> MetricPointColumns:
    """A MetricPointColumns message as the store's record (the repeated fields as they are:
    numpy reads them in one go)."""
    return MetricPointColumns(
        keys=list(columns.keys),
        key_index=columns.key_index,
        values=columns.values,
        steps=columns.steps,
        timestamps=columns.timestamps_ms,
    )


def new_run(request) -> NewRun:
    """A CreateRunRequest as the store's NewRun."""
    return NewRun(
        run_name=request.run_name,
        start_time=millis(request.start_time, request.HasField("start_time")),
        tags={t.key: t.value for t in request.tags},
        parent_run_id=request.parent_run_id,
        run_id=request.run_id,
        user_id=request.user_id,
        params=[(p.key, p.value) for p in request.params],
        metrics=metric_records(request.metrics),
    )


def file_info(entry: FileEntry) -> artifact_pb.FileInfo:
    return artifact_pb.FileInfo(path=entry.path, is_dir=entry.is_dir, file_size=entry.size)


def model_version(record: ModelVersionRecord) -> registered_model_pb2.ModelVersion:
    return registered_model_pb2.ModelVersion(
        name=record.name,
        version=str(record.version),
        create_time=timestamp(record.creation_time),
        update_time=timestamp(record.last_update_time),
        user_id=record.user_id,
        current_stage=record.current_stage,
        description=record.description,
        source=record.source,
        run_id=record.run_id,
        status=record.status,
        status_message=record.status_message,
        tags=[
            registered_model_pb2.ModelVersionTag(key=k, value=v)
            for k, v in sorted(record.tags.items())
        ],
        aliases=record.aliases,
    )


def registered_model(record: RegisteredModelRecord) -> registered_model_pb2.RegisteredModel:
    return registered_model_pb2.RegisteredModel(
        name=record.name,
        create_time=timestamp(record.creation_time),
        update_time=timestamp(record.last_update_time),
        description=record.description,
        latest_versions=[model_version(v) for v in record.latest_versions],
        tags=[
            registered_model_pb2.RegisteredModelTag(key=k, value=v)
            for k, v in sorted(record.tags.items())
        ],
        aliases=[
            registered_model_pb2.RegisteredModelAlias(alias=a, version=str(v))
            for a, v in record.aliases.items()
        ],
    )
