"""Model serving benchmark: `trackwire models serve` against `mlflow models serve`.

Run with `make bench` (or `python bench/serving.py [--seconds S] [--json PATH]`). Issue
#16. The same small scikit-learn model (LogisticRegression on iris, trained the same
way on each side) is saved with each project's own API: Trackwire's in this venv,
MLflow's in MLflow's venv (bench/.venvs/mlflow, the one `make bench-compare` uses,
created here if missing; $TRACKWIRE_BENCH_MLFLOW_VENV points at another). Each
server runs as its own process with one worker, on a loopback port, and scores
`POST /invocations` with a `dataframe_split` JSON body of 1 row, then of 100 rows (the
issue's cases), then, for information, a CSV body of 100 rows and a `dataframe_split` body
of 100 rows with an `index` (which Trackwire parses into a DataFrame with pandas, as MLflow
does, before the rows go to the estimator as one array). The
load comes from `wrk` (apt-get install wrk; a C load generator: one thread, 8 keep-alive connections, so
8 concurrent clients), the same for both servers; wrk's own cost per request is a
few microseconds, so it is not what is measured. Figures: requests/s, and p50 / p99
latency, and the ratios Trackwire / MLflow (target: >= 5x the requests/s at an equal
or better p99). Every answer is checked first: both servers must return the same
predictions, and wrk must count no error or non-2xx answer.

MLflow's server runs as `mlflow models serve --env-manager local` starts it (uvicorn
with its default access log, whose output goes nowhere here); Trackwire's runs
`trackwire models serve` as shipped (uvloop and httptools when installed, no access
log unless --access-log). Each figure is the median of --repeats measurements (default 3,
taken in turn: Trackwire, MLflow, Trackwire, ...). The machine is shared and noisy:
compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request

from common import check, machine_info, print_figures, publish, source_revision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MLFLOW_VENV_ENV = "TRACKWIRE_BENCH_MLFLOW_VENV"
CONNECTIONS = 8
# (body format, rows): the two cases, then for information CSV, and a split body
# with an `index`, which Trackwire parses into a DataFrame with pandas (as MLflow does)
# before it goes to the estimator as an array.
CASES = (("json", 1), ("json", 100), ("csv", 100), ("json-index", 100))
CONTENT_TYPES = {"json": "application/json", "csv": "text/csv", "json-index": "application/json"}
LABELS = {"json": "JSON", "csv": "CSV", "json-index": "JSON with index (via pandas)"}
TARGET_RATIO = 5.0

# Trains the model; the same text runs in both venvs so both models are the same fit.
TRAIN = """
import pandas as pd
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
data = load_iris(as_frame=True)
X = data.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
y = data.target
model = LogisticRegression(max_iter=1000).fit(X, y)
"""

MLFLOW_SAVE = (
    TRAIN
    + """
import sys
import mlflow.sklearn
from mlflow.models import infer_signature
mlflow.sklearn.save_model(model, sys.argv[1], signature=infer_signature(X, model.predict(X)))
"""
)

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE")
local f = io.open(os.getenv("BENCH_BODY_FILE"), "rb")
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    "RESULT {\\"requests\\": %d, \\"seconds\\": %f, \\"errors\\": %d, "
    .. "\\"p50_us\\": %d, \\"p99_us\\": %d}\\n",
    summary.requests, summary.duration / 1e6, errors,
    latency:percentile(50), latency:percentile(99)))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}) before answering")
        try:
            with urllib.request.urlopen(url + "/ping", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer /ping in {timeout}s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def body(fmt: str, rows: int) -> bytes:
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True).data
    data.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in data.columns]
    data = data.iloc[[i % len(data) for i in range(0, rows * 7, 7)]]
    if fmt == "csv":
        return data.to_csv(index=False).encode()
    split = {"columns": list(data.columns), "data": data.to_numpy().tolist()}
    if fmt == "json-index":
        split["index"] = list(range(rows))
    return json.dumps({"dataframe_split": split}).encode()


def score_once(url: str, payload: bytes, fmt: str) -> list:
    request = urllib.request.Request(
        url + "/invocations", data=payload, headers={"Content-Type": CONTENT_TYPES[fmt]}
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())["predictions"]


def run_wrk(url: str, payload_file: str, fmt: str, seconds: float, script: str) -> dict:
    env = {**os.environ, "BENCH_BODY_FILE": payload_file, "BENCH_CONTENT_TYPE": CONTENT_TYPES[fmt]}
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "-s", script]
    out = subprocess.run(
        [*command, url + "/invocations"], env=env, capture_output=True, text=True, check=True
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    check(result["errors"] == 0, f"wrk counted {result['errors']} errors against {url}:\n{out}")
    result["rps"] = result["requests"] / result["seconds"]
    return result


def mlflow_venv() -> str:
    """MLflow's venv: $TRACKWIRE_BENCH_MLFLOW_VENV, else bench/.venvs/mlflow, made as
    `make bench-compare` makes it when it is not there yet."""
    if os.environ.get(MLFLOW_VENV_ENV):
        return os.environ[MLFLOW_VENV_ENV]
    sys.path.insert(0, os.path.join(ROOT, "bench", "compare"))
    from main import ensure_peer_venvs

    venv = ensure_peer_venvs(os.path.join(ROOT, "bench", ".venvs"), ("mlflow",))["mlflow"]
    return os.path.dirname(venv["bin"])


def start_servers(workdir: str, mlflow_venv_dir: str) -> tuple[dict, list]:
    """Saves the model on both sides and starts both servers: {name: url}, processes."""
    tw_model, mlflow_model = (
        os.path.join(workdir, "tw-model"),
        os.path.join(workdir, "mlflow-model"),
    )
    namespace: dict = {}
    exec(TRAIN, namespace)  # noqa: S102 (our own fixed text)
    from trackwire.models import infer_signature
    from trackwire.sklearn import save_model

    X, model = namespace["X"], namespace["model"]
    save_model(model, tw_model, signature=infer_signature(X, model.predict(X)))
    mlflow_python = os.path.join(mlflow_venv_dir, "bin", "python")
    subprocess.run([mlflow_python, "-c", MLFLOW_SAVE, mlflow_model], check=True)
    ports = {"trackwire": free_port(), "mlflow": free_port()}
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([os.path.join(ROOT, "client"), os.path.join(ROOT, "server")]),
    }
    trackwire_cmd = [
        sys.executable, "-m", "trackwire", "models", "serve", "-m", tw_model,
        "--port", str(ports["trackwire"]), "--grpc-port", "-1", "--workers", "1",
    ]  # fmt: skip
    mlflow_env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        "PATH": os.path.join(mlflow_venv_dir, "bin") + os.pathsep + os.environ["PATH"],
    }
    mlflow_cmd = [
        os.path.join(mlflow_venv_dir, "bin", "mlflow"), "models", "serve", "-m", mlflow_model,
        "--env-manager", "local", "--host", "127.0.0.1", "--port", str(ports["mlflow"]),
        "--workers", "1",
    ]  # fmt: skip
    processes = []
    for command, environment in ((trackwire_cmd, env), (mlflow_cmd, mlflow_env)):
        processes.append(
            subprocess.Popen(
                command,
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    for process, url in zip(processes, urls.values(), strict=True):
        wait_ready(url, process)
    return urls, processes


def measure(seconds: float, repeats: int) -> dict:
    check(shutil.which("wrk") is not None, "the serving benchmark needs wrk: apt-get install wrk")
    venv = mlflow_venv()
    check(os.path.exists(os.path.join(venv, "bin", "mlflow")), f"no MLflow in {venv}")
    results: dict = {"machine": machine_info(), "revision": source_revision(), "cases": {}}
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as workdir:
        script = os.path.join(workdir, "post.lua")
        with open(script, "w") as f:
            f.write(textwrap.dedent(WRK_SCRIPT))
        urls, processes = start_servers(workdir, venv)
        try:
            for fmt, rows in CASES:
                payload = body(fmt, rows)
                payload_file = os.path.join(workdir, f"body-{rows}.{fmt}")
                with open(payload_file, "wb") as f:
                    f.write(payload)
                answers = {name: score_once(url, payload, fmt) for name, url in urls.items()}
                check(len(answers["trackwire"]) == rows, "Trackwire returned the wrong count")
                check(
                    answers["trackwire"] == answers["mlflow"],
                    f"the servers disagree on {rows} rows: {answers}",
                )
                case = {"format": fmt, "rows": rows, "body_bytes": len(payload)}
                for url in urls.values():
                    run_wrk(url, payload_file, fmt, min(2.0, seconds), script)  # warm up
                runs: dict = {name: [] for name in urls}
                for _ in range(repeats):  # A/B/A/B: both see the same moments of the machine
                    for name, url in urls.items():
                        runs[name].append(run_wrk(url, payload_file, fmt, seconds, script))
                for name, measured in runs.items():
                    case[name] = {
                        key: statistics.median(r[key] for r in measured)
                        for key in ("rps", "p50_us", "p99_us")
                    }
                    case[name]["runs"] = measured
                tw, ml = case["trackwire"], case["mlflow"]
                case["rps_ratio"] = tw["rps"] / ml["rps"]
                case["p99_ratio"] = ml["p99_us"] / tw["p99_us"] if tw["p99_us"] else None
                case["has_target"] = fmt == "json"
                case["pass"] = case["rps_ratio"] >= TARGET_RATIO and tw["p99_us"] <= ml["p99_us"]
                results["cases"][f"{fmt}_{rows}_rows"] = case
        finally:
            for process in processes:
                stop(process)
    return results


def report(results: dict) -> None:
    rows = []
    for case in results["cases"].values():
        tw, ml, n = case["trackwire"], case["mlflow"], case["rows"]
        label = f"{n} row(s), {LABELS[case['format']]}"
        target = case["has_target"]
        rows.append(
            {
                "figure": f"requests/s, {label}, {CONNECTIONS} clients",
                "value": tw["rps"],
                "unit": "req/s",
                "reference": f"MLflow {ml['rps']:,.0f}",
                "ratio": case["rps_ratio"],
                "target": f">= {TARGET_RATIO:g}x" if target else "",
                "result": ("PASS" if case["rps_ratio"] >= TARGET_RATIO else "FAIL")
                if target
                else "",
            }
        )
        for pct in ("p50", "p99"):
            rows.append(
                {
                    "figure": f"{pct} latency, {label}",
                    "value": tw[f"{pct}_us"] / 1000,
                    "unit": "ms",
                    "reference": f"MLflow {ml[f'{pct}_us'] / 1000:.2f} ms",
                    "ratio": ml[f"{pct}_us"] / tw[f"{pct}_us"] if tw[f"{pct}_us"] else None,
                    "target": "<= MLflow" if pct == "p99" and target else "",
                    "result": ("PASS" if tw["p99_us"] <= ml["p99_us"] else "FAIL")
                    if pct == "p99" and target
                    else "",
                }
            )
    print_figures(rows)
    print("(x ref: Trackwire over MLflow for requests/s; MLflow over Trackwire for latency)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="each measurement's length")
    parser.add_argument(
        "--repeats", type=int, default=3, help="measurements per server and case (median)"
    )
    parser.add_argument(
        "--json",
        default=os.path.join(ROOT, "bench", "results", "serving.json"),
        help="results file",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("serving benchmark skipped: it needs wrk (apt-get install wrk)")
        return 0
    results = measure(args.seconds, args.repeats)
    return publish(results, report, lambda r: r, args.json)


if __name__ == "__main__":
    sys.exit(main())
