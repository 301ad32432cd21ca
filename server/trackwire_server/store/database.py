"""Opening a database from a URL, and write transactions that behave the same everywhere."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import peewee
from playhouse import db_url

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    # WAL + NORMAL: a commit survives a crash of the process; fsync happens at
    # checkpoints. This is what makes small commits cheap.
    "synchronous": "normal",
    "busy_timeout": 60_000,
    "cache_size": -64 * 1024,
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


def _lower(value):
    return value.lower() if isinstance(value, str) else value


def is_sqlite(db: peewee.Database) -> bool:
    return isinstance(db, peewee.SqliteDatabase)


def is_mysql(db: peewee.Database) -> bool:
    return isinstance(db, peewee.MySQLDatabase)


@contextlib.contextmanager
def write_transaction(db: peewee.Database) -> Iterator[None]:
    """One unit of work that writes.

    On SQLite the write lock is taken at BEGIN (IMMEDIATE): a deferred
    transaction that reads first and writes later gets "database is locked" in
    WAL mode regardless of the busy timeout.
    """
    if is_sqlite(db):
        with db.atomic(lock_type="IMMEDIATE"):
            yield
    else:
        with db.atomic():
            yield


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
