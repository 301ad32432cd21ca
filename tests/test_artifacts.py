"""Artifacts through the real ArtifactService, on local folders."""

from __future__ import annotations

import os
import pathlib

import grpc
import pytest

import trackwire
from trackwire.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from trackwire.v1 import artifact_service_pb2 as pb
from trackwire.v1 import artifact_service_pb2_grpc as stubs


@pytest.fixture
def run(client):
    return client.create_run(client.create_experiment("art"))


def test_upload_list_download(client, run, tmp_path):
    run_id = run.info.run_id
    src = tmp_path / "src"
    (src / "plots" / "deep").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "plots" / "roc.png").write_bytes(bytes(range(256)) * 10)
    (src / "plots" / "deep" / "x.json").write_text("{}")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(5 * 1024 * 1024 + 123))
    client.log_artifacts(run_id, str(src))
    client.log_artifact(run_id, str(big), "data")
    info = client.log_bytes(run_id, b"", "empty.txt")
    assert (info.path, info.file_size) == ("empty.txt", 0)

    assert [(f.path, f.is_dir) for f in client.list_artifacts(run_id)] == [
        ("a.txt", False),
        ("data", True),
        ("empty.txt", False),
        ("plots", True),
    ]
    plots = client.list_artifacts(run_id, "plots")
    assert [(f.path, f.file_size) for f in plots] == [("plots/deep", 0), ("plots/roc.png", 2560)]
    assert client.list_artifacts(run_id, "no/such/dir") == []

    out = tmp_path / "out"
    path = client.download_artifacts(run_id, "data/big.bin", str(out))
    assert pathlib.Path(path).read_bytes() == big.read_bytes()
    folder = client.download_artifacts(run_id, "plots", str(out))
    assert pathlib.Path(folder, "deep", "x.json").read_text() == "{}"
    everything = client.download_artifacts(run_id, "", str(tmp_path / "all"))
    assert sorted(os.listdir(everything)) == ["a.txt", "data", "empty.txt", "plots"]
    # On disk, under the run's artifact URI.
    assert pathlib.Path(run.info.artifact_uri, "a.txt").read_text() == "alpha"


def test_upload_replaces_existing_file(client, run):
    client.log_bytes(run.info.run_id, b"one", "f.txt")
    client.log_bytes(run.info.run_id, b"two!", "f.txt")
    assert [(f.path, f.file_size) for f in client.list_artifacts(run.info.run_id)] == [("f.txt", 4)]


def test_missing_file_is_not_found(client, run, tmp_path):
    with pytest.raises(NotFoundError):
        client.download_artifacts(run.info.run_id, "nope.txt", str(tmp_path))
    with pytest.raises(NotFoundError):
        client._download_file(run.info.run_id, "nope.txt", str(tmp_path / "x"))
    with pytest.raises(NotFoundError):
        client.list_artifacts("0" * 32)


@pytest.mark.parametrize(
    "path",
    [
        "../escape.txt",
        "a/../../escape.txt",
        "/etc/passwd",
        "C:/x.txt",
        "c:evil",
        "a\\..\\b",
        "..",
        "",
        "a/./../..",
    ],
)
def test_paths_that_leave_the_root_are_refused(server, run, tmp_path, path):
    root = server.artifacts
    before = {p for p in root.rglob("*")} if root.exists() else set()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = stubs.ArtifactServiceStub(channel)
        header = pb.UploadArtifactHeader(run_id=run.info.run_id, path=path)
        with pytest.raises(grpc.RpcError) as caught:
            stub.UploadArtifact(iter([pb.UploadArtifactRequest(header=header, data=b"pwned")]))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "path" in caught.value.details()
        for call in (
            lambda: list(
                stub.DownloadArtifact(
                    pb.DownloadArtifactRequest(run_id=run.info.run_id, path=path or "x/../..")
                )
            ),
            lambda: stub.ListArtifacts(
                pb.ListArtifactsRequest(run_id=run.info.run_id, path=path or "..")
            ),
        ):
            with pytest.raises(grpc.RpcError) as caught:
                call()
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    after = {p for p in root.rglob("*")} if root.exists() else set()
    assert after == before
    assert not (tmp_path / "escape.txt").exists()


def test_upload_needs_a_header_first(server, run):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = stubs.ArtifactServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.UploadArtifact(iter([pb.UploadArtifactRequest(data=b"x")]))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "header" in caught.value.details()


def test_deleted_run_refuses_uploads(client, run, tmp_path):
    client.delete_run(run.info.run_id)
    with pytest.raises(FailedPreconditionError, match="deleted"):
        client.log_bytes(run.info.run_id, b"x", "f.txt")


def test_fluent_log_artifact(tracking, tmp_path):
    (tmp_path / "model.txt").write_text("weights")
    with trackwire.start_run() as run:
        trackwire.log_artifact(str(tmp_path / "model.txt"), "model")
        assert trackwire.get_artifact_uri("model/model.txt").endswith("/artifacts/model/model.txt")
    files = trackwire.TrackwireClient(tracking.uri).list_artifacts(run.info.run_id, "model")
    assert [f.path for f in files] == ["model/model.txt"]


def test_invalid_relative_path_message_names_the_field(client, run):
    with pytest.raises(InvalidArgumentError, match="header.path"):
        client.log_bytes(run.info.run_id, b"x", "../x")
