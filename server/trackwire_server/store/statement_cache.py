"""Statements rendered by Peewee once and kept, and bulk inserts through the driver.

Rendering a query through Peewee costs about as much as SQLite takes to answer a small
one, so the hot statements are rendered once per shape.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import peewee


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
    db.cursor().executemany(insert_sql(table, tuple(rows[0])), [tuple(r.values()) for r in rows])


@functools.lru_cache(maxsize=256)
def insert_sql(table: type[peewee.Model], columns: tuple[str, ...]) -> str:
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


def upsert(table: type[peewee.Model], rows: list[dict], key: tuple, values: tuple) -> None:
    """Inserts rows, or overwrites the `values` columns of those whose `key` columns exist
    already: one INSERT ... ON CONFLICT (ON DUPLICATE KEY UPDATE on MySQL) per 200 rows,
    which takes no lock a concurrent upsert of the same keys could deadlock on (deleting
    then inserting did, on MariaDB)."""
    if not rows:
        return
    target = None if isinstance(table._meta.database, peewee.MySQLDatabase) else key
    for chunk in peewee.chunked(rows, 200):
        table.insert_many(chunk).on_conflict(conflict_target=target, preserve=values).execute()
