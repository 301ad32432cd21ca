import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LifecycleStage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LIFECYCLE_STAGE_UNSPECIFIED: _ClassVar[LifecycleStage]
    LIFECYCLE_STAGE_ACTIVE: _ClassVar[LifecycleStage]
    LIFECYCLE_STAGE_DELETED: _ClassVar[LifecycleStage]

class ViewType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VIEW_TYPE_UNSPECIFIED: _ClassVar[ViewType]
    VIEW_TYPE_ACTIVE_ONLY: _ClassVar[ViewType]
    VIEW_TYPE_DELETED_ONLY: _ClassVar[ViewType]
    VIEW_TYPE_ALL: _ClassVar[ViewType]
LIFECYCLE_STAGE_UNSPECIFIED: LifecycleStage
LIFECYCLE_STAGE_ACTIVE: LifecycleStage
LIFECYCLE_STAGE_DELETED: LifecycleStage
VIEW_TYPE_UNSPECIFIED: ViewType
VIEW_TYPE_ACTIVE_ONLY: ViewType
VIEW_TYPE_DELETED_ONLY: ViewType
VIEW_TYPE_ALL: ViewType

class ExperimentTag(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class Experiment(_message.Message):
    __slots__ = ("experiment_id", "name", "artifact_location", "lifecycle_stage", "tags", "create_time", "update_time")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_LOCATION_FIELD_NUMBER: _ClassVar[int]
    LIFECYCLE_STAGE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: LifecycleStage
    tags: _containers.RepeatedCompositeFieldContainer[ExperimentTag]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, experiment_id: _Optional[str] = ..., name: _Optional[str] = ..., artifact_location: _Optional[str] = ..., lifecycle_stage: _Optional[_Union[LifecycleStage, str]] = ..., tags: _Optional[_Iterable[_Union[ExperimentTag, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
