"""The schema's versions: what each migration creates or changes (`MIGRATIONS`), the
version this Trackwire knows (`SCHEMA_VERSION`) and the version a database holds.
`migrations` applies them, in order, under a lock in the database."""

from __future__ import annotations

from types import SimpleNamespace

import peewee

from trackwire_server.store.schema import (
    AUTH_TABLES,
    FEED_TABLES,
    REGISTRY_TABLES,
    REQUEST_TABLES,
    TABLES,
    WATCH_TABLES,
)


def _create_v1(db: peewee.Database, tables: SimpleNamespace) -> None:
    db.create_tables([getattr(tables, t.__name__) for t in TABLES], safe=True)
    # Search looks params and tags up by (key, value). Values are long text:
    # MySQL indexes a prefix; PostgreSQL's btree refuses entries over ~2.7 kB,
    # so there the index holds the key alone.
    for table in ("params", "run_tags", "experiment_tags"):
        if isinstance(db, peewee.MySQLDatabase):
            columns = "`key`, `value`(191)"
        elif isinstance(db, peewee.PostgresqlDatabase):
            columns = '"key"'
        else:
            columns = '"key", "value"'
        db.execute_sql(f"CREATE INDEX {table}_key_value ON {table} ({columns})")


def _create_v2(db: peewee.Database, tables: SimpleNamespace) -> None:
    """The model registry's tables."""
    db.create_tables([getattr(tables, t.__name__) for t in REGISTRY_TABLES], safe=True)


def _create_v3(db: peewee.Database, tables: SimpleNamespace) -> None:
    """The request log that makes mutating calls idempotent."""
    db.create_tables([getattr(tables, t.__name__) for t in REQUEST_TABLES], safe=True)


def _create_v4(db: peewee.Database, tables: SimpleNamespace) -> None:
    """Users, service accounts, teams, API tokens and permission grants."""
    db.create_tables([getattr(tables, t.__name__) for t in AUTH_TABLES], safe=True)


def _create_v5(db: peewee.Database, tables: SimpleNamespace) -> None:
    """The live feed's commit log (used on MariaDB/MySQL)."""
    db.create_tables([getattr(tables, t.__name__) for t in FEED_TABLES], safe=True)


def _create_v6(db: peewee.Database, tables: SimpleNamespace) -> None:
    """The runs the servers watch: writes announce only their points (not on SQLite)."""
    db.create_tables([getattr(tables, t.__name__) for t in WATCH_TABLES], safe=True)


def _create_v7(db: peewee.Database, tables: SimpleNamespace) -> None:
    """PostgreSQL: statistics of params' and tags' (key, value) pairs, without which the
    planner misjudges what `params.x = 'v'` keeps (values of every key mixed)."""
    if not isinstance(db, peewee.PostgresqlDatabase):
        return
    for table in ("params", "run_tags"):
        db.execute_sql(
            f"CREATE STATISTICS IF NOT EXISTS {table}_key_value_pairs (mcv) "
            f'ON "key", "value" FROM {table}'
        )


def _create_v8(db: peewee.Database, tables: SimpleNamespace) -> None:
    """MySQL/MariaDB: runs indexed in the default order of a run search, newest first
    with ties by run_id (`start_time DESC, run_id`). Their optimizer reads an index in
    one direction only, so the (experiment_id, lifecycle_stage, start_time) index,
    whose rows tie by run_id ascending, made them sort every run of the experiment for
    each page (a filesort of 5,000 runs: 2.4 ms against 0.25 ms). PostgreSQL and SQLite
    walk the older index and sort only the ties. (MySQL commits DDL on its own: an index
    left by an interrupted attempt is kept.)"""
    name = "run_experiment_id_lifecycle_stage_newest"
    if isinstance(db, peewee.MySQLDatabase) and name not in {
        index.name for index in db.get_indexes("runs")
    }:
        db.execute_sql(
            f"CREATE INDEX {name} ON runs (experiment_id, lifecycle_stage, start_time DESC, run_id)"
        )


# version -> migration. A migration runs in one transaction (where the database
# allows DDL in transactions) and may use playhouse.migrate.
MIGRATIONS = {
    1: _create_v1,
    2: _create_v2,
    3: _create_v3,
    4: _create_v4,
    5: _create_v5,
    6: _create_v6,
    7: _create_v7,
    8: _create_v8,
}
SCHEMA_VERSION = max(MIGRATIONS)


def current_version(db: peewee.Database, tables: SimpleNamespace) -> int:
    if not db.table_exists("schema_version"):
        return 0
    row = tables.SchemaVersion.select(peewee.fn.MAX(tables.SchemaVersion.version)).scalar()
    return row or 0
