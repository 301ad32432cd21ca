"""Statements rendered by Peewee once and kept.

Rendering a query through Peewee costs about as much as SQLite takes to answer a small
one, so the hot statements are rendered once per shape.
"""

from __future__ import annotations

from collections.abc import Callable

import peewee


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
