"""A real MLflow tracking server for import tests and benchmarks, run from MLflow's own
venv: SQLite backend plus a proxied artifact folder, on a free loopback port.

The venv's python is $TRACKWIRE_TEST_MLFLOW_PYTHON, else bench/.venvs/mlflow/bin/python
(`make bench-compare` creates it); `mlflow_python()` is None when there is neither.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.request

from tests.support.db_servers import free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
MLFLOW_PYTHON_ENV = "TRACKWIRE_TEST_MLFLOW_PYTHON"
SUPPORT = pathlib.Path(__file__).resolve().parent


def mlflow_python() -> str | None:
    """The python of a venv with MLflow installed, or None."""
    candidate = os.environ.get(MLFLOW_PYTHON_ENV) or str(
        ROOT / "bench" / ".venvs" / "mlflow" / "bin" / "python"
    )
    return candidate if pathlib.Path(candidate).exists() else None


class MlflowServer:
    """`mlflow server` over `folder`/mlflow.db, its artifacts in `folder`/artifacts."""

    def __init__(self, python: str, folder: pathlib.Path):
        self.python = python
        self.folder = folder
        self.db_path = folder / "mlflow.db"
        self.artifact_root = folder / "artifacts"
        self.db_url = f"sqlite:///{self.db_path}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(folder / "mlflow-server.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [
                str(pathlib.Path(python).parent / "mlflow"),
                "server",
                "--backend-store-uri",
                self.db_url,
                "--artifacts-destination",
                str(self.artifact_root),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "2",
            ],  # fmt: skip
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=folder,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited: see {self.folder}/mlflow-server.log")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("mlflow server did not answer /health in time")

    def populate(self, runs: int, points: int) -> dict:
        """Fills the server through MLflow's client (tests/support/mlflow_populate.py)."""
        return json.loads(self._script("mlflow_populate.py", self.url, str(runs), str(points)))

    def dump(self, threads: int = 1) -> dict:
        """Everything the server holds, read through MLflow's client (mlflow_dump.py);
        `threads` > 1 reads runs in parallel (then `history_seconds` is no rate)."""
        out = self.folder / "dump.json"
        self._script("mlflow_dump.py", self.url, str(out), str(threads))
        return json.loads(out.read_text())

    def _script(self, name: str, *args: str) -> str:
        done = subprocess.run(
            [self.python, str(SUPPORT / name), *args],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=self.folder,
        )
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-4000:])
            raise RuntimeError(f"{name} failed ({done.returncode})")
        return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
