"""AuthService: users, teams, API tokens and grants. Who may call what is decided before
these methods run (auth/table.py); they do what they are asked."""

from __future__ import annotations

import time

from trackwire.v1 import auth_service_pb2 as pb
from trackwire.v1 import auth_service_pb2_grpc, identity_pb2
from trackwire_server import convert
from trackwire_server.auth import credentials
from trackwire_server.auth.access import Access, OpenAccess, current_caller
from trackwire_server.auth.sign_in_limits import SignInLimits, sign_in_source
from trackwire_server.errors import FailedPrecondition, InvalidArgument, Unauthenticated
from trackwire_server.store import Store
from trackwire_server.store.grants import EXPERIMENT_RESOURCE, MODEL_RESOURCE
from trackwire_server.store.identities import TEAM_PRINCIPAL, USER_PRINCIPAL
from trackwire_server.store.validation import parse_experiment_id

SIGN_IN_TTL_SECONDS = 12 * 3600
MAX_TTL_SECONDS = 30 * 24 * 3600
MAX_DESCRIPTION = 256


def user_message(record) -> identity_pb2.User:
    return identity_pb2.User(
        user_id=record.user_id,
        name=record.name,
        admin=record.admin,
        service_account=record.service_account,
        disabled=record.disabled,
        create_time=convert.timestamp(record.create_time),
    )


def token_message(record) -> identity_pb2.ApiToken:
    return identity_pb2.ApiToken(
        token_id=record.token_id,
        user_name=record.user_name,
        description=record.description,
        create_time=convert.timestamp(record.create_time),
        expire_time=convert.timestamp(record.expire_time),
        revoke_time=convert.timestamp(record.revoke_time),
        prefix=record.prefix,
    )


def team_message(record) -> identity_pb2.Team:
    return identity_pb2.Team(
        team_id=record.team_id,
        name=record.name,
        member_names=record.member_names,
        create_time=convert.timestamp(record.create_time),
    )


def check_password(field: str, password: str) -> None:
    if len(password) < credentials.MIN_PASSWORD_LENGTH:
        raise InvalidArgument(
            f"{field} must be at least {credentials.MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > 1024:
        raise InvalidArgument(f"{field} must be at most 1024 characters")


def check_level(field: str, level: int) -> int:
    if level not in identity_pb2.PermissionLevel.values() or level == 0:
        raise InvalidArgument(f"{field} must be a PermissionLevel from NONE to MANAGE")
    return level


class AuthServicer(auth_service_pb2_grpc.AuthServiceServicer):
    def __init__(self, store: Store, access: Access | OpenAccess):
        self.store = store
        self.access = access
        self.sign_in_limits = SignInLimits()

    def _enabled(self) -> Access:
        if not self.access.enabled:
            raise FailedPrecondition(
                "authentication is off on this server (start it with --auth to manage "
                "users, teams, tokens and grants)"
            )
        return self.access

    def _me(self):
        return current_caller()

    # -- who -------------------------------------------------------------------

    def WhoAmI(self, request, context):
        if not self.access.enabled:
            return pb.WhoAmIResponse(auth_enabled=False)
        caller = self._me()
        user, teams = self.store.identities.get_user(caller.name)
        return pb.WhoAmIResponse(
            auth_enabled=True,
            user=user_message(user),
            team_names=teams,
            default_permission=self.access.default_level,
        )

    def SignIn(self, request, context):
        self._enabled()
        peer = sign_in_source(context)  # the browser's address for the web UI's sign-ins
        self.sign_in_limits.check(peer)
        ttl = request.ttl_seconds or SIGN_IN_TTL_SECONDS
        if not 60 <= ttl <= MAX_TTL_SECONDS:
            raise InvalidArgument(f"ttl_seconds must be between 60 and {MAX_TTL_SECONDS}")
        if len(request.description) > MAX_DESCRIPTION:
            raise InvalidArgument(f"description must be at most {MAX_DESCRIPTION} characters")
        found = self.store.identities.password_hash(request.user_name)
        user, password_hash = found if found is not None else (None, None)
        if (
            not credentials.password_matches(password_hash, request.password)
            or user is None
            or user.disabled
            or user.service_account
        ):
            self.sign_in_limits.failed(peer)
            raise Unauthenticated("wrong user name or password")
        self.sign_in_limits.succeeded(peer)
        secret, digest = credentials.new_token()
        record = self.store.identities.create_token(
            user.name,
            digest,
            credentials.display_prefix(secret),
            request.description or "sign-in",
            int(time.time() * 1000) + ttl * 1000,
            password_user=True,
        )
        return pb.SignInResponse(secret=secret, token=token_message(record))

    # -- users -----------------------------------------------------------------

    def CreateUser(self, request, context):
        self._enabled()
        if request.service_account:
            if request.password:
                raise InvalidArgument("password: a service account has no password")
            password_hash = None
        else:
            check_password("password", request.password)
            password_hash = credentials.hash_password(request.password)
        user = self.store.identities.create_user(
            request.name, password_hash, request.admin, request.service_account
        )
        return pb.CreateUserResponse(user=user_message(user))

    def GetUser(self, request, context):
        self._enabled()
        user, teams = self.store.identities.get_user(request.name)
        return pb.GetUserResponse(user=user_message(user), team_names=teams)

    def ListUsers(self, request, context):
        self._enabled()
        users, token = self.store.identities.list_users(request.page_size, request.page_token)
        return pb.ListUsersResponse(users=[user_message(u) for u in users], next_page_token=token)

    def UpdateUser(self, request, context):
        access = self._enabled()
        me = self._me()
        if request.name == me.name and (
            (request.HasField("admin") and not request.admin)
            or (request.HasField("disabled") and request.disabled)
        ):
            raise FailedPrecondition(
                "an admin cannot drop their own admin flag or disable themselves"
            )
        password_hash = None
        if request.HasField("password"):
            check_password("password", request.password)
            password_hash = credentials.hash_password(request.password)
        user = self.store.identities.update_user(
            request.name,
            password_hash=password_hash,
            admin=request.admin if request.HasField("admin") else None,
            disabled=request.disabled if request.HasField("disabled") else None,
        )
        access.forget_callers()
        return pb.UpdateUserResponse(user=user_message(user))

    def DeleteUser(self, request, context):
        access = self._enabled()
        if request.name == self._me().name:
            raise FailedPrecondition("name: an admin cannot delete themselves")
        self.store.identities.delete_user(request.name)
        access.forget_callers()
        return pb.DeleteUserResponse()

    # -- tokens ----------------------------------------------------------------

    def CreateApiToken(self, request, context):
        self._enabled()
        owner = request.user_name or self._me().name
        if len(request.description) > MAX_DESCRIPTION:
            raise InvalidArgument(f"description must be at most {MAX_DESCRIPTION} characters")
        expire = None
        if request.HasField("expire_time"):
            expire = convert.millis(request.expire_time, True)
            if expire <= time.time() * 1000:
                raise InvalidArgument("expire_time must be in the future")
        secret, digest = credentials.new_token()
        record = self.store.identities.create_token(
            owner, digest, credentials.display_prefix(secret), request.description, expire
        )
        return pb.CreateApiTokenResponse(secret=secret, token=token_message(record))

    def ListApiTokens(self, request, context):
        self._enabled()
        owner = request.user_name or self._me().name
        tokens = self.store.identities.list_tokens(owner, request.include_inactive)
        return pb.ListApiTokensResponse(tokens=[token_message(t) for t in tokens])

    def RevokeApiToken(self, request, context):
        access = self._enabled()
        record = self.store.identities.revoke_token(request.token_id)
        access.forget_callers()
        return pb.RevokeApiTokenResponse(token=token_message(record))

    # -- teams -----------------------------------------------------------------

    def CreateTeam(self, request, context):
        self._enabled()
        return pb.CreateTeamResponse(
            team=team_message(self.store.identities.create_team(request.name))
        )

    def GetTeam(self, request, context):
        self._enabled()
        return pb.GetTeamResponse(team=team_message(self.store.identities.get_team(request.name)))

    def ListTeams(self, request, context):
        self._enabled()
        me = self._me()
        teams = self.store.identities.list_teams(None if me.admin else me.user_id)
        return pb.ListTeamsResponse(teams=[team_message(t) for t in teams])

    def DeleteTeam(self, request, context):
        access = self._enabled()
        self.store.identities.delete_team(request.name)
        access.forget_callers()
        return pb.DeleteTeamResponse()

    def AddTeamMember(self, request, context):
        access = self._enabled()
        team = self.store.identities.add_member(request.team_name, request.user_name)
        access.forget_callers()
        return pb.AddTeamMemberResponse(team=team_message(team))

    def RemoveTeamMember(self, request, context):
        access = self._enabled()
        team = self.store.identities.remove_member(request.team_name, request.user_name)
        access.forget_callers()
        return pb.RemoveTeamMemberResponse(team=team_message(team))

    # -- grants ----------------------------------------------------------------

    def _resource(self, ref, field: str) -> tuple[int, int]:
        """(resource type, id) of a ResourceRef the access rule has already found."""
        if ref.WhichOneof("resource") == "experiment_id":
            return EXPERIMENT_RESOURCE, parse_experiment_id(
                f"{field}.experiment_id", ref.experiment_id
            )
        return MODEL_RESOURCE, self.store.grants.model_id(ref.registered_model_name)

    @staticmethod
    def _principal(ref, field: str) -> tuple[int, str]:
        kind = ref.WhichOneof("principal")
        if kind == "user_name":
            return USER_PRINCIPAL, ref.user_name
        if kind == "team_name":
            return TEAM_PRINCIPAL, ref.team_name
        raise InvalidArgument(f"{field} must name a user_name or a team_name")

    def SetPermission(self, request, context):
        access = self._enabled()
        grant = request.grant
        level = check_level("grant.level", grant.level)
        kind, rid = self._resource(grant.resource, "grant.resource")
        principal_type, name = self._principal(grant.principal, "grant.principal")
        self.store.grants.set_grant(kind, rid, principal_type, name, level)
        access.forget_levels()
        return pb.SetPermissionResponse(grant=grant)

    def DeletePermission(self, request, context):
        access = self._enabled()
        kind, rid = self._resource(request.resource, "resource")
        principal_type, name = self._principal(request.principal, "principal")
        self.store.grants.delete_grant(kind, rid, principal_type, name)
        access.forget_levels()
        return pb.DeletePermissionResponse()

    def ListPermissions(self, request, context):
        self._enabled()
        kind, rid = self._resource(request.resource, "resource")
        grants = []
        for principal_type, name, level in self.store.grants.list_grants(kind, rid):
            principal = (
                identity_pb2.PrincipalRef(user_name=name)
                if principal_type == USER_PRINCIPAL
                else identity_pb2.PrincipalRef(team_name=name)
            )
            grants.append(
                identity_pb2.PermissionGrant(
                    resource=request.resource, principal=principal, level=level
                )
            )
        return pb.ListPermissionsResponse(grants=grants)

    def GetEffectivePermission(self, request, context):
        access = self._enabled()
        kind, rid = self._resource(request.resource, "resource")
        return pb.GetEffectivePermissionResponse(level=access.level(self._me(), kind, rid))
