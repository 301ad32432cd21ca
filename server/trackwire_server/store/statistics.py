"""PostgreSQL: planner statistics gathered right after bulk writes, not when autovacuum
gets to it.

PostgreSQL plans from statistics that ANALYZE gathers, and autovacuum runs it on its
own timing (a minute or more after the writes). A search made right after runs were
created in bulk meets tables the planner knows nothing about: measured (bench/
search_statistics.py), W5's filtered search at 5,000 runs took ~30 times longer until
the tables were analyzed.

So the bulk writes (`inserts`: runs' params, tags, metrics, latest values) report how
many rows they wrote per table once committed (`wrote`, cheap: a counter under a
lock), and a thread
of its own runs `ANALYZE table` once a table has grown by more than GROWTH of its
size at its last ANALYZE (and at least MIN_ROWS rows) since then, a moment after the
writes (DELAY, so that a burst of calls makes one ANALYZE). It runs as a unit of work
of its own, on a connection of the server's pool, never inside a caller's transaction;
a failed ANALYZE is logged and left to the next writes (or to autovacuum).
"""

from __future__ import annotations

import collections
import logging
import threading

import peewee

from trackwire_server.store import unit_of_work

log = logging.getLogger("trackwire.store")

# A table is analyzed once the rows written since its last ANALYZE reach
# max(MIN_ROWS, GROWTH x its rows then): autovacuum's own rule (50 rows + 10 %), with a
# floor that keeps a trickle of single writes from analyzing small tables over and over.
MIN_ROWS = 500
GROWTH = 0.1
# Seconds between the write that crossed the threshold and the ANALYZE.
DELAY = 0.1


class StatisticsKeeper:
    def __init__(self, db: peewee.Database):
        self.db = db
        self._lock = threading.Lock()
        self._written: collections.Counter[str] = collections.Counter()
        # rows of each table at its last ANALYZE (pg_class.reltuples), read when needed
        self._size: dict[str, float] = {}
        self._due = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trackwire-analyze", daemon=True)
        self.analyzed: collections.Counter[str] = collections.Counter()  # for tests and logs

    def start(self) -> StatisticsKeeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._due.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def wrote(self, table: str, rows: int) -> None:
        """Called once bulk writes committed: `rows` rows into `table`."""
        with self._lock:
            self._written[table] += rows
            if self._written[table] >= max(MIN_ROWS, GROWTH * self._size.get(table, 0)):
                self._due.set()

    def _tables_due(self) -> list[str]:
        with self._lock:
            return [
                table
                for table, rows in self._written.items()
                if rows >= max(MIN_ROWS, GROWTH * self._size.get(table, 0))
            ]

    def _analyze(self, table: str) -> None:
        with self._lock:
            written_before = self._written[table]

        def work() -> float:
            self.db.execute_sql(f'ANALYZE "{table}"')
            row = self.db.execute_sql(
                "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (table,)
            ).fetchone()
            return float(row[0]) if row else 0.0

        size = unit_of_work.run(self.db, work, write=False)
        with self._lock:
            # rows written meanwhile count toward the next ANALYZE
            self._written[table] = max(0, self._written[table] - written_before)
            self._size[table] = max(size, 0.0)
        self.analyzed[table] += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self._due.wait()
            if self._stop.wait(DELAY):
                return
            self._due.clear()
            for table in self._tables_due():
                try:
                    self._analyze(table)
                except Exception as e:  # the next writes try again; autovacuum remains
                    log.warning("ANALYZE %s failed: %s", table, getattr(e, "message", e))
                    with self._lock:
                        self._written[table] = 0


def attach(db: peewee.Database) -> StatisticsKeeper | None:
    """Starts a keeper for a PostgreSQL database (None for others)."""
    if not isinstance(db, peewee.PostgresqlDatabase):
        return None
    keeper = StatisticsKeeper(db).start()
    db.trackwire_statistics = keeper
    return keeper


def wrote(table: type[peewee.Model], rows: int) -> None:
    """Tells the keeper of `table`'s database (if any) that `rows` rows were written,
    once they are committed (an ANALYZE before the commit would not see them)."""
    db = table._meta.database
    keeper = getattr(db, "trackwire_statistics", None)
    if keeper is not None and rows:
        name = table._meta.table_name
        db.after_commit(lambda: keeper.wrote(name, rows))
