"""`TrackwireClient.auth`: the AuthService (users, service accounts, teams, API tokens and
grants), one method per RPC, plain Python values in and out (trackwire.auth_entities).

Errors are trackwire.errors exceptions, as from every client call: a call without a valid
token raises UnauthenticatedError, one the caller's grants do not allow
PermissionDeniedError (or NotFoundError for a resource the caller may not even read),
and every call but whoami raises FailedPreconditionError on a server without `--auth`.

    client = trackwire.TrackwireClient("grpc://tracking:50051")
    client.auth.create_user("ana", password="correct horse battery")
    client.auth.set_permission("EDIT", experiment_id="3", user_name="ana")
"""

from __future__ import annotations

import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from trackwire.auth_entities import (
    ApiToken,
    NewToken,
    PermissionGrant,
    Team,
    User,
    WhoAmI,
    level_name,
    level_number,
    principal_ref,
    resource_ref,
)
from trackwire.v1 import auth_service_pb2 as pb
from trackwire.v1 import identity_pb2
from trackwire_protocol.calls import call
from trackwire_protocol.times import timestamp


def _timestamp(when: datetime.datetime | int | None) -> Timestamp | None:
    """A datetime (naive means UTC) or milliseconds since the epoch as a Timestamp."""
    if not isinstance(when, datetime.datetime):
        return timestamp(when)
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


class AuthClient:
    """The AuthService of one client's server (see the module docstring)."""

    def __init__(self, stub):
        self._stub = stub

    def __repr__(self) -> str:
        return "AuthClient()"

    # -- who is calling ------------------------------------------------------------

    def whoami(self) -> WhoAmI:
        """Who the caller is, and whether the server checks tokens at all."""
        return WhoAmI.from_proto(call(self._stub.WhoAmI, pb.WhoAmIRequest()))

    def sign_in(
        self, user_name: str, password: str, ttl_seconds: int = 0, description: str = ""
    ) -> NewToken:
        """A sign-in token for a user's name and password (needs no token); it lasts
        `ttl_seconds` (60 to 30 days; 0: 12 hours)."""
        request = pb.SignInRequest(
            user_name=user_name,
            password=password,
            ttl_seconds=int(ttl_seconds),
            description=description,
        )
        return NewToken.from_proto(call(self._stub.SignIn, request))

    # -- users (admins; a user their own password) ---------------------------------------

    def create_user(
        self,
        name: str,
        password: str | None = None,
        *,
        admin: bool = False,
        service_account: bool = False,
    ) -> User:
        """A person (with a password of at least 8 characters) or a service account
        (`service_account=True`, no password). Admin only."""
        request = pb.CreateUserRequest(
            name=name, password=password or "", admin=admin, service_account=service_account
        )
        return User.from_proto(call(self._stub.CreateUser, request).user)

    def get_user(self, name: str) -> User:
        """A user with the teams they are in (admins any user; others themselves)."""
        response = call(self._stub.GetUser, pb.GetUserRequest(name=name))
        return User.from_proto(response.user, response.team_names)

    def list_users(self) -> list[User]:
        """Every user, by name (admin only)."""
        users, token = [], ""
        while True:
            response = call(
                self._stub.ListUsers, pb.ListUsersRequest(page_size=1000, page_token=token)
            )
            users.extend(User.from_proto(u) for u in response.users)
            token = response.next_page_token
            if not token:
                return users

    def update_user(
        self,
        name: str,
        *,
        password: str | None = None,
        admin: bool | None = None,
        disabled: bool | None = None,
    ) -> User:
        """Changes what is given (None: unchanged): a password (admins any user's, others
        their own), the admin and disabled flags (admins only)."""
        request = pb.UpdateUserRequest(name=name)
        if password is not None:
            request.password = password
        if admin is not None:
            request.admin = admin
        if disabled is not None:
            request.disabled = disabled
        return User.from_proto(call(self._stub.UpdateUser, request).user)

    def set_password(self, name: str, password: str) -> User:
        return self.update_user(name, password=password)

    def delete_user(self, name: str) -> None:
        """Deletes a user with their tokens, team memberships and grants (admin only)."""
        call(self._stub.DeleteUser, pb.DeleteUserRequest(name=name))

    # -- API tokens -------------------------------------------------------------------------

    def create_token(
        self,
        user_name: str = "",
        description: str = "",
        expire_time: datetime.datetime | int | None = None,
    ) -> NewToken:
        """A new API token for `user_name` ("": the caller); its `secret` is shown only
        now. `expire_time`: a datetime or epoch milliseconds; None: never expires."""
        request = pb.CreateApiTokenRequest(
            user_name=user_name, description=description, expire_time=_timestamp(expire_time)
        )
        return NewToken.from_proto(call(self._stub.CreateApiToken, request))

    def list_tokens(self, user_name: str = "", include_inactive: bool = False) -> list[ApiToken]:
        """A user's tokens ("": the caller's), newest first, never their secrets."""
        request = pb.ListApiTokensRequest(user_name=user_name, include_inactive=include_inactive)
        return [ApiToken.from_proto(t) for t in call(self._stub.ListApiTokens, request).tokens]

    def revoke_token(self, token_id: int) -> ApiToken:
        """Revokes a token at once (admins any; others their own)."""
        request = pb.RevokeApiTokenRequest(token_id=int(token_id))
        return ApiToken.from_proto(call(self._stub.RevokeApiToken, request).token)

    # -- teams (admins; members may read their teams) -------------------------------------------

    def create_team(self, name: str) -> Team:
        return Team.from_proto(call(self._stub.CreateTeam, pb.CreateTeamRequest(name=name)).team)

    def get_team(self, name: str) -> Team:
        return Team.from_proto(call(self._stub.GetTeam, pb.GetTeamRequest(name=name)).team)

    def list_teams(self) -> list[Team]:
        """Every team (admins), or the caller's teams, by name."""
        return [Team.from_proto(t) for t in call(self._stub.ListTeams, pb.ListTeamsRequest()).teams]

    def delete_team(self, name: str) -> None:
        call(self._stub.DeleteTeam, pb.DeleteTeamRequest(name=name))

    def add_team_member(self, team_name: str, user_name: str) -> Team:
        request = pb.AddTeamMemberRequest(team_name=team_name, user_name=user_name)
        return Team.from_proto(call(self._stub.AddTeamMember, request).team)

    def remove_team_member(self, team_name: str, user_name: str) -> Team:
        request = pb.RemoveTeamMemberRequest(team_name=team_name, user_name=user_name)
        return Team.from_proto(call(self._stub.RemoveTeamMember, request).team)

    # -- grants: exactly one resource and one principal each ------------------------------------

    def set_permission(
        self,
        level: str | int,
        *,
        experiment_id: str | None = None,
        registered_model_name: str | None = None,
        user_name: str | None = None,
        team_name: str | None = None,
    ) -> PermissionGrant:
        """Grants a user or team `level` ("NONE", "READ", "USE", "EDIT", "MANAGE") on an
        experiment or registered model, replacing their earlier grant there. Needs MANAGE
        on the resource."""
        grant = identity_pb2.PermissionGrant(
            resource=resource_ref(experiment_id, registered_model_name),
            principal=principal_ref(user_name, team_name),
            level=level_number(level),
        )
        response = call(self._stub.SetPermission, pb.SetPermissionRequest(grant=grant))
        return PermissionGrant.from_proto(response.grant)

    def delete_permission(
        self,
        *,
        experiment_id: str | None = None,
        registered_model_name: str | None = None,
        user_name: str | None = None,
        team_name: str | None = None,
    ) -> None:
        """Removes a user's or team's grant on a resource (NotFoundError if none)."""
        request = pb.DeletePermissionRequest(
            resource=resource_ref(experiment_id, registered_model_name),
            principal=principal_ref(user_name, team_name),
        )
        call(self._stub.DeletePermission, request)

    def list_permissions(
        self, *, experiment_id: str | None = None, registered_model_name: str | None = None
    ) -> list[PermissionGrant]:
        """The grants on a resource: users first, then teams. Needs MANAGE on it."""
        request = pb.ListPermissionsRequest(
            resource=resource_ref(experiment_id, registered_model_name)
        )
        grants = call(self._stub.ListPermissions, request).grants
        return [PermissionGrant.from_proto(g) for g in grants]

    def get_effective_permission(
        self, *, experiment_id: str | None = None, registered_model_name: str | None = None
    ) -> str:
        """What the caller may do with a resource: "READ", "USE", "EDIT" or "MANAGE"."""
        request = pb.GetEffectivePermissionRequest(
            resource=resource_ref(experiment_id, registered_model_name)
        )
        return level_name(call(self._stub.GetEffectivePermission, request).level)
