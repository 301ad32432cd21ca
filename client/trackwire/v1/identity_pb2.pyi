import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PermissionLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PERMISSION_LEVEL_UNSPECIFIED: _ClassVar[PermissionLevel]
    PERMISSION_LEVEL_NONE: _ClassVar[PermissionLevel]
    PERMISSION_LEVEL_READ: _ClassVar[PermissionLevel]
    PERMISSION_LEVEL_USE: _ClassVar[PermissionLevel]
    PERMISSION_LEVEL_EDIT: _ClassVar[PermissionLevel]
    PERMISSION_LEVEL_MANAGE: _ClassVar[PermissionLevel]
PERMISSION_LEVEL_UNSPECIFIED: PermissionLevel
PERMISSION_LEVEL_NONE: PermissionLevel
PERMISSION_LEVEL_READ: PermissionLevel
PERMISSION_LEVEL_USE: PermissionLevel
PERMISSION_LEVEL_EDIT: PermissionLevel
PERMISSION_LEVEL_MANAGE: PermissionLevel

class User(_message.Message):
    __slots__ = ("user_id", "name", "admin", "service_account", "disabled", "create_time")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    name: str
    admin: bool
    service_account: bool
    disabled: bool
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[int] = ..., name: _Optional[str] = ..., admin: _Optional[bool] = ..., service_account: _Optional[bool] = ..., disabled: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Team(_message.Message):
    __slots__ = ("team_id", "name", "member_names", "create_time")
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEMBER_NAMES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    team_id: int
    name: str
    member_names: _containers.RepeatedScalarFieldContainer[str]
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, team_id: _Optional[int] = ..., name: _Optional[str] = ..., member_names: _Optional[_Iterable[str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ApiToken(_message.Message):
    __slots__ = ("token_id", "user_name", "description", "create_time", "expire_time", "revoke_time", "prefix")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    token_id: int
    user_name: str
    description: str
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    prefix: str
    def __init__(self, token_id: _Optional[int] = ..., user_name: _Optional[str] = ..., description: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., prefix: _Optional[str] = ...) -> None: ...

class ResourceRef(_message.Message):
    __slots__ = ("experiment_id", "registered_model_name")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    registered_model_name: str
    def __init__(self, experiment_id: _Optional[str] = ..., registered_model_name: _Optional[str] = ...) -> None: ...

class PrincipalRef(_message.Message):
    __slots__ = ("user_name", "team_name")
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    TEAM_NAME_FIELD_NUMBER: _ClassVar[int]
    user_name: str
    team_name: str
    def __init__(self, user_name: _Optional[str] = ..., team_name: _Optional[str] = ...) -> None: ...

class PermissionGrant(_message.Message):
    __slots__ = ("resource", "principal", "level")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    resource: ResourceRef
    principal: PrincipalRef
    level: PermissionLevel
    def __init__(self, resource: _Optional[_Union[ResourceRef, _Mapping]] = ..., principal: _Optional[_Union[PrincipalRef, _Mapping]] = ..., level: _Optional[_Union[PermissionLevel, str]] = ...) -> None: ...
