"""The world of tests/test_auth_leaks*.py: a server with authentication on, experiments
A and B, models MA, MB and ME, users U (may read A and MA, edit ME) and V (in team T,
which may read B); and the check that a hidden resource is answered like a missing one.

`world` is a module-scoped fixture over SQLite, PostgreSQL and MariaDB, each with the
default permission NONE, and with READ plus an explicit NONE for U on B and MB.
"""

from __future__ import annotations

import uuid

import grpc
import pytest

from tests.conftest import LOCAL_URLS, MYSQL_ENV, POSTGRES_ENV, database_url, reset_database
from tests.support.auth_calls import EDIT, NONE, READ, AuthServer, bearer, unique
from tests.support.auth_matrix import upload_messages
from trackwire.v1 import auth_service_pb2 as auth
from trackwire.v1 import model_registry_service_pb2 as reg
from trackwire.v1 import run_pb2
from trackwire.v1 import tracking_service_pb2 as tr

NOT_FOUND = grpc.StatusCode.NOT_FOUND


class World:
    """Experiments A (3 runs) and B (2 runs), with a metric and an artifact on each run;
    models MA (a version from A's run) and MB (a version from B's run, alias "champion");
    model ME that U may edit. U may read A and MA; V is in team T, which may read B."""

    def __init__(self, server: AuthServer, default: int):
        self.s = server
        self.default = default
        self.md = bearer(server.admin)
        self.u = bearer(server.user("u"))
        self.v = bearer(server.user("v"))
        self.a_name, self.b_name = unique("A"), unique("B")
        self.a = self._experiment(self.a_name)
        self.b = self._experiment(self.b_name)
        self.a_runs = [self._run(self.a) for _ in range(3)]
        self.b_runs = [self._run(self.b) for _ in range(2)]
        self.ma, self.mb, self.me = unique("MA"), unique("MB"), unique("ME")
        self._model(self.ma, self.a_runs[0])
        self._model(self.mb, self.b_runs[0])
        self._model(self.me, self.a_runs[0])
        server.grant(READ, experiment_id=self.a, user="u")
        server.grant(READ, model=self.ma, user="u")
        server.grant(EDIT, model=self.me, user="u")
        if default >= READ:
            server.grant(NONE, experiment_id=self.b, user="u")
            server.grant(NONE, model=self.mb, user="u")
            server.grant(NONE, experiment_id=self.b, user="v")
        self.team = unique("T")
        server.auth.CreateTeam(auth.CreateTeamRequest(name=self.team), metadata=self.md)
        server.auth.AddTeamMember(
            auth.AddTeamMemberRequest(team_name=self.team, user_name="v"), metadata=self.md
        )
        server.grant(READ, experiment_id=self.b, team=self.team)

    def _experiment(self, name: str) -> str:
        request = tr.CreateExperimentRequest(name=name)
        return self.s.tracking.CreateExperiment(request, metadata=self.md).experiment.experiment_id

    def _run(self, experiment_id: str) -> str:
        run_id = self.s.tracking.CreateRun(
            tr.CreateRunRequest(experiment_id=experiment_id), metadata=self.md
        ).run.info.run_id
        self.s.tracking.LogBatch(
            tr.LogBatchRequest(
                run_id=run_id, metrics=run_pb2.MetricPoints(keys=["loss"], values=[1.0, 0.5])
            ),
            metadata=self.md,
        )
        for path in ("secret/file.txt", "model/MLmodel"):
            self.s.artifacts.UploadArtifact(
                iter(upload_messages(run_id, path, b"secret")), metadata=self.md
            )
        return run_id

    def _model(self, name: str, run_id: str) -> None:
        registry = self.s.registry
        registry.CreateRegisteredModel(
            reg.CreateRegisteredModelRequest(name=name), metadata=self.md
        )
        registry.CreateModelVersion(
            reg.CreateModelVersionRequest(name=name, source=f"runs:/{run_id}/model"),
            metadata=self.md,
        )
        registry.SetRegisteredModelAlias(
            reg.SetRegisteredModelAliasRequest(name=name, alias="champion", version="1"),
            metadata=self.md,
        )


def _url(kind: str, tmp_path_factory) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('auth-leaks') / 'trackwire.db'}"
    env = POSTGRES_ENV if kind == "postgresql" else MYSQL_ENV
    url = database_url(env)
    if not url:
        pytest.skip(f"{kind} tests need ${env} or a server answering at {LOCAL_URLS[env]}")
    reset_database(url)
    return url


@pytest.fixture(
    scope="module",
    params=[(db, default) for db in ("sqlite", "postgresql", "mysql") for default in (NONE, READ)],
    ids=lambda p: f"{p[0]}-default-{'NONE' if p[1] == NONE else 'READ'}",
)
def world(request, tmp_path_factory):
    kind, default = request.param
    server = AuthServer(
        _url(kind, tmp_path_factory),
        tmp_path_factory.mktemp("artifacts"),
        default_permission=default,
    )
    try:
        yield World(server, default)
    finally:
        server.stop()


def error_of(call) -> tuple[grpc.StatusCode, str]:
    """The code and details of a call expected to fail (a stream is read to its end)."""
    try:
        result = call()
        if hasattr(result, "__iter__") and not hasattr(result, "ListFields"):
            list(result)
    except grpc.RpcError as e:
        return e.code(), e.details()
    raise AssertionError("the call succeeded")


def missing_run() -> str:
    return uuid.uuid4().hex


def assert_hidden_like_missing(call_with, hidden: str, missing: str) -> None:
    """`call_with(x)` fails NOT_FOUND for the hidden `x` exactly as for the missing one
    (byte for byte, but for the name itself)."""
    hidden_error = error_of(lambda: call_with(hidden))
    missing_error = error_of(lambda: call_with(missing))
    assert hidden_error[0] == NOT_FOUND, hidden_error
    assert missing_error[0] == NOT_FOUND, missing_error
    assert hidden in hidden_error[1] or missing not in missing_error[1]
    assert hidden_error[1] == missing_error[1].replace(missing, hidden)
