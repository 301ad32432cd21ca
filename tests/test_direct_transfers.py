"""Direct transfers (issue #15, item 6): with an S3 artifact root, file bytes go between
the client and the object store through presigned URLs, never through the server.

One SeaweedFS (tests.support.seaweedfs) serves the module. Servers run as processes of
their own (tests.support.server_process) so that their I/O counters (/proc/<pid>/io:
rchar and wchar count socket traffic too) and peak memory show what they carried.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import urllib3

import trackwire
from tests.support.seaweedfs import SeaweedS3, seaweedfs_s3, unavailable_reason
from tests.support.server_process import ServerProcess, ServerStartError, pythonpath
from trackwire import errors
from trackwire.direct_transfer import DirectTransfer
from trackwire.entities import FileInfo
from trackwire.v1 import artifact_service_pb2 as pb
from trackwire.v1 import artifact_service_pb2_grpc
from trackwire_server.app import TrackwireServer
from trackwire_server.artifacts import direct as direct_module
from trackwire_server.config import ServerConfig

UNAVAILABLE = unavailable_reason()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")

MIB = 1024 * 1024
GIB = 1024 * MIB
PART = 16 * MIB  # the server's part size for files up to 160 GB


@pytest.fixture(scope="module")
def s3() -> Iterator[SeaweedS3]:
    with seaweedfs_s3() as server:
        yield server


@pytest.fixture(autouse=True)
def upload_state(tmp_path, monkeypatch) -> Path:
    """Unfinished uploads are remembered here, not in the user's cache."""
    folder = tmp_path / "upload-state"
    monkeypatch.setenv("TRACKWIRE_UPLOAD_STATE_DIR", str(folder))
    return folder


def s3_args(s3: SeaweedS3, *extra: str) -> tuple[str, ...]:
    options = []
    for name, value in s3.storage_options.items():
        options += ["--artifacts-option", f"{name}={value}"]
    return (*options, *extra)


def s3_root(s3: SeaweedS3) -> str:
    return f"s3://{s3.bucket}/direct-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def server(s3, tmp_path) -> Iterator[ServerProcess]:
    with ServerProcess(
        f"sqlite:///{tmp_path / 'trackwire.db'}",
        s3_root(s3),
        extra_args=s3_args(s3),
        log_dir=tmp_path,
    ) as process:
        yield process


class Traffic:
    """What a process moved: its TCP connections' bytes sent and received (the kernel's
    tcp_info, as `ss -tinp` shows it; gRPC's recvmsg/sendmsg are not in /proc/<pid>/io),
    plus the bytes it read and wrote through read()/write() (rchar + wchar: files)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.start_sockets = self._sockets()
        self.start_io = self._io()

    def _sockets(self) -> dict[tuple[str, str], int]:
        lines = subprocess.run(
            ["ss", "-tinpH"], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        found = {}
        for i, line in enumerate(lines[:-1]):
            if f"pid={self.pid}," in line:
                local, peer = line.split()[3:5]
                counters = dict(re.findall(r"(bytes_sent|bytes_received):(\d+)", lines[i + 1]))
                found[(local, peer)] = sum(int(v) for v in counters.values())
        return found

    def _io(self) -> int:
        with open(f"/proc/{self.pid}/io") as f:
            fields = dict(line.split(": ") for line in f.read().splitlines())
        return int(fields["rchar"]) + int(fields["wchar"])

    def since(self) -> dict[str, int]:
        """Bytes moved since this was made: `sockets` (of the connections open now) and `io`."""
        now = self._sockets()
        return {
            "sockets": sum(n - self.start_sockets.get(k, 0) for k, n in now.items()),
            "io": self._io() - self.start_io,
        }


def new_run(client: trackwire.TrackwireClient) -> tuple[str, str]:
    run = client.create_run(client.create_experiment(f"direct-{uuid.uuid4().hex[:8]}"))
    return run.info.run_id, run.info.artifact_uri.removeprefix("s3://")


def write_file(path: Path, size: int) -> str:
    """A file of `size` bytes, every MiB different; returns its SHA-256."""
    block = os.urandom(MIB)
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(0, size, MIB):
            chunk = (i.to_bytes(8, "big") + block[8:])[: min(MIB, size - i)]
            f.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def stub(server: ServerProcess):
    channel = grpc.insecure_channel(server.target)
    return artifact_service_pb2_grpc.ArtifactServiceStub(channel)


def test_a_gibibyte_goes_up_and_down_without_passing_through_the_server(server, s3, tmp_path):
    client = trackwire.TrackwireClient(server.uri)
    run_id, prefix = new_run(client)
    source = tmp_path / "model.bin"
    digest = write_file(source, GIB)
    traffic = Traffic(server.process.pid)

    stored = client.log_artifact(run_id, str(source), "model")
    assert stored == FileInfo("model/model.bin", False, GIB)
    assert s3.filesystem().info(f"{prefix}/model/model.bin")["size"] == GIB
    assert client.list_artifacts(run_id, "model") == [FileInfo("model/model.bin", False, GIB)]
    source.unlink()  # room on disk for the copy
    local = client.download_artifacts(run_id, "model/model.bin", str(tmp_path / "down"))
    assert sha256_of(local) == digest

    carried = traffic.since()
    memory = server.memory()
    # Control messages and URLs only: far below the 2 GiB that went up and down.
    assert carried["sockets"] < 4 * MIB, carried
    assert carried["io"] < 16 * MIB, carried
    assert memory["VmHWM"] < 400 * MIB, memory
    assert s3.filesystem().find(f"{prefix}") == [f"{prefix}/model/model.bin"]
    client.close()


def test_small_files_folders_and_bytes_go_directly(server, s3, tmp_path):
    client = trackwire.TrackwireClient(server.uri)
    run_id, prefix = new_run(client)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    files = {
        "a.txt": b"hello",
        "empty.txt": b"",
        "sub/b.bin": os.urandom(3 * MIB + 17),
        "sub/c.bin": os.urandom(PART + 5),  # two parts
    }
    for name, data in files.items():
        (src / name).write_bytes(data)
    traffic = Traffic(server.process.pid)
    client.log_artifacts(run_id, str(src), "tree")
    client.log_text(run_id, "some text", "notes/n.txt")
    with client.open_artifact(run_id, "tree/w.bin") as f:
        f.write(files["sub/b.bin"])
    files["w.bin"] = files["sub/b.bin"]
    client.log_dict(run_id, {"a": 1}, "notes/d.json")
    fs = s3.filesystem()
    assert {
        k.removeprefix(prefix + "/"): v["size"] for k, v in fs.find(prefix, detail=True).items()
    } == {
        **{f"tree/{k}": len(v) for k, v in files.items()},
        "notes/n.txt": 9,
        "notes/d.json": 12,  # {\n  "a": 1\n}
    }
    assert json.loads(fs.cat(f"{prefix}/notes/d.json")) == {"a": 1}
    local = Path(client.download_artifacts(run_id, "tree", str(tmp_path / "down")))
    downloaded = {
        p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()
    }
    assert downloaded == files
    assert client._transfer.read(run_id, "notes/n.txt") == b"some text"
    total = sum(len(v) for v in files.values())
    assert traffic.since()["sockets"] < total / 4, "file bytes went through the server"
    client.close()


def test_a_bad_etag_or_size_on_complete_stores_nothing(server, s3):
    client = trackwire.TrackwireClient(server.uri)
    run_id, prefix = new_run(client)
    artifacts = stub(server)
    http = urllib3.PoolManager()
    data = os.urandom(PART + 1000)
    plan = artifacts.StartArtifactUpload(
        pb.StartArtifactUploadRequest(run_id=run_id, path="x.bin", size_bytes=len(data))
    )
    assert plan.method == pb.TRANSFER_METHOD_PRESIGNED
    assert plan.upload_id and plan.part_size_bytes == PART
    assert [(p.part_number, p.offset, p.size_bytes) for p in plan.parts] == [
        (1, 0, PART),
        (2, PART, 1000),
    ]
    assert plan.expire_time.seconds > time.time()
    first = plan.parts[0]
    etag1 = http.request("PUT", first.url, body=data[:PART]).headers["ETag"]

    def complete(parts, size=None):
        return artifacts.CompleteArtifactUpload(
            pb.CompleteArtifactUploadRequest(
                run_id=run_id,
                path="x.bin",
                upload_id=plan.upload_id,
                size_bytes=len(data) if size is None else size,
                parts=[pb.CompletedPart(part_number=n, etag=e) for n, e in parts],
            )
        )

    with pytest.raises(grpc.RpcError) as e:  # part 2 was never sent
        complete([(1, etag1), (2, '"00000000000000000000000000000000"')])
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no part 2" in e.value.details()
    etag2 = http.request("PUT", plan.parts[1].url, body=data[PART:]).headers["ETag"]
    with pytest.raises(grpc.RpcError) as e:
        complete([(1, etag1), (2, '"00000000000000000000000000000000"')])
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "parts[1].etag" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        complete([(1, etag1), (2, etag2)], size=len(data) - 1)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "size_bytes" in e.value.details()
    assert not s3.filesystem().exists(f"{prefix}/x.bin")
    assert client.list_artifacts(run_id) == []

    # Resuming lists what the store holds and presigns nothing more.
    again = artifacts.StartArtifactUpload(
        pb.StartArtifactUploadRequest(
            run_id=run_id, path="x.bin", size_bytes=len(data), upload_id=plan.upload_id
        )
    )
    assert [(p.part_number, p.etag) for p in again.uploaded_parts] == [(1, etag1), (2, etag2)]
    assert list(again.parts) == []
    assert complete([(1, etag1), (2, etag2)]).file == pb.FileInfo(path="x.bin", file_size=len(data))
    assert s3.filesystem().cat(f"{prefix}/x.bin") == data
    # A retry of that completion (its answer lost) succeeds again; other parts do not.
    assert complete([(1, etag1), (2, etag2)]).file.file_size == len(data)
    with pytest.raises(grpc.RpcError) as e:
        complete([(1, etag2), (2, etag1)])
    assert e.value.code() == grpc.StatusCode.NOT_FOUND

    # A single PUT is signed with the MD5 it declared: other bytes are refused by the store.
    small = b"small file"
    md5 = base64.b64encode(hashlib.md5(small).digest()).decode()
    plan = artifacts.StartArtifactUpload(
        pb.StartArtifactUploadRequest(
            run_id=run_id, path="s.txt", size_bytes=len(small), content_md5=md5
        )
    )
    assert plan.upload_id == "" and len(plan.parts) == 1
    part = plan.parts[0]
    refused = http.request("PUT", part.url, body=b"other byte", headers=dict(part.headers))
    assert refused.status == 400
    assert not s3.filesystem().exists(f"{prefix}/s.txt")
    # Unknown upload ids and aborted uploads.
    with pytest.raises(grpc.RpcError) as e:
        artifacts.StartArtifactUpload(
            pb.StartArtifactUploadRequest(
                run_id=run_id, path="x.bin", size_bytes=1, upload_id="no-such-upload"
            )
        )
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    plan = artifacts.StartArtifactUpload(
        pb.StartArtifactUploadRequest(run_id=run_id, path="y.bin", size_bytes=10)
    )
    artifacts.AbortArtifactUpload(
        pb.AbortArtifactUploadRequest(run_id=run_id, path="y.bin", upload_id=plan.upload_id)
    )
    with pytest.raises(grpc.RpcError) as e:
        complete([(1, '"x"')])  # y.bin's upload id, aborted
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    # Bad paths are refused before anything is signed.
    with pytest.raises(grpc.RpcError) as e:
        artifacts.StartArtifactUpload(
            pb.StartArtifactUploadRequest(run_id=run_id, path="../escape", size_bytes=1)
        )
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    client.close()


RESUMING_CLIENT = """
import os, sys, time
import trackwire
from trackwire import direct_transfer
direct_transfer.THREADS = 1
client = trackwire.TrackwireClient(sys.argv[1])
parts = []
def progress(n):
    print(n, flush=True)
    parts.append(n)
    if len(parts) == 2:  # two parts sent: wait here (the one thread) to be killed
        time.sleep(600)
client.log_artifact(sys.argv[2], sys.argv[3], progress=progress)
"""


def test_an_upload_killed_midway_resumes_with_the_missing_parts(server, s3, tmp_path, upload_state):
    client = trackwire.TrackwireClient(server.uri)
    run_id, prefix = new_run(client)
    source = tmp_path / "resume.bin"
    size = 6 * PART + 123
    digest = write_file(source, size)
    child = subprocess.Popen(
        [sys.executable, "-c", RESUMING_CLIENT, server.uri, run_id, str(source)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": pythonpath()},
    )
    try:
        reported = [int(child.stdout.readline()) for _ in range(2)]
        assert reported == [PART, PART]
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(30)
    assert client.list_artifacts(run_id) == []

    # The store holds the two parts the killed client sent, under the upload id it kept.
    (state,) = upload_state.iterdir()
    upload_id = json.loads(state.read_text())["upload_id"]
    held = stub(server).StartArtifactUpload(
        pb.StartArtifactUploadRequest(
            run_id=run_id, path="resume.bin", size_bytes=size, upload_id=upload_id
        )
    )
    assert [p.part_number for p in held.uploaded_parts] == [1, 2]
    assert [p.part_number for p in held.parts] == [3, 4, 5, 6, 7]

    # Running the same upload again sends only the missing parts (a spy on the PUTs).
    sent = []
    direct = client._transfer.direct
    put = direct._put
    direct._put = lambda part, body: sent.append(part.part_number) or put(part, body)
    assert client.log_artifact(run_id, str(source)) == FileInfo("resume.bin", False, size)
    assert sorted(sent) == [3, 4, 5, 6, 7]
    local = client.download_artifacts(run_id, "resume.bin", str(tmp_path / "down"))
    assert sha256_of(local) == digest
    assert list(upload_state.iterdir()) == []
    assert s3.filesystem().find(prefix) == [f"{prefix}/resume.bin"]
    client.close()


def test_permission_refused_hands_out_no_url(s3, tmp_path):
    """With --auth: a reader may download but not upload (PERMISSION_DENIED), a user
    without access to the run is told it does not exist (NOT_FOUND); a refused caller gets
    no URL and starts no upload in the store."""
    config = ServerConfig(
        db_url=f"sqlite:///{tmp_path / 'trackwire.db'}",
        artifacts=s3_root(s3),
        storage_options=s3.storage_options,
        host="127.0.0.1",
        port=0,
        auth=True,
        default_permission=1,  # NONE
    )
    server = TrackwireServer(config).start()
    uri = f"grpc://127.0.0.1:{server.port}"
    try:
        admin = trackwire.TrackwireClient(uri, token=server.initial_admin_token)
        run_id, prefix = new_run(admin)
        admin.log_text(run_id, "secret", "a.txt")
        experiment_id = admin.get_run(run_id).info.experiment_id
        tokens = {}
        for name in ("reader", "stranger"):
            admin.auth.create_user(name, service_account=True)
            tokens[name] = admin.auth.create_token(name).secret
        admin.auth.set_permission("READ", experiment_id=experiment_id, user_name="reader")
        reader = trackwire.TrackwireClient(uri, token=tokens["reader"])
        stranger = trackwire.TrackwireClient(uri, token=tokens["stranger"])
        source = tmp_path / "up.txt"
        source.write_bytes(b"x" * 100)

        with pytest.raises(errors.PermissionDeniedError):
            reader.log_artifact(run_id, str(source))
        with pytest.raises(errors.PermissionDeniedError):
            reader.log_text(run_id, "y", "b.txt")
        with pytest.raises(errors.NotFoundError):
            stranger.log_artifact(run_id, str(source))
        with pytest.raises(errors.NotFoundError):
            stranger.download_artifacts(run_id, "a.txt", str(tmp_path / "s"))
        with pytest.raises(errors.NotFoundError):
            DirectTransfer(stranger._connection).read(run_id, "a.txt")
        # The reader may download, directly.
        assert DirectTransfer(reader._connection).read(run_id, "a.txt") == b"secret"
        # Nothing was written or started in the store for the refused calls.
        fs = s3.filesystem()
        assert fs.find(prefix) == [f"{prefix}/a.txt"]
        bucket, key = prefix.split("/", 1)
        pending = fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=key)
        assert pending.get("Uploads", []) == []
        for client in (admin, reader, stranger):
            client.close()
    finally:
        server.stop(0.5)


def test_direct_only_refuses_streams_of_object_store_files(s3, tmp_path):
    with ServerProcess(
        f"sqlite:///{tmp_path / 'trackwire.db'}",
        s3_root(s3),
        extra_args=s3_args(s3, "--artifacts-direct=only"),
        log_dir=tmp_path,
    ) as server:
        client = trackwire.TrackwireClient(server.uri)
        run_id, _prefix = new_run(client)
        client.log_text(run_id, "direct", "a.txt")  # the client goes directly
        artifacts = stub(server)
        with pytest.raises(grpc.RpcError) as e:
            artifacts.UploadArtifact(
                iter(
                    [
                        pb.UploadArtifactRequest(
                            header=pb.UploadArtifactHeader(run_id=run_id, path="b.txt"),
                            data=b"streamed",
                        )
                    ]
                )
            )
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "--artifacts-direct=only" in e.value.details()
        with pytest.raises(grpc.RpcError) as e:
            list(
                artifacts.DownloadArtifact(pb.DownloadArtifactRequest(run_id=run_id, path="a.txt"))
            )
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "--artifacts-direct=only" in e.value.details()
        assert client._transfer.read(run_id, "a.txt") == b"direct"
        # A writer (models' weights) is spooled to disk and sent directly when closed.
        weights = os.urandom(3 * MIB)
        with client.open_artifact(run_id, "model/weights.bin") as f:
            f.write(weights[:MIB])
            f.write(weights[MIB:])
        assert f.file == FileInfo("model/weights.bin", False, len(weights))
        assert client._transfer.read(run_id, "model/weights.bin") == weights
        with pytest.raises(RuntimeError), client.open_artifact(run_id, "model/gone.bin") as f:
            f.write(b"never stored")
            raise RuntimeError("the model failed to save")
        assert [e.path for e in client.list_artifacts(run_id, "model")] == ["model/weights.bin"]
        client.close()


def test_direct_only_needs_an_object_store_root(tmp_path):
    server = ServerProcess(
        f"sqlite:///{tmp_path / 'trackwire.db'}",
        tmp_path / "artifacts",
        extra_args=("--artifacts-direct=only",),
        log_dir=tmp_path,
    )
    with pytest.raises(ServerStartError) as e:
        server.start()
    assert e.value.returncode == 2
    assert "--artifacts-direct=only needs an S3-compatible artifact root" in e.value.output


def test_direct_off_streams_through_the_server(s3, tmp_path):
    with ServerProcess(
        f"sqlite:///{tmp_path / 'trackwire.db'}",
        s3_root(s3),
        extra_args=s3_args(s3, "--artifacts-direct=off"),
        log_dir=tmp_path,
    ) as server:
        client = trackwire.TrackwireClient(server.uri)
        run_id, prefix = new_run(client)
        plan = stub(server).StartArtifactUpload(
            pb.StartArtifactUploadRequest(run_id=run_id, path="a.bin", size_bytes=10)
        )
        assert plan.method == pb.TRANSFER_METHOD_STREAM and not plan.parts
        data = os.urandom(4 * MIB)
        source = tmp_path / "a.bin"
        source.write_bytes(data)
        traffic = Traffic(server.process.pid)
        client.log_artifact(run_id, str(source))
        assert client._transfer.read(run_id, "a.bin") == data
        # Up and down through the server (the measure the direct tests rely on sees them).
        assert traffic.since()["sockets"] > 2 * len(data)
        assert s3.filesystem().cat(f"{prefix}/a.bin") == data
        client.close()


def test_urls_that_expire_midway_are_replaced(s3, tmp_path):
    """URLs last --artifacts-direct-expiry seconds: a client slower than that resumes the
    upload with new URLs for the parts still missing, and asks again for a download URL."""
    with ServerProcess(
        f"sqlite:///{tmp_path / 'trackwire.db'}",
        s3_root(s3),
        extra_args=s3_args(s3, "--artifacts-direct-expiry", "3"),
        log_dir=tmp_path,
    ) as server:
        client = trackwire.TrackwireClient(server.uri)
        run_id, _prefix = new_run(client)
        source = tmp_path / "slow.bin"
        size = 2 * PART + 10
        digest = write_file(source, size)
        direct = client._transfer.direct
        direct._threads = 1
        attempts = []
        put = direct._put
        direct._put = lambda part, body: attempts.append(part.part_number) or put(part, body)

        def slow_once(n: int) -> None:
            if not attempts[1:]:
                time.sleep(4.5)  # after part 1: the URLs of parts 2 and 3 expire meanwhile

        assert client.log_artifact(run_id, str(source), progress=slow_once).file_size == size
        # Part 2's first URL had expired: it was sent again with a new one; part 1 once.
        assert attempts[:2] == [1, 2] and attempts.count(1) == 1, attempts
        assert attempts.count(2) >= 2 and 3 in attempts, attempts

        plans, slept = [], []
        plan = direct._download_plan
        direct._download_plan = lambda *a: plans.append(a) or plan(*a)

        def slow_download(n: int) -> None:
            if not slept:
                slept.append(n)
                time.sleep(4.5)  # in the first range: the URL expires before the second

        local = client.download_artifacts(
            run_id, "slow.bin", str(tmp_path / "down"), progress=slow_download
        )
        assert sha256_of(local) == digest
        assert len(plans) == 2  # the second URL replaced the expired one
        client.close()


def test_a_plan_lists_a_bounded_number_of_parts_and_the_client_asks_for_the_rest(
    s3, tmp_path, monkeypatch
):
    # The bound is 1,000 parts (16 GB at 16 MiB); 2 here, for a file of 5 parts.
    monkeypatch.setattr(direct_module, "MAX_URLS_PER_PLAN", 2)
    config = ServerConfig(
        db_url=f"sqlite:///{tmp_path / 'trackwire.db'}",
        artifacts=s3_root(s3),
        storage_options=s3.storage_options,
        host="127.0.0.1",
        port=0,
    )
    server = TrackwireServer(config).start()
    try:
        client = trackwire.TrackwireClient(f"grpc://127.0.0.1:{server.port}")
        run_id, prefix = new_run(client)
        source = tmp_path / "five.bin"
        size = 4 * PART + 1
        digest = write_file(source, size)
        starts = []
        start = client._transfer.direct._start
        client._transfer.direct._start = lambda *a: starts.append(a) or start(*a)
        assert client.log_artifact(run_id, str(source)).file_size == size
        assert len(starts) == 3  # parts 1-2, 3-4, 5
        assert starts[0][4] == "" and starts[1][4] and starts[2][4] == starts[1][4]
        local = client.download_artifacts(run_id, "five.bin", str(tmp_path / "down"))
        assert sha256_of(local) == digest
        assert s3.filesystem().find(prefix) == [f"{prefix}/five.bin"]
        client.close()
    finally:
        server.stop(0.5)
