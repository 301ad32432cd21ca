"""Bringing a database's schema to this version, once, however many servers start at once.

`upgrade` takes a lock held in the database itself before it reads the version, so that
servers (or `trackwire db upgrade`) started together on an empty or older database
queue there: the first migrates, the others then find the schema up to date.
- PostgreSQL: a session-level advisory lock (`pg_advisory_lock`), keyed by MIGRATION_LOCK_KEY
  in the current database;
- MySQL / MariaDB: `GET_LOCK('trackwire_migrate:<database>', MIGRATION_LOCK_WAIT)`;
- SQLite: one IMMEDIATE transaction around the whole upgrade (the file's write lock;
  SQLite's DDL is transactional, so a failed upgrade leaves nothing half done).

A schema newer than this code knows is refused (SchemaTooNew): the code that wrote it
may store things this one would not keep. `check` refuses an older schema instead of
migrating it (SchemaTooOld), for servers started with --no-auto-migrate.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import peewee

from trackwire_server.store import schema, schema_versions
from trackwire_server.store.connecting import (
    holding_connection,
    is_mysql,
    is_sqlite,
    open_database,
)

log = logging.getLogger("trackwire.store")

# "trackwi" in ASCII: the advisory lock key PostgreSQL sessions of Trackwire take to migrate.
MIGRATION_LOCK_KEY = 0x74726163_6B7769
# Seconds a start waits for another one's migration before giving up.
MIGRATION_LOCK_WAIT = 600


class SchemaError(RuntimeError):
    """The database's schema is not one this server can use; the message says why."""


class SchemaTooNew(SchemaError):
    pass


class SchemaTooOld(SchemaError):
    pass


def version_of(db: peewee.Database, tables: SimpleNamespace) -> int:
    """The database's schema version (0: no schema)."""
    return schema_versions.current_version(db, tables)


def _too_new(found: int) -> SchemaTooNew:
    return SchemaTooNew(
        f"the database's schema is version {found}, newer than this Trackwire's "
        f"{schema_versions.SCHEMA_VERSION}: a newer Trackwire migrated it. Run that version "
        "(or newer)"
    )


def check(db: peewee.Database, tables: SimpleNamespace) -> int:
    """The schema version, if it is this code's; SchemaTooOld / SchemaTooNew otherwise."""
    found = version_of(db, tables)
    if found > schema_versions.SCHEMA_VERSION:
        raise _too_new(found)
    if found < schema_versions.SCHEMA_VERSION:
        raise SchemaTooOld(
            f"the database's schema is version {found}, older than this Trackwire's "
            f"{schema_versions.SCHEMA_VERSION}, and this server does not migrate "
            "(--no-auto-migrate): "
            "run `trackwire db upgrade --db URL` once, then start the servers"
        )
    return found


@contextlib.contextmanager
def migration_lock(db: peewee.Database) -> Iterator[None]:
    """Holds the database's migration lock (see the module's docstring) on this thread's
    connection, which the caller keeps open throughout."""
    if is_sqlite(db):
        with db.atomic(lock_type="IMMEDIATE"):
            yield
        return
    if is_mysql(db):
        name = f"trackwire_migrate:{db.database}"[:64]
        got = db.execute_sql("SELECT GET_LOCK(%s, %s)", (name, MIGRATION_LOCK_WAIT)).fetchone()
        if not got or got[0] != 1:
            raise SchemaError(
                f"another Trackwire held the migration lock for {MIGRATION_LOCK_WAIT}s"
            )
        try:
            yield
        finally:
            db.execute_sql("SELECT RELEASE_LOCK(%s)", (name,)).fetchall()
        return
    db.execute_sql("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,)).fetchall()
    try:
        yield
    finally:
        db.execute_sql("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,)).fetchall()


def upgrade(
    db: peewee.Database,
    tables: SimpleNamespace,
    then: Callable[[], None] | None = None,
    *,
    to: int = schema_versions.SCHEMA_VERSION,
) -> tuple[int, int]:
    """Applies the pending migrations up to version `to` (by default this Trackwire's)
    under the migration lock, then `then()` (still under it: e.g. creating the default
    experiment); returns (version found, version now). Logs "migrated the schema" only
    when it applied something."""
    with holding_connection(db), migration_lock(db):
        found = version_of(db, tables)  # read under the lock: another start may have migrated
        if found > schema_versions.SCHEMA_VERSION:
            raise _too_new(found)
        for version in range(found + 1, to + 1):
            with db.atomic():
                schema_versions.MIGRATIONS[version](db, tables)
                tables.SchemaVersion.insert(version=version).execute()
        if found < to:
            log.info("migrated the schema from version %d to %d", found, to)
        else:
            log.info("the schema is up to date (version %d)", found)
        if then is not None:
            then()
    return found, max(found, to)


def drop_all(url: str) -> None:
    """Drops every Trackwire table of the database at `url`: the empty schema tests and
    benchmarks start from (the next server to start creates it again)."""
    db = open_database(url)
    with db.connection_context():
        tables = schema.bind_tables(db)
        db.drop_tables([getattr(tables, t.__name__) for t in schema.ALL_TABLES], safe=True)
    db.close()
