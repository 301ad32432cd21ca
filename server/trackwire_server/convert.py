"""The one place that turns store records into protos and back."""

from __future__ import annotations

import functools
import time

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from trackwire.v1 import artifact_service_pb2 as artifact_pb
from trackwire.v1 import experiment_pb2, registered_model_pb2, run_pb2, tracking_service_pb2
from trackwire_protocol.times import timestamp  # noqa: F401 (convert.timestamp)
from trackwire_server.artifacts.repository import FileEntry
from trackwire_server.errors import InvalidArgument, ResourceExhausted, TrackwireError
from trackwire_server.limits import LIMITS
from trackwire_server.store.records import (
    ExperimentRecord,
    MetricPointColumns,
    MetricRecord,
    ModelVersionRecord,
    RegisteredModelRecord,
    RunRecord,
)
from trackwire_server.store.validation import check_key, check_run_id
from trackwire_server.store.writes import NewRun


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


def _set_time(ts: Timestamp, ms: int | None) -> None:
    if ms is not None:
        ts.seconds, rest = divmod(ms, 1000)
        ts.nanos = rest * 1_000_000


def fill_run_info(info: run_pb2.RunInfo, record: RunRecord) -> None:
    """Sets the fields of an empty RunInfo in place (cheaper than building one and
    copying it in: a page of search results holds thousands of values)."""
    info.run_id = record.run_id
    info.experiment_id = str(record.experiment_id)
    info.run_name = record.name
    info.status = record.status
    _set_time(info.start_time, record.start_time)
    _set_time(info.end_time, record.end_time)
    info.artifact_uri = record.artifact_uri
    info.lifecycle_stage = record.lifecycle_stage
    info.parent_run_id = record.parent_run_id or ""
    info.user_id = record.user_id


def fill_run(message: run_pb2.Run, record: RunRecord) -> None:
    """Sets the fields of an empty Run in place (e.g. one added to a response)."""
    fill_run_info(message.info, record)
    data = message.data
    add = data.metrics.add
    for m in record.metrics:
        add(key=m.key, value=m.value, timestamp_ms=m.timestamp, step=m.step)
    add = data.params.add
    for key, value in record.params.items():
        add(key=key, value=value)
    add = data.tags.add
    for key, value in record.tags.items():
        add(key=key, value=value)


def run(record: RunRecord) -> run_pb2.Run:
    message = run_pb2.Run()
    fill_run(message, record)
    return message


def runs_into(repeated, records: list[RunRecord]) -> None:
    """Appends the records to a repeated Run field."""
    add = repeated.add
    for record in records:
        fill_run(add(), record)


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
        lifecycle_stages=[r.lifecycle_stage for r in records],
        user_ids=[r.user_id for r in records],
        parent_run_ids=[r.parent_run_id or "" for r in records],
    )
    # {key: {row: MetricRecord or string}}, per kind
    metrics: dict[str, dict[int, MetricRecord]] = {}
    params: dict[str, dict[int, str]] = {}
    tags: dict[str, dict[int, str]] = {}
    for i, r in enumerate(records):
        for m in r.metrics:
            cells = metrics.get(m.key)
            if cells is None:
                cells = metrics[m.key] = {}
            cells[i] = m
        for kind, values in ((params, r.params), (tags, r.tags)):
            for key, value in values.items():
                cells = kind.get(key)
                if cells is None:
                    cells = kind[key] = {}
                cells[i] = value
    named = {
        f"{prefix}.{key}": cells
        for prefix, kind in (("metrics", metrics), ("params", params), ("tags", tags))
        for key, cells in kind.items()
    }
    rows = range(n)
    for name in sorted(named):
        cells = named[name]
        full = len(cells) == n
        present = [True] * n if full else [i in cells for i in rows]
        if name.startswith("metrics."):
            points = list(cells.values()) if full else [cells.get(i, _NO_POINT) for i in rows]
            table.columns.add(
                name=name,
                present=present,
                numbers=[m.value for m in points],
                timestamps_ms=[m.timestamp for m in points],
                steps=[m.step for m in points],
            )
        else:
            strings = list(cells.values()) if full else [cells.get(i, "") for i in rows]
            table.columns.add(name=name, strings=strings, present=present)
    return table


# Where a run lacks a metric of its page's table: zeros, with `present` false.
_NO_POINT = MetricRecord("", 0.0, 0, 0)


def _checked_points(points, field: str, limit: int, too_many: type[TrackwireError]) -> int:
    """The number of points of a MetricPoints message, after checking that its columns
    agree (InvalidArgument naming the field, after `field`; `too_many` beyond `limit`).
    The bound of the key indexes is the caller's to check (with numpy or without)."""
    n = len(points.values)
    keys = points.keys
    if n > limit:
        raise too_many(f"{field}values has {n} points; the limit is {limit}")
    n_index = len(points.key_index)
    for name, length in (
        ("steps", len(points.steps)),
        ("timestamps_ms", len(points.timestamps_ms)),
        ("key_index", n_index),
    ):
        if length and length != n:
            raise InvalidArgument(f"{field}{name} has {length} entries; values has {n}")
    if n == 0:
        if keys:
            raise InvalidArgument(f"{field}keys has {len(keys)} entries but values is empty")
        return 0
    if not keys:
        raise InvalidArgument(f"{field}keys must name at least one key")
    if len(keys) > n:
        raise InvalidArgument(f"{field}keys has {len(keys)} entries; values has {n}")
    if n_index == 0 and len(keys) > 1:
        raise InvalidArgument(f"{field}key_index must have {n} entries: keys has {len(keys)}")
    if len(keys) == 1:
        if not _valid_key(keys[0]):
            check_key(f"{field}keys[0]", keys[0])
        return n
    seen = set()
    for i, key in enumerate(keys):
        if not _valid_key(key):
            check_key(f"{field}keys[{i}]", key)
        if key in seen:
            raise InvalidArgument(f"{field}keys[{i}] repeats '{key}'")
        seen.add(key)
    return n


@functools.lru_cache(maxsize=4096)
def _valid_key(key: str) -> bool:
    """Whether a metric key passes check_key (the same keys come again and again)."""
    try:
        check_key("key", key)
    except InvalidArgument:
        return False
    return True


def _key_index_beyond(field: str, key_index, n_keys: int) -> InvalidArgument:
    i = next(i for i, k in enumerate(key_index) if k >= n_keys)
    return InvalidArgument(f"{field}key_index[{i}] is {key_index[i]}; keys has {n_keys} entries")


def metric_points(
    points, field: str, limit: int, too_many: type[TrackwireError] = InvalidArgument
) -> MetricPointColumns | None:
    """The conversion of a MetricPoints message to the store's form: checked (an
    InvalidArgument naming the field, after `field`, e.g. "metrics." or "points.";
    `too_many` for more than `limit` points), as numpy columns (numpy reads the repeated
    fields in one go), a timestamp 0 made the time received. None when the message holds
    no point."""
    n = _checked_points(points, field, limit, too_many)
    if n == 0:
        return None
    key_index = np.asarray(points.key_index, dtype=np.int64)
    if len(key_index) and int(key_index.max()) >= len(points.keys):
        raise _key_index_beyond(field, points.key_index, len(points.keys))
    steps = np.asarray(points.steps, dtype=np.int64) if len(points.steps) else np.zeros(n, np.int64)
    timestamps = np.asarray(points.timestamps_ms, dtype=np.int64)
    if not len(timestamps):
        timestamps = np.full(n, int(time.time() * 1000), np.int64)
    elif not timestamps.all():
        timestamps = np.where(timestamps == 0, int(time.time() * 1000), timestamps)
    return MetricPointColumns(
        keys=list(points.keys),
        key_index=key_index,
        values=np.asarray(points.values, dtype=np.float64),
        steps=steps,
        timestamps=timestamps,
    )


def metric_records(points, field: str) -> list[MetricRecord]:
    """The same conversion for the points a run is created with (the store's NewRun takes
    records): checked as `metric_points` does, without numpy (a few points per run, and
    BatchCreateRuns creates up to a thousand runs). A timestamp 0 is left for the store,
    which makes it the time received."""
    n = _checked_points(points, field, LIMITS.max_batch_metrics, InvalidArgument)
    if n == 0:
        return []
    keys = list(points.keys)
    values = points.values
    steps = points.steps or [0] * n
    timestamps = points.timestamps_ms or [0] * n
    if len(keys) == 1:
        key = keys[0]
        return [
            MetricRecord(key, v, t, s) for v, t, s in zip(values, timestamps, steps, strict=True)
        ]
    index = points.key_index
    if max(index) >= len(keys):
        raise _key_index_beyond(field, index, len(keys))
    return [
        MetricRecord(keys[k], v, t, s)
        for k, v, t, s in zip(index, values, timestamps, steps, strict=True)
    ]


def metric_batch(request) -> MetricPointColumns:
    """A WriteMetricsRequest's points, checked, in the store's one form (RESOURCE_EXHAUSTED
    beyond the stream's limits)."""
    check_run_id("run_id", request.run_id)
    points = request.points
    if len(points.keys) > LIMITS.max_stream_batch_keys:
        raise ResourceExhausted(
            f"points.keys has {len(points.keys)} entries; "
            f"the limit is {LIMITS.max_stream_batch_keys}"
        )
    columns = metric_points(
        points, "points.", LIMITS.max_stream_batch_points, too_many=ResourceExhausted
    )
    if columns is None:
        raise InvalidArgument("points.values must not be empty")
    return columns


def fill_metric_points(points, key: str, steps, timestamps, values) -> None:
    """Sets an empty MetricPoints message to one key's points (numpy columns)."""
    if len(values):
        points.keys.append(key)
    points.values.extend(values.tolist())
    points.steps.extend(steps.tolist())
    points.timestamps_ms.extend(timestamps.tolist())


def new_run(request, field: str = "") -> NewRun:
    """A CreateRunRequest as the store's NewRun (`field`: its place in a batch, for
    error messages, e.g. "requests[2].")."""
    return NewRun(
        run_name=request.run_name,
        start_time=millis(request.start_time, request.HasField("start_time")),
        tags={t.key: t.value for t in request.tags},
        parent_run_id=request.parent_run_id,
        run_id=request.run_id,
        user_id=request.user_id,
        params=[(p.key, p.value) for p in request.params],
        metrics=metric_records(request.metrics, f"{field}metrics."),
    )


def file_info(entry: FileEntry) -> artifact_pb.FileInfo:
    return artifact_pb.FileInfo(path=entry.path, is_dir=entry.is_dir, file_size=entry.size)


_STAGE = registered_model_pb2.ModelVersionStage
_STAGE_PREFIX = "MODEL_VERSION_STAGE_"
# The store keeps MLflow's stage names ("None", "Staging", ...): the enum's, capitalized.
STAGE_NAMES = {
    number: name.removeprefix(_STAGE_PREFIX).capitalize()
    for name, number in _STAGE.items()
    if number != _STAGE.MODEL_VERSION_STAGE_UNSPECIFIED
}
_STAGE_NUMBERS = {name: number for number, name in STAGE_NAMES.items()}


def stage_name(stage: int, field: str) -> str:
    """A requested ModelVersionStage as the store names it ("Staging")."""
    if stage not in STAGE_NAMES:
        known = ", ".join(_STAGE.Name(n) for n in STAGE_NAMES)
        shown = "unset" if stage == _STAGE.MODEL_VERSION_STAGE_UNSPECIFIED else f"{stage}"
        raise InvalidArgument(f"{field} is {shown}; give one of {known}", field=field)
    return STAGE_NAMES[stage]


def model_version(record: ModelVersionRecord) -> registered_model_pb2.ModelVersion:
    return registered_model_pb2.ModelVersion(
        name=record.name,
        version=str(record.version),
        create_time=timestamp(record.creation_time),
        update_time=timestamp(record.last_update_time),
        user_id=record.user_id,
        stage=_STAGE_NUMBERS[record.current_stage],
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
