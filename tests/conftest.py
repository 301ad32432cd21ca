"""Fixtures: real servers on loopback ports over real databases.

`backend` runs a test once per database: SQLite always; PostgreSQL and MariaDB at
TRACKWIRE_TEST_POSTGRES_URL / TRACKWIRE_TEST_MYSQL_URL (CI sets them), or else at their
default local addresses when a server answers there (database `test`: PostgreSQL with
trust auth as `postgres`, MariaDB as `root` without a password), skipped with the reason
otherwise. TRACKWIRE_TEST_POSTGRES_URL=none (or MYSQL) skips that database.
"""

from __future__ import annotations

import os
import pathlib
import socket

import pytest

import trackwire
from tests.support.db_servers import DatabaseServers
from trackwire import fluent
from trackwire.client import close_metric_writers
from trackwire_server.app import create_server
from trackwire_server.config import ServerConfig
from trackwire_server.store import migrations, open_database

POSTGRES_ENV = "TRACKWIRE_TEST_POSTGRES_URL"
MYSQL_ENV = "TRACKWIRE_TEST_MYSQL_URL"
LOCAL_URLS = {
    POSTGRES_ENV: "postgresql://postgres@127.0.0.1:5432/test",
    MYSQL_ENV: "mysql://root@127.0.0.1:3306/test",
}
_found: dict[str, str] = {}


def database_url(env: str) -> str:
    """The URL of the database `env` names, or of the local default if it answers; ""
    when there is none (found once per session)."""
    if env not in _found:
        url = os.environ.get(env, "")
        if not url:
            url = LOCAL_URLS[env] if _answers(LOCAL_URLS[env]) else ""
        _found[env] = "" if url.lower() == "none" else url
    return _found[env]


def _answers(url: str) -> bool:
    host, port = "127.0.0.1", int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        db = open_database(url)
        db.connect()
        db.close()
        return True
    except Exception:
        return False


def reset_database(url: str) -> None:
    """Drops every Trackwire table, so each test starts from an empty schema."""
    migrations.drop_all(url)


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def backend(request, tmp_path) -> str:
    """A database URL for an empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'trackwire.db'}"
    env = POSTGRES_ENV if request.param == "postgresql" else MYSQL_ENV
    url = database_url(env)
    if not url:
        pytest.skip(f"{request.param} tests need ${env} or a server answering at {LOCAL_URLS[env]}")
    reset_database(url)
    return url


class RunningServer:
    """A started in-process server on loopback `port` (0: a free one)."""

    def __init__(self, db_url: str, artifacts: pathlib.Path, port: int = 0, **config):
        self.db_url = db_url
        self.artifacts = artifacts
        self.server, self.port = create_server(
            ServerConfig(
                db_url=db_url, artifacts=str(artifacts), host="127.0.0.1", port=port, **config
            )
        )
        self.server.start()
        self.uri = f"grpc://127.0.0.1:{self.port}"

    def stop(self, grace: float = 0.5) -> None:
        self.server.stop(grace)


class ReplacedServer:
    """Two in-process servers over SQLite in `folder`, one after the other on one loopback
    port: `old` runs at once on a free port; `replace()` starts the new one there, once
    the test stopped `old` (its database is made beforehand, so that it starts at once)."""

    def __init__(self, folder: pathlib.Path):
        self.folder = folder
        RunningServer(self._url("new"), folder / "artifacts").stop(0)
        self.old = RunningServer(self._url("old"), folder / "artifacts")
        self.port = self.old.port
        self.new: RunningServer | None = None

    def _url(self, name: str) -> str:
        return f"sqlite:///{self.folder / name}.db"

    def replace(self) -> None:
        self.new = RunningServer(self._url("new"), self.folder / "artifacts", port=self.port)

    def stop(self) -> None:
        self.old.stop(0)
        if self.new is not None:
            self.new.stop(0)


@pytest.fixture
def server(backend, tmp_path):
    """A Trackwire server on an ephemeral loopback port, over `backend`."""
    running = RunningServer(backend, tmp_path / "artifacts")
    yield running
    running.stop()


@pytest.fixture
def client(server) -> trackwire.TrackwireClient:
    return trackwire.TrackwireClient(server.uri)


@pytest.fixture
def tracking(server):
    """The fluent API pointed at `server`; active runs and settings are reset afterwards."""
    fluent.set_tracking_uri(server.uri)
    yield server
    while fluent.active_run() is not None:
        fluent.end_run()
    close_metric_writers()
    fluent._settings.experiment_id = None
    fluent.set_tracking_uri(None)


@pytest.fixture(scope="session")
def database_servers():
    """Throw-away PostgreSQL and MariaDB servers (tests/support/db_servers.py), each set up
    on first use by `database_servers.get(kind)` / `.fresh(kind)` and stopped at the end."""
    servers = DatabaseServers()
    yield servers
    servers.close()
