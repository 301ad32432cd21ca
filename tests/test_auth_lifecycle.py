"""Issue #14, around the access table: tokens that stop working (revoked, expired, their
user disabled or deleted) stop at once on the server that cached them; a stream checked
per message cannot switch to a run the caller may not use; a deleted registered model's
grants (cached or not) never reach a model made after it; the server-wide default."""

from __future__ import annotations

import queue
import time
import uuid

import grpc
import pytest
from google.protobuf import timestamp_pb2

from tests.support.auth_calls import (
    EDIT,
    MANAGE,
    NONE,
    READ,
    USE,
    AuthServer,
    bearer,
    principal,
    resource,
    unique,
)
from tests.support.auth_matrix import upload_messages, wait_past
from trackwire.v1 import artifact_service_pb2 as art
from trackwire.v1 import auth_service_pb2 as auth
from trackwire.v1 import identity_pb2, run_pb2
from trackwire.v1 import model_registry_service_pb2 as reg
from trackwire.v1 import tracking_service_pb2 as tr

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
NOT_FOUND = grpc.StatusCode.NOT_FOUND
DENIED = grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture
def srv(backend, tmp_path):
    server = AuthServer(backend, tmp_path / "artifacts", default_permission=NONE)
    yield server
    server.stop()


def _who(server, token):
    try:
        return server.auth.WhoAmI(auth.WhoAmIRequest(), metadata=bearer(token)).user.name
    except grpc.RpcError as e:
        return e.code(), e.details()


def _token_id(server, user, secret):
    tokens = server.auth.ListApiTokens(
        auth.ListApiTokensRequest(user_name=user), metadata=bearer(server.admin)
    ).tokens
    return next(t.token_id for t in tokens if secret.startswith(t.prefix))


def test_tokens_stop_working_at_once_on_the_server_that_cached_them(srv):
    revoked = srv.user("alice")
    expiring_at = int(time.time() * 1000) + 1200
    expire = timestamp_pb2.Timestamp()
    expire.FromMilliseconds(expiring_at)
    expiring = srv.token("alice", expire_time=expire)
    disabled = srv.user("bob")
    deleted = srv.user("carol")
    for token, name in (
        (revoked, "alice"),
        (expiring, "alice"),
        (disabled, "bob"),
        (deleted, "carol"),
    ):
        assert _who(srv, token) == name  # now in the server's 2 s cache
    admin = bearer(srv.admin)
    srv.auth.RevokeApiToken(
        auth.RevokeApiTokenRequest(token_id=_token_id(srv, "alice", revoked)), metadata=admin
    )
    srv.auth.UpdateUser(auth.UpdateUserRequest(name="bob", disabled=True), metadata=admin)
    srv.auth.DeleteUser(auth.DeleteUserRequest(name="carol"), metadata=admin)
    unknown = _who(srv, "tw_" + "0" * 40)
    assert unknown[0] == UNAUTHENTICATED
    for token in (revoked, disabled, deleted):
        assert _who(srv, token) == unknown  # one message: none is confirmed
    assert _who(srv, expiring) == "alice"
    wait_past(expiring_at)
    assert _who(srv, expiring) == unknown


def test_a_metric_stream_cannot_switch_to_a_run_it_may_not_use(srv):
    token = bearer(srv.user("u"))
    admin = bearer(srv.admin)
    runs = {}
    for name, level in (("mine", USE), ("theirs", READ), ("hidden", NONE)):
        eid = srv.tracking.CreateExperiment(
            tr.CreateExperimentRequest(name=unique(name)), metadata=admin
        ).experiment.experiment_id
        srv.grant(level, experiment_id=eid, user="u")
        runs[name] = srv.tracking.CreateRun(
            tr.CreateRunRequest(experiment_id=eid), metadata=admin
        ).run.info.run_id
    writer = unique("w")

    def batch(n, run_id):
        return tr.WriteMetricsRequest(
            writer_id=writer,
            sequence_number=n,
            run_id=run_id,
            points=run_pb2.MetricPoints(keys=["x"], values=[float(n)]),
        )

    for other, code in (("theirs", DENIED), ("hidden", NOT_FOUND)):
        stream = srv.tracking.WriteMetrics(
            iter([batch(1, runs["mine"]), batch(2, runs[other])]), metadata=token
        )
        with pytest.raises(grpc.RpcError) as e:
            list(stream)
        assert e.value.code() == code, e.value.details()
        history = list(
            srv.tracking.ReadMetricHistory(
                tr.ReadMetricHistoryRequest(run_id=runs[other], metric_key="x"), metadata=admin
            )
        )
        assert sum(len(c.points.values) for c in history) == 0
        writer = unique("w")
    # An upload names its run once, in its first message; a second header is refused
    # too when it names a run the caller may not use.
    messages = upload_messages(runs["mine"], "a.txt", b"a") + upload_messages(
        runs["hidden"], "b.txt", b"b"
    )
    with pytest.raises(grpc.RpcError) as e:
        srv.artifacts.UploadArtifact(iter(messages), metadata=token)
    assert e.value.code() != grpc.StatusCode.OK
    listed = srv.artifacts.ListArtifacts(
        art.ListArtifactsRequest(run_id=runs["hidden"]), metadata=admin
    )
    assert list(listed.files) == []


def test_a_deleted_models_grants_never_reach_a_model_made_after_it(srv):
    """A registered model is deleted for good; on SQLite the next model may get its id.
    What its creator could do with it (even as cached by the server) must not carry over."""
    u = bearer(srv.user("u"))
    admin = bearer(srv.admin)
    srv.registry.CreateRegisteredModel(reg.CreateRegisteredModelRequest(name="old"), metadata=u)
    assert _level(srv, u, "old") == MANAGE  # cached
    srv.registry.DeleteRegisteredModel(reg.DeleteRegisteredModelRequest(name="old"), metadata=u)
    srv.registry.CreateRegisteredModel(reg.CreateRegisteredModelRequest(name="new"), metadata=admin)
    with pytest.raises(grpc.RpcError) as e:
        srv.registry.GetRegisteredModel(reg.GetRegisteredModelRequest(name="new"), metadata=u)
    assert e.value.code() == NOT_FOUND
    found = srv.registry.SearchRegisteredModels(reg.SearchRegisteredModelsRequest(), metadata=u)
    assert list(found.registered_models) == []


def _level(srv, md, model):
    return srv.auth.GetEffectivePermission(
        auth.GetEffectivePermissionRequest(resource=resource(model=model)), metadata=md
    ).level


@pytest.fixture
def read_by_default(backend, tmp_path):
    server = AuthServer(backend, tmp_path / "artifacts", default_permission=READ)
    yield server
    server.stop()


def test_the_default_permission_applies_where_nothing_was_granted(read_by_default):
    srv = read_by_default
    admin = bearer(srv.admin)
    u = bearer(srv.user("u"))
    eid = srv.tracking.CreateExperiment(
        tr.CreateExperimentRequest(name=unique("e")), metadata=admin
    ).experiment.experiment_id
    closed = srv.tracking.CreateExperiment(
        tr.CreateExperimentRequest(name=unique("closed")), metadata=admin
    ).experiment.experiment_id
    srv.grant(NONE, experiment_id=closed, user="u")
    who = srv.auth.WhoAmI(auth.WhoAmIRequest(), metadata=u)
    assert who.default_permission == READ
    # READ by default: reading works, writing is PERMISSION_DENIED (the experiment shows).
    assert srv.tracking.GetExperiment(tr.GetExperimentRequest(experiment_id=eid), metadata=u)
    for call in (
        lambda: srv.tracking.CreateRun(tr.CreateRunRequest(experiment_id=eid), metadata=u),
        lambda: srv.tracking.UpdateExperiment(
            tr.UpdateExperimentRequest(experiment_id=eid, name=unique("x")), metadata=u
        ),
    ):
        with pytest.raises(grpc.RpcError) as e:
            call()
        assert e.value.code() == DENIED
    # An explicit NONE hides it.
    with pytest.raises(grpc.RpcError) as e:
        srv.tracking.GetExperiment(tr.GetExperimentRequest(experiment_id=closed), metadata=u)
    assert e.value.code() == NOT_FOUND
    # A grant above the default raises it.
    srv.grant(EDIT, experiment_id=eid, user="u")
    srv.tracking.CreateRun(tr.CreateRunRequest(experiment_id=eid), metadata=u)


def test_a_user_cannot_raise_their_own_rights(srv):
    u = bearer(srv.user("u", password="a-long-enough-password"))
    admin = bearer(srv.admin)
    eid = srv.tracking.CreateExperiment(
        tr.CreateExperimentRequest(name=unique("e")), metadata=admin
    ).experiment.experiment_id
    srv.grant(EDIT, experiment_id=eid, user="u")
    team = unique("t")
    srv.auth.CreateTeam(auth.CreateTeamRequest(name=team), metadata=admin)
    srv.grant(MANAGE, experiment_id=eid, team=team)
    attempts = {
        "admin flag": lambda: srv.auth.UpdateUser(
            auth.UpdateUserRequest(name="u", admin=True), metadata=u
        ),
        "re-enable": lambda: srv.auth.UpdateUser(
            auth.UpdateUserRequest(name="u", disabled=False), metadata=u
        ),
        "a token for the admin": lambda: srv.auth.CreateApiToken(
            auth.CreateApiTokenRequest(user_name="admin"), metadata=u
        ),
        "join a team": lambda: srv.auth.AddTeamMember(
            auth.AddTeamMemberRequest(team_name=team, user_name="u"), metadata=u
        ),
        "grant oneself MANAGE": lambda: srv.auth.SetPermission(
            auth.SetPermissionRequest(
                grant=identity_pb2.PermissionGrant(
                    resource=resource(eid), principal=principal("u"), level=MANAGE
                )
            ),
            metadata=u,
        ),
    }
    for what, attempt in attempts.items():
        with pytest.raises(grpc.RpcError) as e:
            attempt()
        assert e.value.code() == DENIED, what
    level = srv.auth.GetEffectivePermission(
        auth.GetEffectivePermissionRequest(resource=resource(eid)), metadata=u
    ).level
    assert level == EDIT
    who = srv.auth.WhoAmI(auth.WhoAmIRequest(), metadata=u)
    assert (who.user.admin, list(who.team_names)) == (False, [])
    # Their own password they may change.
    srv.auth.UpdateUser(
        auth.UpdateUserRequest(name="u", password="a-new-long-password"), metadata=u
    )


def _watch_after(srv, md, run_id, change):
    """Opens a watch on `run_id`, applies `change`, writes a point: the watch's end."""
    admin = bearer(srv.admin)
    stream = srv.tracking.WatchMetrics(
        tr.WatchMetricsRequest(run_ids=[run_id]), metadata=md, timeout=20
    )
    stream.initial_metadata()  # subscribed
    change()
    srv.tracking.LogBatch(
        tr.LogBatchRequest(run_id=run_id, metrics=run_pb2.MetricPoints(keys=["x"], values=[1.0])),
        metadata=admin,
    )
    with pytest.raises(grpc.RpcError) as e:
        for _ in stream:
            pass
    return e.value.code(), e.value.details()


def test_a_watch_ends_when_its_caller_may_no_longer_read_the_run(srv):
    admin = bearer(srv.admin)
    eid = srv.tracking.CreateExperiment(
        tr.CreateExperimentRequest(name=unique("e")), metadata=admin
    ).experiment.experiment_id
    run_id = srv.tracking.CreateRun(
        tr.CreateRunRequest(experiment_id=eid), metadata=admin
    ).run.info.run_id
    missing = uuid.uuid4().hex
    u = srv.user("u")
    srv.grant(READ, experiment_id=eid, user="u")
    with pytest.raises(grpc.RpcError) as e:
        list(
            srv.tracking.WatchMetrics(tr.WatchMetricsRequest(run_ids=[missing]), metadata=bearer(u))
        )
    missing_details = e.value.details().replace(missing, run_id)
    # The grant goes: NOT_FOUND as for a missing run.
    code, details = _watch_after(
        srv, bearer(u), run_id, lambda: srv.grant(NONE, experiment_id=eid, user="u")
    )
    assert (code, details) == (NOT_FOUND, missing_details)
    # The token is revoked: UNAUTHENTICATED.
    srv.grant(READ, experiment_id=eid, user="u")
    token_id = _token_id(srv, "u", u)
    code, _ = _watch_after(
        srv,
        bearer(u),
        run_id,
        lambda: srv.auth.RevokeApiToken(
            auth.RevokeApiTokenRequest(token_id=token_id), metadata=admin
        ),
    )
    assert code == UNAUTHENTICATED
    # The team that let them read leaves them.
    v = srv.user("v")
    team = unique("t")
    srv.auth.CreateTeam(auth.CreateTeamRequest(name=team), metadata=admin)
    srv.auth.AddTeamMember(auth.AddTeamMemberRequest(team_name=team, user_name="v"), metadata=admin)
    srv.grant(READ, experiment_id=eid, team=team)
    code, details = _watch_after(
        srv,
        bearer(v),
        run_id,
        lambda: srv.auth.RemoveTeamMember(
            auth.RemoveTeamMemberRequest(team_name=team, user_name="v"), metadata=admin
        ),
    )
    assert (code, details) == (NOT_FOUND, missing_details)


def test_a_metric_stream_ends_when_its_token_is_revoked(srv):
    admin = bearer(srv.admin)
    eid = srv.tracking.CreateExperiment(
        tr.CreateExperimentRequest(name=unique("e")), metadata=admin
    ).experiment.experiment_id
    run_id = srv.tracking.CreateRun(
        tr.CreateRunRequest(experiment_id=eid), metadata=admin
    ).run.info.run_id
    token = srv.user("u")
    srv.grant(USE, experiment_id=eid, user="u")
    batches = queue.Queue()
    writer = unique("w")

    def requests():
        while (n := batches.get()) is not None:
            yield tr.WriteMetricsRequest(
                writer_id=writer,
                sequence_number=n,
                run_id=run_id,
                points=run_pb2.MetricPoints(keys=["x"], values=[float(n)]),
            )

    answers = srv.tracking.WriteMetrics(requests(), metadata=bearer(token), timeout=20)
    batches.put(1)
    assert next(answers).sequence_number == 1
    srv.auth.RevokeApiToken(
        auth.RevokeApiTokenRequest(token_id=_token_id(srv, "u", token)), metadata=admin
    )
    batches.put(2)
    with pytest.raises(grpc.RpcError) as e:
        next(answers)
    assert e.value.code() == UNAUTHENTICATED
    batches.put(None)
    history = srv.tracking.ReadMetricHistory(
        tr.ReadMetricHistoryRequest(run_id=run_id, metric_key="x"), metadata=admin
    )
    assert [v for chunk in history for v in chunk.points.values] == [1.0]


def test_a_request_id_replays_only_for_the_caller_who_sent_it(srv):
    """A retry gets the first call's response: another user sending the same request with
    the same id must not get it (it may show what they may not read)."""
    u, v = bearer(srv.user("u")), bearer(srv.user("v"))
    request = tr.CreateExperimentRequest(name=unique("e"), request_id=unique("rid"))
    first = srv.tracking.CreateExperiment(request, metadata=u)
    assert srv.tracking.CreateExperiment(request, metadata=u) == first  # a retry
    with pytest.raises(grpc.RpcError) as e:
        srv.tracking.CreateExperiment(request, metadata=v)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.skipif(
    not hasattr(tr, "PurgeExperimentRequest"), reason="PurgeExperiment comes with main's gc"
)
def test_a_purged_experiments_grants_never_reach_an_experiment_made_after_it(srv):
    """A purged experiment is gone for good; on SQLite the next one may get its id. Its
    grants must go with it: they would reach the new experiment (and its creator's MANAGE
    row would collide with the new one's)."""
    u, v = bearer(srv.user("u")), bearer(srv.user("v"))
    t = srv.tracking
    eid = t.CreateExperiment(
        tr.CreateExperimentRequest(name=unique("old")), metadata=u
    ).experiment.experiment_id
    srv.grant(READ, experiment_id=eid, user="v")
    t.DeleteExperiment(tr.DeleteExperimentRequest(experiment_id=eid), metadata=u)
    t.PurgeExperiment(tr.PurgeExperimentRequest(experiment_id=eid), metadata=u)
    admin_made = t.CreateExperiment(
        tr.CreateExperimentRequest(name=unique("new")), metadata=bearer(srv.admin)
    ).experiment.experiment_id
    for md in (u, v):
        with pytest.raises(grpc.RpcError) as e:
            t.GetExperiment(tr.GetExperimentRequest(experiment_id=admin_made), metadata=md)
        assert e.value.code() == NOT_FOUND
    # And when U makes the next one, they get MANAGE on it (no clash with the old row).
    t.DeleteExperiment(
        tr.DeleteExperimentRequest(experiment_id=admin_made), metadata=bearer(srv.admin)
    )
    t.PurgeExperiment(
        tr.PurgeExperimentRequest(experiment_id=admin_made), metadata=bearer(srv.admin)
    )
    mine = t.CreateExperiment(
        tr.CreateExperimentRequest(name=unique("mine")), metadata=u
    ).experiment.experiment_id
    level = srv.auth.GetEffectivePermission(
        auth.GetEffectivePermissionRequest(resource=resource(mine)), metadata=u
    ).level
    assert level == MANAGE
