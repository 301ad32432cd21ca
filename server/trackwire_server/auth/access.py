"""Who is calling, and what they may do: tokens to callers, grants to levels.

`Access` answers for a server with authentication on; `OpenAccess` for one without
(every call allowed, nothing filtered). The servicers ask `access.visible(...)` for their
lists and `access.creator()` for new resources; the interceptor asks the rest.

Caches: a token's caller and a caller's levels are kept for `cache_seconds` (2 s), and
forgotten at once on this server when a token is revoked or a grant, team or user
changes; another server behind the same database sees such a change within
`cache_seconds`. A run's experiment never changes, so it is kept for good.
"""

from __future__ import annotations

import contextvars
import threading
import time
from dataclasses import dataclass

from trackwire_server.auth import credentials
from trackwire_server.errors import Unauthenticated
from trackwire_server.store import Store
from trackwire_server.store.constants import DEFAULT_EXPERIMENT_ID
from trackwire_server.store.grants import (
    EXPERIMENT_RESOURCE,
    MANAGE,
    MODEL_RESOURCE,
    READ,
    USE,
    Visibility,
)

AUTHORIZATION = "authorization"
_RUN_CACHE_SIZE = 100_000


@dataclass(frozen=True)
class Caller:
    """The user a call's token belongs to."""

    user_id: int
    name: str
    admin: bool
    team_ids: tuple[int, ...]
    token_id: int


_current: contextvars.ContextVar[Caller | None] = contextvars.ContextVar(
    "trackwire_caller", default=None
)


def current_caller() -> Caller | None:
    """The caller of the RPC this thread is serving (None with authentication off)."""
    return _current.get()


def set_current_caller(caller: Caller | None) -> contextvars.Token:
    return _current.set(caller)


def reset_current_caller(token: contextvars.Token) -> None:
    _current.reset(token)


class OpenAccess:
    """Authentication off: everyone may do everything."""

    enabled = False
    default_level = MANAGE

    def visible(self, resource_type: int) -> Visibility | None:
        return None

    def creator(self) -> int | None:
        return None

    def caller_name(self) -> str | None:
        return None

    def forget_levels(self) -> None:
        pass

    def still_reads_run(self, run_id: str) -> bool:
        return True


class Access:
    """Authentication on, over `store`'s users, tokens and grants."""

    enabled = True

    def __init__(self, store: Store, default_level: int = READ, cache_seconds: float = 2.0):
        self.store = store
        self.default_level = default_level
        self.cache_seconds = cache_seconds
        self._callers: dict[str, tuple[float, Caller | None, int | None]] = {}
        self._levels: dict[tuple, tuple[float, object]] = {}
        self._run_experiments: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- authentication ------------------------------------------------------------

    def authenticate(self, metadata) -> Caller:
        """The caller whose token the call's `authorization: Bearer <token>` metadata
        carries; UNAUTHENTICATED without one, or with a malformed, unknown, revoked or
        expired one (the same message for each, so that none is confirmed)."""
        header = None
        for key, value in metadata or ():
            if key == AUTHORIZATION:
                header = value
                break
        if header is None:
            raise Unauthenticated(
                "this server requires authentication: send 'authorization: Bearer <token>' "
                "metadata (TRACKWIRE_TOKEN, `trackwire login`)"
            )
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret or len(secret) > 512:
            raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
        caller = self._caller(credentials.token_hash(secret))
        if caller is None:
            raise Unauthenticated("the token is not valid (unknown, revoked or expired)")
        return caller

    def _caller(self, secret_hash: str) -> Caller | None:
        now = time.monotonic()
        cached = self._callers.get(secret_hash)
        if cached is not None and now - cached[0] < self.cache_seconds:
            caller, expire_time = cached[1], cached[2]
            if expire_time is None or expire_time > time.time() * 1000:
                return caller
        identity = self.store.identities.identity(secret_hash)
        if identity is None:
            caller, expire_time = None, None
        else:
            user = identity.user
            caller = Caller(
                user.user_id, user.name, user.admin, identity.team_ids, identity.token_id
            )
            expire_time = identity.expire_time
        if len(self._callers) > 10_000:
            self._callers.clear()
        self._callers[secret_hash] = (now, caller, expire_time)
        return caller

    def forget_callers(self) -> None:
        """After a token is revoked or a user or team changes."""
        self._callers.clear()
        self._levels.clear()

    def forget_levels(self) -> None:
        """After a grant changes."""
        self._levels.clear()

    # -- levels ------------------------------------------------------------------

    def level(self, caller: Caller, resource_type: int, resource_id: int) -> int:
        """What `caller` may do with one resource: MANAGE for an admin, else the highest
        of their own and their teams' grants on it, else the server's default."""
        if caller.admin:
            return MANAGE
        key = (caller.user_id, caller.team_ids, resource_type, resource_id)
        now = time.monotonic()
        cached = self._levels.get(key)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        explicit = self.store.grants.explicit_levels(
            caller.user_id, caller.team_ids, resource_type, resource_id
        )
        level = explicit.get(resource_id, self.fallback_level(resource_type, resource_id))
        self._remember(key, now, level)
        return level

    def fallback_level(self, resource_type: int, resource_id: int) -> int:
        """A user's level on a resource where neither they nor their teams have a grant:
        the server's default; on the Default experiment (id 0, where runs go when no
        experiment is set) at least USE, so that every signed-in user may log there as
        without authentication. A grant on it (NONE, READ) overrides that."""
        if resource_type == EXPERIMENT_RESOURCE and resource_id == DEFAULT_EXPERIMENT_ID:
            return max(self.default_level, USE)
        return self.default_level

    def visibility(self, caller: Caller, resource_type: int) -> Visibility | None:
        """The resources of a kind `caller` may read (None: all)."""
        if caller.admin:
            return None
        key = (caller.user_id, caller.team_ids, resource_type, "visibility")
        now = time.monotonic()
        cached = self._levels.get(key)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        explicit = self.store.grants.explicit_levels(caller.user_id, caller.team_ids, resource_type)
        if self.default_level >= READ:
            hidden = frozenset(r for r, level in explicit.items() if level < READ)
            visible = Visibility(hidden=hidden) if hidden else None
        else:
            only = {r for r, lv in explicit.items() if lv >= READ}
            if resource_type == EXPERIMENT_RESOURCE and DEFAULT_EXPERIMENT_ID not in explicit:
                only.add(DEFAULT_EXPERIMENT_ID)  # everyone's sandbox, see fallback_level
            visible = Visibility(only=frozenset(only))
        self._remember(key, now, visible)
        return visible

    def _remember(self, key, now: float, value) -> None:
        if len(self._levels) > 100_000:
            self._levels.clear()
        self._levels[key] = (now, value)

    # -- what the servicers ask --------------------------------------------------

    def visible(self, resource_type: int) -> Visibility | None:
        """The current caller's visibility of a kind (for searches and lists)."""
        caller = current_caller()
        if caller is None:  # a call no rule lets through unauthenticated reaches no list
            return Visibility(only=frozenset())
        return self.visibility(caller, resource_type)

    def creator(self) -> int | None:
        """The current caller's user id: they get MANAGE on what they create."""
        caller = current_caller()
        return None if caller is None else caller.user_id

    def caller_name(self) -> str | None:
        caller = current_caller()
        return None if caller is None else caller.name

    def still_reads_run(self, run_id: str) -> bool:
        """Whether the current caller may still read run `run_id`: a long stream asks
        before each answer, so that a revoked token or grant, a disabled user or a team
        they left ends it (at once on this server, within `cache_seconds` on another).
        Raises Unauthenticated when the token is no longer valid."""
        caller = current_caller()
        if caller is None:
            return True
        caller = self.refreshed(caller)
        eid = self.run_experiment(run_id)
        return eid is not None and self.level(caller, EXPERIMENT_RESOURCE, eid) >= READ

    def refreshed(self, caller: Caller) -> Caller:
        """`caller` as their token says now (their teams may have changed); Unauthenticated
        if the token is no longer valid. Long calls ask it again as they go."""
        live = self._live(caller)
        if live is None:
            raise Unauthenticated("the token is not valid (unknown, revoked or expired)")
        return live

    def _live(self, caller: Caller) -> Caller | None:
        key = ("live", caller.token_id)
        now = time.monotonic()
        cached = self._levels.get(key)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        identity = self.store.identities.live_identity(caller.token_id)
        live = None
        if identity is not None:
            user = identity.user
            live = Caller(user.user_id, user.name, user.admin, identity.team_ids, caller.token_id)
        self._remember(key, now, live)
        return live

    # -- resources a request names ---------------------------------------------

    def run_experiment(self, run_id: str) -> int | None:
        """The experiment of run `run_id`, None if there is no such run."""
        found = self._run_experiments.get(run_id)
        if found is None:
            found = self.store.grants.experiment_of_run(run_id)
            if found is not None:
                if len(self._run_experiments) > _RUN_CACHE_SIZE:
                    self._run_experiments.clear()
                self._run_experiments[run_id] = found
        return found


RESOURCE_KINDS = {EXPERIMENT_RESOURCE: "experiment", MODEL_RESOURCE: "registered model"}
