"""The unit of work: one transaction per call, the same on every database.

`run(db, work)` runs `work()` in one transaction and
- for writes on SQLite, takes the write lock at BEGIN (IMMEDIATE), after queueing on a
  lock of this process (`sqlite_write_lock`);
- runs it again from the start when it lost a race for a lock (deadlock, lock timeout,
  serialization failure, SQLite busy) or lost its connection (a database restart, a
  killed connection): the connection is replaced first;
- rolls back instead of committing once the caller's deadline (`call_deadline`) has
  passed, and answers DeadlineExceeded;
- from a connection pool (PostgreSQL, MySQL: `connecting`), checks a connection out
  for each attempt, waiting while all are busy (up to POOL_WAIT_SECONDS, or the
  deadline: then Unavailable, reason DATABASE_POOL_EXHAUSTED), and returns it after;
- turns what the driver raised into domain errors: a read-only database is
  FailedPrecondition, a full disk ResourceExhausted, a database that stays unreachable
  (or a connection lost while committing, when the outcome is unknown) Unavailable.

A unit started inside another joins it (no transaction, no retry of its own): the
outermost one retries and commits. Work that must happen only once the data is
committed (announcing new metric points) goes to `db.after_commit`.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import errno
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import TypeVar

import peewee

from trackwire_server.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    ResourceExhausted,
    TrackwireError,
    Unavailable,
)
from trackwire_server.store import read_routing
from trackwire_server.store.connecting import (
    MaxConnectionsExceeded,
    discard_connection,
    discard_if_closed,
    holding,
    is_pooled,
    is_sqlite,
    note_answered,
    release,
)

T = TypeVar("T")

# A race for a lock is retried this many times before the call is answered UNAVAILABLE.
RACE_ATTEMPTS = 20
# A lost connection is retried (with a new one) for this long before UNAVAILABLE.
RECONNECT_SECONDS = 2.0
# A unit of work gives up this long before its caller's deadline (see call_deadline).
DEADLINE_MARGIN = 0.05
# How long a unit of work waits for a pooled connection while all are in use, before
# Unavailable (the client retries it; RESOURCE_EXHAUSTED would tell it to back off for
# longer, but a busy pool frees up in milliseconds).
POOL_WAIT_SECONDS = 10.0
# SQLite's own wait for a lock held by another process, when the call has no deadline.
SQLITE_BUSY_TIMEOUT_MS = 60_000

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "trackwire_call_deadline", default=None
)


@contextlib.contextmanager
def call_deadline(seconds_left: float | None) -> Iterator[None]:
    """Units of work run inside this block roll back once `seconds_left` have passed
    (the gRPC call's time remaining; None or infinite: no deadline), less a margin
    (DEADLINE_MARGIN, at most a tenth of the time): a commit in the last moments would
    reach a caller that has already given up, and a retry without a request id would
    apply it twice."""
    deadline = None
    if seconds_left is not None and seconds_left < 1e9:
        margin = min(DEADLINE_MARGIN, seconds_left / 10)
        deadline = time.monotonic() + seconds_left - margin
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


class RetryTransaction(Exception):
    """Raised by work that found a concurrent transaction ahead of it (for example one
    that recorded the same request id): the unit runs again from the start."""


class Fault(enum.Enum):
    RACE = "lost a race for a lock"
    CONNECTION = "lost its connection"
    READ_ONLY = "read-only"
    FULL = "full"
    STORAGE = "storage failure"


# PostgreSQL SQLSTATEs.
_PG_FAULTS = {
    "40001": Fault.RACE,  # serialization failure
    "40P01": Fault.RACE,  # deadlock detected
    "55P03": Fault.RACE,  # lock not available
    "57P01": Fault.CONNECTION,  # admin shutdown (pg_terminate_backend, a fast stop)
    "57P02": Fault.CONNECTION,  # crash shutdown
    "57P03": Fault.CONNECTION,  # cannot connect now (starting up)
    "53300": Fault.CONNECTION,  # too many connections
    "25006": Fault.READ_ONLY,  # read-only SQL transaction (or a hot standby)
    "53100": Fault.FULL,  # disk full
}
# MySQL / MariaDB error numbers.
_MYSQL_FAULTS = {
    1205: Fault.RACE,  # lock wait timeout
    1213: Fault.RACE,  # deadlock
    1040: Fault.CONNECTION,  # too many connections
    1053: Fault.CONNECTION,  # server shutdown in progress
    1927: Fault.CONNECTION,  # connection was killed
    2002: Fault.CONNECTION,  # can't connect (socket)
    2003: Fault.CONNECTION,  # can't connect
    2006: Fault.CONNECTION,  # server has gone away
    2013: Fault.CONNECTION,  # lost connection during query
    2055: Fault.CONNECTION,  # lost connection (system error)
    4031: Fault.CONNECTION,  # disconnected by the server (inactivity)
    1290: Fault.READ_ONLY,  # --read-only option prevents the statement
    1836: Fault.READ_ONLY,  # running in read-only mode
    1792: Fault.READ_ONLY,  # read-only transaction
    1114: Fault.FULL,  # the table is full
    1021: Fault.FULL,  # disk full
}
# SQLite's primary result codes.
_SQLITE_FAULTS = {
    5: Fault.RACE,  # SQLITE_BUSY
    6: Fault.RACE,  # SQLITE_LOCKED
    8: Fault.READ_ONLY,  # SQLITE_READONLY
    13: Fault.FULL,  # SQLITE_FULL
    10: Fault.STORAGE,  # SQLITE_IOERR
    14: Fault.STORAGE,  # SQLITE_CANTOPEN
}


def _fault_of_one(e: BaseException) -> Fault | None:
    if isinstance(e, RetryTransaction):
        return Fault.RACE
    module = type(e).__module__ or ""
    if module.startswith("psycopg2"):
        code = getattr(e, "pgcode", None)
        if code in _PG_FAULTS:
            return _PG_FAULTS[code]
        connection_class = code is None or code.startswith("08")  # connection exceptions
        if connection_class and type(e).__name__ in ("OperationalError", "InterfaceError"):
            return Fault.CONNECTION
        return None
    if module.startswith(("pymysql", "MySQLdb")):
        args = getattr(e, "args", ())
        number = args[0] if args and isinstance(args[0], int) else None
        if number in _MYSQL_FAULTS:
            return _MYSQL_FAULTS[number]
        text = str(e)
        if "Errcode: 28" in text or "errno: 28" in text or "error 28" in text:
            return Fault.FULL
        if type(e).__name__ == "InterfaceError":  # PyMySQL: the connection is closed
            return Fault.CONNECTION
        return None
    if isinstance(e, sqlite3.Error):
        code = getattr(e, "sqlite_errorcode", None)
        if code is not None:
            return _SQLITE_FAULTS.get(code & 0xFF)
        text = str(e)
        if "database is locked" in text or "database table is locked" in text:
            return Fault.RACE
        if "readonly database" in text:
            return Fault.READ_ONLY
        if "database or disk is full" in text:
            return Fault.FULL
        return None
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return Fault.FULL
    return None


def classify(error: BaseException) -> Fault | None:
    """What kind of database fault `error` is (looking through Peewee's wrapping of the
    driver's exception), or None for anything else."""
    seen: set[int] = set()
    stack: list[object] = [error]
    while stack:
        e = stack.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        fault = _fault_of_one(e)
        if fault is not None:
            return fault
        stack.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
        stack.extend(x for x in (e.__cause__, e.__context__) if x is not None)
    return None


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:200]}"


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlineExceeded(
            "the call's deadline passed before it could commit; it was rolled back and "
            "nothing was stored"
        )


_WRITE_LOCKS: weakref.WeakKeyDictionary[peewee.Database, threading.RLock] = (
    weakref.WeakKeyDictionary()
)
_WRITE_LOCKS_GUARD = threading.Lock()


def sqlite_write_lock(db: peewee.Database) -> threading.RLock:
    """The lock this process's writers to a SQLite database take before BEGIN.

    SQLite has one writer at a time. Without this lock, the threads that find the
    database locked wait in SQLite's busy handler, which sleeps (1, 2, 5, ... up to
    100 ms) and polls: the writer that commits is followed by idle time until a
    sleeper wakes up, and under 8 concurrent writers single calls waited up to a
    second. Waiting on a lock in the process instead hands the database over at
    once. Other processes on the same file still meet the busy timeout.
    """
    lock = _WRITE_LOCKS.get(db)
    if lock is None:
        with _WRITE_LOCKS_GUARD:
            lock = _WRITE_LOCKS.setdefault(db, threading.RLock())
    return lock


@contextlib.contextmanager
def _transaction(db: peewee.Database, write: bool, deadline: float | None) -> Iterator[None]:
    if not (write and is_sqlite(db)):
        positions = read_routing.recording() if write else None
        if positions is None:
            with db.atomic():
                yield
            return
        # With a read replica: the commit notes its position (read_routing).
        with read_routing.recording_commits(positions), db.atomic():
            yield
        if positions.pending:
            read_routing.note_commit(db, positions)
        return
    # A deferred SQLite transaction that reads first and writes later gets "database is
    # locked" in WAL mode regardless of the busy timeout: writes take the lock at BEGIN.
    lock = sqlite_write_lock(db)
    if deadline is None:
        lock.acquire()
    elif not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
        _check_deadline(deadline)
    try:
        bounded = (
            deadline is not None and deadline - time.monotonic() < SQLITE_BUSY_TIMEOUT_MS / 1000
        )
        if bounded:  # another process holding the lock must not keep us past the deadline
            wait_ms = max(1, int((deadline - time.monotonic()) * 1000))
            db.connection().execute(f"PRAGMA busy_timeout = {wait_ms}")
        try:
            with db.atomic(lock_type="IMMEDIATE"):
                yield
        finally:
            if bounded:
                db.connection().execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        lock.release()


def _check_out(db: peewee.Database, deadline: float | None) -> None:
    """Takes a pooled connection for this thread, unless it holds one."""
    if not db.is_closed():
        return
    wait = POOL_WAIT_SECONDS
    if deadline is not None:
        wait = min(wait, max(0.0, deadline - time.monotonic()))
    try:
        db.check_out(wait)
    except MaxConnectionsExceeded:
        _check_deadline(deadline)
        raise Unavailable(
            f"all {db.pool_size} database connections of this server stayed in use for "
            f"{wait:.1f}s (--db-pool-size); try again",
            reason="DATABASE_POOL_EXHAUSTED",
        ) from None


def run(
    db: peewee.Database,
    work: Callable[[], T],
    *,
    write: bool = True,
    reconnect_seconds: float = RECONNECT_SECONDS,
) -> T:
    """Runs `work()` as one unit of work (see the module's docstring) and returns what
    it returned. A lost connection is retried for `reconnect_seconds`."""
    if db.in_transaction():
        return work()
    if not is_pooled(db) or holding():  # see connecting.holding_connection
        return _run(db, work, write, reconnect_seconds)
    # The connection goes back to the pool after the unit, also one this thread took
    # outside any unit (a statement run outside a unit of work would otherwise keep it).
    try:
        return _run(db, work, write, reconnect_seconds)
    finally:
        release(db)


def _run(db: peewee.Database, work: Callable[[], T], write: bool, reconnect_seconds: float) -> T:
    pooled = is_pooled(db)
    deadline = _deadline.get()
    races = reconnects = 0
    unreachable_since: float | None = None
    while True:
        _check_deadline(deadline)
        committing = False
        try:
            if pooled:
                _check_out(db, deadline)
            discard_if_closed(db)
            with _transaction(db, write, deadline):
                result = work()
                _check_deadline(deadline)
                committing = True
            if pooled:
                note_answered(db)
            return result
        except TrackwireError:
            raise
        except Exception as e:
            fault = classify(e)
            if fault is None:
                raise
            if fault is Fault.CONNECTION:
                discard_connection(db)
            if fault is Fault.READ_ONLY:
                raise FailedPrecondition(
                    f"the database is read-only: writes are refused, reads are served "
                    f"({_describe(e)})",
                    reason="DATABASE_READ_ONLY",
                ) from None
            if fault is Fault.FULL:
                raise ResourceExhausted(
                    f"the database's disk is full; nothing of this call was stored "
                    f"({_describe(e)})",
                    reason="DATABASE_FULL",
                ) from None
            if fault is Fault.STORAGE:
                raise Unavailable(
                    f"the database's storage failed ({_describe(e)}); try again",
                    reason="DATABASE_STORAGE_FAILED",
                ) from None
            if fault is Fault.CONNECTION and committing:
                raise Unavailable(
                    "the database connection was lost while committing, so whether the "
                    f"call was applied is unknown ({_describe(e)}); retry it with the same "
                    "request_id to have it applied exactly once",
                    reason="DATABASE_UNAVAILABLE",
                ) from None
            now = time.monotonic()
            if fault is Fault.CONNECTION:
                unreachable_since = unreachable_since or now
                if now - unreachable_since >= reconnect_seconds:
                    raise Unavailable(
                        f"the database cannot be reached ({_describe(e)}); try again",
                        reason="DATABASE_UNAVAILABLE",
                    ) from None
                reconnects += 1
                pause = min(0.5, 0.025 * 2**reconnects)
            else:
                races += 1
                if races >= RACE_ATTEMPTS:
                    raise Unavailable(
                        f"the database stayed locked through {RACE_ATTEMPTS} attempts "
                        f"({_describe(e)}); try again",
                        reason="DATABASE_BUSY",
                    ) from None
                pause = random.uniform(0, min(0.5, 0.005 * 2**races))
            if deadline is not None and now + pause >= deadline:
                raise DeadlineExceeded(
                    f"the call's deadline would pass while the database {fault.value} "
                    f"({_describe(e)}); nothing was stored"
                ) from None
            time.sleep(pause)


def for_update(db: peewee.Database, query):
    """The query with FOR UPDATE where the database has row locks (SQLite's write
    transaction locks it all already)."""
    return query if is_sqlite(db) else query.for_update()
