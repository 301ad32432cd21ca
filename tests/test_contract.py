"""The contract as an outside team reads it, checked through the real server with raw
gRPC: error details name the field, WatchMetrics says when it is live, writes to
finished runs are accepted, uploads are checked against their declared size and digest,
filters take ids and times in either form, reflection v1 lists our services."""

from __future__ import annotations

import threading

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from trackwire.v1 import tracking_service_pb2 as pb
from trackwire.v1 import tracking_service_pb2_grpc as stubs


@pytest.fixture
def channel(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    yield channel
    channel.close()


@pytest.fixture
def stub(channel):
    return stubs.TrackingServiceStub(channel)


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info


# -- ErrorInfo names the field -------------------------------------------------------


def test_error_info_names_the_offending_field(stub):
    experiment_id = stub.CreateExperiment(
        pb.CreateExperimentRequest(name="fields")
    ).experiment.experiment_id
    cases = [
        (lambda: stub.CreateExperiment(pb.CreateExperimentRequest(name="")), "name"),
        (
            lambda: stub.SearchExperiments(pb.SearchExperimentsRequest(page_size=-1)),
            "page_size",
        ),
        (
            lambda: stub.SearchRuns(
                pb.SearchRunsRequest(experiment_ids=[experiment_id], filter="metrics.a >")
            ),
            "filter",
        ),
        (
            lambda: stub.SearchRuns(
                pb.SearchRunsRequest(experiment_ids=[experiment_id], order_by=["nope.x"])
            ),
            "order_by[0]",
        ),
        (lambda: stub.GetExperiment(pb.GetExperimentRequest(experiment_id="x1")), "experiment_id"),
    ]
    for call, field in cases:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        info = error_info(caught.value)
        assert info.reason == "INVALID_ARGUMENT"
        assert info.metadata["field"] == field, caught.value.details()


def test_error_info_has_no_field_when_none_is_at_fault(stub):
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetExperiment(pb.GetExperimentRequest(experiment_id="999"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "field" not in error_info(caught.value).metadata


# -- WatchMetrics says when it is live -----------------------------------------------


def test_watch_sends_its_live_header_before_any_point(stub, client):
    experiment_id = client.create_experiment("live")
    run_id = client.create_run(experiment_id).info.run_id
    call = stub.WatchMetrics(pb.WatchMetricsRequest(run_ids=[run_id]))
    try:
        headers = {}
        waiter = threading.Thread(target=lambda: headers.update(call.initial_metadata()))
        waiter.daemon = True
        waiter.start()
        waiter.join(10)  # initial_metadata() blocks until the server sends the headers
        assert headers.get("trackwire-watch-live") == "1", "no live header before any point"
        client.log_metric(run_id, "loss", 0.25, step=7)
        received = []
        reader = threading.Thread(target=lambda: received.append(next(call)), daemon=True)
        reader.start()
        reader.join(10)
        assert received and list(received[0].points.keys) == ["loss"]
        assert list(received[0].points.values) == [0.25]
        assert list(received[0].points.steps) == [7]
    finally:
        call.cancel()


# -- uploads are checked against their declared size and digest ----------------------


def _upload(channel, header, *chunks):
    from trackwire.v1 import artifact_service_pb2 as apb
    from trackwire.v1 import artifact_service_pb2_grpc as astubs

    stub = astubs.ArtifactServiceStub(channel)
    messages = [apb.UploadArtifactRequest(header=header, data=chunks[0] if chunks else b"")]
    messages += [apb.UploadArtifactRequest(data=c) for c in chunks[1:]]
    return stub.UploadArtifact(iter(messages), timeout=10)


def _download(channel, run_id, path):
    from trackwire.v1 import artifact_service_pb2 as apb
    from trackwire.v1 import artifact_service_pb2_grpc as astubs

    request = apb.DownloadArtifactRequest(run_id=run_id, path=path)
    return b"".join(m.data for m in astubs.ArtifactServiceStub(channel).DownloadArtifact(request))


def test_an_upload_ended_early_never_replaces_a_good_file(channel, client):
    import hashlib

    from trackwire.v1 import artifact_service_pb2 as apb

    run_id = client.create_run(client.create_experiment("uploads")).info.run_id
    good = b"0123456789" * 1000
    client.log_bytes(run_id, good, "model.bin")
    cases = [
        # a clean half-close after the first half: fewer bytes than declared
        (
            apb.UploadArtifactHeader(run_id=run_id, path="model.bin", size_bytes=len(good)),
            [good[:4000]],
            "UPLOAD_SIZE_MISMATCH",
            "header.size_bytes",
        ),
        (
            apb.UploadArtifactHeader(run_id=run_id, path="model.bin", size_bytes=10),
            [good[:8], good[8:20]],
            "UPLOAD_SIZE_MISMATCH",
            "header.size_bytes",
        ),
        (
            apb.UploadArtifactHeader(
                run_id=run_id, path="model.bin", sha256=hashlib.sha256(good).hexdigest()
            ),
            [good[:5000]],
            "UPLOAD_DIGEST_MISMATCH",
            "header.sha256",
        ),
        (
            apb.UploadArtifactHeader(run_id=run_id, path="model.bin", sha256="ABC"),
            [good],
            "INVALID_ARGUMENT",
            "header.sha256",
        ),
        (
            apb.UploadArtifactHeader(run_id=run_id, path="model.bin", size_bytes=-1),
            [good],
            "INVALID_ARGUMENT",
            "header.size_bytes",
        ),
    ]
    for header, chunks, reason, field in cases:
        with pytest.raises(grpc.RpcError) as caught:
            _upload(channel, header, *chunks)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
        info = error_info(caught.value)
        assert (info.reason, info.metadata["field"]) == (reason, field)
        assert _download(channel, run_id, "model.bin") == good
    assert [f.path for f in client.list_artifacts(run_id)] == ["model.bin"]


def test_an_upload_that_matches_its_header_is_stored(channel, client):
    import hashlib

    from trackwire.v1 import artifact_service_pb2 as apb

    run_id = client.create_run(client.create_experiment("uploads")).info.run_id
    data = b"abc" * 700
    header = apb.UploadArtifactHeader(
        run_id=run_id, path="d/x.bin", size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest()
    )
    assert _upload(channel, header, data[:1000], data[1000:]).file.file_size == len(data)
    empty = apb.UploadArtifactHeader(run_id=run_id, path="empty", size_bytes=0)
    assert _upload(channel, empty).file.file_size == 0
    assert _download(channel, run_id, "d/x.bin") == data


# -- filters: ids and times in either form, one naming, enums by either name ---------


def _experiment_names(stub, filter, order_by=()):
    request = pb.SearchExperimentsRequest(filter=filter, order_by=order_by)
    return [e.name for e in stub.SearchExperiments(request).experiments]


def _rfc3339(ms: int) -> str:
    import datetime

    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_experiment_filters_take_ids_and_times_in_either_form(stub, client):
    ids = {name: client.create_experiment(name) for name in ("a", "b")}
    created = client.get_experiment(ids["b"]).creation_time
    for filter in (
        f"experiment_id = {ids['b']}",
        f"experiment_id = '{ids['b']}'",
        f"create_time = {created}",
        f"create_time = '{_rfc3339(created)}'",
        f"creation_time >= '{_rfc3339(created)}' AND name != 'Default'",
        f"update_time > '{_rfc3339(created - 1)}' AND name = 'b'",
        f"attributes.last_update_time >= {created} AND name = 'b'",
    ):
        assert _experiment_names(stub, filter) == ["b"], filter
    # one name per time field in order_by too, today's names kept
    for key in ("create_time", "creation_time", "update_time", "last_update_time"):
        assert _experiment_names(stub, "name != 'Default'", [f"{key} ASC"]) == ["a", "b"]
    assert _experiment_names(stub, "create_time > '1970-01-01T01:00:00+01:00'") != []


def test_bad_filter_values_name_the_field(stub):
    for filter, named in (
        ("experiment_id = 'x5'", "'experiment_id' is a decimal integer"),
        ("create_time = 'yesterday'", "'create_time' is a number"),
        ("create_time > '2024-05-01T12:00:00'", "RFC 3339 time with its offset"),
        ("tags.x = 1", "tag values are strings"),
        ("nonsense = 1", "'nonsense' has no kind prefix"),
        ("attributes.nonsense = 1", "unknown attribute 'nonsense'"),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            stub.SearchExperiments(pb.SearchExperimentsRequest(filter=filter))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert named in caught.value.details(), caught.value.details()
        assert error_info(caught.value).metadata["field"] == "filter"


def test_run_filters_take_times_and_status_by_either_name(client):
    experiment_id = client.create_experiment("runs")
    first = client.create_run(experiment_id, start_time=1_700_000_000_000).info.run_id
    second = client.create_run(experiment_id, start_time=1_700_000_060_000).info.run_id
    client.update_run(first, status="FINISHED", end_time=1_700_000_001_000)

    def found(filter):
        return {r.info.run_id for r in client.search_runs([experiment_id], filter)}

    assert found("start_time > '2023-11-14T22:13:30Z'") == {second}
    assert found("start_time = '2023-11-14T23:13:20.000+01:00'") == {first}
    assert found("start_time < 1700000000000.5") == {first}
    assert found("status = 'RUNNING'") == {second}
    assert found("status = 'run_status_running'") == {second}
    assert found("status IN ('RUN_STATUS_FINISHED', 'KILLED')") == {first}
    assert found("end_time <= '2023-11-14T22:13:21Z'") == {first}
    with pytest.raises(Exception, match="status 'RUN_STATUS_DONE' is not one of"):
        found("status = 'RUN_STATUS_DONE'")


def test_registry_filters_take_versions_stages_and_times_in_either_form(channel, client):
    from trackwire.v1 import model_registry_service_pb2 as rpb
    from trackwire.v1 import model_registry_service_pb2_grpc as rstubs

    registry = rstubs.ModelRegistryServiceStub(channel)
    run_id = client.create_run(client.create_experiment("registry")).info.run_id
    client.create_registered_model("m")
    for _ in range(3):
        client.create_model_version("m", f"runs:/{run_id}/model", run_id)
    client.transition_model_version_stage("m", "2", "Staging")

    def versions(filter, order_by=()):
        request = rpb.SearchModelVersionsRequest(filter=filter, order_by=order_by)
        return [v.version for v in registry.SearchModelVersions(request).model_versions]

    assert versions("version = 2") == ["2"]
    assert versions("version = '2'") == ["2"]
    assert versions("version_number = '2'") == ["2"]
    assert versions("version_number >= 2", ["version ASC"]) == ["2", "3"]
    assert versions("current_stage = 'staging'") == ["2"]
    assert versions("current_stage = 'MODEL_VERSION_STAGE_STAGING'") == ["2"]
    assert versions("current_stage IN ('NONE', 'Production')") == ["3", "1"]
    assert versions("current_stage LIKE 'Stag%'") == ["2"]
    assert versions("create_time > 0 AND creation_timestamp > '2000-01-01T00:00:00Z'") == [
        "3",
        "2",
        "1",
    ]
    for bad, named in (
        ("current_stage = 'Prod'", "current_stage 'Prod' is not one of"),
        ("version = 'two'", "'version' is a decimal integer"),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            versions(bad)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert named in caught.value.details()
    models = registry.SearchRegisteredModels(
        rpb.SearchRegisteredModelsRequest(
            filter="update_time >= '2000-01-01T00:00:00Z'", order_by=["create_time DESC"]
        )
    )
    assert [m.name for m in models.registered_models] == ["m"]


# -- writes to a finished run are accepted; to a deleted run refused -----------------


def test_writes_to_a_finished_run_are_accepted_and_to_a_deleted_one_refused(client):
    from trackwire.errors import FailedPreconditionError

    run_id = client.create_run(client.create_experiment("finished")).info.run_id
    client.update_run(run_id, status="FINISHED", end_time=1_700_000_000_000)
    client.log_metric(run_id, "late", 1.0, step=1)  # LogBatch
    client.log_metric_async(run_id, "late", 2.0, step=2)  # WriteMetrics
    client.flush_metrics()
    client.log_param(run_id, "p", "v")
    client.set_tag(run_id, "t", "v")
    client.log_bytes(run_id, b"late", "late.txt")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert [m.value for m in client.get_metric_history(run_id, "late")] == [1.0, 2.0]
    assert run.data.params == {"p": "v"} and run.data.tags["t"] == "v"

    client.delete_run(run_id)
    for write in (
        lambda: client.log_metric(run_id, "late", 3.0, step=3),
        lambda: client.log_param(run_id, "q", "v"),
        lambda: client.set_tag(run_id, "u", "v"),
        lambda: client.log_bytes(run_id, b"x", "x.txt"),
    ):
        with pytest.raises(FailedPreconditionError, match="deleted"):
            write()


# -- downsampling and NaN, as documented on max_points -------------------------------


def test_downsampling_keeps_nan_only_at_bucket_ends(client):
    import math

    run_id = client.create_run(client.create_experiment("nan")).info.run_id
    values = [float(i % 7) for i in range(40)]
    values[0] = values[5] = values[17] = math.nan  # first of bucket 1; inside buckets 1, 2
    for step, value in enumerate(values):
        client.log_metric_async(run_id, "loss", value, step=step)
    client.flush_metrics()
    full = client.get_metric_histories([run_id], "loss")[run_id]
    assert sum(math.isnan(v) for v in full.values) == 3
    downsampled = client.get_metric_histories([run_id], "loss", max_points=8)[run_id]  # 2 buckets
    assert len(downsampled.steps) <= 8
    nan_steps = [
        s for s, v in zip(downsampled.steps, downsampled.values, strict=True) if math.isnan(v)
    ]
    assert nan_steps == [0]


# -- reflection v1 (and v1alpha) -----------------------------------------------------


def test_reflection_v1_lists_and_describes_our_services(channel):
    from google.protobuf import descriptor_pb2

    from trackwire_server.generated import reflection_pb2 as v1

    info = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=v1.ServerReflectionRequest.SerializeToString,
        response_deserializer=v1.ServerReflectionResponse.FromString,
    )
    listed, described, itself = info(
        iter(
            [
                v1.ServerReflectionRequest(list_services=""),
                v1.ServerReflectionRequest(file_containing_symbol="trackwire.v1.ArtifactService"),
                v1.ServerReflectionRequest(
                    file_containing_symbol="grpc.reflection.v1.ServerReflection"
                ),
            ]
        ),
        timeout=10,
    )
    assert {s.name for s in listed.list_services_response.service} == {
        "trackwire.v1.TrackingService",
        "trackwire.v1.ArtifactService",
        "trackwire.v1.ModelRegistryService",
        "trackwire.v1.AuthService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in described.file_descriptor_response.file_descriptor_proto
    ]
    artifact_file = next(f for f in files if f.name == "trackwire/v1/artifact_service.proto")
    header = next(m for m in artifact_file.message_type if m.name == "UploadArtifactHeader")
    assert {f.name for f in header.field} >= {"run_id", "path", "size_bytes", "sha256"}
    (own,) = itself.file_descriptor_response.file_descriptor_proto
    assert descriptor_pb2.FileDescriptorProto.FromString(own).package == "grpc.reflection.v1"


# -- stages are an enum on the wire; the Python client keeps MLflow's names ----------


def test_stages_are_an_enum_on_the_wire(channel, client):
    from trackwire.v1 import model_registry_service_pb2 as rpb
    from trackwire.v1 import model_registry_service_pb2_grpc as rstubs
    from trackwire.v1 import registered_model_pb2 as mpb

    registry = rstubs.ModelRegistryServiceStub(channel)
    run_id = client.create_run(client.create_experiment("stages")).info.run_id
    client.create_registered_model("m")
    client.create_model_version("m", f"runs:/{run_id}/model", run_id)
    client.create_model_version("m", f"runs:/{run_id}/model", run_id)
    moved = registry.TransitionModelVersionStage(
        rpb.TransitionModelVersionStageRequest(
            name="m", version="1", new_stage=mpb.MODEL_VERSION_STAGE_PRODUCTION
        )
    ).model_version
    assert moved.stage == mpb.MODEL_VERSION_STAGE_PRODUCTION
    latest = registry.GetLatestModelVersions(
        rpb.GetLatestModelVersionsRequest(
            name="m", wanted_stages=[mpb.MODEL_VERSION_STAGE_PRODUCTION]
        )
    ).model_versions
    assert [(v.version, v.stage) for v in latest] == [("1", mpb.MODEL_VERSION_STAGE_PRODUCTION)]
    version_2 = client.get_model_version("m", 2)
    assert version_2.current_stage == "None"  # MLflow's names in the Python client
    assert client.transition_model_version_stage("m", 2, "sTaGiNg").current_stage == "Staging"
    for request, field in (
        (rpb.TransitionModelVersionStageRequest(name="m", version="1"), "new_stage"),
        (rpb.TransitionModelVersionStageRequest(name="m", version="1", new_stage=9), "new_stage"),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            registry.TransitionModelVersionStage(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_info(caught.value).metadata["field"] == field
    with pytest.raises(grpc.RpcError) as caught:
        registry.GetLatestModelVersions(
            rpb.GetLatestModelVersionsRequest(name="m", wanted_stages=[2, 0])
        )
    assert error_info(caught.value).metadata["field"] == "wanted_stages[1]"


def test_the_stores_stage_names_are_the_enums():
    """The registry store keeps MLflow's names; they are the enum's, in its order."""
    from trackwire.v1 import registered_model_pb2 as mpb
    from trackwire_server.store.registry_rows import STAGES

    names = [name for name, number in mpb.ModelVersionStage.items() if number]
    assert [f"MODEL_VERSION_STAGE_{s.upper()}" for s in STAGES] == names
