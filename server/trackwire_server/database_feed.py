"""The live feed across servers: points that other servers on the same database
committed, handed to this server's WatchMetrics streams (its `MetricFeed`).

Each write that stores points announces them in its own transaction
(`store.feed_announcements`); this module hears the announcements, on a database
connection of its own outside the pool, from a thread of its own:

- PostgreSQL (`PostgresFeed`): LISTEN; a notification arrives once the writer's
  transaction commits. The connection is pinged when quiet; when it breaks, it is
  opened again (backoff from 0.1 s to 5 s), and the watchers are then told they may
  have missed points (`overflowed`): notifications sent meanwhile are gone.
- MariaDB/MySQL (`CommitLogFeed`): polls `metric_commit_log` every POLL_SECONDS for rows
  above the highest id seen. AUTO_INCREMENT ids can become visible out of order (id 5
  committed before id 4), so the ids skipped are looked for again for GAP_SECONDS
  before they are given up (a rolled-back write leaves a hole for ever). Rows this
  server read `retention` seconds ago are deleted (a range of the primary key, by
  whichever server gets there first). A broken connection is opened again and the
  poller goes on where it was: rows outlive an outage shorter than the retention, so
  nothing is missed; after a longer one the watchers are told (`overflowed`).
- SQLite: nothing here (one server per file: the in-process feed is the whole feed).

Writes announce only runs watched on another server (`feed_watches`): this server's
`WatchRegistry` records the runs its WatchMetrics streams watch before they go live,
forgets a run when its last watcher here leaves, and refreshes its rows every third of
their lifetime (`--feed-watch-ttl`): a killed server's rows lapse, and the writes stop
announcing. A heartbeat that comes too late (the rows may have lapsed meanwhile) tells
the watchers they may have missed points.

A server skips its own announcements (their origin is its store's): it published those
points itself when they committed. Announcements about runs nobody here watches are
dropped unread; for the others, the new points are read back from `metric_chunks` (one
query per batch of announcements, on the pool) and published.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time

from trackwire_server.config import DEFAULT_FEED_LOG_RETENTION as DEFAULT_LOG_RETENTION
from trackwire_server.config import DEFAULT_FEED_WATCH_TTL
from trackwire_server.metric_feed import MetricFeed
from trackwire_server.store import Store
from trackwire_server.store.feed_announcements import Announcement, decode

log = logging.getLogger("trackwire.server")

# MariaDB/MySQL: the commit log is read this often (the feed's added delay is at most
# this, half of it on average).
POLL_SECONDS = 0.1
# MariaDB/MySQL: ids skipped by the poller are looked for again this long (at most a
# third of the retention).
GAP_SECONDS = 5.0
# MariaDB/MySQL: how many skipped ids are looked for at once (beyond: the oldest are
# given up, and the watchers told they may have missed points).
MAX_GAPS = 10_000
# MariaDB/MySQL: rows read per query.
READ_LIMIT = 1000
# PostgreSQL: a quiet listening connection is pinged this often.
PING_SECONDS = 10.0
# Reconnection backoff.
FIRST_BACKOFF = 0.1
MAX_BACKOFF = 5.0


class WatchRegistry:
    """The runs this server's watchers watch, recorded in the database for the other
    servers (see the module's docstring); thread-safe. The lock is held across the
    database calls, so that a run's registration and its removal never cross."""

    def __init__(self, store: Store, feed: MetricFeed, ttl: float = DEFAULT_FEED_WATCH_TTL):
        self.store = store
        self.feed = feed
        self.ttl = ttl
        self._lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()
        # Until when (monotonic) every row of this server is known to be unexpired.
        self._covered_until = float("inf")
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._heartbeat, name="trackwire-feed-watches", daemon=True
        )

    def start(self) -> WatchRegistry:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops the heartbeat and removes this server's rows."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            self._counts.clear()
            try:
                self.store.feed.drop_watches()
            except Exception as e:  # noqa: BLE001 - they lapse
                log.warning("live feed: could not remove this server's watches (%s)", e)

    def acquire(self, run_ids) -> None:
        """Counts a watcher of `run_ids`; registers the runs not watched here yet, and
        returns once that is committed. Raises the store's error (nothing counted)."""
        with self._lock:
            new = [run_id for run_id in run_ids if not self._counts[run_id]]
            if new:
                started = time.monotonic()
                self.store.feed.register_watches(new, self.ttl)
                if not self._counts:
                    self._covered_until = started + self.ttl
            self._counts.update(run_ids)

    def release(self, run_ids) -> None:
        """Uncounts a watcher of `run_ids`; removes the runs nobody here watches now."""
        with self._lock:
            self._counts.subtract(run_ids)
            gone = [run_id for run_id in run_ids if self._counts[run_id] <= 0]
            for run_id in gone:
                del self._counts[run_id]
            if not gone:
                return
            try:
                self.store.feed.drop_watches(gone)
            except Exception as e:  # noqa: BLE001 - they lapse
                log.warning("live feed: could not remove %d watched runs (%s)", len(gone), e)

    def watched(self) -> list[str]:
        with self._lock:
            return list(self._counts)

    def _heartbeat(self) -> None:
        interval = self.ttl / 3
        last_prune = 0.0
        while not self._stop.wait(interval):
            try:
                self.refresh()
                if time.monotonic() - last_prune >= self.ttl:
                    self.store.feed.prune_watches(self.ttl)
                    last_prune = time.monotonic()
                interval = self.ttl / 3
            except Exception as e:  # noqa: BLE001 - tried again soon
                log.warning("live feed: could not refresh the watched runs (%s)", e)
                interval = min(self.ttl / 3, 1.0)

    def refresh(self) -> None:
        """Extends this server's rows (registering again any that went); tells the
        watchers they may have missed points if the rows may have lapsed meanwhile."""
        with self._lock:
            runs = list(self._counts)
            if not runs:
                return
            started = time.monotonic()
            self.store.feed.register_watches(runs, self.ttl)
            late = time.monotonic() > self._covered_until
            self._covered_until = started + self.ttl
        if late:
            told = self.feed.tell_missed()
            log.warning(
                "live feed: the watched runs were refreshed late (they may have lapsed); "
                "%d watchers told they may have missed points",
                told,
            )


class DatabaseFeed:
    """The thread that hears other servers' commits (see the module's docstring)."""

    name = "database"

    def __init__(self, store: Store, feed: MetricFeed):
        self.store = store
        self.feed = feed
        # The database session's id (PostgreSQL backend pid, MySQL connection id) while
        # connected; for operators and tests.
        self.session_id: int | None = None
        self._stop = threading.Event()
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._run, name="trackwire-db-feed", daemon=True)
        self._connection = None
        # Whether points may have been missed since the watchers were last told.
        self._lost = False
        # The runs watched here, recorded for the other servers (start_database_feed).
        self.registry: WatchRegistry | None = None

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> DatabaseFeed:
        """Connects (once, here: the server then serves with its feed in place; a failure
        is retried by the thread) and starts the thread."""
        self._try_connect()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops the thread and closes its connection."""
        self._stop.set()
        os.write(self._wake_write, b"x")
        if self._thread.is_alive():
            self._thread.join()
        self._close()
        os.close(self._wake_read)
        os.close(self._wake_write)
        if self.registry is not None:
            self.feed.across = None
            self.registry.stop()

    def _run(self) -> None:
        backoff = FIRST_BACKOFF
        while not self._stop.is_set():
            if self._connection is None and not self._try_connect():
                self._stop.wait(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
                continue
            backoff = FIRST_BACKOFF
            try:
                self._serve()
            except Exception as e:  # noqa: BLE001 - the connection broke: open another
                if self._stop.is_set():
                    break
                log.warning("live feed: lost its %s connection (%s); reconnecting", self.name, e)
                self._close()
                self._lost = True

    def _try_connect(self) -> bool:
        try:
            self._connect()
        except Exception as e:  # noqa: BLE001 - retried with backoff
            if not self._lost:
                log.warning("live feed: cannot connect to %s (%s); retrying", self.name, e)
            self._lost = True
            return False
        self.session_id = self._connection.session_id
        if self._lost:
            self._lost = False
            self._after_reconnect()
        return True

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
            self.session_id = None

    # -- per database --------------------------------------------------------------

    def _connect(self) -> None:
        raise NotImplementedError

    def _serve(self) -> None:
        """Hears announcements until stopped; raises when the connection breaks."""
        raise NotImplementedError

    def _after_reconnect(self) -> None:
        told = self.feed.tell_missed()
        log.warning(
            "live feed: %s connection open again; %d watchers told they may have missed points",
            self.name,
            told,
        )

    # -- delivery ------------------------------------------------------------------

    def _deliver(self, announcements: list[Announcement]) -> None:
        """Publishes the points of `announcements` (others', about watched runs)."""
        watched = self.feed.watched_runs()
        own = self.store.feed.origin
        wanted = []
        for announcement in announcements:
            if announcement.origin == own:
                continue
            slices = {r: refs for r, refs in announcement.slices.items() if r in watched}
            if slices:
                wanted.append(slices)
        if not wanted:
            return
        try:
            batches = self.store.metrics.read_slices(wanted)
        except Exception as e:  # noqa: BLE001 - the database failed: they re-read
            told = self.feed.tell_missed()
            log.warning(
                "live feed: could not read announced points (%s); %d watchers told", e, told
            )
            return
        for written in batches:
            self.feed.publish(written)


class PostgresFeed(DatabaseFeed):
    name = "PostgreSQL"

    def _connect(self) -> None:
        self._connection = self.store.feed.listen()
        log.info(
            "live feed: listening for other servers' metric commits (PostgreSQL backend pid %d)",
            self._connection.session_id,
        )

    def _serve(self) -> None:
        listener = self._connection
        quiet_since = time.monotonic()
        while not self._stop.is_set():
            payloads = listener.receive(PING_SECONDS, wake=(self._wake_read,))
            if payloads:
                quiet_since = time.monotonic()
                if self.feed.watched_runs():
                    self._deliver([a for a in map(decode, payloads) if a is not None])
            elif time.monotonic() - quiet_since >= PING_SECONDS:
                listener.ping()
                quiet_since = time.monotonic()


class CommitLogFeed(DatabaseFeed):
    name = "MySQL"

    def __init__(self, store: Store, feed: MetricFeed, retention: float = DEFAULT_LOG_RETENTION):
        super().__init__(store, feed)
        self.retention = retention
        self.gap_seconds = min(GAP_SECONDS, retention / 3)
        # The highest id read; ids below it not seen yet, with when they were skipped.
        self._high: int | None = None
        self._gaps: dict[int, float] = {}
        # (when, highest id read then): rows up to an id read `retention` ago are deleted.
        self._marks: collections.deque[tuple[float, int]] = collections.deque()
        self._trimmed = 0
        self._last_read = time.monotonic()
        self._resumed = False

    def _connect(self) -> None:
        self._connection = self.store.feed.open_log()
        # Going on from where it was (after a broken connection), or starting afresh.
        self._resumed = self._high is not None
        if self._high is None:
            self._high = self._connection.latest_id()  # only what commits from now on
            self._last_read = time.monotonic()
        log.info(
            "live feed: polling the commit log for other servers' metric commits "
            "(MySQL connection id %d)",
            self._connection.session_id,
        )

    def _after_reconnect(self) -> None:
        # The rows written meanwhile are still there, unless the outage outlasted them.
        if self._resumed and time.monotonic() - self._last_read < self.retention * 0.8:
            log.warning(
                "live feed: MySQL connection open again; going on from commit %d", self._high
            )
            return
        super()._after_reconnect()

    def _serve(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            full = self.poll()
            if not full:
                self._stop.wait(max(0.0, POLL_SECONDS - (time.monotonic() - started)))

    def poll(self) -> bool:
        """Reads the log once; returns whether there may be more rows to read at once."""
        reader = self._connection
        rows = reader.read_after(self._high, READ_LIMIT)
        if self._gaps:
            rows += reader.read_ids(list(self._gaps))
        now = time.monotonic()
        self._last_read = now
        rows.sort(key=lambda row: row[0])
        own = self.store.feed.origin
        watched = self.feed.watched_runs()
        announcements = []
        for commit_id, origin, payload in rows:
            if commit_id > self._high:
                skipped = range(max(self._high + 1, commit_id - MAX_GAPS), commit_id)
                self._gaps.update(dict.fromkeys(skipped, now))
                self._high = commit_id
            else:
                self._gaps.pop(commit_id, None)
            if watched and origin != own:
                announcement = decode(bytes(payload))
                if announcement is not None:
                    announcements.append(announcement)
        self._expire_gaps(now)
        if announcements:
            self._deliver(announcements)
        self._trim(now)
        return len(rows) >= READ_LIMIT

    def _expire_gaps(self, now: float) -> None:
        if not self._gaps:
            return
        # Skipped ids are added in increasing order and time: the oldest come first.
        expired = []
        for commit_id, skipped_at in self._gaps.items():
            if now - skipped_at < self.gap_seconds:
                break
            expired.append(commit_id)
        for commit_id in expired:
            del self._gaps[commit_id]
        if len(self._gaps) > MAX_GAPS:
            for commit_id in sorted(self._gaps)[: len(self._gaps) - MAX_GAPS]:
                del self._gaps[commit_id]
            told = self.feed.tell_missed()
            log.warning("live feed: too many commit ids outstanding; %d watchers told", told)

    def _trim(self, now: float) -> None:
        if not self._marks or now - self._marks[-1][0] >= 1.0:
            self._marks.append((now, self._high))
        up_to = None
        while self._marks and now - self._marks[0][0] >= self.retention:
            up_to = self._marks.popleft()[1]
        if up_to is not None and up_to > self._trimmed:
            self._connection.trim(up_to)
            self._trimmed = up_to


def start_database_feed(
    store: Store,
    feed: MetricFeed,
    log_retention: float = DEFAULT_LOG_RETENTION,
    watch_ttl: float = DEFAULT_FEED_WATCH_TTL,
) -> DatabaseFeed | None:
    """Starts the feed from the other servers on `store`'s database, and the registry of
    the runs watched here (`feed.across`); None on SQLite."""
    kind = store.feed.kind
    if kind == "postgresql":
        database_feed = PostgresFeed(store, feed)
    elif kind == "mysql":
        database_feed = CommitLogFeed(store, feed, log_retention)
    else:
        return None
    database_feed.registry = WatchRegistry(store, feed, watch_ttl).start()
    feed.across = database_feed.registry
    return database_feed.start()
