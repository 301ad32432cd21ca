"""Users, service accounts, teams and API tokens.

Secrets never come here: the store keeps a password's argon2 hash and a token's SHA-256,
both made by `trackwire_server.auth`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import peewee

from trackwire_server.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from trackwire_server.store.context import StoreContext
from trackwire_server.store.paging import PageToken, checked_page_size
from trackwire_server.store.writes import now_ms

USER_PRINCIPAL = 1
TEAM_PRINCIPAL = 2
_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")


@dataclass(frozen=True)
class UserRecord:
    user_id: int
    name: str
    admin: bool
    service_account: bool
    disabled: bool
    create_time: int


@dataclass(frozen=True)
class TokenRecord:
    token_id: int
    user_name: str
    description: str
    prefix: str
    create_time: int
    expire_time: int | None
    revoke_time: int | None


@dataclass(frozen=True)
class TeamRecord:
    team_id: int
    name: str
    create_time: int
    member_names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Identity:
    """Who a valid token belongs to, as the authentication check needs it."""

    user: UserRecord
    token_id: int
    expire_time: int | None
    team_ids: tuple[int, ...]


def check_principal_name(field_name: str, name: str) -> None:
    if not _NAME.fullmatch(name or ""):
        raise InvalidArgument(
            f"{field_name} '{name}' must be 1 to 64 letters, digits, '.', '_', '-' or '@'"
        )


def _user(row) -> UserRecord:
    return UserRecord(
        row.user_id,
        row.name,
        bool(row.admin),
        bool(row.service_account),
        bool(row.disabled),
        row.create_time,
    )


class Identities:
    """The users, teams and tokens of one database."""

    def __init__(self, ctx: StoreContext):
        self.ctx = ctx
        self.t = ctx.t

    def _delete_grants_to(self, principal_type: int, principal_id: int) -> None:
        """Inside the unit of work that deletes a user or team: their grants go too."""
        G = self.t.PermissionGrant
        G.delete().where(
            (G.principal_type == principal_type) & (G.principal_id == principal_id)
        ).execute()

    # -- users ---------------------------------------------------------------------

    def _user_row(self, name: str, field_name: str = "name"):
        U = self.t.User
        row = U.get_or_none(U.name == name)
        if row is None:
            raise NotFound(f"{field_name}: user '{name}' does not exist")
        return row

    def count_users(self) -> int:
        return self.ctx.read(lambda: self.t.User.select().count())

    def create_user(
        self, name: str, password_hash: str | None, admin: bool, service_account: bool
    ) -> UserRecord:
        check_principal_name("name", name)
        U = self.t.User

        def work():
            if U.get_or_none(U.name == name) is not None:
                raise AlreadyExists(f"name: user '{name}' already exists")
            try:
                user_id = U.insert(
                    name=name,
                    password_hash=password_hash,
                    admin=int(admin),
                    service_account=int(service_account),
                    disabled=0,
                    create_time=now_ms(),
                ).execute()
            except peewee.IntegrityError:
                raise AlreadyExists(f"name: user '{name}' already exists") from None
            return _user(U.get_by_id(user_id))

        return self.ctx.write(work)

    def get_user(self, name: str) -> tuple[UserRecord, list[str]]:
        """The user and the names of their teams."""

        def work():
            row = self._user_row(name)
            return _user(row), self._team_names(row.user_id)

        return self.ctx.read(work)

    def password_hash(self, name: str) -> tuple[UserRecord, str | None] | None:
        """The user named `name` and their password hash; None if there is none."""
        U = self.t.User

        def work():
            row = U.get_or_none(U.name == name)
            return None if row is None else (_user(row), row.password_hash)

        return self.ctx.read(work)

    def list_users(self, page_size: int = 0, page_token: str = "") -> tuple[list[UserRecord], str]:
        size = checked_page_size(page_size)
        fingerprint = PageToken.fingerprint("users")
        offset = PageToken.decode(page_token, fingerprint)
        U = self.t.User

        def work():
            rows = list(U.select().order_by(U.name).offset(offset).limit(size + 1))
            token = PageToken.encode(offset + size, fingerprint) if len(rows) > size else ""
            return [_user(r) for r in rows[:size]], token

        return self.ctx.read(work)

    def update_user(
        self,
        name: str,
        *,
        password_hash: str | None = None,
        admin: bool | None = None,
        disabled: bool | None = None,
    ) -> UserRecord:
        U = self.t.User

        def work():
            row = self._user_row(name)
            changes = {}
            if password_hash is not None:
                if row.service_account:
                    raise FailedPrecondition(
                        f"password: user '{name}' is a service account: it has no password"
                    )
                changes["password_hash"] = password_hash
            if admin is not None:
                changes["admin"] = int(admin)
            if disabled is not None:
                changes["disabled"] = int(disabled)
            if changes:
                U.update(**changes).where(U.user_id == row.user_id).execute()
            return _user(U.get_by_id(row.user_id))

        return self.ctx.write(work)

    def delete_user(self, name: str) -> None:
        t = self.t

        def work():
            row = self._user_row(name)
            t.ApiToken.delete().where(t.ApiToken.user_id == row.user_id).execute()
            t.TeamMember.delete().where(t.TeamMember.user_id == row.user_id).execute()
            self._delete_grants_to(USER_PRINCIPAL, row.user_id)
            t.User.delete().where(t.User.user_id == row.user_id).execute()

        self.ctx.write(work)

    # -- tokens --------------------------------------------------------------------

    def _token(self, row, user_name: str) -> TokenRecord:
        return TokenRecord(
            row.token_id,
            user_name,
            row.description,
            row.prefix,
            row.create_time,
            row.expire_time,
            row.revoke_time,
        )

    def create_token(
        self,
        user_name: str,
        secret_sha256: str,
        prefix: str,
        description: str,
        expire_time: int | None,
        *,
        password_user: bool = False,
    ) -> TokenRecord:
        """A new token of `user_name`. `password_user`: the token is a sign-in's, which a
        service account cannot have."""
        T = self.t.ApiToken

        def work():
            user = self._user_row(user_name, "user_name")
            if password_user and user.service_account:
                raise FailedPrecondition(f"user '{user_name}' is a service account")
            token_id = T.insert(
                user_id=user.user_id,
                secret_sha256=secret_sha256,
                prefix=prefix,
                description=description,
                create_time=now_ms(),
                expire_time=expire_time,
                revoke_time=None,
            ).execute()
            return self._token(T.get_by_id(token_id), user_name)

        return self.ctx.write(work)

    def identity(self, secret_sha256: str) -> Identity | None:
        """Who the token with this hash belongs to, if it is live (not revoked, not
        expired, its user not disabled); None otherwise."""
        return self._identity(self.t.ApiToken.secret_sha256 == secret_sha256)

    def live_identity(self, token_id: int) -> Identity | None:
        """`identity` of the token with this id (a long call asks it again)."""
        return self._identity(self.t.ApiToken.token_id == token_id)

    def _identity(self, where) -> Identity | None:
        t = self.t

        def work():
            row = (
                t.ApiToken.select(t.ApiToken, t.User)
                .join(t.User, on=(t.User.user_id == t.ApiToken.user_id))
                .where(where)
                .objects()
                .first()
            )
            if row is None or row.revoke_time is not None or row.disabled:
                return None
            if row.expire_time is not None and row.expire_time <= now_ms():
                return None
            user = UserRecord(
                row.user_id,
                row.name,
                bool(row.admin),
                bool(row.service_account),
                bool(row.disabled),
                row.create_time,
            )
            M = t.TeamMember
            teams = tuple(
                sorted(m for (m,) in M.select(M.team_id).where(M.user_id == user.user_id).tuples())
            )
            return Identity(user, row.token_id, row.expire_time, teams)

        return self.ctx.read(work)

    def list_tokens(self, user_name: str, include_inactive: bool) -> list[TokenRecord]:
        T = self.t.ApiToken

        def work():
            user = self._user_row(user_name, "user_name")
            query = T.select().where(T.user_id == user.user_id)
            if not include_inactive:
                query = query.where(
                    T.revoke_time.is_null() & (T.expire_time.is_null() | (T.expire_time > now_ms()))
                )
            rows = query.order_by(T.create_time.desc(), T.token_id.desc())
            return [self._token(r, user_name) for r in rows]

        return self.ctx.read(work)

    def token_owner(self, token_id: int) -> str | None:
        """The name of the user who owns token `token_id`, None if there is no such token."""
        t = self.t

        def work():
            row = (
                t.User.select(t.User.name)
                .join(t.ApiToken, on=(t.ApiToken.user_id == t.User.user_id))
                .where(t.ApiToken.token_id == token_id)
                .first()
            )
            return None if row is None else row.name

        return self.ctx.read(work)

    def revoke_token(self, token_id: int) -> TokenRecord:
        t = self.t

        def work():
            row = t.ApiToken.get_or_none(t.ApiToken.token_id == token_id)
            if row is None:
                raise NotFound(f"token_id: token {token_id} does not exist")
            if row.revoke_time is None:
                t.ApiToken.update(revoke_time=now_ms()).where(
                    t.ApiToken.token_id == token_id
                ).execute()
            owner = t.User.get_by_id(row.user_id).name
            return self._token(t.ApiToken.get_by_id(token_id), owner)

        return self.ctx.write(work)

    # -- teams ---------------------------------------------------------------------

    def _team_names(self, user_id: int) -> list[str]:
        t = self.t
        rows = (
            t.Team.select(t.Team.name)
            .join(t.TeamMember, on=(t.TeamMember.team_id == t.Team.team_id))
            .where(t.TeamMember.user_id == user_id)
            .order_by(t.Team.name)
            .tuples()
        )
        return [name for (name,) in rows]

    def _team_row(self, name: str, field_name: str = "name"):
        T = self.t.Team
        row = T.get_or_none(T.name == name)
        if row is None:
            raise NotFound(f"{field_name}: team '{name}' does not exist")
        return row

    def _team(self, row) -> TeamRecord:
        t = self.t
        members = (
            t.User.select(t.User.name)
            .join(t.TeamMember, on=(t.TeamMember.user_id == t.User.user_id))
            .where(t.TeamMember.team_id == row.team_id)
            .order_by(t.User.name)
            .tuples()
        )
        return TeamRecord(row.team_id, row.name, row.create_time, [n for (n,) in members])

    def create_team(self, name: str) -> TeamRecord:
        check_principal_name("name", name)
        T = self.t.Team

        def work():
            if T.get_or_none(T.name == name) is not None:
                raise AlreadyExists(f"name: team '{name}' already exists")
            try:
                team_id = T.insert(name=name, create_time=now_ms()).execute()
            except peewee.IntegrityError:
                raise AlreadyExists(f"name: team '{name}' already exists") from None
            return self._team(T.get_by_id(team_id))

        return self.ctx.write(work)

    def get_team(self, name: str) -> TeamRecord:
        return self.ctx.read(lambda: self._team(self._team_row(name)))

    def is_member(self, team_name: str, user_id: int) -> bool:
        t = self.t

        def work():
            row = t.Team.get_or_none(t.Team.name == team_name)
            if row is None:
                return False
            M = t.TeamMember
            return M.select().where((M.team_id == row.team_id) & (M.user_id == user_id)).exists()

        return self.ctx.read(work)

    def list_teams(self, member_user_id: int | None = None) -> list[TeamRecord]:
        """Every team, or only those `member_user_id` is in."""
        t = self.t

        def work():
            query = t.Team.select().order_by(t.Team.name)
            if member_user_id is not None:
                M = t.TeamMember
                query = query.where(
                    t.Team.team_id.in_(M.select(M.team_id).where(M.user_id == member_user_id))
                )
            return [self._team(r) for r in query]

        return self.ctx.read(work)

    def delete_team(self, name: str) -> None:
        t = self.t

        def work():
            row = self._team_row(name)
            t.TeamMember.delete().where(t.TeamMember.team_id == row.team_id).execute()
            self._delete_grants_to(TEAM_PRINCIPAL, row.team_id)
            t.Team.delete().where(t.Team.team_id == row.team_id).execute()

        self.ctx.write(work)

    def add_member(self, team_name: str, user_name: str) -> TeamRecord:
        t = self.t

        def work():
            team = self._team_row(team_name, "team_name")
            user = self._user_row(user_name, "user_name")
            M = t.TeamMember
            exists = M.select().where((M.team_id == team.team_id) & (M.user_id == user.user_id))
            if not exists.exists():
                M.insert(team_id=team.team_id, user_id=user.user_id).execute()
            return self._team(team)

        return self.ctx.write(work)

    def remove_member(self, team_name: str, user_name: str) -> TeamRecord:
        t = self.t

        def work():
            team = self._team_row(team_name, "team_name")
            user = self._user_row(user_name, "user_name")
            M = t.TeamMember
            removed = (
                M.delete()
                .where((M.team_id == team.team_id) & (M.user_id == user.user_id))
                .execute()
            )
            if not removed:
                raise NotFound(f"user_name: user '{user_name}' is not in team '{team_name}'")
            return self._team(team)

        return self.ctx.write(work)
