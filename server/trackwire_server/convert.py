"""The one place that turns store records into protos and back."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from trackwire.v1 import artifact_service_pb2 as artifact_pb
from trackwire.v1 import experiment_pb2, run_pb2
from trackwire_server.artifacts.repository import FileEntry
from trackwire_server.store.records import ExperimentRecord, MetricRecord, RunRecord


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
    return run_pb2.Run(
        info=run_info(record),
        data=run_pb2.RunData(
            metrics=[
                run_pb2.Metric(key=m.key, value=m.value, timestamp_ms=m.timestamp, step=m.step)
                for m in sorted(record.metrics, key=lambda m: m.key)
            ],
            params=[run_pb2.Param(key=k, value=v) for k, v in sorted(record.params.items())],
            tags=[run_pb2.RunTag(key=k, value=v) for k, v in sorted(record.tags.items())],
        ),
    )


def metric_record(metric: run_pb2.Metric) -> MetricRecord:
    return MetricRecord(metric.key, metric.value, metric.timestamp_ms, metric.step)


def file_info(entry: FileEntry) -> artifact_pb.FileInfo:
    return artifact_pb.FileInfo(path=entry.path, is_dir=entry.is_dir, file_size=entry.size)
