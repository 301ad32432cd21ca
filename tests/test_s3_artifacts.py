"""Artifacts on real S3: a Trackwire server with `--artifacts s3://bucket/prefix` over SeaweedFS.

One SeaweedFS (started by tests.support.seaweedfs on 127.0.0.1) serves the whole
module; each test gets its own Trackwire server and database. Objects are
checked with a fresh s3fs filesystem, independent of the server's caches.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

import trackwire
from tests.support.seaweedfs import SeaweedS3, seaweedfs_s3, unavailable_reason
from trackwire import errors
from trackwire.entities import FileInfo
from trackwire.v1 import artifact_service_pb2 as artifact_pb
from trackwire_server.app import create_server
from trackwire_server.config import ServerConfig

UNAVAILABLE = unavailable_reason()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")

BIG_FILE_BYTES = 5 * 1024 * 1024 + 12345  # several 1 MiB upload/download chunks


@pytest.fixture(scope="module")
def s3() -> Iterator[SeaweedS3]:
    with seaweedfs_s3() as server:
        yield server


@pytest.fixture
def client(s3, tmp_path) -> Iterator[trackwire.TrackwireClient]:
    server, port = create_server(
        ServerConfig(
            db_url=f"sqlite:///{tmp_path}/t.db",
            artifacts=f"s3://{s3.bucket}/trackwire",
            host="127.0.0.1",
            port=0,
            storage_options=s3.storage_options,
        )
    )
    server.start()
    try:
        yield trackwire.TrackwireClient(f"grpc://127.0.0.1:{port}")
    finally:
        server.stop(0.5)


def new_run(client: trackwire.TrackwireClient, s3: SeaweedS3, name: str) -> tuple[str, str]:
    """Creates an experiment and a run; returns the run id and its S3 key prefix."""
    run = client.create_run(client.create_experiment(name))
    uri = run.info.artifact_uri
    assert uri.startswith(f"s3://{s3.bucket}/trackwire/"), uri
    assert uri.endswith(f"/{run.info.run_id}/artifacts"), uri
    return run.info.run_id, uri.removeprefix("s3://")


def files_under(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def objects_under(s3: SeaweedS3, prefix: str) -> dict[str, int]:
    """Object keys under `prefix` (relative to it) with their sizes, as S3 reports them."""
    found = s3.filesystem().find(prefix, detail=True)
    return {name.removeprefix(prefix + "/"): info["size"] for name, info in found.items()}


def test_upload_list_download_round_trip(client, s3, tmp_path):
    run_id, prefix = new_run(client, s3, "s3-round-trip")
    src = tmp_path / "src"
    (src / "tree" / "sub" / "deeper").mkdir(parents=True)
    big = os.urandom(BIG_FILE_BYTES)
    (src / "model.bin").write_bytes(big)
    (src / "notes.txt").write_text("hello from s3\n")
    (src / "empty.txt").write_bytes(b"")
    (src / "tree" / "a.json").write_text('{"a": 1}')
    (src / "tree" / "sub" / "b.csv").write_text("x,y\n1,2\n")
    (src / "tree" / "sub" / "deeper" / "c.txt").write_bytes(os.urandom(70_000))

    assert client.log_artifact(run_id, str(src / "model.bin")) == FileInfo(
        "model.bin", False, BIG_FILE_BYTES
    )
    assert client.log_artifact(run_id, str(src / "notes.txt"), "docs") == FileInfo(
        "docs/notes.txt", False, 14
    )
    assert client.log_artifact(run_id, str(src / "empty.txt"), "docs") == FileInfo(
        "docs/empty.txt", False, 0
    )
    client.log_artifacts(run_id, str(src / "tree"), "tree")

    assert client.list_artifacts(run_id) == [
        FileInfo("docs", True, 0),
        FileInfo("model.bin", False, BIG_FILE_BYTES),
        FileInfo("tree", True, 0),
    ]
    assert client.list_artifacts(run_id, "docs") == [
        FileInfo("docs/empty.txt", False, 0),
        FileInfo("docs/notes.txt", False, 14),
    ]
    assert client.list_artifacts(run_id, "tree/") == [
        FileInfo("tree/a.json", False, 8),
        FileInfo("tree/sub", True, 0),
    ]
    assert client.list_artifacts(run_id, "tree/sub/deeper") == [
        FileInfo("tree/sub/deeper/c.txt", False, 70_000)
    ]
    assert client.list_artifacts(run_id, "model.bin") == []
    assert client.list_artifacts(run_id, "no/such/folder") == []

    # One file, one folder, everything.
    dst = tmp_path / "dst"
    local = client.download_artifacts(run_id, "model.bin", str(dst / "one"))
    assert local == str(dst / "one" / "model.bin")
    assert Path(local).read_bytes() == big
    local = client.download_artifacts(run_id, "tree/sub", str(dst / "folder"))
    assert files_under(Path(local)) == files_under(src / "tree" / "sub")
    local = client.download_artifacts(run_id, "", str(dst / "all"))
    expected = {
        "model.bin": big,
        "docs/notes.txt": b"hello from s3\n",
        "docs/empty.txt": b"",
        **{f"tree/{k}": v for k, v in files_under(src / "tree").items()},
    }
    assert files_under(Path(local)) == expected

    # The objects are exactly these, under s3://bucket/trackwire/<experiment>/<run>/artifacts.
    assert objects_under(s3, prefix) == {k: len(v) for k, v in expected.items()}
    assert s3.filesystem().cat(f"{prefix}/model.bin") == big

    # Re-uploading replaces the object.
    client.log_bytes(run_id, b"second version", "docs/notes.txt")
    local = client.download_artifacts(run_id, "docs/notes.txt", str(dst / "again"))
    assert Path(local).read_bytes() == b"second version"
    assert s3.filesystem().cat(f"{prefix}/docs/notes.txt") == b"second version"


def test_missing_files_and_folders(client, s3, tmp_path):
    run_id, _ = new_run(client, s3, "s3-missing")
    assert client.list_artifacts(run_id) == []
    with pytest.raises(errors.NotFoundError):
        client.download_artifacts(run_id, "nothing.txt", str(tmp_path))
    client.log_bytes(run_id, b"x", "folder/file.txt")
    # Straight to the RPCs: a missing file and a folder are not downloadable.
    request = artifact_pb.DownloadArtifactRequest(run_id=run_id, path="folder/missing.txt")
    with pytest.raises(grpc.RpcError) as info:
        list(client._connection.artifacts.DownloadArtifact(request))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    request = artifact_pb.DownloadArtifactRequest(run_id=run_id, path="folder")
    with pytest.raises(grpc.RpcError) as info:
        list(client._connection.artifacts.DownloadArtifact(request))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


ESCAPING_PATHS = [
    "../escape.txt",
    "../../escape.txt",
    "docs/../../escape.txt",
    "/escape.txt",
    "..\\escape.txt",
    "s3://trackwire-test/escape.txt",
]


def test_paths_leaving_the_run_are_rejected(client, s3):
    run_id, prefix = new_run(client, s3, "s3-traversal")
    for path in ESCAPING_PATHS:
        header = artifact_pb.UploadArtifactHeader(run_id=run_id, path=path)
        requests = iter([artifact_pb.UploadArtifactRequest(header=header, data=b"escaped")])
        with pytest.raises(grpc.RpcError) as info:
            client._connection.artifacts.UploadArtifact(requests)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, path
        # The same through the client's methods, for every artifact RPC.
        with pytest.raises(errors.InvalidArgumentError):
            client.log_bytes(run_id, b"escaped", path)
        with pytest.raises(errors.InvalidArgumentError):
            client.list_artifacts(run_id, path)
        request = artifact_pb.DownloadArtifactRequest(run_id=run_id, path=path)
        with pytest.raises(grpc.RpcError) as info:
            list(client._connection.artifacts.DownloadArtifact(request))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, path

    # Nothing was written anywhere in the bucket, inside the run or out of it.
    everything = s3.filesystem().find(s3.bucket)
    assert not [key for key in everything if "escape" in key]
    assert objects_under(s3, prefix) == {}


def test_failed_upload_leaves_no_object(client, s3):
    run_id, prefix = new_run(client, s3, "s3-failed-upload")
    header = artifact_pb.UploadArtifactHeader(run_id=run_id, path="partial.bin")
    requests = iter(
        [
            artifact_pb.UploadArtifactRequest(header=header, data=b"first chunk"),
            # A header in a later message is rejected mid-upload.
            artifact_pb.UploadArtifactRequest(header=header, data=b"second chunk"),
        ]
    )
    with pytest.raises(grpc.RpcError) as info:
        client._connection.artifacts.UploadArtifact(requests)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert objects_under(s3, prefix) == {}
    assert client.list_artifacts(run_id) == []


def test_listing_sees_objects_written_by_others(client, s3):
    run_id, prefix = new_run(client, s3, "s3-other-writer")
    client.log_bytes(run_id, b"1", "shared/one.txt")
    assert [f.path for f in client.list_artifacts(run_id, "shared")] == ["shared/one.txt"]
    s3.filesystem().pipe(f"{prefix}/shared/two.txt", b"2")
    assert [f.path for f in client.list_artifacts(run_id, "shared")] == [
        "shared/one.txt",
        "shared/two.txt",
    ]


LISTENING = re.compile(r"^trackwire \S+ listening on 127\.0\.0\.1:(\d+) \(")


@pytest.mark.parametrize("configured_by", ["artifacts-option", "fsspec-env"])
def test_cli_server_with_s3_artifacts(s3, tmp_path, configured_by):
    """`python -m trackwire_server --artifacts s3://...` with the endpoint and keys from
    --artifacts-option flags, or from fsspec's FSSPEC_S3_* environment variables."""
    artifacts = f"s3://{s3.bucket}/cli-{configured_by}"
    command = [
        sys.executable,
        "-m",
        "trackwire_server",
        "--db",
        f"sqlite:///{tmp_path}/cli.db",
        "--artifacts",
        artifacts,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--no-ui",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FSSPEC_", "AWS_"))}
    env["TRACKWIRE_ARTIFACTS"] = "/nonexistent-should-be-overridden"
    if configured_by == "artifacts-option":
        for key, value in s3.storage_options.items():
            command += ["--artifacts-option", f"{key}={value}"]
        command += ["--artifacts-option", "use_ssl=false"]
    else:
        env["FSSPEC_S3_ENDPOINT_URL"] = s3.endpoint_url
        env["FSSPEC_S3_KEY"] = s3.key
        env["FSSPEC_S3_SECRET"] = s3.secret
    stderr_path = tmp_path / "server.stderr"
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            text=True,
        )
    lines: queue.Queue[str | None] = queue.Queue()

    def read_stdout():
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read_stdout, daemon=True).start()
    try:
        port = None
        deadline = time.monotonic() + 30
        while port is None:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"server did not say it was listening:\n{stderr_path.read_text()}")
            if line is None:
                pytest.fail(
                    f"server exited ({process.wait()}) before listening:\n{stderr_path.read_text()}"
                )
            if match := LISTENING.match(line):
                port = int(match.group(1))
                assert f"artifacts {artifacts}" in line

        client = trackwire.TrackwireClient(f"grpc://127.0.0.1:{port}")
        run_id, prefix = new_run_at(client, artifacts)
        data = os.urandom(1_500_000)
        (tmp_path / "weights.bin").write_bytes(data)
        client.log_artifact(run_id, str(tmp_path / "weights.bin"), "model")
        assert client.list_artifacts(run_id, "model") == [
            FileInfo("model/weights.bin", False, len(data))
        ]
        local = client.download_artifacts(run_id, "model/weights.bin", str(tmp_path / "dst"))
        assert Path(local).read_bytes() == data
        assert objects_under(s3, prefix) == {"model/weights.bin": len(data)}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            returncode = process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail("server did not exit within 5 s of SIGTERM")
    assert returncode == 0, stderr_path.read_text()
    output = stderr_path.read_text()
    assert "shutting down" in output
    assert s3.secret not in output


def new_run_at(client: trackwire.TrackwireClient, artifacts: str) -> tuple[str, str]:
    run = client.create_run(client.create_experiment("cli"))
    assert run.info.artifact_uri.startswith(artifacts + "/"), run.info.artifact_uri
    return run.info.run_id, run.info.artifact_uri.removeprefix("s3://")
