"""What `TrackwireClient.auth` (trackwire.auth_client) returns: users, teams, API tokens
and grants as plain Python objects. Times are milliseconds since the epoch; permission
levels are their names ("NONE", "READ", "USE", "EDIT", "MANAGE")."""

from __future__ import annotations

from dataclasses import dataclass, field

from trackwire.entities import _ms
from trackwire.v1 import auth_service_pb2, identity_pb2
from trackwire_protocol import enums
from trackwire_protocol.errors import InvalidArgumentError

LEVELS = enums.PERMISSION_LEVELS  # {2: "READ", ...}
LEVEL_NUMBERS = {name: number for number, name in LEVELS.items()}


def level_number(level: str | int) -> int:
    """A PermissionLevel's number from its name ("READ", "read", "PERMISSION_LEVEL_READ")
    or number; InvalidArgumentError names the levels."""
    if isinstance(level, int) and level in LEVELS:
        return level
    if isinstance(level, str):
        name = level.strip().upper().removeprefix("PERMISSION_LEVEL_")
        if name in LEVEL_NUMBERS:
            return LEVEL_NUMBERS[name]
    raise InvalidArgumentError(f"level: {level!r} is not one of {', '.join(LEVEL_NUMBERS)}")


def level_name(number: int) -> str:
    return LEVELS.get(number, "UNSPECIFIED")


@dataclass
class User:
    user_id: int
    name: str
    admin: bool
    service_account: bool
    disabled: bool
    create_time: int | None = None
    team_names: list[str] = field(default_factory=list)  # filled by get_user

    @classmethod
    def from_proto(cls, p: identity_pb2.User, team_names=()) -> User:
        return cls(
            user_id=p.user_id,
            name=p.name,
            admin=p.admin,
            service_account=p.service_account,
            disabled=p.disabled,
            create_time=_ms(p, "create_time"),
            team_names=list(team_names),
        )


@dataclass
class Team:
    team_id: int
    name: str
    member_names: list[str]
    create_time: int | None = None

    @classmethod
    def from_proto(cls, p: identity_pb2.Team) -> Team:
        return cls(p.team_id, p.name, list(p.member_names), _ms(p, "create_time"))


@dataclass
class ApiToken:
    """A token as listed: never its secret (the server keeps only a hash)."""

    token_id: int
    user_name: str
    description: str
    prefix: str  # the secret's first characters, to tell tokens apart
    create_time: int | None = None
    expire_time: int | None = None  # None: never expires
    revoke_time: int | None = None  # None: not revoked

    @classmethod
    def from_proto(cls, p: identity_pb2.ApiToken) -> ApiToken:
        return cls(
            token_id=p.token_id,
            user_name=p.user_name,
            description=p.description,
            prefix=p.prefix,
            create_time=_ms(p, "create_time"),
            expire_time=_ms(p, "expire_time"),
            revoke_time=_ms(p, "revoke_time"),
        )


@dataclass
class NewToken:
    """A token just made (create_token, sign_in): its secret, shown only this once (and
    never in this object's repr)."""

    secret: str = field(repr=False)
    token: ApiToken

    @classmethod
    def from_proto(
        cls, p: auth_service_pb2.CreateApiTokenResponse | auth_service_pb2.SignInResponse
    ) -> NewToken:
        return cls(p.secret, ApiToken.from_proto(p.token))


@dataclass
class WhoAmI:
    auth_enabled: bool  # whether the server checks tokens (`trackwire server --auth`)
    user: User | None  # None when auth_enabled is False
    team_names: list[str]
    default_permission: str  # what signed-in users may do with an ungranted resource

    @classmethod
    def from_proto(cls, p: auth_service_pb2.WhoAmIResponse) -> WhoAmI:
        return cls(
            auth_enabled=p.auth_enabled,
            user=User.from_proto(p.user, p.team_names) if p.HasField("user") else None,
            team_names=list(p.team_names),
            default_permission=level_name(p.default_permission),
        )


@dataclass
class PermissionGrant:
    """One user's or team's level on one experiment or registered model: exactly one of
    experiment_id / registered_model_name, and of user_name / team_name, is set."""

    level: str
    experiment_id: str | None = None
    registered_model_name: str | None = None
    user_name: str | None = None
    team_name: str | None = None

    @classmethod
    def from_proto(cls, p: identity_pb2.PermissionGrant) -> PermissionGrant:
        resource = p.resource.WhichOneof("resource")
        principal = p.principal.WhichOneof("principal")
        values = {}
        if resource:
            values[resource] = getattr(p.resource, resource)
        if principal:
            values[principal] = getattr(p.principal, principal)
        return cls(level=level_name(p.level), **values)


def resource_ref(
    experiment_id: str | None, registered_model_name: str | None
) -> identity_pb2.ResourceRef:
    if (experiment_id is None) == (registered_model_name is None):
        raise InvalidArgumentError("give exactly one of experiment_id and registered_model_name")
    if experiment_id is not None:
        return identity_pb2.ResourceRef(experiment_id=str(experiment_id))
    return identity_pb2.ResourceRef(registered_model_name=registered_model_name)


def principal_ref(user_name: str | None, team_name: str | None) -> identity_pb2.PrincipalRef:
    if (user_name is None) == (team_name is None):
        raise InvalidArgumentError("give exactly one of user_name and team_name")
    if user_name is not None:
        return identity_pb2.PrincipalRef(user_name=user_name)
    return identity_pb2.PrincipalRef(team_name=team_name)
