"""Opening a database from a URL, and write transactions that behave the same everywhere."""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import TypeVar

import peewee
from playhouse import db_url

from trackwire_server.errors import TrackwireError, Unavailable

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    # WAL + NORMAL: a commit survives a crash of the process; fsync happens at
    # checkpoints. This is what makes small commits cheap.
    "synchronous": "normal",
    "busy_timeout": 60_000,
    # Checkpoints (copying the log into the database file, with an fsync) run on a
    # thread of their own (WalCheckpointer); a commit runs one itself only once the
    # log has grown past this many pages (40 MB), which bounds the log.
    "wal_autocheckpoint": 10_000,
    # When the log starts over, its file is cut back to this size.
    "journal_size_limit": 16 * 1024 * 1024,
    # Each server thread has its own connection and page cache: 8 MB each (the OS caches
    # the file too). At 64 MB, the server peaked at 150 MB over bench-compare's W1-W6
    # against 128 MB at 8 MB.
    "cache_size": -8 * 1024,
    "foreign_keys": 0,
    # LIKE is case-sensitive, as on PostgreSQL and on MySQL's binary collation.
    "case_sensitive_like": 1,
}


def open_database(url: str) -> peewee.Database:
    """Opens the database at `url` (`sqlite:///path`, `postgresql://...`, `mysql://...`).

    Connections are per thread (Peewee's default), which suits the thread-pool
    gRPC server.
    """
    if url.startswith("sqlite:"):
        db = db_url.connect(url, pragmas=SQLITE_PRAGMAS, check_same_thread=False)
        # SQLite's own lower() folds ASCII letters only; ILIKE should fold 'É' as
        # PostgreSQL and MySQL do.
        db.register_function(_lower, "lower", 1, deterministic=True)
        return db
    if url.startswith(("mysql:", "mysql+")):
        return db_url.connect(url, charset="utf8mb4")
    return db_url.connect(url)


log = logging.getLogger("trackwire.store")


class WalCheckpointer:
    """Copies SQLite's write-ahead log into the database file from a thread of its own.

    With SQLite's default, the commit that finds the log past 1,000 pages runs the
    checkpoint itself, fsync included: measured here, that tripled the cost of a small
    commit (a run created with its data: 2.1 ms -> 0.7 ms without it). This thread runs
    a PASSIVE checkpoint every `interval` seconds instead, which never blocks writers or
    readers; the commits then find the log's pages already copied. A writer that never
    pauses keeps the log from starting over until it reaches `wal_autocheckpoint`
    pages, where a commit checkpoints (with little left to copy) as SQLite does by
    default. A crash loses nothing WAL mode would not.
    """

    def __init__(self, path: str, interval: float = 0.2):
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="trackwire-wal-checkpoint", daemon=True
        )

    def start(self) -> WalCheckpointer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        try:
            while not self._stop.wait(self.interval):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as e:  # the next round tries again
                    log.warning("WAL checkpoint of %s failed: %s", self.path, e)
        finally:
            connection.close()


def start_wal_checkpoints(db: peewee.Database) -> WalCheckpointer | None:
    """Starts background checkpoints for a SQLite file database; None for others."""
    if not is_sqlite(db) or db.database in ("", ":memory:"):
        return None
    return WalCheckpointer(db.database).start()


def _lower(value):
    return value.lower() if isinstance(value, str) else value


def is_sqlite(db: peewee.Database) -> bool:
    return isinstance(db, peewee.SqliteDatabase)


def is_mysql(db: peewee.Database) -> bool:
    return isinstance(db, peewee.MySQLDatabase)


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
def write_transaction(db: peewee.Database) -> Iterator[None]:
    """One unit of work that writes.

    On SQLite the write lock is taken at BEGIN (IMMEDIATE): a deferred
    transaction that reads first and writes later gets "database is locked" in
    WAL mode regardless of the busy timeout. Writers in this process queue on
    sqlite_write_lock first.
    """
    if is_sqlite(db):
        with sqlite_write_lock(db), db.atomic(lock_type="IMMEDIATE"):
            yield
    else:
        with db.atomic():
            yield


def for_update(db: peewee.Database, query):
    """The query with FOR UPDATE where the database has row locks (SQLite's write
    transaction locks it all already)."""
    return query if is_sqlite(db) else query.for_update()


# Transient errors: PostgreSQL SQLSTATEs and MySQL error numbers.
_PG_TRANSIENT = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available
_MYSQL_TRANSIENT = {1205, 1213}  # lock wait timeout, deadlock
WRITE_ATTEMPTS = 20
T = TypeVar("T")


def is_transient(error: BaseException) -> bool:
    """Whether a database error is a lost race worth retrying the transaction for."""
    seen: set[int] = set()
    stack: list[object] = [error]
    while stack:
        e = stack.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if getattr(e, "pgcode", None) in _PG_TRANSIENT:
            return True
        args = getattr(e, "args", ())
        if args and isinstance(args[0], int) and args[0] in _MYSQL_TRANSIENT:
            return True
        if "database is locked" in str(e) or "database table is locked" in str(e):
            return True
        stack.extend(a for a in args if isinstance(a, BaseException))
        stack.extend(x for x in (e.__cause__, e.__context__) if x is not None)
    return False


def retrying_write(db: peewee.Database, work: Callable[[], T], what: str) -> T:
    """Runs `work` in one write transaction, again from the start if it lost a race for a
    lock (see is_transient); UNAVAILABLE (DATABASE_BUSY) naming `what` if it always did."""
    for attempt in range(WRITE_ATTEMPTS):
        try:
            with write_transaction(db):
                return work()
        except TrackwireError:
            raise
        except Exception as e:  # Peewee's errors, and drivers' own that it does not wrap
            if not is_transient(e):
                raise
            if attempt == WRITE_ATTEMPTS - 1:
                raise Unavailable(
                    f"{what} stayed locked through {WRITE_ATTEMPTS} "
                    f"attempts ({type(e).__name__}: {str(e).strip()[:200]}); try again",
                    reason="DATABASE_BUSY",
                ) from None
        time.sleep(random.uniform(0, min(0.5, 0.005 * 2**attempt)))
    raise AssertionError("unreachable")


def bulk_insert(table: type[peewee.Model], rows: list[dict]) -> None:
    """Inserts rows that all have the same keys, fast.

    Peewee renders every value of a multi-row INSERT in Python (several µs
    each); on SQLite and MySQL the driver's executemany takes the rendered
    one-row statement and the raw values instead. PostgreSQL's driver runs
    executemany row by row, so there the rows go in multi-row INSERTs.
    """
    if not rows:
        return
    db = table._meta.database
    if isinstance(db, peewee.PostgresqlDatabase):
        for chunk in peewee.chunked(rows, 200):
            table.insert_many(chunk).execute()
        return
    db.cursor().executemany(_insert_sql(table, tuple(rows[0])), [tuple(r.values()) for r in rows])


@functools.lru_cache(maxsize=256)
def _insert_sql(table: type[peewee.Model], columns: tuple[str, ...]) -> str:
    """The one-row INSERT for these columns, rendered by Peewee once."""
    fields = [table._meta.fields[name] for name in columns]
    placeholder_row = tuple(None for _ in columns)
    sql, _ = table.insert_many([placeholder_row], fields=fields).as_rowcount().sql()
    return sql


class RenderedQueries:
    """Statements rendered by Peewee once and kept under a key that determines them.

    Rendering a query through Peewee costs as much as SQLite takes to answer a small
    one, so the hot reads (a run by id, a page of search results, the values of a page
    of runs) render once per shape. The key must determine the statement and its
    parameters entirely: `build` is only called when the key is new. Bounded: past
    `limit` entries the cache starts over.
    """

    def __init__(self, db: peewee.Database, limit: int = 4096):
        self.db = db
        self.limit = limit
        self._by_key: dict[tuple, tuple[str, list]] = {}

    def render(self, key: tuple, build: Callable[[], peewee.Query]) -> tuple[str, list]:
        """(sql, params) of `build()`, rendered on the first call for `key`."""
        rendered = self._by_key.get(key)
        if rendered is None:
            rendered = build().sql()
            if len(self._by_key) >= self.limit:
                self._by_key.clear()
            self._by_key[key] = rendered
        return rendered

    def sql(self, key: tuple, build: Callable[[], peewee.Query]) -> str:
        """The SQL alone, for statements whose values are bound per call: `build` puts
        `peewee.SQL(db.param)` placeholders where they go."""
        return self.render(key, build)[0]

    def fetch(self, key: tuple, build: Callable[[], peewee.Query]) -> list[tuple]:
        """The rows of `build()` as the driver returns them (no Peewee conversions)."""
        sql, params = self.render(key, build)
        return self.db.execute_sql(sql, params).fetchall()
