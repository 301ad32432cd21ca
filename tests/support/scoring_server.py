"""`trackwire models serve` in a process of its own, on free loopback ports.

    with ScoringServer("models:/iris/Production", tracking_uri, cache) as scoring:
        requests.post(scoring.url + "/invocations", ...)
        grpc.insecure_channel(scoring.grpc_target)

The child imports the same `trackwire` as the test process (tests/support/server_process's
pythonpath). `stop()` sends SIGTERM and waits, as a deployment would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from tests.support.server_process import pythonpath


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ScoringServer:
    def __init__(
        self,
        model_uri: str,
        tracking_uri: str,
        model_cache: str,
        *args: str,
        start_timeout: float = 90.0,
    ):
        self.model_uri, self.tracking_uri = model_uri, tracking_uri
        self.port, self.grpc_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (read by output(), closed on exit)
        env = {
            **os.environ,
            "PYTHONPATH": pythonpath(),
            "TRACKWIRE_MODEL_CACHE": model_cache,
            "TRACKWIRE_TRACKING_URI": tracking_uri,
        }
        command = [sys.executable, "-m", "trackwire", "models", "serve", "-m", model_uri]
        command += ["--port", str(self.port), "--grpc-port", str(self.grpc_port), *args]
        self.process = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self._wait_ready(start_timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"models serve exited ({self.process.returncode}):\n{self.output()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"models serve did not answer /ping in {timeout}s:\n{self.output()}")

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def post(self, body: bytes | str | dict, content_type: str = "application/json"):
        """(status, parsed JSON or text) of POST /invocations."""
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        request = urllib.request.Request(
            self.url + "/invocations", data=body, headers={"Content-Type": content_type}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text

    def get(self, path: str) -> tuple[int, str]:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return response.status, response.read().decode()

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> ScoringServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        self._log.close()
