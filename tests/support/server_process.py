"""A Trackwire server in a process of its own: `python -m trackwire_server --port 0 --no-ui`.

Fault tests run the server as a separate process so that what they observe is what a
deployment sees: a server that dies says so with its exit status and output, one that
hangs can be killed, and its threads, connections and GIL are not the test's.

    with ServerProcess(db_url, tmp_path / "artifacts") as server:
        client = trackwire.TrackwireClient(server.uri)
        ...
    server.output()   # everything it printed (stdout and stderr)

The child imports the same `trackwire_server` and `trackwire` as the test process
(their folders go first on its PYTHONPATH).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import trackwire
import trackwire_server

LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


class ServerStartError(RuntimeError):
    """The server exited, or said nothing, before listening (the message has its output)."""

    def __init__(self, message: str, output: str, returncode: int | None):
        super().__init__(message)
        self.output = output
        self.returncode = returncode


def pythonpath() -> str:
    """PYTHONPATH for a child that must import the same trackwire and trackwire_server."""
    folders = [
        os.path.dirname(os.path.dirname(os.path.abspath(m.__file__)))
        for m in (trackwire_server, trackwire)
    ]
    current = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join(dict.fromkeys([*folders, *filter(None, current.split(os.pathsep))]))


class ServerProcess:
    """`python -m trackwire_server` over `db_url`, started on a free port by `start()`."""

    def __init__(
        self,
        db_url: str,
        artifacts,
        *,
        workers: int | None = None,
        extra_args: tuple[str, ...] = (),
        startup_timeout: float = 60.0,
        log_dir=None,
        port: int = 0,
    ):
        self.db_url = db_url
        self.artifacts = str(artifacts)
        self.workers = workers
        self.extra_args = extra_args
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        # Where in the output the thread dump asked by `dump_stacks` begins.
        self.dumped_at: int | None = None
        # 0: a free port, picked by the server; known once it listens.
        self.port: int | None = port or None
        fd, self.log_path = tempfile.mkstemp(
            prefix="trackwire-server-", suffix=".log", dir=None if log_dir is None else str(log_dir)
        )
        os.close(fd)

    @property
    def uri(self) -> str:
        return f"grpc://127.0.0.1:{self.port}"

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        port = str(self.port or 0)
        command = [sys.executable, "-m", "trackwire_server", "--port", port, "--no-ui"]
        command += ["--db", self.db_url, "--artifacts", self.artifacts, "--grace", "1"]
        if self.workers:
            command += ["--workers", str(self.workers)]
        return [*command, *self.extra_args]

    def start(self) -> ServerProcess:
        """Starts the server; returns once it listens. ServerStartError (with its output) if
        it exits first or is not listening after `startup_timeout` seconds."""
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": pythonpath(), "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            match = LISTENING.search(self.output())
            if match:
                self.port = int(match.group(1))
                return self
            if self.process.poll() is not None:
                raise ServerStartError(
                    f"the server exited with status {self.process.returncode} before listening",
                    self.output(),
                    self.process.returncode,
                )
            if time.monotonic() > deadline:
                self.kill()
                raise ServerStartError(
                    f"the server was not listening after {self.startup_timeout:.0f}s",
                    self.output(),
                    None,
                )
            time.sleep(0.05)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def output(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def memory(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak) of the server process, in bytes."""
        with open(f"/proc/{self.process.pid}/status") as f:
            status = f.read()
        return {
            key: int(re.search(rf"^{key}:\s+(\d+) kB", status, re.M).group(1)) * 1024
            for key in ("VmRSS", "VmHWM")
        }

    def output_tail(self, lines: int = 40) -> str:
        """The last `lines` lines; after `dump_stacks`, the last `lines` before the thread
        dump and the whole dump."""
        output = self.output()
        at = len(output) if self.dumped_at is None else self.dumped_at
        before = "".join(output[:at].splitlines(keepends=True)[-lines:])
        return before + output[at:]

    def dump_stacks(self, wait: float = 2.0) -> None:
        """SIGUSR1: the server prints every thread's stack into its output (faulthandler);
        waits up to `wait` seconds for the dump."""
        if not self.alive:
            return
        self.dumped_at = len(self.output())
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + wait
        while len(self.output()) == self.dumped_at and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # the rest of the dump

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL (the whole process group) after `grace` seconds; a server
        that did not exit in time has its threads' stacks printed first (`dump_stacks`)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.dump_stacks()
                self.kill()
        return self.process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def close(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            os.unlink(self.log_path)

    def __enter__(self) -> ServerProcess:
        if self.process is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def sqlite_server(folder, *args: str) -> ServerProcess:
    """A started server over SQLite in `folder` (created), with extra command-line `args`."""
    folder.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(
        f"sqlite:///{folder / 'trackwire.db'}",
        folder / "artifacts",
        extra_args=args,
        log_dir=folder,
    )
    return server.start()
