"""The `trackwire server` command and the embedded default, as separate processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import trackwire

LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


def start_cli(cwd, *args: str) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "trackwire_server", "--port", "0", "--ui-port", "0", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if match := LISTENING.search(line):
            return process, int(match.group(1))
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"server did not start: {process.stdout.read()}")


def stop_cli(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize(
    "command",
    [
        [os.path.join(os.path.dirname(sys.executable), "trackwire")],
        [sys.executable, "-m", "trackwire"],
    ],
)
def test_help_says_how_to_use_it(command):
    out = subprocess.run(
        [*command, "server", "--help"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    for option in ("--db", "--artifacts", "--host", "--port", "sqlite:///trackwire.db"):
        assert option in out.stdout
    usage = subprocess.run(command, capture_output=True, text=True, check=False)
    assert usage.returncode == 2 and "server" in usage.stdout


def test_server_health_reflection_and_sigterm(tmp_path):
    process, port = start_cli(tmp_path)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", "trackwire.v1.TrackingService", "trackwire.v1.ArtifactService"):
                status = health.Check(health_pb2.HealthCheckRequest(service=service)).status
                assert status == health_pb2.HealthCheckResponse.SERVING
            reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
            (answer,) = reflection.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            )
            names = {s.name for s in answer.list_services_response.service}
            assert {"trackwire.v1.TrackingService", "trackwire.v1.ArtifactService"} <= names
        client = trackwire.TrackwireClient(f"127.0.0.1:{port}")
        run_id = client.create_run("0").info.run_id
        for step in range(20_000):
            client.log_metric_async(run_id, "loss", float(step), step=step)
        client.flush_metrics()
    finally:
        assert stop_cli(process) == 0
    # The defaults are files in the working directory.
    assert (tmp_path / "trackwire.db").exists()


EMBEDDED_SCRIPT = textwrap.dedent(
    """
    import trackwire
    trackwire.set_experiment("embedded")
    run = trackwire.start_run(run_name="no-end-run")
    trackwire.log_param("lr", 0.01)
    for step in range(50_000):
        trackwire.log_metric("loss", 1.0 / (step + 1), step=step)
    open("artifact.txt", "w").write("hi")
    trackwire.log_artifact("artifact.txt")
    print(run.info.run_id)
    # No end_run: interpreter exit ends the run and stores every queued point.
    """
)


def test_embedded_default_then_server_in_the_same_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKWIRE_")}
    done = subprocess.run(
        [sys.executable, "-c", EMBEDDED_SCRIPT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip().splitlines()[-1]
    assert (tmp_path / "trackwire.db").exists()
    assert (tmp_path / "trackwire-artifacts").is_dir()
    process, port = start_cli(tmp_path)
    try:
        client = trackwire.TrackwireClient(f"grpc://127.0.0.1:{port}")
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert run.data.params == {"lr": "0.01"}
        assert client.get_experiment_by_name("embedded").experiment_id == run.info.experiment_id
        history = client.read_metric_history(run_id, "loss")
        assert history.steps == list(range(50_000))
        assert [f.path for f in client.list_artifacts(run_id)] == ["artifact.txt"]
    finally:
        assert stop_cli(process) == 0


@pytest.mark.parametrize("bad", ["http://example.invalid", "ftp://x"])
def test_unknown_tracking_uri_scheme_is_refused(bad):
    with pytest.raises(ValueError, match="grpc://"):
        trackwire.TrackwireClient(bad)


def test_server_process_tunes_malloc_unless_told_otherwise(monkeypatch):
    import platform

    from trackwire_server import memory

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert memory.tune_malloc() is False  # glibc's own variables win
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    assert memory.tune_malloc() is (platform.libc_ver()[0] == "glibc")
