"""Issue #14's leak tests, the registry and what callers make: a user who may read model
MA only sees no version of MB in searches, and every call `models:/` resolves through is
NOT_FOUND for MB as for a missing model; registering needs READ on the run; creators get
MANAGE; user ids are the caller's (tests/support/auth_world.py).
"""

from __future__ import annotations

import grpc
import pytest

from tests.support.auth_calls import MANAGE, READ, USE, resource, unique
from tests.support.auth_world import assert_hidden_like_missing, missing_run, world
from trackwire.v1 import artifact_service_pb2 as art
from trackwire.v1 import auth_service_pb2 as auth
from trackwire.v1 import model_registry_service_pb2 as reg
from trackwire.v1 import registered_model_pb2
from trackwire.v1 import tracking_service_pb2 as tr

__all__ = ["world"]  # the fixture
NOT_FOUND = grpc.StatusCode.NOT_FOUND

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
        assert_hidden_like_missing(call, world.b_runs[0], missing_run())
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
    # An admin's stated user is kept (an import keeps each run's author); none: the admin.
    kept = t.BatchCreateRuns(
        tr.BatchCreateRunsRequest(
            experiment_id=eid,
            requests=[tr.CreateRunRequest(user_id="ana"), tr.CreateRunRequest()],
        ),
        metadata=world.md,
    ).runs
    assert [x.info.user_id for x in kept] == ["ana", "admin"]
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
