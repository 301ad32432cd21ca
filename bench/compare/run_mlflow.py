"""MLflow's side of `make bench-compare`: one workload per process, in MLflow's own venv.

`<bench/.venvs/mlflow>/bin/python bench/compare/run_mlflow.py WORKLOAD ARGS_JSON`, against
`mlflow server` (SQLite backend) at args["uri"], through MLflow's own Python client over
HTTP. The workloads' parameters and data come from workloads.py, shared with the other
runners; the calls are the ones WORKLOADS.md names.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time

import workloads as w

if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "W3":
    # Read when MLflow's async logging queue starts: set before mlflow is imported.
    os.environ["MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS"] = w.MLFLOW_ASYNC_BUFFERING_SECONDS

import mlflow  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def fluent(args: dict, experiment: str) -> None:
    mlflow.set_tracking_uri(args["uri"])
    mlflow.set_experiment(experiment)


def check_history(client: MlflowClient, run_id: str, n: int) -> None:
    stored = len(client.get_metric_history(run_id, w.W1_KEY))
    w.check(stored == n, f"the run holds {stored} points of {n}")


def warmup(args: dict) -> dict:
    fluent(args, "warmup")
    with mlflow.start_run() as run:
        for i, v in enumerate(w.loss_values(w.WARMUP_POINTS // 10)):
            mlflow.log_metric(w.W1_KEY, v, step=i)
    client = MlflowClient(args["uri"])
    client.log_batch(run.info.run_id, metrics=[Metric("x", 1.0, now_ms(), 0)])
    check_history(client, run.info.run_id, w.WARMUP_POINTS // 10)
    return {}


def w1(args: dict) -> dict:
    """fluent log_metric in a loop (each call returns once the server has stored it)."""
    n = w.W1_POINTS["mlflow"]
    values = w.loss_values(n)
    fluent(args, "w1")
    log_metric = mlflow.log_metric
    with mlflow.start_run() as run:
        start = time.perf_counter()
        for i, v in enumerate(values):
            log_metric(w.W1_KEY, v, step=i)
    end = time.perf_counter()
    check_history(MlflowClient(args["uri"]), run.info.run_id, n)
    return {"points": n, "seconds": end - start, "points_per_s": n / (end - start)}


def w2(args: dict) -> dict:
    """MlflowClient().log_batch of W2_BATCH points per call."""
    client = MlflowClient(args["uri"])
    experiment_id = client.create_experiment(f"w2-{time.time_ns()}")
    run_id = client.create_run(experiment_id).info.run_id
    values = w.loss_values(w.W2_POINTS)

    def log_batch(steps, batch_values):
        ts = now_ms()
        client.log_batch(
            run_id,
            metrics=[Metric(w.W1_KEY, v, ts, s) for s, v in zip(steps, batch_values, strict=True)],
        )

    timed = w.timed_batches(log_batch, w.W2_POINTS, w.W2_BATCH, values)
    w.check(timed["failed_calls"] == 0, "W2: a log_batch call failed")
    check_history(client, run_id, w.W2_POINTS)
    return {
        "run_id": run_id,
        "points": w.W2_POINTS,
        "seconds": timed["seconds"],
        "points_per_s": w.W2_POINTS / timed["seconds"],
    }


def w3(args: dict) -> dict:
    """fluent log_metric(synchronous=False), buffering 1 s; until flushed and the run ended."""
    values = w.loss_values(w.W3_POINTS)
    fluent(args, "w3")
    with mlflow.start_run() as run:
        start = time.perf_counter()
        for i, v in enumerate(values):
            mlflow.log_metric(w.W1_KEY, v, step=i, synchronous=False)
        mlflow.flush_async_logging()
    end = time.perf_counter()
    check_history(MlflowClient(args["uri"]), run.info.run_id, w.W3_POINTS)
    return {
        "points": w.W3_POINTS,
        "seconds": end - start,
        "points_per_s": w.W3_POINTS / (end - start),
        "buffering_seconds": os.environ.get("MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS"),
    }


def w4(args: dict) -> dict:
    """MlflowClient().get_metric_history of W2's metric."""
    client = MlflowClient(args["uri"])
    run_id = args["run_id"]
    seconds, history = w.median_seconds(
        lambda: client.get_metric_history(run_id, w.W1_KEY), w.W4_READS
    )
    w.check(len(history) == w.W2_POINTS, f"W4 read {len(history)} points of {w.W2_POINTS}")
    return {"points": len(history), "seconds": seconds, "points_per_s": len(history) / seconds}


def w5(args: dict) -> dict:
    """create_run then log_batch per run (MLflow's one batch per run); searches."""
    mlflow.set_tracking_uri(args["uri"])
    client = MlflowClient(args["uri"])
    specs = w.run_specs(w.W5_RUNS)
    ts = now_ms()
    batches = [
        (
            [Metric(k, v, ts, 0) for k, v in s.metrics.items()],
            [Param(k, v) for k, v in s.params.items()],
            [RunTag(k, v) for k, v in s.tags.items()],
        )
        for s in specs
    ]
    experiment_id = client.create_experiment(f"w5-{time.time_ns()}")
    start = time.perf_counter()
    for metrics, params, tags in batches:
        run_id = client.create_run(experiment_id).info.run_id
        client.log_batch(run_id, metrics=metrics, params=params, tags=tags)
    create_s = time.perf_counter() - start

    expected = w.expected_top_seeds(specs)
    search_ms = []
    for _ in range(w.W5_SEARCH_REPEATS):
        start = time.perf_counter()
        runs = client.search_runs(
            [experiment_id],
            filter_string=w.W5_FILTER,
            order_by=w.W5_ORDER_BY,
            max_results=w.W5_TOP,
        )
        search_ms.append((time.perf_counter() - start) * 1e3)
        seeds = [r.data.params["seed"] for r in runs]
        w.check(seeds == expected, "W5: the filtered search returned the wrong runs")

    # The page alone: the newest W5_TOP runs with all their data, no filter, no sort key.
    page_ms = w.timed_pages(lambda: client.search_runs([experiment_id], max_results=w.W5_TOP))

    start = time.perf_counter()
    frame = mlflow.search_runs(experiment_ids=[experiment_id])
    frame_s = time.perf_counter() - start
    w.check(len(frame) == w.W5_RUNS, f"W5: the DataFrame has {len(frame)} rows")
    return {
        "runs": w.W5_RUNS,
        "create_runs_per_s": w.W5_RUNS / create_s,
        "search_ms": search_ms,
        "page_ms": page_ms,
        "frame_s": frame_s,
    }


def w6_writer(index: int, args: dict):
    client = MlflowClient(args["uri"])
    experiment_id = client.get_experiment_by_name(args["experiment"]).experiment_id
    run_id = client.create_run(experiment_id).info.run_id

    def log_batch(steps, values):
        ts = now_ms()
        client.log_batch(
            run_id,
            metrics=[Metric(w.W1_KEY, v, ts, s) for s, v in zip(steps, values, strict=True)],
        )

    return log_batch


def w6(args: dict) -> dict:
    args = dict(args, experiment=f"w6-{time.time_ns()}")
    MlflowClient(args["uri"]).create_experiment(args["experiment"])
    return w.concurrent_writers(w6_writer, args)


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def w7(args: dict) -> dict:
    """log_artifact / download_artifacts through the server (mlflow-artifacts:/ proxy);
    and, for information, to the server's --default-artifact-root folder directly."""
    client = MlflowClient(args["uri"])
    path = args["artifact"]
    size = os.path.getsize(path)
    result = {"bytes": size}
    for label, location in (("", "mlflow-artifacts:/w7"), ("direct_", None)):
        experiment_id = client.create_experiment(
            f"w7-{label}{time.time_ns()}", artifact_location=location
        )
        run_id = client.create_run(experiment_id).info.run_id
        start = time.perf_counter()
        client.log_artifact(run_id, path)
        upload_s = time.perf_counter() - start
        start = time.perf_counter()
        local = client.download_artifacts(run_id, os.path.basename(path), args["download_dir"])
        download_s = time.perf_counter() - start
        w.check(sha256(local) == sha256(path), "W7: the downloaded file differs")
        os.remove(local)
        result[f"{label}upload_mb_per_s"] = size / 2**20 / upload_s
        result[f"{label}download_mb_per_s"] = size / 2**20 / download_s
    return result


WORKLOADS = {"warmup": warmup, "W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6, "W7": w7}

if __name__ == "__main__":
    w.runner_main(WORKLOADS)
