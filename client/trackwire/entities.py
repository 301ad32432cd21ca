"""What the client returns: plain Python objects shaped like MLflow's entities."""

from __future__ import annotations

from dataclasses import dataclass, field

from trackwire.v1 import artifact_service_pb2, experiment_pb2, run_pb2, tracking_service_pb2
from trackwire_protocol import enums

_STAGES = enums.LIFECYCLE_STAGES
STATUS_NAMES = enums.RUN_STATUSES
# A run status by name: "FINISHED" -> run_pb2.RUN_STATUS_FINISHED.
RUN_STATUSES = {name: number for number, name in STATUS_NAMES.items()}


class ViewType:
    """Which lifecycle stages a search returns (MLflow's names)."""

    ACTIVE_ONLY = experiment_pb2.VIEW_TYPE_ACTIVE_ONLY
    DELETED_ONLY = experiment_pb2.VIEW_TYPE_DELETED_ONLY
    ALL = experiment_pb2.VIEW_TYPE_ALL


def _ms(message, name: str) -> int | None:
    """A Timestamp field in milliseconds, None when unset (Timestamp.ToMilliseconds is
    Python code that checks the range; the server sends valid times)."""
    if not message.HasField(name):
        return None
    ts = getattr(message, name)
    return ts.seconds * 1000 + ts.nanos // 1_000_000


@dataclass
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None

    @classmethod
    def from_proto(cls, p: experiment_pb2.Experiment) -> Experiment:
        return cls(
            experiment_id=p.experiment_id,
            name=p.name,
            artifact_location=p.artifact_location,
            lifecycle_stage=_STAGES.get(p.lifecycle_stage, "unknown"),
            tags={t.key: t.value for t in p.tags},
            creation_time=_ms(p, "create_time"),
            last_update_time=_ms(p, "update_time"),
        )


@dataclass(slots=True)
class Metric:
    key: str
    value: float
    timestamp: int
    step: int


@dataclass
class Param:
    key: str
    value: str


@dataclass
class RunTag:
    key: str
    value: str


@dataclass
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str
    user_id: str = ""
    parent_run_id: str = ""

    @property
    def run_uuid(self) -> str:
        return self.run_id

    @classmethod
    def from_proto(cls, p: run_pb2.RunInfo) -> RunInfo:
        # Positional, in field order: a page of search results makes thousands.
        return cls(
            p.run_id,
            p.experiment_id,
            p.run_name,
            STATUS_NAMES.get(p.status, "UNKNOWN"),
            _ms(p, "start_time"),
            _ms(p, "end_time"),
            p.artifact_uri,
            _STAGES.get(p.lifecycle_stage, "unknown"),
            p.user_id,
            p.parent_run_id,
        )


@dataclass
class RunData:
    """Params, latest metric values and tags as dicts (as MLflow's RunData)."""

    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    latest_metrics: dict[str, Metric] = field(default_factory=dict)

    @classmethod
    def from_proto(cls, p: run_pb2.RunData) -> RunData:
        latest, values = {}, {}
        for m in p.metrics:
            key, value = m.key, m.value
            latest[key] = Metric(key, value, m.timestamp_ms, m.step)
            values[key] = value
        return cls(
            values, {x.key: x.value for x in p.params}, {t.key: t.value for t in p.tags}, latest
        )


@dataclass
class Run:
    info: RunInfo
    data: RunData

    @classmethod
    def from_proto(cls, p: run_pb2.Run) -> Run:
        return cls(info=RunInfo.from_proto(p.info), data=RunData.from_proto(p.data))


def runs_from_table(table: tracking_service_pb2.RunTable) -> list[Run]:
    """The runs of a SearchRuns page (its `runs`, a RunTable): the same Run objects as
    `Run.from_proto` makes from GetRun's answers, built column by column."""
    datas = [RunData({}, {}, {}, {}) for _ in table.run_ids]
    for column in table.columns:
        kind, key = column.name.split(".", 1)
        if kind == "metrics":
            cells = zip(column.numbers, column.timestamps_ms, column.steps, strict=True)
            for data, (value, ts, step), present in zip(datas, cells, column.present, strict=True):
                if present:
                    data.metrics[key] = value
                    data.latest_metrics[key] = Metric(key, value, ts, step)
            continue
        for data, value, present in zip(datas, column.strings, column.present, strict=True):
            if present:
                (data.params if kind == "params" else data.tags)[key] = value
    infos = [
        RunInfo(
            run_id,
            experiment_id,
            name,
            STATUS_NAMES.get(status, "UNKNOWN"),
            start,
            end or None,
            artifact_uri,
            _STAGES.get(stage, "unknown"),
            user_id,
            parent_run_id,
        )
        for run_id, experiment_id, name, status, start, end, artifact_uri, stage, user_id, parent_run_id in zip(
            table.run_ids,
            table.experiment_ids,
            table.run_names,
            table.statuses,
            table.start_times_ms,
            table.end_times_ms,
            table.artifact_uris,
            table.lifecycle_stages,
            table.user_ids,
            table.parent_run_ids,
            strict=True,
        )
    ]
    return [Run(info, data) for info, data in zip(infos, datas, strict=True)]


@dataclass
class FileInfo:
    path: str
    is_dir: bool
    file_size: int

    @classmethod
    def from_proto(cls, p: artifact_service_pb2.FileInfo) -> FileInfo:
        return cls(path=p.path, is_dir=p.is_dir, file_size=p.file_size)


@dataclass
class MetricHistory:
    """One metric's history in columns: the fast form for plots and analysis."""

    steps: list[int]
    values: list[float]
    timestamps: list[int]
    # Points in the requested range before downsampling (get_metric_histories only).
    total_points: int | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.values)

    def to_metrics(self, key: str) -> list[Metric]:
        return [
            Metric(key, v, t, s)
            for v, t, s in zip(self.values, self.timestamps, self.steps, strict=True)
        ]


@dataclass
class PurgedRun:
    """A run removed for good (or, with validate_only, that would be)."""

    run_id: str
    experiment_id: str
    delete_time: int | None
    artifact_uri: str


@dataclass
class PurgedExperiment:
    """An experiment removed for good (or, with validate_only, that would be)."""

    experiment_id: str
    delete_time: int | None


@dataclass
class ServerInfo:
    version: str
    # ServerLimits by field name; durations (stream_idle_timeout) in seconds.
    limits: dict[str, int | float]


class PagedList(list):
    """A page of results with the token for the next page ("" at the end)."""

    def __init__(self, items, token: str, total_count: int | None = None):
        super().__init__(items)
        self.token = token
        self.total_count = total_count
