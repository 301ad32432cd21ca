"""Migrations (issue #15, item 5): servers starting together on an empty database migrate
once, queued on a lock in the database; `trackwire db upgrade` / `trackwire db current`;
--no-auto-migrate refuses an older schema; every server refuses a newer one.

Servers are `python -m trackwire_server` processes (tests/support/server_process.py),
the `db` commands `python -m trackwire` subprocesses, on SQLite files and the shared
PostgreSQL / MariaDB test databases (the `backend` fixture)."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

import trackwire
from tests.support.server_process import ServerProcess, ServerStartError, pythonpath
from trackwire_server.store import migrations, open_database, schema, schema_versions

MIGRATED = "migrated the schema from version 0 to"


def trackwire_db(*args: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-c", "from trackwire.cli import main; main()", "db", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": pythonpath()},
        check=False,
    )


def versions(url: str) -> list[int]:
    db = open_database(url)
    with db.connection_context():
        rows = db.execute_sql("SELECT version FROM schema_version ORDER BY version").fetchall()
    db.close()
    return [r[0] for r in rows]


def add_version(url: str, version: int) -> None:
    db = open_database(url)
    with db.connection_context():
        schema.bind_tables(db).SchemaVersion.insert(version=version).execute()
    db.close()


def test_three_servers_started_together_migrate_once(backend, tmp_path):
    servers = [ServerProcess(backend, tmp_path / "artifacts", log_dir=tmp_path) for _ in range(3)]
    errors: list[BaseException] = []

    def start(server: ServerProcess) -> None:
        try:
            server.start()
        except BaseException as e:  # reported below, with the output
            errors.append(e)

    threads = [threading.Thread(target=start, args=(s,)) for s in servers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        outputs = "\n---\n".join(s.output()[-2000:] for s in servers)
        assert not errors, f"{errors}\n{outputs}"
        for i, server in enumerate(servers):  # all three serve
            client = trackwire.TrackwireClient(server.uri)
            run = client.create_run("0", run_name=f"from-{i}")
            assert client.get_run(run.info.run_id).info.run_name == f"from-{i}"
        migrated = [i for i, s in enumerate(servers) if MIGRATED in s.output()]
        assert len(migrated) == 1, f"servers that migrated: {migrated}\n{outputs}"
        assert versions(backend) == list(range(1, schema_versions.SCHEMA_VERSION + 1))
    finally:
        for server in servers:
            server.stop(grace=5)


def test_db_current_and_upgrade(backend):
    current = trackwire_db("current", "--db", backend)
    assert current.returncode == 3, current
    assert "schema version 0" in current.stdout and "trackwire db upgrade" in current.stdout

    upgrade = trackwire_db("upgrade", "--db", backend)
    assert upgrade.returncode == 0, upgrade
    assert f"upgraded from version 0 to {schema_versions.SCHEMA_VERSION}" in upgrade.stdout
    assert versions(backend) == list(range(1, schema_versions.SCHEMA_VERSION + 1))

    again = trackwire_db("upgrade", "--db", backend)
    assert again.returncode == 0 and "nothing to do" in again.stdout, again
    current = trackwire_db("current", "--db", backend)
    assert current.returncode == 0, current
    assert f"schema version {schema_versions.SCHEMA_VERSION} (up to date)" in current.stdout


def test_no_auto_migrate_refuses_an_older_schema_then_serves(backend, tmp_path):
    server = ServerProcess(
        backend, tmp_path / "artifacts", extra_args=("--no-auto-migrate",), log_dir=tmp_path
    )
    with pytest.raises(ServerStartError) as refused:
        server.start()
    assert refused.value.returncode == 1
    assert "older than this Trackwire's" in refused.value.output
    assert "trackwire db upgrade" in refused.value.output
    assert versions_or_none(backend) is None  # it did not migrate

    assert trackwire_db("upgrade", "--db", backend).returncode == 0
    server = ServerProcess(
        backend, tmp_path / "artifacts", extra_args=("--no-auto-migrate",), log_dir=tmp_path
    )
    try:
        server.start()
        client = trackwire.TrackwireClient(server.uri)
        assert client.get_experiment("0").name == "Default"
        assert MIGRATED not in server.output()
    finally:
        server.stop(grace=5)


def versions_or_none(url: str) -> list[int] | None:
    db = open_database(url)
    with db.connection_context():
        exists = db.table_exists("schema_version")
    db.close()
    return versions(url) if exists else None


@pytest.mark.parametrize("auto_migrate", [True, False])
def test_a_newer_schema_is_refused(backend, tmp_path, auto_migrate):
    assert trackwire_db("upgrade", "--db", backend).returncode == 0
    add_version(backend, schema_versions.SCHEMA_VERSION + 1)
    args = () if auto_migrate else ("--no-auto-migrate",)
    server = ServerProcess(backend, tmp_path / "artifacts", extra_args=args, log_dir=tmp_path)
    with pytest.raises(ServerStartError) as refused:
        server.start()
    assert refused.value.returncode == 1
    assert f"version {schema_versions.SCHEMA_VERSION + 1}, newer than" in refused.value.output

    current = trackwire_db("current", "--db", backend)
    assert current.returncode == 4 and "newer" in current.stdout, current
    upgrade = trackwire_db("upgrade", "--db", backend)
    assert upgrade.returncode == 1 and "newer than" in upgrade.stderr, upgrade


def schema_at(url: str, version: int) -> None:
    """Applies migrations 1..`version` to the empty database at `url`, as a Trackwire of
    that schema version would have."""
    db = open_database(url)
    assert migrations.upgrade(db, schema.bind_tables(db), to=version) == (0, version)
    db.close()


def test_a_version_7_database_upgrades_and_searches_newest_first(backend, tmp_path):
    """Migration 8 (MySQL/MariaDB: runs indexed newest first, ties by run_id) on a
    database a version 7 Trackwire made: its runs come back in the default order."""
    schema_at(backend, 7)
    assert trackwire_db("current", "--db", backend).returncode == 3
    upgrade = trackwire_db("upgrade", "--db", backend)
    assert upgrade.returncode == 0, upgrade
    assert f"upgraded from version 7 to {schema_versions.SCHEMA_VERSION}" in upgrade.stdout
    db = open_database(backend)
    with db.connection_context():
        indexes = {index.name: index.columns for index in db.get_indexes("runs")}
    db.close()
    if backend.startswith("mysql"):
        newest = indexes["run_experiment_id_lifecycle_stage_newest"]
        assert newest == ["experiment_id", "lifecycle_stage", "start_time", "run_id"]
    server = ServerProcess(backend, tmp_path / "artifacts", log_dir=tmp_path)
    try:
        server.start()
        client = trackwire.TrackwireClient(server.uri)
        experiment_id = client.create_experiment("newest-first")
        tied = [f"{i:x}" * 32 for i in (9, 3, 7)]  # three runs started together
        for run_id in tied:
            client.create_runs(experiment_id, [{"run_id": run_id, "start_time": 5000}])
        client.create_runs(experiment_id, [{"start_time": 9000}, {"start_time": 1000}])
        found = client.search_runs([experiment_id])
        assert [r.info.start_time for r in found] == [9000, 5000, 5000, 5000, 1000]
        assert [r.info.run_id for r in found[1:4]] == sorted(tied)
    finally:
        server.stop(grace=5)


def test_an_interrupted_version_8_migration_completes(backend):
    """MySQL commits DDL on its own: an attempt at migration 8 cut off after its index
    was made, before the version was recorded, is completed by the next upgrade."""
    if not backend.startswith("mysql"):
        pytest.skip("only MySQL/MariaDB commit DDL outside the migration's transaction")
    schema_at(backend, 7)
    db = open_database(backend)
    with db.connection_context():
        schema_versions.MIGRATIONS[8](db, schema.bind_tables(db))  # the index, without version 8
    db.close()
    upgrade = trackwire_db("upgrade", "--db", backend)
    assert upgrade.returncode == 0, upgrade
    assert f"upgraded from version 7 to {schema_versions.SCHEMA_VERSION}" in upgrade.stdout
