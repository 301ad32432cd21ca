"""Writing many rows at once: bulk inserts through the driver, and upserts with the
database's own INSERT ... ON CONFLICT (ON DUPLICATE KEY UPDATE on MySQL) through
Peewee's `on_conflict`; never delete-then-insert, whose locks concurrent upserts of
the same keys deadlocked on (MariaDB)."""

from __future__ import annotations

import functools
import io

import peewee

from trackwire_server.store import statistics


def bulk_insert(table: type[peewee.Model], rows: list[dict]) -> None:
    """Inserts rows that all have the same keys, fast.

    Peewee renders every value of a multi-row INSERT in Python (several µs
    each); on SQLite and MySQL the driver's executemany takes the rendered
    one-row statement and the raw values instead. PostgreSQL's driver runs
    executemany row by row, so there psycopg2's execute_values sends the raw values
    in multi-row INSERTs of PAGE_ROWS rows, into the same statement rendered once.
    """
    if not rows:
        return
    db = table._meta.database
    if isinstance(db, peewee.PostgresqlDatabase) and len(rows) >= COPY_ROWS:
        copy_rows(db, table, tuple(rows[0]), [tuple(r.values()) for r in rows])
        statistics.wrote(table, len(rows))
        return
    sql = insert_sql(table, tuple(rows[0]))
    values = [tuple(r.values()) for r in rows]
    if isinstance(db, peewee.PostgresqlDatabase):
        insert_pages(db, sql, values)
        statistics.wrote(table, len(rows))
        return
    db.cursor().executemany(sql, values)


# PostgreSQL: from this many rows on, bulk_insert sends them with COPY.
COPY_ROWS = 100
# COPY's text format: these characters of a text value are written escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


# A value in COPY's text format, by its exact type: the types the store's rows hold
# (NUL never reaches here: validation refuses it in text). Any other type is refused.
_COPY_TEXT = {
    type(None): lambda value: "\\N",
    str: lambda value: value.translate(_COPY_ESCAPES),
    int: int.__repr__,
    float: float.__repr__,  # the shortest text that reads back as the same double
    bytes: lambda value: "\\\\x" + value.hex(),  # bytea's hex form, its backslash escaped
}


def _copy_line(row: tuple) -> str:
    try:
        return "\t".join([_COPY_TEXT[type(value)](value) for value in row])
    except KeyError as e:
        raise TypeError(f"cannot COPY a {e.args[0].__name__}") from None


def copy_rows(db: peewee.Database, table: type[peewee.Model], columns: tuple, values: list):
    """PostgreSQL: `values` (tuples in `columns`' order) into `table` with one COPY: the
    server parses no statement per row, and the driver quotes nothing."""
    text = io.StringIO("\n".join(map(_copy_line, values)) + "\n")
    names = ", ".join(table._meta.fields[c].column_name.join(db.quote) for c in columns)
    target = table._meta.table_name.join(db.quote)
    db.cursor().copy_expert(f"COPY {target} ({names}) FROM STDIN", text)


# Rows per multi-row INSERT on PostgreSQL.
PAGE_ROWS = 200


def insert_pages(db: peewee.Database, one_row_sql: str, values: list[tuple], returning=""):
    """PostgreSQL: `one_row_sql` (an INSERT Peewee rendered for one row) for all `values`,
    in multi-row statements of PAGE_ROWS rows (psycopg2.extras.execute_values). Peewee's
    own RETURNING clause is dropped; with `returning` (columns), the rows that clause
    gives are returned, in order."""
    from psycopg2.extras import execute_values

    sql = _values_list_sql(one_row_sql)
    if returning:
        sql = f"{sql} RETURNING {returning}"
    return execute_values(db.cursor(), sql, values, page_size=PAGE_ROWS, fetch=bool(returning))


@functools.lru_cache(maxsize=256)
def _values_list_sql(one_row_sql: str) -> str:
    """`INSERT ... VALUES (%s, %s) <rest> [RETURNING ...]` as
    `INSERT ... VALUES %s <rest>` (psycopg2's execute_values fills the one %s)."""
    head, found, tail = one_row_sql.partition(" VALUES (")
    _, closed, rest = tail.partition(")")
    if not found or not closed:
        raise ValueError(f"not a one-row INSERT: {one_row_sql}")
    rest = rest.partition(" RETURNING ")[0]
    return f"{head} VALUES %s{rest}"


@functools.lru_cache(maxsize=256)
def insert_sql(table: type[peewee.Model], columns: tuple[str, ...]) -> str:
    """The one-row INSERT for these columns, rendered by Peewee once."""
    fields = [table._meta.fields[name] for name in columns]
    placeholder_row = tuple(None for _ in columns)
    sql, _ = table.insert_many([placeholder_row], fields=fields).as_rowcount().sql()
    return sql


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
    statistics.wrote(table, len(rows))


def upsert_latest(table: type[peewee.Model], rows: list[dict]) -> None:
    """Inserts latest points (`schema.LatestMetric` rows, all with the same keys), or
    moves a (run_id, key)'s stored one forward to the new one when that is not older:
    a higher step, or the same step and a timestamp at least as high. One statement,
    rendered once, for all rows (multi-row ones of PAGE_ROWS rows on PostgreSQL, whose
    driver runs executemany row by row)."""
    if not rows:
        return
    db = table._meta.database
    db.connect(reuse_if_open=True)  # MySQL's statement depends on the server's version
    sql = _latest_upsert_sql(table, tuple(rows[0]))
    values = [tuple(r.values()) for r in rows]
    if isinstance(db, peewee.PostgresqlDatabase):
        insert_pages(db, sql, values)
        statistics.wrote(table, len(rows))
        return
    db.cursor().executemany(sql, values)


def _latest_upsert(table: type[peewee.Model], insert: peewee.Insert) -> peewee.Insert:
    M = table
    if not isinstance(M._meta.database, peewee.MySQLDatabase):
        new_step, new_ts = peewee.EXCLUDED.step, peewee.EXCLUDED.timestamp
        newer = (new_step > M.step) | ((new_step == M.step) & (new_ts >= M.timestamp))
        return insert.on_conflict(
            conflict_target=(M.run_id, M.key),
            preserve=(M.value, M.special, M.step, M.timestamp),
            where=newer,
        )
    # MySQL has no WHERE here: each column takes IF(newer, new, old). Its assignments
    # run left to right and see the ones before, so `step` goes last: `newer` still
    # holds for it once `timestamp` has been moved forward (and still fails if not).
    db = M._meta.database
    # MariaDB 10.3.3+ names VALUES() VALUE() (as Peewee's own `preserve` does).
    fn_value = peewee.fn.VALUE if (db.server_version or (0,)) >= (10, 3, 3) else peewee.fn.VALUES
    new_step, new_ts = fn_value(M.step), fn_value(M.timestamp)
    newer = (new_step > M.step) | ((new_step == M.step) & (new_ts >= M.timestamp))
    return insert.on_conflict(
        update={
            column: peewee.fn.IF(newer, fn_value(column), column)
            for column in (M.value, M.special, M.timestamp, M.step)
        }
    )


@functools.lru_cache(maxsize=64)
def _latest_upsert_sql(table: type[peewee.Model], columns: tuple[str, ...]) -> str:
    fields = [table._meta.fields[name] for name in columns]
    placeholder_row = tuple(None for _ in columns)
    insert = table.insert_many([placeholder_row], fields=fields).as_rowcount()
    sql, _ = _latest_upsert(table, insert).sql()
    return sql
