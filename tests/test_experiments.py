"""Experiments through the real server, on every configured database."""

import grpc
import pytest

from trackwire import ViewType
from trackwire.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)


def test_default_experiment_exists(client):
    default = client.get_experiment("0")
    assert default.name == "Default"
    assert default.lifecycle_stage == "active"
    assert default.artifact_location.endswith("/0")


def test_create_get_and_get_by_name(client, server):
    experiment_id = client.create_experiment("churn", tags={"team": "growth"})
    by_id = client.get_experiment(experiment_id)
    by_name = client.get_experiment_by_name("churn")
    assert by_id == by_name
    assert by_id.name == "churn"
    assert by_id.tags == {"team": "growth"}
    assert by_id.artifact_location == f"{server.artifacts}/{experiment_id}"
    assert by_id.creation_time and by_id.last_update_time
    assert client.get_experiment_by_name("missing") is None


def test_explicit_artifact_location_is_kept_under_the_root(client, server):
    # A client names a folder relative to the server's artifact root (issue #12: a URL of
    # its choosing, such as memory://custom-root, is refused; see test_hardening_locations).
    experiment_id = client.create_experiment("custom", artifact_location="custom-root/team")
    location = client.get_experiment(experiment_id).artifact_location
    assert location == f"{server.artifacts}/custom-root/team"


def test_duplicate_name_is_already_exists(client):
    client.create_experiment("dup")
    with pytest.raises(AlreadyExistsError, match="dup"):
        client.create_experiment("dup")


@pytest.mark.parametrize("name", ["", "   ", "x" * 501])
def test_bad_names_are_invalid_argument_naming_the_field(client, name):
    with pytest.raises(InvalidArgumentError, match="name"):
        client.create_experiment(name)


def test_unknown_ids(client):
    with pytest.raises(NotFoundError, match="12345"):
        client.get_experiment("12345")
    with pytest.raises(InvalidArgumentError, match="experiment_id"):
        client.get_experiment("abc")


def test_rename(client):
    experiment_id = client.create_experiment("old")
    client.create_experiment("taken")
    client.rename_experiment(experiment_id, "new")
    assert client.get_experiment(experiment_id).name == "new"
    assert client.get_experiment_by_name("old") is None
    with pytest.raises(AlreadyExistsError):
        client.rename_experiment(experiment_id, "taken")


def test_delete_and_restore_take_runs_along(client):
    experiment_id = client.create_experiment("to-delete")
    run = client.create_run(experiment_id)
    earlier = client.create_run(experiment_id)
    client.delete_run(earlier.info.run_id)
    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(FailedPreconditionError):
        client.create_run(experiment_id)
    with pytest.raises(FailedPreconditionError):
        client.set_experiment_tag(experiment_id, "k", "v")
    # The name stays taken while the experiment is deleted (as in MLflow).
    with pytest.raises(AlreadyExistsError, match="deleted"):
        client.create_experiment("to-delete")
    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "active"
    # A run deleted on its own before the experiment stays deleted.
    assert client.get_run(earlier.info.run_id).info.lifecycle_stage == "deleted"


def test_default_experiment_cannot_be_deleted(client):
    with pytest.raises(FailedPreconditionError, match="default"):
        client.delete_experiment("0")


def test_set_tag_overwrites(client):
    experiment_id = client.create_experiment("tagged")
    client.set_experiment_tag(experiment_id, "stage", "dev")
    client.set_experiment_tag(experiment_id, "stage", "prod")
    assert client.get_experiment(experiment_id).tags == {"stage": "prod"}
    with pytest.raises(InvalidArgumentError, match="tag.key"):
        client.set_experiment_tag(experiment_id, "", "v")


def test_search_pages_and_view_types(client):
    ids = [client.create_experiment(f"e{i}") for i in range(7)]
    client.delete_experiment(ids[0])
    seen, token = [], None
    while True:
        page = client.search_experiments(max_results=3, page_token=token)
        assert len(page) <= 3
        seen += [e.experiment_id for e in page]
        token = page.token
        if not token:
            break
    assert sorted(seen, key=int) == sorted(["0", *ids[1:]], key=int)
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY)
    assert [e.experiment_id for e in deleted] == [ids[0]]
    assert len(client.search_experiments(view_type=ViewType.ALL)) == 8


def test_page_token_is_bound_to_its_query(client):
    for i in range(3):
        client.create_experiment(f"p{i}")
    page = client.search_experiments(max_results=1)
    assert page.token
    with pytest.raises(InvalidArgumentError, match="page_token"):
        client.search_experiments(view_type=ViewType.ALL, max_results=1, page_token=page.token)
    with pytest.raises(InvalidArgumentError, match="page_token"):
        client.search_experiments(page_token="not-a-token")


def test_raw_status_codes_and_error_details(server):
    """Polyglot clients see canonical codes and an ErrorInfo reason."""
    from grpc_status import rpc_status

    from trackwire.v1 import tracking_service_pb2 as pb
    from trackwire.v1 import tracking_service_pb2_grpc as stubs

    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = stubs.TrackingServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetExperiment(pb.GetExperimentRequest(experiment_id="999"))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        status = rpc_status.from_call(caught.value)
        from google.rpc import error_details_pb2

        info = error_details_pb2.ErrorInfo()
        assert status.details[0].Unpack(info)
        assert (info.reason, info.domain) == ("NOT_FOUND", "trackwire.dev")
