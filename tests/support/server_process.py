"""`python -m trackwire_server` as a process of its own, for tests that measure the server
(its memory) or must keep its threads apart from the test's gRPC client threads."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
import time

LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


class ServerProcess:
    """The server over SQLite in `folder`, on a free loopback port, with extra CLI `args`."""

    def __init__(self, folder: pathlib.Path, *args: str, timeout: float = 60.0):
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / "server.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trackwire_server",
                "--port",
                "0",
                "--no-ui",
                "--db",
                f"sqlite:///{folder / 'trackwire.db'}",
                "--artifacts",
                str(folder / "artifacts"),
                *args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while (match := LISTENING.search(self.log())) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the server did not start:\n{self.log()[-3000:]}")
            time.sleep(0.05)
        self.port = int(match.group(1))
        self.target = f"127.0.0.1:{self.port}"
        self.uri = f"grpc://{self.target}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def memory(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak) of the server process, in bytes."""
        status = pathlib.Path(f"/proc/{self.proc.pid}/status").read_text()
        return {
            key: int(re.search(rf"^{key}:\s+(\d+) kB", status, re.M).group(1)) * 1024
            for key in ("VmRSS", "VmHWM")
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
