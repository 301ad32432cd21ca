"""Issue #12, findings 9 and 8 (part): `trackwire server`'s bad options, a client that
cancels a stream, and artifact storage that is full, read-only or refuses access."""

from __future__ import annotations

import errno
import logging
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import grpc
import pytest

import trackwire
from tests.conftest import RunningServer
from trackwire.errors import FailedPreconditionError, ResourceExhaustedError
from trackwire.v1 import artifact_service_pb2 as apb
from trackwire.v1 import artifact_service_pb2_grpc as astubs
from trackwire_server.errors import FailedPrecondition, ResourceExhausted, Unavailable

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
MiB = 1024 * 1024


# -- trackwire server: bad options are one line, never a traceback ------------------------------


def server_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "trackwire_server", "--host", "127.0.0.1", "--no-ui", *args]


def run_server(tmp_path: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    """Runs `trackwire server` that is expected to exit by itself."""
    return subprocess.run(
        server_command("--port", "0", *args),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


def test_db_given_as_a_plain_path_is_a_sqlite_file(tmp_path):
    """The tester's `trackwire server --db some/path.db`: it serves, no traceback."""
    (tmp_path / "some").mkdir()
    process = subprocess.Popen(
        server_command("--port", "0", "--db", "some/path.db"),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert "listening on" in line, process.stderr.read() if process.poll() is not None else line
        assert f"db sqlite:///{tmp_path}/some/path.db" in line
        address = line.split("listening on ")[1].split(" ")[0]
        client = trackwire.TrackwireClient(f"grpc://{address}")
        assert client.get_experiment("0").name == "Default"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "Traceback" not in stderr
    assert (tmp_path / "some" / "path.db").is_file()


def test_artifacts_allow_option(tmp_path):
    """`--artifacts-allow PREFIX` (repeatable) reaches the server; `--help` describes it."""
    help_text = run_server(tmp_path, "--help").stdout
    assert "--artifacts-allow PREFIX" in help_text and "whole path segments" in help_text
    process = subprocess.Popen(
        server_command(
            "--port", "0", "--db", "t.db",
            "--artifacts-allow", str(tmp_path / "shared"),
            "--artifacts-allow", "memory://trackwire-cli-allow/team",
        ),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        assert "listening on" in line
        client = trackwire.TrackwireClient(f"grpc://{line.split('listening on ')[1].split()[0]}")
        allowed = client.create_experiment("a", artifact_location=str(tmp_path / "shared" / "x"))
        assert client.get_experiment(allowed).artifact_location == str(tmp_path / "shared" / "x")
        client.create_experiment("b", artifact_location="memory://trackwire-cli-allow/team/y")
        for i, refused in enumerate(
            [str(tmp_path / "shared-evil"), "memory://trackwire-cli-allow/team-evil"]
        ):
            with pytest.raises(trackwire.errors.InvalidArgumentError, match="artifact_location"):
                client.create_experiment(f"c{i}", artifact_location=refused)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0


@pytest.mark.parametrize(
    ("args", "status", "says"),
    [
        (["--db", "some/path.db"], 1, "cannot open the database"),  # no folder some/
        (["--db", "foo://x"], 2, "unknown database scheme 'foo'"),
        (["--db", "sqlite:relative.db"], 2, "neither a database URL"),
        (["--db", "postgresql://u:hunter2@127.0.0.1:1/x"], 1, "cannot open the database"),
        (["--db", "/proc/trackwire.db"], 1, "cannot open the database"),
        (["--artifacts", "foo://bucket/x"], 2, "Protocol not known: foo"),
        (["--artifacts", "s3://key:hunter2@bucket/x"], 2, "must not hold credentials"),
        (["--artifacts", "memory://a/../b"], 2, "'..'"),
        (["--artifacts-allow", "s3://bucket/team?x="], 2, "must not contain a query"),
        (["--artifacts-allow", "s3://"], 2, "names no bucket"),
        (["--artifacts-allow", "nosuch://bucket/x"], 2, "Protocol not known: nosuch"),
    ],
)
def test_bad_options_are_one_line_and_a_status(tmp_path, args, status, says):
    result = run_server(tmp_path, *args)
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    assert says in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1, result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_a_file_as_artifact_root_is_refused(tmp_path):
    (tmp_path / "not-a-folder").write_text("x")
    result = run_server(tmp_path, "--artifacts", "not-a-folder")
    assert result.returncode == 2 and "is not a folder" in result.stderr
    assert "Traceback" not in result.stderr


# -- a client that cancels a stream is not an internal error --------------------------------


def problems(caplog) -> list[str]:
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or "internal error" in r.getMessage()
    ]


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not _holds(condition):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _holds(condition) -> bool:
    """condition(), False while it walks a folder that the server is removing."""
    try:
        return bool(condition())
    except FileNotFoundError:
        return False


@SQLITE_ONLY
def test_a_cancelled_upload_is_not_an_internal_error(server, client, caplog):
    caplog.set_level(logging.DEBUG)
    run_id = client.create_run(client.create_experiment("cancel")).info.run_id
    sent, release = threading.Event(), threading.Event()
    # The size declared, as the Python client always does: under load the client's half-close
    # can reach the server before its cancel, and only a declared size tells a cut-off
    # stream from a whole one (without one the server cannot, and stores what came).
    header = apb.UploadArtifactHeader(
        run_id=run_id, path="big/weights.bin", size_bytes=2 * MiB + len(b"too late")
    )

    def requests():
        yield apb.UploadArtifactRequest(header=header, data=os.urandom(MiB))
        yield apb.UploadArtifactRequest(data=os.urandom(MiB))
        sent.set()
        release.wait(10)
        yield apb.UploadArtifactRequest(data=b"too late")

    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = astubs.ArtifactServiceStub(channel)
        future = stub.UploadArtifact.future(requests())
        assert sent.wait(10)
        run_folder = pathlib.Path(client.get_run(run_id).info.artifact_uri)
        wait_for(lambda: list(run_folder.rglob(".trackwire-partial-*")))  # being written
        future.cancel()
        release.set()
        # The server's handler notices and removes its partial file.
        wait_for(lambda: not list(run_folder.rglob(".trackwire-partial-*")))
    # ... and then the folders the upload made (a moment later under load).
    wait_for(lambda: client.list_artifacts(run_id) == [])
    time.sleep(0.5)
    assert problems(caplog) == []
    assert client.list_artifacts(run_id) == []


@SQLITE_ONLY
def test_a_cancelled_download_is_not_an_internal_error(server, client, caplog):
    caplog.set_level(logging.DEBUG)
    run_id = client.create_run(client.create_experiment("cancel")).info.run_id
    client.log_bytes(run_id, os.urandom(8 * MiB), "big.bin")
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = astubs.ArtifactServiceStub(channel)
        call = stub.DownloadArtifact(apb.DownloadArtifactRequest(run_id=run_id, path="big.bin"))
        next(call)
        call.cancel()
        time.sleep(1.0)
    assert problems(caplog) == []


# -- artifact storage that is full, read-only or refuses access --------------------------------


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 2 MiB tmpfs: artifact storage that fills up. Needs root (mount)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    try:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(mount)],
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        pytest.skip("no mount command: the disk-full tests mount a small tmpfs")
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}): needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def files_under(root: pathlib.Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())


def test_a_full_disk_is_resource_exhausted_and_keeps_nothing(small_tmpfs, tmp_path):
    server = RunningServer(f"sqlite:///{tmp_path / 't.db'}", small_tmpfs)
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run(client.create_experiment("full")).info.run_id
        with pytest.raises(ResourceExhaustedError, match="artifact storage is full") as caught:
            client.log_bytes(run_id, os.urandom(3 * MiB), "model/weights.bin")
        assert caught.value.reason == "STORAGE_FULL"
        with pytest.raises(ResourceExhaustedError), client.open_artifact(run_id, "w.bin") as f:
            for _ in range(3):
                f.write(os.urandom(MiB))
        # Nothing half-written is left, visible or not; the space is free again.
        assert files_under(small_tmpfs) == []
        assert client.list_artifacts(run_id) == []
        client.log_bytes(run_id, os.urandom(MiB), "model/weights.bin")
        assert [f.path for f in client.list_artifacts(run_id, "model")] == ["model/weights.bin"]
    finally:
        server.stop()


def test_a_read_only_disk_is_failed_precondition(small_tmpfs, tmp_path):
    server = RunningServer(f"sqlite:///{tmp_path / 't.db'}", small_tmpfs)
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run(client.create_experiment("ro")).info.run_id
        client.log_bytes(run_id, b"kept", "kept.txt")
        subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
        try:
            with pytest.raises(FailedPreconditionError, match="read-only") as caught:
                client.log_bytes(run_id, b"x", "more/new.txt")
            assert caught.value.reason == "STORAGE_READ_ONLY"
            # Reading still works.
            out = client.download_artifacts(run_id, "kept.txt", str(tmp_path / "out"))
            assert pathlib.Path(out).read_bytes() == b"kept"
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(small_tmpfs)], check=True)
        assert files_under(small_tmpfs) == [f"1/{run_id}/artifacts/kept.txt"]
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("error", "kind", "reason"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), ResourceExhausted, "STORAGE_FULL"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), ResourceExhausted, "STORAGE_FULL"),
        (OSError(errno.EROFS, "Read-only file system"), FailedPrecondition, "STORAGE_READ_ONLY"),
        (
            PermissionError(errno.EACCES, "Permission denied"),
            FailedPrecondition,
            "STORAGE_ACCESS_DENIED",
        ),
        (PermissionError("AccessDenied"), FailedPrecondition, "STORAGE_ACCESS_DENIED"),
        (
            OSError(errno.EPERM, "Operation not permitted"),
            FailedPrecondition,
            "STORAGE_ACCESS_DENIED",
        ),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), Unavailable, "STORAGE_UNAVAILABLE"),
        (TimeoutError("timed out"), Unavailable, "STORAGE_UNAVAILABLE"),
    ],
)
def test_storage_errors_map_to_what_a_retry_can_change(error, kind, reason):
    """Root cannot meet a permission error on a local folder (it may write anywhere), nor a
    quota here: the mapping itself, as the repository applies it to every storage error."""
    from trackwire_server.artifacts.repository import storage_error

    mapped = storage_error(error)
    assert type(mapped) is kind and mapped.reason == reason
