"""Reads on a PostgreSQL streaming replica (`--db-read-url`), with read-your-writes.

A server given a replica keeps a second Store over it (`ReadRouting.replica`); the
servicers of the reading RPCs call `store.reads.<part>.<method>` (`store.reads` is the
Store itself when there is no replica, at no cost) and this module decides, call by
call, which of the two answers.

Commit positions. Each call runs inside `call_positions` (the server's
`CommitPositionInterceptor`, installed only with a replica). A write unit of work on the
primary commits with `COMMIT; SELECT pg_current_wal_insert_lsn()` in one round trip
(connecting.PooledPostgres.commit, while `recording_commits` is in force; `note_commit`
asks separately on other connections): the end of the WAL inserted so far, which lies
past the call's commit record (`pg_current_wal_lsn()`, the end written out, may not yet
with `synchronous_commit = off`). It may lie a little past that record too (a page
header, WAL reserved by concurrent writers): such a read waits for the replica to replay
a little more, or runs on the primary, never early. That number (bytes, an unsigned
integer) goes back to the client in the trailing metadata; the client sends the highest
one it has seen with its
later calls, and a read carrying position P runs on the replica only once the replica
has replayed the WAL up to P (`pg_last_wal_replay_lsn()`, asked at most every
REPLAY_CHECK_SECONDS while a reader waits for more), else on the primary. A read without
a position (another client, which cannot have written what it reads) may see the replica
as it is. `PRIMARY` (the client sends `primary`: it has a write stream open whose commits'
positions it will learn only when the stream ends) always reads from the primary.

A replica that fails (unreachable, its pool exhausted, a read refused as a write) is
left alone for REPLICA_DOWN_SECONDS: its reads go to the primary, and the call that met
the failure is answered by the primary too. Writes never touch the replica.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import threading
import time
import types
from collections.abc import Iterator

import peewee

from trackwire_server.errors import FailedPrecondition, Unavailable

log = logging.getLogger("trackwire.store")

# A position no replica reaches: reads from the primary.
PRIMARY = 1 << 64
# While a read waits for a position the replica has not shown yet, the replica's replay
# position is asked again at most this often (one short query on the replica).
REPLAY_CHECK_SECONDS = 0.01
# A replica that failed is not tried again for this long.
REPLICA_DOWN_SECONDS = 5.0
# A unit of work on the replica that lost its connection retries for this long (the
# primary's retry for 2 s): past it, the read goes to the primary.
REPLICA_RECONNECT_SECONDS = 0.1

INSERT_POSITION_SQL = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint"
_REPLAY_POSITION_SQL = "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"


COMMIT_THEN_POSITION_SQL = f"COMMIT; {INSERT_POSITION_SQL}"


class CallPositions:
    """One call's positions: the one its client sent (`read_after`: None for none,
    PRIMARY), and the highest its write units of work committed at (`committed`, 0 for
    none; None once a commit's position could not be learned). `pending`: a write unit
    of work is committing, its position not noted yet."""

    __slots__ = ("committed", "pending", "read_after")

    def __init__(self, read_after: int | None):
        self.read_after = read_after
        self.committed: int | None = 0
        self.pending = False

    def note(self, position: int) -> None:
        """A commit of the call's ended at `position` (or before)."""
        self.pending = False
        if self.committed is not None and position > self.committed:
            self.committed = position


_call: contextvars.ContextVar[CallPositions | None] = contextvars.ContextVar(
    "trackwire_call_positions", default=None
)


@contextlib.contextmanager
def call_positions(read_after: int | None) -> Iterator[CallPositions]:
    """The units of work inside the block record their commit positions in what it
    yields, and its reads are routed for `read_after` (see the module docstring)."""
    positions = CallPositions(read_after)
    token = _call.set(positions)
    try:
        yield positions
    finally:
        _call.reset(token)


def parse_position(text: str) -> int | None:
    """A position as a client sends it: `primary`, or a non-negative integer. Anything
    else reads from the primary too (never wrong, where the replica might be)."""
    if text == "primary":
        return PRIMARY
    if text.isdigit() and len(text) <= 20:
        return int(text)
    return PRIMARY


def recording() -> CallPositions | None:
    """The positions of the call being served, if it keeps them (a server with a replica)."""
    return _call.get()


_commit_sink: contextvars.ContextVar[CallPositions | None] = contextvars.ContextVar(
    "trackwire_commit_sink", default=None
)


@contextlib.contextmanager
def recording_commits(positions: CallPositions) -> Iterator[None]:
    """A commit inside the block (of a write unit of work) notes its position in
    `positions`, where the database can answer it with the commit (see `commit_sink`)."""
    positions.pending = True
    token = _commit_sink.set(positions)
    try:
        yield
    finally:
        _commit_sink.reset(token)


def commit_sink() -> CallPositions | None:
    """Where the commit being made now notes its position (None: nowhere). Read by the
    database's commit (connecting.PooledPostgres), which then commits with
    COMMIT_THEN_POSITION_SQL and calls `note` with the position."""
    return _commit_sink.get()


def note_commit(db: peewee.Database, positions: CallPositions) -> None:
    """After a write unit of work committed on `db` (the primary), on its connection, if
    its commit did not note its position: asks for it."""
    if not positions.pending:
        return
    positions.pending = False
    try:
        (position,) = db.execute_sql(INSERT_POSITION_SQL).fetchone()
    except Exception as e:  # committed all the same; the position is asked for again
        log.warning("could not read the commit position after a commit: %s", e)
        positions.committed = None
        return
    positions.note(position)


class ReadRouting:
    """The primary's Store and the replica's, and which of them answers a read (see the
    module docstring). Its attributes are the Store's parts (`reads.search`, ...): their
    methods run on the replica or the primary."""

    def __init__(self, primary, replica):
        self.primary = primary
        self.replica = replica
        self._replayed = -1  # the replica's replay position, as last asked
        self._replayed_at = float("-inf")
        self._down_until = float("-inf")
        self._asking = threading.Lock()
        # Reads answered by each (for tests and the log).
        self.served = {"replica": 0, "primary": 0}

    def __getattr__(self, part: str) -> _RoutedPart:
        if part.startswith("_"):
            raise AttributeError(part)
        return _RoutedPart(self, part)

    def replica_may_answer(self) -> bool:
        """Whether this call's read may run on the replica now."""
        now = time.monotonic()
        if now < self._down_until:
            return False
        positions = _call.get()
        needed = None if positions is None else positions.read_after
        if needed is None or needed <= self._replayed:
            return True
        if needed >= PRIMARY or now - self._replayed_at < REPLAY_CHECK_SECONDS:
            return False
        if not self._asking.acquire(blocking=False):
            return False  # another thread is asking: not worth waiting for
        try:
            self._replayed = self._ask_replayed()
            self._replayed_at = time.monotonic()
        except Exception as e:
            self._replica_failed(e)
            return False
        finally:
            self._asking.release()
        return needed <= self._replayed

    def _ask_replayed(self) -> int:
        db = self.replica.db
        position = self.replica.context.read(
            lambda: db.execute_sql(_REPLAY_POSITION_SQL).fetchone()[0]
        )
        # NULL: not a standby (the read URL names a primary): positions cannot be compared.
        return -1 if position is None else position

    def _replica_failed(self, error: BaseException) -> None:
        if time.monotonic() >= self._down_until:
            log.warning(
                "the read replica failed (%s); reads go to the primary for %gs",
                error,
                REPLICA_DOWN_SECONDS,
            )
        self._down_until = time.monotonic() + REPLICA_DOWN_SECONDS

    def call(self, part: str, method: str, *args, **kwargs):
        if not self.replica_may_answer():
            self.served["primary"] += 1
            return getattr(getattr(self.primary, part), method)(*args, **kwargs)
        try:
            result = getattr(getattr(self.replica, part), method)(*args, **kwargs)
            if isinstance(result, types.GeneratorType):
                # Its reads run when it is first advanced: do that here, where a failure
                # can still go to the primary.
                result = _started(result)
        except (Unavailable, FailedPrecondition) as e:
            if isinstance(e, FailedPrecondition) and e.reason != "DATABASE_READ_ONLY":
                raise
            self._replica_failed(e)
            self.served["primary"] += 1
            return getattr(getattr(self.primary, part), method)(*args, **kwargs)
        self.served["replica"] += 1
        return result


class _RoutedPart:
    """One part of the store (`reads.search`): its methods run where the routing says."""

    __slots__ = ("_part", "_routing")

    def __init__(self, routing: ReadRouting, part: str):
        self._routing = routing
        self._part = part

    def __getattr__(self, method: str):
        return functools.partial(self._routing.call, self._part, method)


def _started(generator: Iterator) -> Iterator:
    """`generator`, advanced to its first item now (errors raised here)."""
    try:
        first = next(generator)
    except StopIteration:
        return iter(())
    return _chain(first, generator)


def _chain(first, rest: Iterator) -> Iterator:
    yield first
    yield from rest
