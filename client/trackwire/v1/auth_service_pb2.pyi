import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from trackwire.v1 import identity_pb2 as _identity_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WhoAmIRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WhoAmIResponse(_message.Message):
    __slots__ = ("auth_enabled", "user", "team_names", "default_permission")
    AUTH_ENABLED_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    TEAM_NAMES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PERMISSION_FIELD_NUMBER: _ClassVar[int]
    auth_enabled: bool
    user: _identity_pb2.User
    team_names: _containers.RepeatedScalarFieldContainer[str]
    default_permission: _identity_pb2.PermissionLevel
    def __init__(self, auth_enabled: _Optional[bool] = ..., user: _Optional[_Union[_identity_pb2.User, _Mapping]] = ..., team_names: _Optional[_Iterable[str]] = ..., default_permission: _Optional[_Union[_identity_pb2.PermissionLevel, str]] = ...) -> None: ...

class SignInRequest(_message.Message):
    __slots__ = ("user_name", "password", "ttl_seconds", "description")
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    user_name: str
    password: str
    ttl_seconds: int
    description: str
    def __init__(self, user_name: _Optional[str] = ..., password: _Optional[str] = ..., ttl_seconds: _Optional[int] = ..., description: _Optional[str] = ...) -> None: ...

class SignInResponse(_message.Message):
    __slots__ = ("secret", "token")
    SECRET_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    secret: str
    token: _identity_pb2.ApiToken
    def __init__(self, secret: _Optional[str] = ..., token: _Optional[_Union[_identity_pb2.ApiToken, _Mapping]] = ...) -> None: ...

class CreateUserRequest(_message.Message):
    __slots__ = ("name", "password", "admin", "service_account")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    password: str
    admin: bool
    service_account: bool
    def __init__(self, name: _Optional[str] = ..., password: _Optional[str] = ..., admin: _Optional[bool] = ..., service_account: _Optional[bool] = ...) -> None: ...

class CreateUserResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: _identity_pb2.User
    def __init__(self, user: _Optional[_Union[_identity_pb2.User, _Mapping]] = ...) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetUserResponse(_message.Message):
    __slots__ = ("user", "team_names")
    USER_FIELD_NUMBER: _ClassVar[int]
    TEAM_NAMES_FIELD_NUMBER: _ClassVar[int]
    user: _identity_pb2.User
    team_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user: _Optional[_Union[_identity_pb2.User, _Mapping]] = ..., team_names: _Optional[_Iterable[str]] = ...) -> None: ...

class ListUsersRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListUsersResponse(_message.Message):
    __slots__ = ("users", "next_page_token")
    USERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[_identity_pb2.User]
    next_page_token: str
    def __init__(self, users: _Optional[_Iterable[_Union[_identity_pb2.User, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateUserRequest(_message.Message):
    __slots__ = ("name", "password", "admin", "disabled")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    name: str
    password: str
    admin: bool
    disabled: bool
    def __init__(self, name: _Optional[str] = ..., password: _Optional[str] = ..., admin: _Optional[bool] = ..., disabled: _Optional[bool] = ...) -> None: ...

class UpdateUserResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: _identity_pb2.User
    def __init__(self, user: _Optional[_Union[_identity_pb2.User, _Mapping]] = ...) -> None: ...

class DeleteUserRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteUserResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateApiTokenRequest(_message.Message):
    __slots__ = ("user_name", "description", "expire_time")
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    user_name: str
    description: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, user_name: _Optional[str] = ..., description: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateApiTokenResponse(_message.Message):
    __slots__ = ("secret", "token")
    SECRET_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    secret: str
    token: _identity_pb2.ApiToken
    def __init__(self, secret: _Optional[str] = ..., token: _Optional[_Union[_identity_pb2.ApiToken, _Mapping]] = ...) -> None: ...

class ListApiTokensRequest(_message.Message):
    __slots__ = ("user_name", "include_inactive")
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    user_name: str
    include_inactive: bool
    def __init__(self, user_name: _Optional[str] = ..., include_inactive: _Optional[bool] = ...) -> None: ...

class ListApiTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[_identity_pb2.ApiToken]
    def __init__(self, tokens: _Optional[_Iterable[_Union[_identity_pb2.ApiToken, _Mapping]]] = ...) -> None: ...

class RevokeApiTokenRequest(_message.Message):
    __slots__ = ("token_id",)
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    token_id: int
    def __init__(self, token_id: _Optional[int] = ...) -> None: ...

class RevokeApiTokenResponse(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: _identity_pb2.ApiToken
    def __init__(self, token: _Optional[_Union[_identity_pb2.ApiToken, _Mapping]] = ...) -> None: ...

class CreateTeamRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CreateTeamResponse(_message.Message):
    __slots__ = ("team",)
    TEAM_FIELD_NUMBER: _ClassVar[int]
    team: _identity_pb2.Team
    def __init__(self, team: _Optional[_Union[_identity_pb2.Team, _Mapping]] = ...) -> None: ...

class GetTeamRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetTeamResponse(_message.Message):
    __slots__ = ("team",)
    TEAM_FIELD_NUMBER: _ClassVar[int]
    team: _identity_pb2.Team
    def __init__(self, team: _Optional[_Union[_identity_pb2.Team, _Mapping]] = ...) -> None: ...

class ListTeamsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTeamsResponse(_message.Message):
    __slots__ = ("teams",)
    TEAMS_FIELD_NUMBER: _ClassVar[int]
    teams: _containers.RepeatedCompositeFieldContainer[_identity_pb2.Team]
    def __init__(self, teams: _Optional[_Iterable[_Union[_identity_pb2.Team, _Mapping]]] = ...) -> None: ...

class DeleteTeamRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteTeamResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AddTeamMemberRequest(_message.Message):
    __slots__ = ("team_name", "user_name")
    TEAM_NAME_FIELD_NUMBER: _ClassVar[int]
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    team_name: str
    user_name: str
    def __init__(self, team_name: _Optional[str] = ..., user_name: _Optional[str] = ...) -> None: ...

class AddTeamMemberResponse(_message.Message):
    __slots__ = ("team",)
    TEAM_FIELD_NUMBER: _ClassVar[int]
    team: _identity_pb2.Team
    def __init__(self, team: _Optional[_Union[_identity_pb2.Team, _Mapping]] = ...) -> None: ...

class RemoveTeamMemberRequest(_message.Message):
    __slots__ = ("team_name", "user_name")
    TEAM_NAME_FIELD_NUMBER: _ClassVar[int]
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    team_name: str
    user_name: str
    def __init__(self, team_name: _Optional[str] = ..., user_name: _Optional[str] = ...) -> None: ...

class RemoveTeamMemberResponse(_message.Message):
    __slots__ = ("team",)
    TEAM_FIELD_NUMBER: _ClassVar[int]
    team: _identity_pb2.Team
    def __init__(self, team: _Optional[_Union[_identity_pb2.Team, _Mapping]] = ...) -> None: ...

class SetPermissionRequest(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: _identity_pb2.PermissionGrant
    def __init__(self, grant: _Optional[_Union[_identity_pb2.PermissionGrant, _Mapping]] = ...) -> None: ...

class SetPermissionResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: _identity_pb2.PermissionGrant
    def __init__(self, grant: _Optional[_Union[_identity_pb2.PermissionGrant, _Mapping]] = ...) -> None: ...

class DeletePermissionRequest(_message.Message):
    __slots__ = ("resource", "principal")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    resource: _identity_pb2.ResourceRef
    principal: _identity_pb2.PrincipalRef
    def __init__(self, resource: _Optional[_Union[_identity_pb2.ResourceRef, _Mapping]] = ..., principal: _Optional[_Union[_identity_pb2.PrincipalRef, _Mapping]] = ...) -> None: ...

class DeletePermissionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPermissionsRequest(_message.Message):
    __slots__ = ("resource",)
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    resource: _identity_pb2.ResourceRef
    def __init__(self, resource: _Optional[_Union[_identity_pb2.ResourceRef, _Mapping]] = ...) -> None: ...

class ListPermissionsResponse(_message.Message):
    __slots__ = ("grants",)
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[_identity_pb2.PermissionGrant]
    def __init__(self, grants: _Optional[_Iterable[_Union[_identity_pb2.PermissionGrant, _Mapping]]] = ...) -> None: ...

class GetEffectivePermissionRequest(_message.Message):
    __slots__ = ("resource",)
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    resource: _identity_pb2.ResourceRef
    def __init__(self, resource: _Optional[_Union[_identity_pb2.ResourceRef, _Mapping]] = ...) -> None: ...

class GetEffectivePermissionResponse(_message.Message):
    __slots__ = ("level",)
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    level: _identity_pb2.PermissionLevel
    def __init__(self, level: _Optional[_Union[_identity_pb2.PermissionLevel, str]] = ...) -> None: ...
