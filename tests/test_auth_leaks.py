"""Issue #14's leak tests, runs and experiments: a user who may read experiment A only
learns nothing of experiment B, its runs, their metrics and artifacts: lists leave them
out (counts and page tokens too), and every call naming one is NOT_FOUND with the very
message a resource that does not exist gets (tests/support/auth_world.py; the registry's
in test_auth_leaks_registry.py).
"""

from __future__ import annotations

import pytest

from tests.support.auth_calls import READ, resource, unique
from tests.support.auth_matrix import upload_messages
from tests.support.auth_world import assert_hidden_like_missing, missing_run, world
from trackwire.v1 import artifact_service_pb2 as art
from trackwire.v1 import auth_service_pb2 as auth
from trackwire.v1 import run_pb2
from trackwire.v1 import tracking_service_pb2 as tr

__all__ = ["world"]  # the fixture

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

    assert_hidden_like_missing(watch, world.b_runs[0], missing_run())


def test_batch_read_metric_history_with_a_hidden_run_is_like_a_missing_run(world):
    def read(run_id):
        return world.s.tracking.BatchReadMetricHistory(
            tr.BatchReadMetricHistoryRequest(run_ids=[world.a_runs[0], run_id], metric_key="loss"),
            metadata=world.u,
        )

    assert_hidden_like_missing(read, world.b_runs[0], missing_run())
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
        lambda r: call(requests[method](r), metadata=world.u), world.b_runs[0], missing_run()
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
        assert_hidden_like_missing(call, b_run, missing_run())


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

    assert_hidden_like_missing(write, world.b_runs[0], missing_run())


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
    # The Default experiment ("0") is every signed-in user's sandbox (USE at least, whatever
    # the server's default), so it is listed too.
    assert sorted(seen) == sorted([world.a, "0"])


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
