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
        client._transfer.download_file(run.info.run_id, "nope.txt", str(tmp_path / "x"))
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
    # The client asks StartArtifactUpload first (direct transfers), whose field is `path`;
    # UploadArtifact's is `header.path` (test above).
    with pytest.raises(InvalidArgumentError, match=r"^path '\.\./x'"):
        client.log_bytes(run.info.run_id, b"x", "../x")


# -- chunks encoded by trackwire_protocol.wire, files written through open_artifact ------------


def test_wire_encoding_is_protobufs(run):
    from trackwire_protocol import wire

    header = pb.UploadArtifactHeader(run_id=run.info.run_id, path="a/b.bin")
    for data in (b"", b"x", os.urandom(300), os.urandom(1024 * 1024)):
        for h in (header, None):
            expected = pb.UploadArtifactRequest(header=h, data=data).SerializeToString()
            assert wire.encode_upload_request(h, memoryview(data)) == expected
            decoded = wire.decode_upload_request(expected)
            assert decoded.HasField("header") == (h is not None)
            assert decoded.header == h
            assert bytes(decoded.data) == data
        encoded = pb.DownloadArtifactResponse(data=data).SerializeToString()
        assert wire.encode_download_response(data) == encoded
        assert bytes(wire.decode_download_response(encoded)) == data


def test_wire_decoding_follows_protobuf_rules():
    from trackwire_protocol import wire

    # Unknown fields of every wire type are skipped; the last `data` wins; headers merge.
    message = (
        pb.UploadArtifactRequest(header=pb.UploadArtifactHeader(run_id="r")).SerializeToString()
        + b"\x18\x96\x01"  # field 3, varint
        + b"\x21"
        + b"\x00" * 8  # field 4, 64-bit
        + b"\x2d"
        + b"\x00" * 4  # field 5, 32-bit
        + pb.UploadArtifactRequest(data=b"first").SerializeToString()
        + pb.UploadArtifactRequest(
            header=pb.UploadArtifactHeader(path="p"), data=b"last"
        ).SerializeToString()
    )
    reference = pb.UploadArtifactRequest.FromString(message)
    decoded = wire.decode_upload_request(message)
    assert decoded.header == reference.header == pb.UploadArtifactHeader(run_id="r", path="p")
    assert bytes(decoded.data) == reference.data == b"last"
    for broken in (b"\x12\x05abc", b"\x12", b"\x0b", b"\x00\x01", b"\x10" + b"\xff" * 11):
        assert wire.decode_upload_request(broken).error
    assert "field 2" in wire.decode_upload_request(b"\x10\x01").error  # data as a varint
    assert wire.decode_upload_request(b"\x0a\x02\x0a\x05").error  # a broken header
    with pytest.raises(wire.WireError, match="field 1"):
        wire.decode_download_response(b"\x08\x01")


def test_server_refuses_a_malformed_chunk(server, run):
    header = pb.UploadArtifactHeader(run_id=run.info.run_id, path="bad.bin")
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        upload = channel.stream_unary(
            "/trackwire.v1.ArtifactService/UploadArtifact",
            request_serializer=lambda raw: raw,
            response_deserializer=pb.UploadArtifactResponse.FromString,
        )
        good = pb.UploadArtifactRequest(header=header, data=b"ok").SerializeToString()
        for messages, number in (([good, b"\x12\x05abc"], 2), ([b"\x12"], 1)):
            with pytest.raises(grpc.RpcError) as caught:
                upload(iter(messages))
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert f"message {number} is not an UploadArtifactRequest" in caught.value.details()
    assert not list(server.artifacts.rglob("bad.bin*"))
    assert not list(server.artifacts.rglob(".trackwire-partial-*"))


def test_open_artifact_uploads_what_is_written(client, run, tmp_path):
    from trackwire.artifact_transfer import UPLOAD_CHUNK_BYTES

    run_id = run.info.run_id
    pieces = [b"head", os.urandom(UPLOAD_CHUNK_BYTES * 2 + 5), b"", bytearray(b"mid"), b"tail"]
    with client.open_artifact(run_id, "stream/weights.bin") as f:
        for piece in pieces:
            assert f.write(memoryview(piece)) == len(piece)
        # Nothing is visible until the writer is closed.
        assert client.list_artifacts(run_id, "stream") == []
    assert f.file.path == "stream/weights.bin"
    assert f.size == f.file.file_size == sum(len(p) for p in pieces)
    out = client.download_artifacts(run_id, "stream/weights.bin", str(tmp_path))
    assert pathlib.Path(out).read_bytes() == b"".join(pieces)
    with pytest.raises(ValueError, match="closed"):
        f.write(b"more")

    with client.open_artifact(run_id, "stream/empty.bin") as f:
        pass
    assert f.file.file_size == 0


def test_open_artifact_keeps_nothing_after_an_error(client, run):
    run_id = run.info.run_id
    with (
        pytest.raises(RuntimeError, match="serialiser failed"),
        client.open_artifact(run_id, "stream/partial.bin") as f,
    ):
        f.write(os.urandom(3 * 1024 * 1024))
        raise RuntimeError("serialiser failed")
    assert client.list_artifacts(run_id, "stream") == []


def test_open_artifact_reports_the_servers_refusal(client, run):
    client.delete_run(run.info.run_id)
    with (
        pytest.raises(FailedPreconditionError, match="deleted"),
        client.open_artifact(run.info.run_id, "f.bin") as f,
    ):
        for _ in range(64):  # the refusal ends the stream while this writes
            f.write(os.urandom(1024 * 1024))
    with (
        pytest.raises(InvalidArgumentError, match="header.path"),
        client.open_artifact(run.info.run_id, "../f.bin") as f,
    ):
        f.write(b"x")
