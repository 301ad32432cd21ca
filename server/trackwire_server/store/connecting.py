"""Opening a database from a URL, and keeping its connections usable.

PostgreSQL and MariaDB/MySQL, as the server opens them (`pool_size`): a bounded pool
(playhouse.pool) of at most `pool_size` connections. A unit of work checks one out
(`check_out`, waiting for one while all are busy) and returns it when it ends
(`release`), so the database sees at most `pool_size` sessions from a server however
many threads it has. Without `pool_size` (tools, tests), connections are per thread,
Peewee's default. SQLite keeps a connection per thread (there is no server to spare).

A connection the database has dropped (a restart, `pg_terminate_backend`, MariaDB's
`KILL`) is discarded (`discard_connection`, called by the unit of work) together with
the pool's idle ones (after a restart they are all dead), and the next attempt opens a
new one. Checking a pooled connection out costs no round trip: one found broken is
replaced by the unit of work's retry.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from urllib.parse import quote, unquote, urlsplit

import peewee
from playhouse import db_url
from playhouse.pool import (
    MaxConnectionsExceeded,
    PooledDatabase,
    _PooledMySQLDatabase,
    _PooledPostgresqlDatabase,
)

from trackwire_server.store import read_routing

log = logging.getLogger("trackwire.store")

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
# Seconds a new connection to PostgreSQL or MySQL may take before the attempt fails (and
# the unit of work retries or answers UNAVAILABLE) instead of holding a call.
CONNECT_TIMEOUT_SECONDS = 5
# A pooled connection older than this is closed when it is next checked in or out, so
# that no session outlives a firewall's or the database's idle timeout by much.
POOL_STALE_SECONDS = 600


class _CheapChecks:
    """Checking a connection out or in costs no round trip (playhouse's own checks send
    `SELECT 1` / a ping each time): only what the driver already knows is looked at.
    A connection that broke while idle fails its first statement, and the unit of work
    replaces it and runs again."""

    def _is_closed(self, conn) -> bool:
        return _driver_says_closed(conn)

    def check_out(self, wait: float) -> None:
        """Takes a connection from the pool for this thread, waiting up to `wait`
        seconds while all are in use (MaxConnectionsExceeded after that)."""
        end = time.monotonic() + wait
        while True:
            try:
                # Database.connect, without PooledDatabase.connect's own fixed wait.
                super(PooledDatabase, self).connect()
                return
            except MaxConnectionsExceeded:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    raise
                with self._pool_available:
                    self._pool_available.wait(min(remaining, 0.05))

    @property
    def pool_size(self) -> int:
        return self._max_connections


# PostgreSQL's planner prices a random page read at 4 sequential ones by default (a
# spinning disk's ratio), so for the few hundred rows of a page of runs it prefers reading
# whole tables to index lookups: reading the params, tags and latest metrics of 100 of
# 5,000 W5 runs took three sequential scans, 5.8-6.4 ms, against 2.1 ms by index at 1.1,
# the value usual for SSDs and tables held in memory; W5's filtered search through the
# server went from 15 to 10.4 ms, its newest-100 page from 10 to 5.2 ms. Trackwire's
# sessions plan with it unless the operator set the parameter (for the server, the
# database or the role: pg_settings' source is not 'default' then).
RANDOM_PAGE_COST = "1.1"
PLANNER_SETTINGS_SQL = (
    "SELECT set_config(name, %s, false) FROM pg_settings "
    "WHERE name = 'random_page_cost' AND source = 'default'"
)


class _PlannerSettings:
    """PostgreSQL sessions that plan with RANDOM_PAGE_COST (see there): set once per
    connection, when it opens (not when a pool hands it out), in its autocommitted
    session."""

    def _connect(self):
        conn = super()._connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(PLANNER_SETTINGS_SQL, (RANDOM_PAGE_COST,))
        except Exception:
            conn.close()  # fails as the connect itself would, leaving no session behind
            raise
        return conn


class Postgres(_PlannerSettings, peewee.PostgresqlDatabase):
    """PostgreSQL without a pool (tools, tests), planning as the server does."""


class PooledPostgres(
    _CheapChecks, _PooledPostgresqlDatabase, _PlannerSettings, peewee.PostgresqlDatabase
):
    # (_PlannerSettings after the pool: the pool's _connect hands out an open connection
    # and calls the next _connect only to open a new one.)
    def _can_reuse(self, conn) -> bool:
        return not _driver_says_closed(conn) and super()._can_reuse(conn)

    def commit(self):
        """COMMIT; with a read replica, for a write, the WAL position right after it in
        the same round trip (read_routing: what keeps read-your-writes)."""
        positions = read_routing.commit_sink()
        if positions is None:
            return super().commit()
        if self.is_closed():
            raise peewee.InterfaceError("Cannot commit, database connection not open.")
        with peewee.__exception_wrapper__:
            cursor = self.cursor()
            cursor.execute(read_routing.COMMIT_THEN_POSITION_SQL)
            (position,) = cursor.fetchone()
        positions.note(position)


class PooledMySQL(_CheapChecks, _PooledMySQLDatabase, peewee.MySQLDatabase):
    def _can_reuse(self, conn) -> bool:
        # The unit of work committed or rolled back: nothing is left open (playhouse's
        # own check would send a ROLLBACK, as PyMySQL does not track transactions).
        return not _driver_says_closed(conn)


def is_pooled(db: peewee.Database) -> bool:
    return isinstance(db, _CheapChecks)


def open_database(url: str, pool_size: int | None = None) -> peewee.Database:
    """Opens the database at `url` (`sqlite:///path`, `postgresql://...`, `mysql://...`).

    With `pool_size`, PostgreSQL and MySQL connections come from a pool of at most that
    many (see the module's docstring); SQLite ignores it.
    A SQLite file on a read-only filesystem is opened read-only (immutable): reads are
    served, and writes fail as they would on a read-only PostgreSQL or MariaDB.
    """
    if url.startswith("sqlite:"):
        path = sqlite_path(url)
        if path and _on_read_only_filesystem(path):
            return _open_read_only_sqlite(path)
        db = db_url.connect(url, pragmas=SQLITE_PRAGMAS, check_same_thread=False)
        # SQLite's own lower() folds ASCII letters only; ILIKE should fold 'É' as
        # PostgreSQL and MySQL do.
        db.register_function(_lower, "lower", 1, deterministic=True)
        return db
    if url.startswith(("mysql:", "mysql+")):
        # READ COMMITTED, as PostgreSQL: a statement sees what committed before it, so the
        # reads a write makes after locking its run see the writes that held the lock
        # before (InnoDB's default, REPEATABLE READ, would read a snapshot taken at the
        # transaction's first read, before the lock, and lose updates).
        options = {
            "charset": "utf8mb4",
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "init_command": "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        }
        pooled = PooledMySQL
    else:
        options = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        pooled = PooledPostgres
    scheme = url.split(":", 1)[0].lower()
    base = db_url.schemes.get(scheme)
    if base is None or not issubclass(base, (peewee.PostgresqlDatabase, peewee.MySQLDatabase)):
        return db_url.connect(url, **options)
    parsed = db_url.parse(url)
    database = parsed.pop("database")
    if pool_size is None:
        if base is peewee.PostgresqlDatabase:
            return Postgres(database, **{**parsed, **options})
        return db_url.connect(url, **options)
    if pool_size < 1:
        raise ValueError(f"the database pool size must be at least 1, not {pool_size}")
    return pooled(
        database,
        max_connections=pool_size,
        stale_timeout=POOL_STALE_SECONDS,
        **{**parsed, **options},
    )


def sqlite_path(url: str) -> str:
    """The file of a `sqlite:///path` URL; "" for an in-memory database."""
    path = unquote(urlsplit(url).path)[1:]  # as Peewee reads it: sqlite:////abs, sqlite:///rel
    return "" if path in ("", ":memory:") else path


def _on_read_only_filesystem(path: str) -> bool:
    """Whether `path` (or, for a new file, its folder) lies on a read-only mount."""
    probe = path if os.path.exists(path) else (os.path.dirname(os.path.abspath(path)) or ".")
    try:
        return bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
    except OSError:
        return False


class _ReadOnlySqliteDatabase(peewee.SqliteDatabase):
    """A SQLite file on a read-only mount. With its write-ahead log beside it (a server
    that stopped without checkpointing), SQLite reads both read-only; without one, the
    file is opened `immutable` (no WAL index to create, which the mount would refuse).
    Writes fail with SQLITE_READONLY."""

    def _connect(self):
        path = os.path.abspath(self.database)
        wal = os.path.exists(f"{path}-wal") and os.path.exists(f"{path}-shm")
        conn = sqlite3.connect(
            f"file:{quote(path)}?mode=ro{'' if wal else '&immutable=1'}",
            uri=True,
            check_same_thread=False,
            isolation_level=None,
        )
        self._add_conn_hooks(conn)
        return conn


def _open_read_only_sqlite(path: str) -> peewee.Database:
    if not os.path.exists(path):
        raise peewee.OperationalError(f"{path} does not exist and its filesystem is read-only")
    if os.path.exists(f"{path}-wal") and not os.path.exists(f"{path}-shm"):
        raise peewee.OperationalError(
            f"{path}-wal holds writes not yet in {path}, and without {path}-shm they cannot "
            "be read from a read-only filesystem: mount it writable once"
        )
    log.warning("%s is on a read-only filesystem: serving reads only", path)
    pragmas = {k: SQLITE_PRAGMAS[k] for k in ("cache_size", "foreign_keys", "case_sensitive_like")}
    db = _ReadOnlySqliteDatabase(path, pragmas=pragmas, check_same_thread=False)
    db.register_function(_lower, "lower", 1, deterministic=True)
    return db


def is_read_only(db: peewee.Database) -> bool:
    """Whether this process opened the database read-only (a SQLite file on a
    read-only mount); other databases say so when a write is tried."""
    return isinstance(db, _ReadOnlySqliteDatabase)


def _lower(value):
    return value.lower() if isinstance(value, str) else value


def is_sqlite(db: peewee.Database) -> bool:
    return isinstance(db, peewee.SqliteDatabase)


def is_mysql(db: peewee.Database) -> bool:
    return isinstance(db, peewee.MySQLDatabase)


def is_postgresql(db: peewee.Database) -> bool:
    return isinstance(db, peewee.PostgresqlDatabase)


def _driver_says_closed(conn) -> bool:
    """Whether the driver already knows this connection is gone: psycopg2's `closed`
    is non-zero, PyMySQL's `open` is False (SQLite connections do not break)."""
    closed = getattr(conn, "closed", 0)
    if isinstance(closed, int) and closed:
        return True
    return getattr(conn, "open", True) is False


def discard_connection(db: peewee.Database) -> None:
    """Drops this thread's connection, so that its next statement opens a new one; from
    a pool, its idle connections go too (a restart or a failover broke them all)."""
    if is_sqlite(db):
        return
    try:
        if is_pooled(db):
            db.manual_close()
            db.close_idle()
        else:
            db.close()
    except Exception:  # the connection is broken; its state goes all the same
        db._state.reset()


_holding = threading.local()


@contextlib.contextmanager
def holding_connection(db: peewee.Database) -> Iterator[None]:
    """This thread keeps one connection throughout the block: units of work inside it
    use it and do not return it to the pool (for a lock held by the session, such as
    the migration lock)."""
    depth = getattr(_holding, "depth", 0)
    _holding.depth = depth + 1
    try:
        with db.connection_context():
            yield
    finally:
        _holding.depth = depth


def holding() -> bool:
    """Whether this thread is inside `holding_connection`."""
    return getattr(_holding, "depth", 0) > 0


def release(db: peewee.Database) -> None:
    """Returns this thread's connection to the pool (after a unit of work)."""
    if is_pooled(db) and not db.is_closed():
        try:
            db.close()
        except Exception:
            discard_connection(db)


def discard_if_closed(db: peewee.Database) -> None:
    """Before a unit of work: replaces a connection the driver knows to be closed."""
    conn = db._state.conn
    if conn is not None and not db.in_transaction() and _driver_says_closed(conn):
        discard_connection(db)


def note_answered(db: peewee.Database) -> None:
    """Records that a unit of work on `db` just completed (see `ping`)."""
    db.trackwire_answered_at = time.monotonic()


def ping(db: peewee.Database, recent: float = 1.0) -> bool | None:
    """Whether the database answers now (a new connection is opened if needed). From a
    pool: on a connection from it (returned after); when every connection is in use,
    True if a unit of work completed in the last `recent` seconds, else None (unknown:
    the calls using the connections will tell)."""
    pooled = is_pooled(db)
    try:
        if pooled and db.is_closed():
            try:
                db.check_out(wait=0)
            except MaxConnectionsExceeded:
                answered_at = getattr(db, "trackwire_answered_at", None)
                if answered_at is not None and time.monotonic() - answered_at < recent:
                    return True
                return None
        discard_if_closed(db)
        db.execute_sql("SELECT 1").fetchall()
        release(db)
        return True
    except Exception:
        discard_connection(db)
        return False


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
        failing = False
        try:
            while not self._stop.wait(self.interval):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    failing = False
                except sqlite3.Error as e:  # the next round tries again
                    if not failing:  # once per spell of failures, not 5 times a second
                        log.warning("WAL checkpoint of %s failed: %s", self.path, e)
                    failing = True
        finally:
            connection.close()


def start_wal_checkpoints(db: peewee.Database) -> WalCheckpointer | None:
    """Starts background checkpoints for a writable SQLite file database; None for others."""
    if not is_sqlite(db) or is_read_only(db) or db.database in ("", ":memory:"):
        return None
    return WalCheckpointer(db.database).start()
