"""The SQL of the live feed across servers: announcing the metric points a unit of work
committed to the other servers on the same database, and hearing theirs (the threads
that listen and poll are in `trackwire_server.database_feed`).

An announcement names, per run, the chunk slices that hold the new points:
(chunk_id, offset, count), the points [offset, offset + count) of `metric_chunks` row
`chunk_id`. A chunk only ever grows at its end, under its run's row lock, so a slice
stays where it is; a server that hears of a run it has watchers of reads the slices
back (`MetricHistory.read_slices`). The points themselves never travel twice.

- PostgreSQL: `pg_notify` on CHANNEL in the unit of work's own transaction, so it is
  delivered only if that commits, and in commit order. A payload over PostgreSQL's
  limit (8000 bytes) goes as several notifications of the same one statement. Servers
  LISTEN on a connection of their own (`PostgresListener`).
- MariaDB/MySQL: a row of `metric_commit_log` in the same transaction; servers poll the
  table on a connection of their own (`CommitLogReader`) and delete what they read a
  while ago.
- SQLite: nothing (one server per file; the feed stays in the process).

Only runs that a WatchMetrics stream on another server watches are announced: each
server registers the runs it watches in `feed_watches` (`register_watches`) before it
tells the stream it is live, and the announcing statement carries the condition
`WHERE EXISTS (an unexpired row of another server for one of the runs)`, so a write
nobody watches elsewhere sends no notification (PostgreSQL holds a database-wide lock
while committing a transaction that did) and adds no log row. No race: a write that
stores points holds its run's row lock (FOR UPDATE) from its first statement to its
commit, and the registration takes the same row's share lock before it inserts its row.
A write that locked the row first commits before the registration goes on (so before
the stream is live); one that locks it after waits for the registration's commit, and
its announcing statement, later (a new snapshot, READ COMMITTED on both databases),
sees the row.

Each announcement carries the writing store's `origin` (an instance id), so that a
server skips its own: it published those points in-process when they committed.
"""

from __future__ import annotations

import contextlib
import json
import select
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import peewee

from trackwire_server.store import unit_of_work
from trackwire_server.store.connecting import is_mysql, is_sqlite

# The PostgreSQL channel (channels are per database).
CHANNEL = "trackwire_metric_commits"
# PostgreSQL refuses payloads of 8000 bytes or more.
MAX_NOTIFY_BYTES = 7900
# What the feed's own sessions call themselves (PostgreSQL's application_name).
APPLICATION_NAME = "trackwire-feed"

# {run_id: [(chunk_id, offset, count), ...]}
ChunkSlices = dict[str, list[tuple[int, int, int]]]


@dataclass(frozen=True)
class Announcement:
    """What one server's commit stored: its origin and the chunk slices, per run."""

    origin: str
    slices: ChunkSlices


def encode(origin: str, slices: ChunkSlices) -> bytes:
    return json.dumps({"o": origin, "r": slices}, separators=(",", ":")).encode()


def decode(payload: bytes | str) -> Announcement | None:
    """The announcement in `payload`; None for anything else (never raises)."""
    try:
        data = json.loads(payload)
        slices = {
            str(run_id): [(int(c), int(o), int(n)) for c, o, n in refs]
            for run_id, refs in data["r"].items()
        }
        return Announcement(str(data["o"]), slices)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _pieces(origin: str, slices: ChunkSlices, limit: int) -> list[bytes]:
    """`slices` encoded in payloads of at most `limit` bytes each."""
    whole = encode(origin, slices)
    if len(whole) <= limit:
        return [whole]
    pieces: list[bytes] = []
    current: ChunkSlices = {}
    for run_id, refs in slices.items():
        for ref in refs:
            trial = {**current, run_id: [*current.get(run_id, []), ref]}
            if current and len(encode(origin, trial)) > limit:
                pieces.append(encode(origin, current))
                trial = {run_id: [ref]}
            current = trial
    if current:
        pieces.append(encode(origin, current))
    return pieces


class FeedAnnouncements:
    """One database's side of the feed across servers (see the module's docstring)."""

    def __init__(self, db: peewee.Database):
        self.db = db
        # This store's instance id: a server skips announcements that carry its own.
        self.origin = uuid.uuid4().hex[:16]
        self.kind = None if is_sqlite(db) else ("mysql" if is_mysql(db) else "postgresql")

    @property
    def enabled(self) -> bool:
        """Whether commits are announced to other servers (not on SQLite)."""
        return self.kind is not None

    def _now_ms(self) -> str:
        """The database's clock, epoch milliseconds, as SQL (one clock for every server)."""
        if self.kind == "postgresql":
            return "CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)"
        return "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)"

    def _watched_elsewhere(self, n: int) -> str:
        """The condition that one of n runs (bound values) is watched on another server."""
        marks = ", ".join(["%s"] * n)
        return (
            f"EXISTS (SELECT 1 FROM feed_watches WHERE run_id IN ({marks}) "
            f"AND server_id <> %s AND expires_ms > {self._now_ms()})"
        )

    def record(self, slices: ChunkSlices) -> None:
        """Announces `slices`, inside the caller's transaction, if one of their runs is
        watched on another server (its row lock held: see the module's docstring): heard
        by the other servers once (and only if) it commits. One statement."""
        if not slices or self.kind is None:
            return
        watched = self._watched_elsewhere(len(slices))
        condition = [*slices, self.origin]
        if self.kind == "postgresql":
            payloads = [p.decode() for p in _pieces(self.origin, slices, MAX_NOTIFY_BYTES)]
            calls = ", ".join(["pg_notify(%s, %s)"] * len(payloads))
            args = [value for payload in payloads for value in (CHANNEL, payload)]
            self.db.execute_sql(f"SELECT {calls} WHERE {watched}", [*args, *condition]).fetchall()
        else:
            self.db.execute_sql(
                "INSERT INTO metric_commit_log (origin, payload) "
                f"SELECT %s, %s FROM DUAL WHERE {watched}",
                (self.origin, encode(self.origin, slices), *condition),
            )

    # -- the runs this server watches (feed_watches) ---------------------------------

    def register_watches(self, run_ids: list[str], ttl_seconds: float) -> None:
        """Records, in a transaction of its own, that this server watches `run_ids` for
        the next `ttl_seconds` (or, for rows it has, that long from now). Each run's row
        is share-locked first: writes that lock it before have committed once this
        returns, and later ones see the registration (see the module's docstring)."""
        if not run_ids or self.kind is None:
            return
        ids = sorted(set(run_ids))
        lock = "FOR SHARE" if self.kind == "postgresql" else "LOCK IN SHARE MODE"
        if self.kind == "postgresql":
            upsert = (
                "ON CONFLICT (run_id, server_id) DO UPDATE SET expires_ms = EXCLUDED.expires_ms"
            )
        else:
            upsert = "ON DUPLICATE KEY UPDATE expires_ms = VALUES(expires_ms)"
        expires = f"{self._now_ms()} + {int(ttl_seconds * 1000)}"

        def work():
            for part in peewee.chunked(ids, 500):
                marks = ", ".join(["%s"] * len(part))
                self.db.execute_sql(
                    f"SELECT run_id FROM runs WHERE run_id IN ({marks}) {lock}", part
                ).fetchall()
                rows = ", ".join([f"(%s, %s, {expires})"] * len(part))
                self.db.execute_sql(
                    f"INSERT INTO feed_watches (run_id, server_id, expires_ms) VALUES {rows} "
                    + upsert,
                    [value for run_id in part for value in (run_id, self.origin)],
                )

        unit_of_work.run(self.db, work)

    def drop_watches(self, run_ids: list[str] | None = None) -> None:
        """Forgets that this server watches `run_ids` (None: every run)."""
        if self.kind is None or run_ids == []:
            return

        def work():
            if run_ids is None:
                self.db.execute_sql("DELETE FROM feed_watches WHERE server_id = %s", (self.origin,))
                return
            for part in peewee.chunked(sorted(set(run_ids)), 500):
                marks = ", ".join(["%s"] * len(part))
                self.db.execute_sql(
                    f"DELETE FROM feed_watches WHERE server_id = %s AND run_id IN ({marks})",
                    (self.origin, *part),
                )

        unit_of_work.run(self.db, work)

    def prune_watches(self, older_than_seconds: float) -> int:
        """Deletes the rows (of any server: one that was killed) that expired more than
        `older_than_seconds` ago; returns how many went."""
        if self.kind is None:
            return 0
        before = f"{self._now_ms()} - {int(older_than_seconds * 1000)}"

        def work():
            return self.db.execute_sql(
                f"DELETE FROM feed_watches WHERE expires_ms < {before}"
            ).rowcount

        return unit_of_work.run(self.db, work)

    def listen(self) -> PostgresListener:
        """A new PostgreSQL connection of its own, listening on CHANNEL."""
        return PostgresListener(self.db)

    def open_log(self) -> CommitLogReader:
        """A new MariaDB/MySQL connection of its own, reading `metric_commit_log`."""
        return CommitLogReader(self.db)


def _connect_params(db: peewee.Database) -> dict:
    params = dict(db.connect_params)
    for pool_option in ("max_connections", "stale_timeout", "timeout"):
        params.pop(pool_option, None)
    return params


class PostgresListener:
    """A PostgreSQL session, outside the server's pool, that LISTENs on CHANNEL."""

    def __init__(self, db: peewee.Database):
        import psycopg2

        params = _connect_params(db)
        params.setdefault("application_name", APPLICATION_NAME)
        # A connection that silently died (a network partition) is noticed within ~40 s
        # even without the idle pings of `database_feed`.
        params.update(keepalives=1, keepalives_idle=20, keepalives_interval=5, keepalives_count=4)
        self.connection = psycopg2.connect(dbname=db.database, **params)
        self.connection.autocommit = True
        with self.connection.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")
        # The backend's process id, as pg_stat_activity.pid shows it.
        self.session_id = self.connection.get_backend_pid()

    def fileno(self) -> int:
        return self.connection.fileno()

    def receive(self, timeout: float, wake: Iterable = ()) -> list[str]:
        """The payloads that arrived, waiting up to `timeout` seconds for the first (or
        until one of `wake`, file-like objects, is readable). Raises the driver's error
        once the connection is broken."""
        if not self.connection.notifies:
            readable, _, _ = select.select([self.connection, *wake], [], [], timeout)
            if self.connection not in readable:
                return []
        self.connection.poll()
        payloads = [n.payload for n in self.connection.notifies]
        self.connection.notifies.clear()
        return payloads

    def ping(self) -> None:
        """A round trip: raises the driver's error if the connection is broken."""
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchall()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a broken connection closes all the same
            self.connection.close()


class CommitLogReader:
    """A MariaDB/MySQL session, outside the server's pool, reading `metric_commit_log`
    (autocommit, READ COMMITTED: each statement sees what committed before it)."""

    def __init__(self, db: peewee.Database):
        import pymysql

        params = _connect_params(db)
        params["autocommit"] = True
        self.connection = pymysql.connect(database=db.database, **params)
        # The connection's id, as SHOW PROCESSLIST and KILL take it.
        self.session_id = self.connection.thread_id()

    def _rows(self, sql: str, args: Iterable = ()) -> list[tuple]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, tuple(args))
            return list(cursor.fetchall())

    def latest_id(self) -> int:
        """The highest commit id in the log (0: empty)."""
        return int(self._rows("SELECT COALESCE(MAX(commit_id), 0) FROM metric_commit_log")[0][0])

    def read_after(self, after_id: int, limit: int) -> list[tuple[int, str, bytes]]:
        """(commit_id, origin, payload) of the first `limit` rows above `after_id`."""
        return self._rows(
            "SELECT commit_id, origin, payload FROM metric_commit_log "
            "WHERE commit_id > %s ORDER BY commit_id LIMIT %s",
            (after_id, limit),
        )

    def read_ids(self, commit_ids: list[int]) -> list[tuple[int, str, bytes]]:
        """(commit_id, origin, payload) of those of `commit_ids` that are visible now."""
        rows: list[tuple[int, str, bytes]] = []
        for chunk in peewee.chunked(commit_ids, 500):
            marks = ", ".join(["%s"] * len(chunk))
            rows += self._rows(
                "SELECT commit_id, origin, payload FROM metric_commit_log "
                f"WHERE commit_id IN ({marks}) ORDER BY commit_id",
                chunk,
            )
        return rows

    def trim(self, up_to_id: int, limit: int = 10_000) -> int:
        """Deletes up to `limit` rows with ids up to `up_to_id` (a range of the primary
        key); returns how many went."""
        with self.connection.cursor() as cursor:
            return cursor.execute(
                "DELETE FROM metric_commit_log WHERE commit_id <= %s LIMIT %s", (up_to_id, limit)
            )

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a broken connection closes all the same
            self.connection.close()
