import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from trackwire.v1 import experiment_pb2 as _experiment_pb2
from trackwire.v1 import run_pb2 as _run_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateExperimentRequest(_message.Message):
    __slots__ = ("name", "artifact_location", "tags", "request_id", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_LOCATION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    artifact_location: str
    tags: _containers.RepeatedCompositeFieldContainer[_experiment_pb2.ExperimentTag]
    request_id: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., artifact_location: _Optional[str] = ..., tags: _Optional[_Iterable[_Union[_experiment_pb2.ExperimentTag, _Mapping]]] = ..., request_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateExperimentResponse(_message.Message):
    __slots__ = ("experiment",)
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: _experiment_pb2.Experiment
    def __init__(self, experiment: _Optional[_Union[_experiment_pb2.Experiment, _Mapping]] = ...) -> None: ...

class GetExperimentRequest(_message.Message):
    __slots__ = ("experiment_id",)
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    def __init__(self, experiment_id: _Optional[str] = ...) -> None: ...

class GetExperimentResponse(_message.Message):
    __slots__ = ("experiment",)
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: _experiment_pb2.Experiment
    def __init__(self, experiment: _Optional[_Union[_experiment_pb2.Experiment, _Mapping]] = ...) -> None: ...

class GetExperimentByNameRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetExperimentByNameResponse(_message.Message):
    __slots__ = ("experiment",)
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: _experiment_pb2.Experiment
    def __init__(self, experiment: _Optional[_Union[_experiment_pb2.Experiment, _Mapping]] = ...) -> None: ...

class SearchExperimentsRequest(_message.Message):
    __slots__ = ("filter", "order_by", "page_size", "page_token", "view_type")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    VIEW_TYPE_FIELD_NUMBER: _ClassVar[int]
    filter: str
    order_by: _containers.RepeatedScalarFieldContainer[str]
    page_size: int
    page_token: str
    view_type: _experiment_pb2.ViewType
    def __init__(self, filter: _Optional[str] = ..., order_by: _Optional[_Iterable[str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., view_type: _Optional[_Union[_experiment_pb2.ViewType, str]] = ...) -> None: ...

class SearchExperimentsResponse(_message.Message):
    __slots__ = ("experiments", "next_page_token")
    EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    experiments: _containers.RepeatedCompositeFieldContainer[_experiment_pb2.Experiment]
    next_page_token: str
    def __init__(self, experiments: _Optional[_Iterable[_Union[_experiment_pb2.Experiment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateExperimentRequest(_message.Message):
    __slots__ = ("experiment_id", "name", "request_id")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    name: str
    request_id: str
    def __init__(self, experiment_id: _Optional[str] = ..., name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateExperimentResponse(_message.Message):
    __slots__ = ("experiment",)
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: _experiment_pb2.Experiment
    def __init__(self, experiment: _Optional[_Union[_experiment_pb2.Experiment, _Mapping]] = ...) -> None: ...

class DeleteExperimentRequest(_message.Message):
    __slots__ = ("experiment_id", "request_id")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    request_id: str
    def __init__(self, experiment_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteExperimentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RestoreExperimentRequest(_message.Message):
    __slots__ = ("experiment_id", "request_id")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    request_id: str
    def __init__(self, experiment_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RestoreExperimentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PurgeExperimentRequest(_message.Message):
    __slots__ = ("experiment_id", "deleted_before", "validate_only", "request_id")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DELETED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    deleted_before: _timestamp_pb2.Timestamp
    validate_only: bool
    request_id: str
    def __init__(self, experiment_id: _Optional[str] = ..., deleted_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., validate_only: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class PurgeExperimentResponse(_message.Message):
    __slots__ = ("experiment_id", "delete_time")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DELETE_TIME_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    delete_time: _timestamp_pb2.Timestamp
    def __init__(self, experiment_id: _Optional[str] = ..., delete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SetExperimentTagRequest(_message.Message):
    __slots__ = ("experiment_id", "tag", "request_id")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    tag: _experiment_pb2.ExperimentTag
    request_id: str
    def __init__(self, experiment_id: _Optional[str] = ..., tag: _Optional[_Union[_experiment_pb2.ExperimentTag, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class SetExperimentTagResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateRunRequest(_message.Message):
    __slots__ = ("experiment_id", "run_name", "start_time", "tags", "parent_run_id", "run_id", "user_id", "params", "metrics", "request_id")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_NAME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    PARENT_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    run_name: str
    start_time: _timestamp_pb2.Timestamp
    tags: _containers.RepeatedCompositeFieldContainer[_run_pb2.RunTag]
    parent_run_id: str
    run_id: str
    user_id: str
    params: _containers.RepeatedCompositeFieldContainer[_run_pb2.Param]
    metrics: _run_pb2.MetricPoints
    request_id: str
    def __init__(self, experiment_id: _Optional[str] = ..., run_name: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tags: _Optional[_Iterable[_Union[_run_pb2.RunTag, _Mapping]]] = ..., parent_run_id: _Optional[str] = ..., run_id: _Optional[str] = ..., user_id: _Optional[str] = ..., params: _Optional[_Iterable[_Union[_run_pb2.Param, _Mapping]]] = ..., metrics: _Optional[_Union[_run_pb2.MetricPoints, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateRunResponse(_message.Message):
    __slots__ = ("run", "resumed")
    RUN_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FIELD_NUMBER: _ClassVar[int]
    run: _run_pb2.Run
    resumed: bool
    def __init__(self, run: _Optional[_Union[_run_pb2.Run, _Mapping]] = ..., resumed: _Optional[bool] = ...) -> None: ...

class BatchCreateRunsRequest(_message.Message):
    __slots__ = ("experiment_id", "requests", "request_id")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    requests: _containers.RepeatedCompositeFieldContainer[CreateRunRequest]
    request_id: str
    def __init__(self, experiment_id: _Optional[str] = ..., requests: _Optional[_Iterable[_Union[CreateRunRequest, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class BatchCreateRunsResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[_run_pb2.Run]
    def __init__(self, runs: _Optional[_Iterable[_Union[_run_pb2.Run, _Mapping]]] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class GetRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: _run_pb2.Run
    def __init__(self, run: _Optional[_Union[_run_pb2.Run, _Mapping]] = ...) -> None: ...

class UpdateRunRequest(_message.Message):
    __slots__ = ("run_id", "status", "end_time", "run_name", "request_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    RUN_NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    status: _run_pb2.RunStatus
    end_time: _timestamp_pb2.Timestamp
    run_name: str
    request_id: str
    def __init__(self, run_id: _Optional[str] = ..., status: _Optional[_Union[_run_pb2.RunStatus, str]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., run_name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: _run_pb2.Run
    def __init__(self, run: _Optional[_Union[_run_pb2.Run, _Mapping]] = ...) -> None: ...

class DeleteRunRequest(_message.Message):
    __slots__ = ("run_id", "request_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    request_id: str
    def __init__(self, run_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteRunResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RestoreRunRequest(_message.Message):
    __slots__ = ("run_id", "request_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    request_id: str
    def __init__(self, run_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RestoreRunResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PurgeRunRequest(_message.Message):
    __slots__ = ("run_id", "deleted_before", "validate_only")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    DELETED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    deleted_before: _timestamp_pb2.Timestamp
    validate_only: bool
    def __init__(self, run_id: _Optional[str] = ..., deleted_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class PurgeRunResponse(_message.Message):
    __slots__ = ("run_id", "experiment_id", "delete_time", "artifact_uri")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DELETE_TIME_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_URI_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    experiment_id: str
    delete_time: _timestamp_pb2.Timestamp
    artifact_uri: str
    def __init__(self, run_id: _Optional[str] = ..., experiment_id: _Optional[str] = ..., delete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., artifact_uri: _Optional[str] = ...) -> None: ...

class SetRunTagRequest(_message.Message):
    __slots__ = ("run_id", "tag", "request_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    tag: _run_pb2.RunTag
    request_id: str
    def __init__(self, run_id: _Optional[str] = ..., tag: _Optional[_Union[_run_pb2.RunTag, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class SetRunTagResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteRunTagRequest(_message.Message):
    __slots__ = ("run_id", "key", "request_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    key: str
    request_id: str
    def __init__(self, run_id: _Optional[str] = ..., key: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteRunTagResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LogBatchRequest(_message.Message):
    __slots__ = ("run_id", "metrics", "params", "tags", "request_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    metrics: _run_pb2.MetricPoints
    params: _containers.RepeatedCompositeFieldContainer[_run_pb2.Param]
    tags: _containers.RepeatedCompositeFieldContainer[_run_pb2.RunTag]
    request_id: str
    def __init__(self, run_id: _Optional[str] = ..., metrics: _Optional[_Union[_run_pb2.MetricPoints, _Mapping]] = ..., params: _Optional[_Iterable[_Union[_run_pb2.Param, _Mapping]]] = ..., tags: _Optional[_Iterable[_Union[_run_pb2.RunTag, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class LogBatchResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WriteMetricsRequest(_message.Message):
    __slots__ = ("writer_id", "sequence_number", "run_id", "points")
    WRITER_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    writer_id: str
    sequence_number: int
    run_id: str
    points: _run_pb2.MetricPoints
    def __init__(self, writer_id: _Optional[str] = ..., sequence_number: _Optional[int] = ..., run_id: _Optional[str] = ..., points: _Optional[_Union[_run_pb2.MetricPoints, _Mapping]] = ...) -> None: ...

class WriteMetricsResponse(_message.Message):
    __slots__ = ("sequence_number", "duplicate", "error_code", "error_message", "expected_sequence_number")
    SEQUENCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SEQUENCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    sequence_number: int
    duplicate: bool
    error_code: int
    error_message: str
    expected_sequence_number: int
    def __init__(self, sequence_number: _Optional[int] = ..., duplicate: _Optional[bool] = ..., error_code: _Optional[int] = ..., error_message: _Optional[str] = ..., expected_sequence_number: _Optional[int] = ...) -> None: ...

class ReadMetricHistoryRequest(_message.Message):
    __slots__ = ("run_id", "metric_key", "start_step", "end_step", "chunk_size")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    START_STEP_FIELD_NUMBER: _ClassVar[int]
    END_STEP_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    metric_key: str
    start_step: int
    end_step: int
    chunk_size: int
    def __init__(self, run_id: _Optional[str] = ..., metric_key: _Optional[str] = ..., start_step: _Optional[int] = ..., end_step: _Optional[int] = ..., chunk_size: _Optional[int] = ...) -> None: ...

class ReadMetricHistoryResponse(_message.Message):
    __slots__ = ("points",)
    POINTS_FIELD_NUMBER: _ClassVar[int]
    points: _run_pb2.MetricPoints
    def __init__(self, points: _Optional[_Union[_run_pb2.MetricPoints, _Mapping]] = ...) -> None: ...

class BatchReadMetricHistoryRequest(_message.Message):
    __slots__ = ("run_ids", "metric_key", "start_step", "end_step", "max_points")
    RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    START_STEP_FIELD_NUMBER: _ClassVar[int]
    END_STEP_FIELD_NUMBER: _ClassVar[int]
    MAX_POINTS_FIELD_NUMBER: _ClassVar[int]
    run_ids: _containers.RepeatedScalarFieldContainer[str]
    metric_key: str
    start_step: int
    end_step: int
    max_points: int
    def __init__(self, run_ids: _Optional[_Iterable[str]] = ..., metric_key: _Optional[str] = ..., start_step: _Optional[int] = ..., end_step: _Optional[int] = ..., max_points: _Optional[int] = ...) -> None: ...

class BatchReadMetricHistoryResponse(_message.Message):
    __slots__ = ("run_id", "points", "total_points")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_POINTS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    points: _run_pb2.MetricPoints
    total_points: int
    def __init__(self, run_id: _Optional[str] = ..., points: _Optional[_Union[_run_pb2.MetricPoints, _Mapping]] = ..., total_points: _Optional[int] = ...) -> None: ...

class WatchMetricsRequest(_message.Message):
    __slots__ = ("run_ids", "metric_keys")
    RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEYS_FIELD_NUMBER: _ClassVar[int]
    run_ids: _containers.RepeatedScalarFieldContainer[str]
    metric_keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, run_ids: _Optional[_Iterable[str]] = ..., metric_keys: _Optional[_Iterable[str]] = ...) -> None: ...

class WatchMetricsResponse(_message.Message):
    __slots__ = ("run_id", "points", "overflowed")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    OVERFLOWED_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    points: _run_pb2.MetricPoints
    overflowed: bool
    def __init__(self, run_id: _Optional[str] = ..., points: _Optional[_Union[_run_pb2.MetricPoints, _Mapping]] = ..., overflowed: _Optional[bool] = ...) -> None: ...

class SearchRunsRequest(_message.Message):
    __slots__ = ("experiment_ids", "filter", "order_by", "page_size", "page_token", "view_type", "experiment_names", "select", "include_total_count")
    EXPERIMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    VIEW_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_NAMES_FIELD_NUMBER: _ClassVar[int]
    SELECT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    experiment_ids: _containers.RepeatedScalarFieldContainer[str]
    filter: str
    order_by: _containers.RepeatedScalarFieldContainer[str]
    page_size: int
    page_token: str
    view_type: _experiment_pb2.ViewType
    experiment_names: _containers.RepeatedScalarFieldContainer[str]
    select: _containers.RepeatedScalarFieldContainer[str]
    include_total_count: bool
    def __init__(self, experiment_ids: _Optional[_Iterable[str]] = ..., filter: _Optional[str] = ..., order_by: _Optional[_Iterable[str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., view_type: _Optional[_Union[_experiment_pb2.ViewType, str]] = ..., experiment_names: _Optional[_Iterable[str]] = ..., select: _Optional[_Iterable[str]] = ..., include_total_count: _Optional[bool] = ...) -> None: ...

class RunTable(_message.Message):
    __slots__ = ("run_ids", "experiment_ids", "statuses", "artifact_uris", "start_times_ms", "end_times_ms", "columns", "run_names", "lifecycle_stages", "user_ids", "parent_run_ids")
    RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_URIS_FIELD_NUMBER: _ClassVar[int]
    START_TIMES_MS_FIELD_NUMBER: _ClassVar[int]
    END_TIMES_MS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    RUN_NAMES_FIELD_NUMBER: _ClassVar[int]
    LIFECYCLE_STAGES_FIELD_NUMBER: _ClassVar[int]
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    PARENT_RUN_IDS_FIELD_NUMBER: _ClassVar[int]
    run_ids: _containers.RepeatedScalarFieldContainer[str]
    experiment_ids: _containers.RepeatedScalarFieldContainer[str]
    statuses: _containers.RepeatedScalarFieldContainer[_run_pb2.RunStatus]
    artifact_uris: _containers.RepeatedScalarFieldContainer[str]
    start_times_ms: _containers.RepeatedScalarFieldContainer[int]
    end_times_ms: _containers.RepeatedScalarFieldContainer[int]
    columns: _containers.RepeatedCompositeFieldContainer[RunTableColumn]
    run_names: _containers.RepeatedScalarFieldContainer[str]
    lifecycle_stages: _containers.RepeatedScalarFieldContainer[_experiment_pb2.LifecycleStage]
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    parent_run_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, run_ids: _Optional[_Iterable[str]] = ..., experiment_ids: _Optional[_Iterable[str]] = ..., statuses: _Optional[_Iterable[_Union[_run_pb2.RunStatus, str]]] = ..., artifact_uris: _Optional[_Iterable[str]] = ..., start_times_ms: _Optional[_Iterable[int]] = ..., end_times_ms: _Optional[_Iterable[int]] = ..., columns: _Optional[_Iterable[_Union[RunTableColumn, _Mapping]]] = ..., run_names: _Optional[_Iterable[str]] = ..., lifecycle_stages: _Optional[_Iterable[_Union[_experiment_pb2.LifecycleStage, str]]] = ..., user_ids: _Optional[_Iterable[str]] = ..., parent_run_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RunTableColumn(_message.Message):
    __slots__ = ("name", "numbers", "strings", "present", "timestamps_ms", "steps")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NUMBERS_FIELD_NUMBER: _ClassVar[int]
    STRINGS_FIELD_NUMBER: _ClassVar[int]
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_MS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    name: str
    numbers: _containers.RepeatedScalarFieldContainer[float]
    strings: _containers.RepeatedScalarFieldContainer[str]
    present: _containers.RepeatedScalarFieldContainer[bool]
    timestamps_ms: _containers.RepeatedScalarFieldContainer[int]
    steps: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, name: _Optional[str] = ..., numbers: _Optional[_Iterable[float]] = ..., strings: _Optional[_Iterable[str]] = ..., present: _Optional[_Iterable[bool]] = ..., timestamps_ms: _Optional[_Iterable[int]] = ..., steps: _Optional[_Iterable[int]] = ...) -> None: ...

class SearchRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token", "total_count")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    runs: RunTable
    next_page_token: str
    total_count: int
    def __init__(self, runs: _Optional[_Union[RunTable, _Mapping]] = ..., next_page_token: _Optional[str] = ..., total_count: _Optional[int] = ...) -> None: ...

class GetServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerLimits(_message.Message):
    __slots__ = ("max_key_length", "max_param_value_length", "max_tag_value_length", "max_experiment_name_length", "max_batch_metrics", "max_batch_params", "max_batch_tags", "max_stream_batch_points", "max_stream_batch_keys", "max_history_chunk_points", "max_message_bytes", "max_page_size", "max_batch_history_runs", "max_batch_create_runs", "max_request_bytes", "max_log_batch_bytes", "max_batch_create_runs_bytes", "max_stream_batch_bytes", "max_upload_chunk_bytes", "stream_idle_timeout")
    MAX_KEY_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_PARAM_VALUE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_TAG_VALUE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_EXPERIMENT_NAME_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_METRICS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_PARAMS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_TAGS_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAM_BATCH_POINTS_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAM_BATCH_KEYS_FIELD_NUMBER: _ClassVar[int]
    MAX_HISTORY_CHUNK_POINTS_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_HISTORY_RUNS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_CREATE_RUNS_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUEST_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_LOG_BATCH_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_CREATE_RUNS_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAM_BATCH_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_UPLOAD_CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    STREAM_IDLE_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    max_key_length: int
    max_param_value_length: int
    max_tag_value_length: int
    max_experiment_name_length: int
    max_batch_metrics: int
    max_batch_params: int
    max_batch_tags: int
    max_stream_batch_points: int
    max_stream_batch_keys: int
    max_history_chunk_points: int
    max_message_bytes: int
    max_page_size: int
    max_batch_history_runs: int
    max_batch_create_runs: int
    max_request_bytes: int
    max_log_batch_bytes: int
    max_batch_create_runs_bytes: int
    max_stream_batch_bytes: int
    max_upload_chunk_bytes: int
    stream_idle_timeout: _duration_pb2.Duration
    def __init__(self, max_key_length: _Optional[int] = ..., max_param_value_length: _Optional[int] = ..., max_tag_value_length: _Optional[int] = ..., max_experiment_name_length: _Optional[int] = ..., max_batch_metrics: _Optional[int] = ..., max_batch_params: _Optional[int] = ..., max_batch_tags: _Optional[int] = ..., max_stream_batch_points: _Optional[int] = ..., max_stream_batch_keys: _Optional[int] = ..., max_history_chunk_points: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., max_page_size: _Optional[int] = ..., max_batch_history_runs: _Optional[int] = ..., max_batch_create_runs: _Optional[int] = ..., max_request_bytes: _Optional[int] = ..., max_log_batch_bytes: _Optional[int] = ..., max_batch_create_runs_bytes: _Optional[int] = ..., max_stream_batch_bytes: _Optional[int] = ..., max_upload_chunk_bytes: _Optional[int] = ..., stream_idle_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class GetServerInfoResponse(_message.Message):
    __slots__ = ("version", "limits")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    version: str
    limits: ServerLimits
    def __init__(self, version: _Optional[str] = ..., limits: _Optional[_Union[ServerLimits, _Mapping]] = ...) -> None: ...
