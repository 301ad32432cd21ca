"""Issue #14's leak tests: a user who may read experiment A only (and registered model MA
only) learns nothing of experiment B, its runs, their metrics and artifacts, nor of model
MB: lists leave them out (counts and page tokens too), and every call naming one is
NOT_FOUND with the very message a resource that does not exist gets.

Each database is tried with the default permission NONE, and with the default READ and
an explicit NONE for the user on B and MB.
"""

from __future__ import annotations

import uuid

import grpc
import pytest

from tests.conftest import LOCAL_URLS, MYSQL_ENV, POSTGRES_ENV, database_url, reset_database
from tests.support.auth_calls import (
    EDIT,
    MANAGE,
    NONE,
    READ,
    USE,
    AuthServer,
    bearer,
    resource,
    unique,
)
from tests.support.auth_matrix import upload_messages
from trackwire.v1 import artifact_service_pb2 as art
from trackwire.v1 import auth_service_pb2 as auth
from trackwire.v1 import model_registry_service_pb2 as reg
from trackwire.v1 import registered_model_pb2, run_pb2
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


def _error(call) -> tuple[grpc.StatusCode, str]:
    """The code and details of a call expected to fail (a stream is read to its end)."""
    try:
        result = call()
        if hasattr(result, "__iter__") and not hasattr(result, "ListFields"):
            list(result)
    except grpc.RpcError as e:
        return e.code(), e.details()
    raise AssertionError("the call succeeded")


def _missing_run() -> str:
    return uuid.uuid4().hex


def assert_hidden_like_missing(call_with, hidden: str, missing: str) -> None:
    """`call_with(x)` fails NOT_FOUND for the hidden `x` exactly as for the missing one
    (byte for byte, but for the name itself)."""
    hidden_error = _error(lambda: call_with(hidden))
    missing_error = _error(lambda: call_with(missing))
    assert hidden_error[0] == NOT_FOUND, hidden_error
    assert missing_error[0] == NOT_FOUND, missing_error
    assert hidden in hidden_error[1] or missing not in missing_error[1]
    assert hidden_error[1] == missing_error[1].replace(missing, hidden)


# -- runs ----------------------------------------------------------------------------


def test_search_runs_over_both_experiments_returns_only_the_readable_ones(world):
    s = world.s
    request = tr.SearchRunsRequest(experiment_ids=[world.a, world.b], include_total_count=True)
    response = s.tracking.SearchRuns(request, metadata=world.u)
    assert sorted(response.runs.run_ids) == sorted(world.a_runs)
    assert response.total_count == len(world.a_runs)
    # Only B: nothing at all, not an error that would confirm it.
    response = s.tracking.SearchRuns(
        tr.SearchRunsRequest(experiment_ids=[world.b], include_total_count=True), metadata=world.u
    )
    assert (list(response.runs.run_ids), response.total_count) == ([], 0)
    # The admin sees both (the filter is the caller's, not the request's).
    response = s.tracking.SearchRuns(request, metadata=world.md)
    assert response.total_count == len(world.a_runs) + len(world.b_runs)


def test_paging_through_search_runs_gives_only_readable_runs(world):
    seen, token = [], ""
    for _ in range(10):
        response = world.s.tracking.SearchRuns(
            tr.SearchRunsRequest(
                experiment_ids=[world.b, world.a],
                page_size=1,
                page_token=token,
                include_total_count=True,
            ),
            metadata=world.u,
        )
        seen.extend(response.runs.run_ids)
        assert response.total_count == len(world.a_runs)
        token = response.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(world.a_runs)


def test_search_runs_by_the_name_of_a_hidden_experiment_is_like_a_missing_name(world):
    def search(name):
        return world.s.tracking.SearchRuns(
            tr.SearchRunsRequest(experiment_names=[world.a_name, name]), metadata=world.u
        )

    assert_hidden_like_missing(search, world.b_name, unique("B"))


@pytest.mark.parametrize("position", [0, 1])
def test_watch_metrics_on_a_hidden_run_is_like_a_missing_run(world, position):
    def watch(run_id):
        ids = [world.a_runs[0]]
        ids.insert(position, run_id)
        stream = world.s.tracking.WatchMetrics(
            tr.WatchMetricsRequest(run_ids=ids), metadata=world.u, timeout=10
        )
        return stream

    assert_hidden_like_missing(watch, world.b_runs[0], _missing_run())


def test_batch_read_metric_history_with_a_hidden_run_is_like_a_missing_run(world):
    def read(run_id):
        return world.s.tracking.BatchReadMetricHistory(
            tr.BatchReadMetricHistoryRequest(run_ids=[world.a_runs[0], run_id], metric_key="loss"),
            metadata=world.u,
        )

    assert_hidden_like_missing(read, world.b_runs[0], _missing_run())
    # The readable run alone answers.
    chunks = list(
        world.s.tracking.BatchReadMetricHistory(
            tr.BatchReadMetricHistoryRequest(run_ids=[world.a_runs[0]], metric_key="loss"),
            metadata=world.u,
        )
    )
    assert chunks


@pytest.mark.parametrize(
    "method", ["GetRun", "ReadMetricHistory", "UpdateRun", "LogBatch", "SetRunTag"]
)
def test_single_run_calls_on_a_hidden_run_are_like_a_missing_run(world, method):
    requests = {
        "GetRun": lambda r: tr.GetRunRequest(run_id=r),
        "ReadMetricHistory": lambda r: tr.ReadMetricHistoryRequest(run_id=r, metric_key="loss"),
        "UpdateRun": lambda r: tr.UpdateRunRequest(run_id=r, run_name="x"),
        "LogBatch": lambda r: tr.LogBatchRequest(
            run_id=r, metrics=run_pb2.MetricPoints(keys=["x"], values=[1.0])
        ),
        "SetRunTag": lambda r: tr.SetRunTagRequest(run_id=r, tag=run_pb2.RunTag(key="k")),
    }
    call = getattr(world.s.tracking, method)
    assert_hidden_like_missing(
        lambda r: call(requests[method](r), metadata=world.u), world.b_runs[0], _missing_run()
    )


@pytest.mark.parametrize("path", ["secret/file.txt", "guessed/path.bin", ""])
def test_artifacts_of_a_hidden_run_are_like_those_of_a_missing_run(world, path):
    a = world.s.artifacts
    b_run = world.b_runs[0]

    def download(run_id):
        return a.DownloadArtifact(
            art.DownloadArtifactRequest(run_id=run_id, path=path), metadata=world.u
        )

    def listing(run_id):
        return a.ListArtifacts(art.ListArtifactsRequest(run_id=run_id, path=path), metadata=world.u)

    def upload(run_id):
        return a.UploadArtifact(iter(upload_messages(run_id, path or "x", b"x")), metadata=world.u)

    for call in (download, listing, upload):
        assert_hidden_like_missing(call, b_run, _missing_run())


def test_writing_metrics_to_a_hidden_run_is_like_a_missing_run(world):
    def write(run_id):
        return world.s.tracking.WriteMetrics(
            iter(
                [
                    tr.WriteMetricsRequest(
                        writer_id=unique("w"),
                        sequence_number=1,
                        run_id=run_id,
                        points=run_pb2.MetricPoints(keys=["x"], values=[1.0]),
                    )
                ]
            ),
            metadata=world.u,
        )

    assert_hidden_like_missing(write, world.b_runs[0], _missing_run())


# -- experiments ---------------------------------------------------------------------


def test_search_experiments_lists_only_readable_ones(world):
    seen, token = [], ""
    for _ in range(20):
        response = world.s.tracking.SearchExperiments(
            tr.SearchExperimentsRequest(page_size=1, page_token=token), metadata=world.u
        )
        seen.extend(e.experiment_id for e in response.experiments)
        token = response.next_page_token
        if not token:
            break
    assert world.b not in seen
    # With the default READ, the Default experiment ("0") is readable too.
    assert sorted(seen) == (sorted([world.a, "0"]) if world.default >= READ else [world.a])


def test_experiment_calls_on_a_hidden_experiment_are_like_a_missing_one(world):
    t = world.s.tracking
    assert_hidden_like_missing(
        lambda e: t.GetExperiment(tr.GetExperimentRequest(experiment_id=e), metadata=world.u),
        world.b,
        "987654321",
    )
    assert_hidden_like_missing(
        lambda n: t.GetExperimentByName(tr.GetExperimentByNameRequest(name=n), metadata=world.u),
        world.b_name,
        unique("B"),
    )
    assert_hidden_like_missing(
        lambda e: t.CreateRun(tr.CreateRunRequest(experiment_id=e), metadata=world.u),
        world.b,
        "987654321",
    )
    assert_hidden_like_missing(
        lambda e: world.s.auth.GetEffectivePermission(
            auth.GetEffectivePermissionRequest(resource=resource(e)), metadata=world.u
        ),
        world.b,
        "987654321",
    )


def test_team_grants_let_members_read(world):
    response = world.s.tracking.SearchRuns(
        tr.SearchRunsRequest(experiment_ids=[world.a, world.b], include_total_count=True),
        metadata=world.v,
    )
    # V's own grant on B is NONE with the default READ; the team's READ is the higher.
    expected = world.b_runs + (world.a_runs if world.default >= READ else [])
    assert sorted(response.runs.run_ids) == sorted(expected)
    assert response.total_count == len(expected)
    experiments = world.s.tracking.SearchExperiments(
        tr.SearchExperimentsRequest(), metadata=world.v
    ).experiments
    assert world.b in [e.experiment_id for e in experiments]
    run = world.s.tracking.GetRun(tr.GetRunRequest(run_id=world.b_runs[0]), metadata=world.v)
    assert run.run.info.experiment_id == world.b


# -- the registry ---------------------------------------------------------------------


def test_search_model_versions_and_models_show_nothing_of_a_hidden_model(world):
    r = world.s.registry
    versions, token = [], ""
    for _ in range(20):
        response = r.SearchModelVersions(
            reg.SearchModelVersionsRequest(page_size=1, page_token=token), metadata=world.u
        )
        versions.extend(v.name for v in response.model_versions)
        token = response.next_page_token
        if not token:
            break
    assert world.mb not in versions
    assert sorted(set(versions)) == sorted([world.ma, world.me])
    for filter in (f"name = '{world.mb}'", f"run_id = '{world.b_runs[0]}'"):
        response = r.SearchModelVersions(
            reg.SearchModelVersionsRequest(filter=filter), metadata=world.u
        )
        assert list(response.model_versions) == [], filter
    models = r.SearchRegisteredModels(reg.SearchRegisteredModelsRequest(), metadata=world.u)
    assert sorted(m.name for m in models.registered_models) == sorted([world.ma, world.me])


@pytest.mark.parametrize(
    "method",
    [
        "GetRegisteredModel",
        "GetLatestModelVersions",
        "GetModelVersion",
        "GetModelVersionByAlias",
        "GetModelVersionDownloadUri",
        "SetModelVersionTag",
    ],
)
def test_models_uri_resolution_of_a_hidden_model_is_like_a_missing_model(world, method):
    """What `models:/<name>/<version>`, `models:/<name>/latest` and `models:/<name>@alias`
    resolve through (trackwire.artifacts.resolve)."""
    requests = {
        "GetRegisteredModel": lambda n: reg.GetRegisteredModelRequest(name=n),
        "GetLatestModelVersions": lambda n: reg.GetLatestModelVersionsRequest(name=n),
        "GetModelVersion": lambda n: reg.GetModelVersionRequest(name=n, version="1"),
        "GetModelVersionByAlias": lambda n: reg.GetModelVersionByAliasRequest(
            name=n, alias="champion"
        ),
        "GetModelVersionDownloadUri": lambda n: reg.GetModelVersionDownloadUriRequest(
            name=n, version="1"
        ),
        "SetModelVersionTag": lambda n: reg.SetModelVersionTagRequest(
            name=n, version="1", tag=registered_model_pb2.ModelVersionTag(key="k", value="v")
        ),
    }
    call = getattr(world.s.registry, method)
    assert_hidden_like_missing(
        lambda n: call(requests[method](n), metadata=world.u), world.mb, unique("MB")
    )
    # The readable model resolves (a tag needs USE: the admin sets it).
    md = world.md if method == "SetModelVersionTag" else world.u
    assert call(requests[method](world.ma), metadata=md)


def test_registering_a_version_from_a_hidden_run_is_like_a_missing_run(world):
    """U may edit ME but not read B: a version from B's run is NOT_FOUND."""
    r = world.s.registry

    def by_source(run_id):
        return r.CreateModelVersion(
            reg.CreateModelVersionRequest(name=world.me, source=f"runs:/{run_id}/model"),
            metadata=world.u,
        )

    def by_run_id(run_id):
        return r.CreateModelVersion(
            reg.CreateModelVersionRequest(
                name=world.me, source=f"runs:/{run_id}/model", run_id=run_id
            ),
            metadata=world.u,
        )

    for call in (by_source, by_run_id):
        assert_hidden_like_missing(call, world.b_runs[0], _missing_run())
    # From A's run, which U may read: allowed, and the version is U's.
    version = by_source(world.a_runs[1]).model_version
    assert version.user_id == "u"


# -- creators and user ids -------------------------------------------------------------


def test_the_creator_gets_manage_and_user_ids_are_the_callers(world):
    t, r, a = world.s.tracking, world.s.registry, world.s.auth
    eid = t.CreateExperiment(
        tr.CreateExperimentRequest(name=unique("mine")), metadata=world.u
    ).experiment.experiment_id
    model = unique("mine")
    r.CreateRegisteredModel(reg.CreateRegisteredModelRequest(name=model), metadata=world.u)
    for ref in (resource(eid), resource(model=model)):
        level = a.GetEffectivePermission(
            auth.GetEffectivePermissionRequest(resource=ref), metadata=world.u
        ).level
        assert level == MANAGE
        grants = a.ListPermissions(auth.ListPermissionsRequest(resource=ref), metadata=world.u)
        assert [(g.principal.user_name, g.level) for g in grants.grants] == [("u", MANAGE)]
    # Others cannot see what U made (unless the default lets them read).
    found = _error_or_none(
        lambda: t.GetExperiment(tr.GetExperimentRequest(experiment_id=eid), metadata=world.v)
    )
    assert found == (None if world.default >= READ else NOT_FOUND)
    run = t.CreateRun(
        tr.CreateRunRequest(experiment_id=eid, user_id="mallory"), metadata=world.u
    ).run
    assert run.info.user_id == "u"
    stored = t.GetRun(tr.GetRunRequest(run_id=run.info.run_id), metadata=world.md).run
    assert stored.info.user_id == "u"
    batch = t.BatchCreateRuns(
        tr.BatchCreateRunsRequest(
            experiment_id=eid,
            requests=[tr.CreateRunRequest(user_id="mallory"), tr.CreateRunRequest()],
        ),
        metadata=world.u,
    ).runs
    assert [x.info.user_id for x in batch] == ["u", "u"]
    version = r.CreateModelVersion(
        reg.CreateModelVersionRequest(
            name=model, source=f"runs:/{run.info.run_id}/model", user_id="mallory"
        ),
        metadata=world.u,
    ).model_version
    assert version.user_id == "u"
    # U manages what they made: they may delete it.
    t.DeleteExperiment(tr.DeleteExperimentRequest(experiment_id=eid), metadata=world.u)
    r.DeleteRegisteredModel(reg.DeleteRegisteredModelRequest(name=model), metadata=world.u)


def _error_or_none(call):
    try:
        call()
    except grpc.RpcError as e:
        return e.code()
    return None


def test_resuming_a_run_of_another_experiment_does_not_say_which(world):
    """CreateRun with a run_id resumes the run of that id in the same experiment; the
    id of a run elsewhere is refused without naming its experiment, readable or not."""
    t = world.s.tracking
    eid = t.CreateExperiment(
        tr.CreateExperimentRequest(name=unique("C")), metadata=world.md
    ).experiment.experiment_id
    world.s.grant(USE, experiment_id=eid, user="u")
    errors = []
    for run_id in (world.b_runs[1], world.a_runs[1]):
        with pytest.raises(grpc.RpcError) as e:
            t.CreateRun(tr.CreateRunRequest(experiment_id=eid, run_id=run_id), metadata=world.u)
        assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
        errors.append(e.value.details().replace(run_id, "<id>"))
    assert errors[0] == errors[1] == "run_id <id> exists in another experiment"


def test_an_experiment_cannot_be_put_inside_the_artifacts_of_a_run(world):
    """Its runs would write into that run's files (which U may not even read)."""
    t = world.s.tracking
    run = t.GetRun(tr.GetRunRequest(run_id=world.b_runs[0]), metadata=world.md).run
    root = run.info.artifact_uri
    relative = f"{world.b}/{world.b_runs[0]}/artifacts/x"  # under the server's root
    for location in (root, f"{root}/x", f"file://{root}/y", relative):
        with pytest.raises(grpc.RpcError) as e:
            t.CreateExperiment(
                tr.CreateExperimentRequest(name=unique("C"), artifact_location=location),
                metadata=world.u,
            )
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, location
        assert "inside the artifacts of a run" in e.value.details()
    # Whether or not such a run exists: the answer confirms none.
    with pytest.raises(grpc.RpcError) as e:
        t.CreateExperiment(
            tr.CreateExperimentRequest(
                name=unique("C"), artifact_location=f"{world.b}/{'0' * 32}/artifacts"
            ),
            metadata=world.u,
        )
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    listed = world.s.artifacts.ListArtifacts(
        art.ListArtifactsRequest(run_id=world.b_runs[0]), metadata=world.md
    )
    assert sorted(f.path for f in listed.files) == ["model", "secret"]
