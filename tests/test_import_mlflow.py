"""`trackwire import mlflow` against a real MLflow 3 server and its SQLite database.

The MLflow server runs from MLflow's own venv (tests/support/mlflow_server.py) and is
filled through MLflow's client: 3 experiments, 50 runs with params, tags, a
10,000-point history each (plus a short one with NaN and the infinities), artifacts,
and 2 registered models with versions (one deleted, one an MLflow 3 logged model),
stages, aliases, tags and descriptions. Each import runs the `trackwire` command in a subprocess against a real
Trackwire server; afterwards every field is read through both APIs (MLflow's client,
Trackwire's client) and compared. Skipped when no MLflow venv is found.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

import trackwire
from tests.conftest import RunningServer
from tests.support.mlflow_server import MLFLOW_PYTHON_ENV, ROOT, MlflowServer, mlflow_python
from trackwire.importing.importer import run_tags

RUNS, POINTS = 50, 10_000

pytestmark = [
    pytest.mark.skipif(
        mlflow_python() is None,
        reason=f"needs a venv with MLflow 3: set ${MLFLOW_PYTHON_ENV} to its python "
        "(or run `make bench-compare`, which creates bench/.venvs/mlflow)",
    ),
    # Filling MLflow through its client takes minutes on a 2-core machine (module fixture).
    pytest.mark.timeout(1800),
]


@pytest.fixture(scope="module")
def mlflow(tmp_path_factory):
    server = MlflowServer(mlflow_python(), tmp_path_factory.mktemp("mlflow"))
    try:
        server.populate(RUNS, POINTS)
        server.expected = server.dump(threads=4)
        yield server
    finally:
        server.stop()


def run_import(source: str, target: str, *extra: str, timeout: float = 600) -> tuple[int, dict]:
    """`trackwire import mlflow --from source --json`; (exit code, report)."""
    done = subprocess.run(
        [sys.executable, "-m", "trackwire", "import", "mlflow", "--from", source,
         "--tracking-uri", target, "--json", *extra],
        capture_output=True, text=True, timeout=timeout, env=_env(),
    )  # fmt: skip
    report = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    assert done.returncode == 0 or report.get("errors"), done.stderr[-3000:]
    return done.returncode, report


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "client"), str(ROOT / "server")])
    return env


def same_number(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def assert_same(expected: dict, client: trackwire.TrackwireClient) -> None:
    """Every field MLflow's client read (`expected`) equals what Trackwire's returns."""
    for e in expected["experiments"]:
        got = client.get_experiment_by_name(e["name"])
        assert got is not None, e["name"]
        assert got.lifecycle_stage == e["stage"]
        assert got.tags == e["tags"], e["name"]
        if e["name"] != "Default":  # both trackers made their own default experiment
            assert got.creation_time == e["creation_time"], e["name"]
    for r in expected["runs"]:
        run = client.get_run(r["run_id"])
        info = run.info
        assert client.get_experiment(info.experiment_id).name == r["experiment"]
        assert (info.run_name, info.user_id, info.status) == (
            r["run_name"], r["user_id"], r["status"],
        )  # fmt: skip
        assert (info.start_time, info.end_time) == (r["start_time"], r["end_time"])
        assert info.lifecycle_stage == r["stage"]
        assert run.data.params == r["params"]
        source_run = type("R", (), {"tags": r["tags"]})
        own = {"trackwire.runName", "trackwire.user", "trackwire.parentRunId"}
        assert {k: v for k, v in run.data.tags.items() if k not in own} == run_tags(source_run)
        assert run.data.tags["trackwire.runName"] == r["run_name"]
        assert sorted(run.data.latest_metrics) == sorted(r["histories"])
        for key, points in r["histories"].items():
            history = client.read_metric_history(r["run_id"], key)
            ordered = sorted(points, key=lambda p: (p[0], p[1], math.isnan(p[2]), p[2]))
            assert history.steps == [p[0] for p in ordered], key
            assert history.timestamps == [p[1] for p in ordered], key
            assert all(map(same_number, history.values, [p[2] for p in ordered])), key
            latest = run.data.latest_metrics[key]
            step, timestamp, value = r["latest"][key]
            assert (latest.step, latest.timestamp) == (step, timestamp)
            assert same_number(latest.value, value)
        copied = _artifact_digests(client, r["run_id"])
        # Logged models' files (compared with their versions below) are the import's own.
        assert {p: d for p, d in copied.items() if not p.startswith("logged-models/")} == (
            r["artifacts"]
        )
    for m in expected["models"]:
        model = client.get_registered_model(m["name"])
        assert (model.description, model.tags, model.aliases) == (
            m["description"], m["tags"], m["aliases"],
        )  # fmt: skip
        assert model.creation_timestamp == m["creation_time"]
        versions = {v.version: v for v in client.search_model_versions(f"name = '{m['name']}'")}
        assert sorted(versions) == sorted(v["version"] for v in m["versions"])
        for want in m["versions"]:
            got = versions[want["version"]]
            source = want["source"]
            if source.startswith("models:/"):  # an MLflow 3 logged model: copied to its run
                folder = f"logged-models/{source[len('models:/') :]}"
                source = f"runs:/{want['run_id']}/{folder}"
                files = _artifact_digests(client, want["run_id"], folder)
                assert files == {f"{folder}/{p}": d for p, d in want["logged_model_files"].items()}
                assert files
            assert (got.description, got.tags, got.current_stage, got.run_id, got.source) == (
                want["description"], want["tags"], want["stage"], want["run_id"], source,
            )  # fmt: skip
            assert got.status == want["status"] == "READY"
            assert got.creation_timestamp == want["creation_time"]
            assert got.user_id == want["user_id"]
            assert sorted(got.aliases) == sorted(
                a for a, v in m["aliases"].items() if v == want["version"]
            )


def _artifact_digests(client, run_id: str, folder: str = "") -> dict[str, str]:
    import hashlib

    digests, folders = {}, [folder]
    while folders:
        for f in client.list_artifacts(run_id, folders.pop() or None):
            if f.is_dir:
                folders.append(f.path)
            else:
                data = client._transfer.read(run_id, f.path)
                digests[f.path] = hashlib.sha256(data).hexdigest()
    return digests


def test_import_from_server_copies_everything_once(mlflow, backend, tmp_path):
    server = RunningServer(backend, tmp_path / "artifacts")
    try:
        code, report = run_import(mlflow.url, server.uri)
        assert code == 0 and report["errors"] == []
        copied = report["copied"]
        assert copied["runs"] == RUNS
        assert copied["metric points"] == mlflow.expected["points"] == RUNS * (POINTS + 5)
        assert copied["registered models"] == 2 and copied["model versions"] == 6
        with trackwire.TrackwireClient(server.uri) as client:
            assert_same(mlflow.expected, client)
        code, again = run_import(mlflow.url, server.uri)
        assert code == 0 and again["copied"] == {}, again
        skipped = {(s["kind"], s["reason"]): s["count"] for s in again["skipped"]}
        assert skipped[("runs", "already imported, equal")] == RUNS - 1
        assert skipped[("runs", "already imported (deleted)")] == 1
    finally:
        server.stop()


def test_import_from_database_and_artifact_root(mlflow, tmp_path):
    server = RunningServer(f"sqlite:///{tmp_path / 'tw.db'}", tmp_path / "artifacts")
    try:
        code, report = run_import(
            mlflow.db_url, server.uri, "--artifact-root", str(mlflow.artifact_root)
        )
        assert code == 0 and report["errors"] == [], report
        assert report["copied"]["metric points"] == mlflow.expected["points"]
        with trackwire.TrackwireClient(server.uri) as client:
            assert_same(mlflow.expected, client)
        # The same data from the server URL: nothing is copied twice.
        code, again = run_import(mlflow.url, server.uri)
        assert code == 0 and again["copied"] == {}, again
    finally:
        server.stop()


def test_import_killed_half_way_resumes_to_the_same_result(mlflow, tmp_path):
    server = RunningServer(f"sqlite:///{tmp_path / 'tw.db'}", tmp_path / "artifacts")
    try:
        with trackwire.TrackwireClient(server.uri) as client:
            process = subprocess.Popen(
                [sys.executable, "-m", "trackwire", "import", "mlflow", "--from", mlflow.url,
                 "--tracking-uri", server.uri, "--json", "--workers", "2"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(),
            )  # fmt: skip
            deadline = time.monotonic() + 300
            # Half-way: the second experiment's runs are being filled.
            while client.get_experiment_by_name("imp-beta") is None:
                assert process.poll() is None, "the import ended before it was killed"
                assert time.monotonic() < deadline
                time.sleep(0.05)
            time.sleep(1.0)
            process.send_signal(signal.SIGKILL)
            process.wait()
            assert client.search_registered_models().__len__() == 0  # it was cut short
            code, report = run_import(mlflow.url, server.uri)
            assert code == 0 and report["errors"] == [], report
            assert 0 < report["copied"]["metric points"] < mlflow.expected["points"]
            assert_same(mlflow.expected, client)
            code, again = run_import(mlflow.url, server.uri)
            assert code == 0 and again["copied"] == {}, again
    finally:
        server.stop()


def test_command_line_usage_and_errors(mlflow, tmp_path):
    trackwire_cmd = [sys.executable, "-m", "trackwire", "import", "mlflow"]
    done = subprocess.run([*trackwire_cmd, "--help"], capture_output=True, text=True, env=_env())
    assert done.returncode == 0 and "Example:" in done.stdout and "--from" in done.stdout
    done = subprocess.run(
        [*trackwire_cmd, "--from", "ftp://example"], capture_output=True, text=True, env=_env()
    )
    assert done.returncode == 2 and "--from" in done.stderr
    server = RunningServer(f"sqlite:///{tmp_path / 'tw.db'}", tmp_path / "artifacts")
    try:
        # Nothing answers on the MLflow side: exit code 1 and why.
        dead = f"http://127.0.0.1:{mlflow.port + 1 if mlflow.port < 65535 else 1}"
        done = subprocess.run(
            [*trackwire_cmd, "--from", dead, "--tracking-uri", server.uri],
            capture_output=True, text=True, env=_env(), timeout=120,
        )  # fmt: skip
        assert done.returncode == 1 and "cannot be reached" in done.stderr
        # A database that is not MLflow's.
        done = subprocess.run(
            [*trackwire_cmd, "--from", f"sqlite:///{tmp_path / 'tw.db'}",
             "--tracking-uri", server.uri],
            capture_output=True, text=True, env=_env(), timeout=120,
        )  # fmt: skip
        assert done.returncode == 1 and "cannot be read as MLflow's" in done.stderr
    finally:
        server.stop()


DELETED_EXPERIMENT = """
import sys
from mlflow.tracking import MlflowClient
client = MlflowClient(sys.argv[1])
experiment_id = client.create_experiment("gone", tags={"x": "1"})
for i in range(2):
    run = client.create_run(experiment_id, run_name=f"r{i}")
    client.log_param(run.info.run_id, "p", "v")
    client.log_metric(run.info.run_id, "m", 1.0, step=1)
    client.set_terminated(run.info.run_id)
client.delete_experiment(experiment_id)
"""


def test_a_deleted_experiment_is_copied_deleted_with_its_runs(tmp_path):
    mlflow_server = MlflowServer(mlflow_python(), tmp_path)
    server = RunningServer(f"sqlite:///{tmp_path / 'tw.db'}", tmp_path / "tw-artifacts")
    try:
        subprocess.run(
            [mlflow_server.python, "-c", DELETED_EXPERIMENT, mlflow_server.url],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        code, report = run_import(mlflow_server.url, server.uri)
        assert code == 0 and report["errors"] == []
        assert report["copied"]["experiment deletions"] == 1
        with trackwire.TrackwireClient(server.uri) as client:
            experiment = client.get_experiment_by_name("gone")
            assert (experiment.lifecycle_stage, experiment.tags) == ("deleted", {"x": "1"})
            runs = client.search_runs([experiment.experiment_id], run_view_type=3)
            assert sorted((r.info.run_name, r.info.lifecycle_stage) for r in runs) == [
                ("r0", "deleted"), ("r1", "deleted"),
            ]  # fmt: skip
            assert all(r.data.params == {"p": "v"} and r.info.status == "FINISHED" for r in runs)
        code, again = run_import(mlflow_server.url, server.uri)
        assert code == 0 and again["copied"] == {}, again
    finally:
        server.stop()
        mlflow_server.stop()
