"""What every part of the store is given: the database, its tables, the statement cache
and the unit of work, and the listeners told about committed metric points."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import TypeVar

import peewee

from trackwire_server.store import unit_of_work
from trackwire_server.store.connecting import is_sqlite
from trackwire_server.store.feed_announcements import ChunkSlices, FeedAnnouncements
from trackwire_server.store.statement_cache import RenderedQueries

T = TypeVar("T")


class Written(dict):
    """{run_id: {key: (steps, timestamps, values)}}: the metric points a unit of work
    stored; and in `slices`, where they are ({run_id: [(chunk_id, offset, count)]}), for
    the feed across servers (filled only where other servers may watch: not on SQLite,
    nor for runs created by the unit, which nobody can be watching yet)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.slices: ChunkSlices = {}


class StoreContext:
    """One database as the store's parts share it. Every public method of a part is one
    call of `write` or `read`: one transaction, with the unit of work's one retry policy
    (see `unit_of_work`)."""

    def __init__(
        self,
        db: peewee.Database,
        tables: SimpleNamespace,
        reconnect_seconds: float = unit_of_work.RECONNECT_SECONDS,
    ):
        self.db = db
        # How long a unit of work that lost its connection tries new ones (a read
        # replica's reads give up sooner, for the primary: see read_routing).
        self.reconnect_seconds = reconnect_seconds
        self.t = tables
        self.queries = RenderedQueries(db)
        # Called after each commit that stored metric points, with a `Written`; the
        # server's live feed.
        self.metric_listeners: list[Callable[[Written], None]] = []
        # The other servers on the same database hear of committed points from here.
        self.feed = FeedAnnouncements(db)

    def write(self, work: Callable[[], T]) -> T:
        """`work()` as one unit of work that writes."""
        return unit_of_work.run(self.db, work, reconnect_seconds=self.reconnect_seconds)

    def read(self, work: Callable[[], T]) -> T:
        """`work()` as one unit of work that only reads."""
        return unit_of_work.run(
            self.db, work, write=False, reconnect_seconds=self.reconnect_seconds
        )

    def announce(self, written: Written) -> None:
        """Tells the listeners about the points of `written` once the unit of work that
        stores them has committed (never if it rolls back); and, in its transaction, the
        other servers on the database (`feed_announcements`)."""
        if written.slices:
            self.feed.record(written.slices)
        if written and self.metric_listeners:
            listeners = list(self.metric_listeners)
            self.db.after_commit(lambda: [listener(written) for listener in listeners])

    def placeholders(self, n: int) -> str:
        """`(?, ?, ...)`: n bound values, in the driver's style."""
        return f"({', '.join([self.db.param] * n)})"

    def select_by_run_ids(self, table, columns: tuple, run_ids: list, keys) -> list[tuple]:
        """Rows of `table` for these runs (and keys, if given). The statement is rendered
        once per shape and kept: rendering a few hundred bound values through Peewee
        costs more than SQLite takes to answer."""
        keys = sorted(keys) if keys is not None else []
        # SQLite takes the ids as one JSON array (json_each), faster than as many bound
        # values, and one statement serves every count.
        as_json = is_sqlite(self.db)
        shape = (table.__name__, columns, -1 if as_json else len(run_ids), len(keys))

        def build():
            ids = "(SELECT value FROM json_each(?))" if as_json else self.placeholders(len(run_ids))
            condition = table.run_id.in_(peewee.SQL(ids))
            if keys:
                condition &= table.key.in_(peewee.SQL(self.placeholders(len(keys))))
            return table.select(*columns).where(condition)

        sql = self.queries.sql(shape, build)
        ids = [json.dumps(run_ids)] if as_json else run_ids
        return self.db.execute_sql(sql, [*ids, *keys]).fetchall()
