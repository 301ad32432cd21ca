"""Trackwire's side of `make bench-compare`: one workload per process, in the project's .venv.

`python bench/compare/run_trackwire.py WORKLOAD ARGS_JSON`; the driver (`main.py`) passes
the server's URI ("uri") and whatever the workload needs, and reads the result line.
The workloads' parameters and data come from workloads.py, shared with the peers' runners.
"""

from __future__ import annotations

import hashlib
import os
import time

import workloads as w

import trackwire
from trackwire import Metric, TrackwireClient


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def fluent(args: dict, experiment: str) -> None:
    trackwire.set_tracking_uri(args["uri"])
    trackwire.set_experiment(experiment)


def warmup(args: dict) -> dict:
    fluent(args, "warmup")
    with trackwire.start_run() as run:
        for i, v in enumerate(w.loss_values(w.WARMUP_POINTS)):
            trackwire.log_metric(w.W1_KEY, v, step=i)
    client = TrackwireClient(args["uri"])
    client.log_batch(run.info.run_id, metrics=[Metric("x", 1.0, now_ms(), 0)])
    check_history(client, run.info.run_id, w.WARMUP_POINTS)
    return {}


def check_history(client: TrackwireClient, run_id: str, n: int) -> None:
    """Every step 0..n-1 stored once, read back (untimed) in windows of W4's size: one read
    of W1's whole 1,000,000-point history would itself be the server's memory peak."""
    stored = 0
    for window in w.batches(n, w.W2_POINTS):
        history = client.read_metric_history(run_id, w.W1_KEY, window.start, window.stop - 1)
        w.check(history.steps == list(window), f"steps {window.start}.. differ")
        stored += len(history)
    w.check(stored == n, f"the run holds {stored} points of {n}")


def w1(args: dict) -> dict:
    """fluent log_metric in a loop; until the `with` block has ended the run (durable)."""
    n = w.W1_POINTS["trackwire"]
    values = w.loss_values(n)
    fluent(args, "w1")
    log_metric = trackwire.log_metric
    with trackwire.start_run() as run:
        start = time.perf_counter()
        for i, v in enumerate(values):
            log_metric(w.W1_KEY, v, step=i)
        loop_end = time.perf_counter()
    end = time.perf_counter()
    check_history(TrackwireClient(args["uri"]), run.info.run_id, n)
    return {
        "points": n,
        "seconds": end - start,
        "loop_seconds": loop_end - start,
        "points_per_s": n / (end - start),
    }


def w2(args: dict) -> dict:
    """client.log_batch of W2_BATCH points per call (building the Metric objects included)."""
    client = TrackwireClient(args["uri"])
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
    """fluent log_metric(synchronous=False) (the streaming writer), flush, end the run."""
    values = w.loss_values(w.W3_POINTS)
    fluent(args, "w3")
    with trackwire.start_run() as run:
        start = time.perf_counter()
        for i, v in enumerate(values):
            trackwire.log_metric(w.W1_KEY, v, step=i, synchronous=False)
        trackwire.flush()
    end = time.perf_counter()
    check_history(TrackwireClient(args["uri"]), run.info.run_id, w.W3_POINTS)
    return {
        "points": w.W3_POINTS,
        "seconds": end - start,
        "points_per_s": w.W3_POINTS / (end - start),
    }


def w4(args: dict) -> dict:
    """get_metric_history (a list of Metric objects, MLflow's shape) of W2's metric."""
    client = TrackwireClient(args["uri"])
    run_id = args["run_id"]
    seconds, history = w.median_seconds(
        lambda: client.get_metric_history(run_id, w.W1_KEY), w.W4_READS
    )
    w.check(len(history) == w.W2_POINTS, f"W4 read {len(history)} points of {w.W2_POINTS}")
    w.check([m.step for m in history] == list(range(w.W2_POINTS)), "W4: steps differ")
    columns_s, _ = w.median_seconds(
        lambda: client.read_metric_history(run_id, w.W1_KEY), w.W4_READS
    )
    return {
        "points": len(history),
        "seconds": seconds,
        "points_per_s": len(history) / seconds,
        "columns_points_per_s": len(history) / columns_s,
    }


def w5(args: dict) -> dict:
    trackwire.set_tracking_uri(args["uri"])
    client = TrackwireClient(args["uri"])
    specs = w.run_specs(w.W5_RUNS)
    ts = now_ms()
    metrics = [[Metric(k, v, ts, 0) for k, v in s.metrics.items()] for s in specs]

    # One create_run call (one transaction) per run.
    experiment_id = client.create_experiment(f"w5-{time.time_ns()}")
    create_run = client.create_run
    start = time.perf_counter()
    for spec, run_metrics in zip(specs, metrics, strict=True):
        create_run(experiment_id, params=spec.params, metrics=run_metrics, tags=spec.tags)
    single_s = time.perf_counter() - start

    # create_runs: W5_CREATE_RUNS_BATCH runs per call, in an experiment of their own.
    batched_experiment_id = client.create_experiment(f"w5-batched-{time.time_ns()}")
    entries = [
        dict(params=s.params, metrics=m, tags=s.tags) for s, m in zip(specs, metrics, strict=True)
    ]
    start = time.perf_counter()
    for block in w.batches(w.W5_RUNS, w.W5_CREATE_RUNS_BATCH):
        client.create_runs(batched_experiment_id, entries[block.start : block.stop])
    batched_s = time.perf_counter() - start

    expected = w.expected_top_seeds(specs)
    search_ms = []
    run_ids = []
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
        run_ids = [r.info.run_id for r in runs]

    # The page alone: the newest W5_TOP runs with all their data, no filter, no sort key.
    page_ms = w.timed_pages(lambda: client.search_runs([experiment_id], max_results=w.W5_TOP))

    # pandas is imported outside the timing, as `import mlflow` imports it for MLflow's.
    import pandas  # noqa: F401

    start = time.perf_counter()
    frame = trackwire.search_runs(experiment_ids=[experiment_id])
    frame_s = time.perf_counter() - start
    w.check(len(frame) == w.W5_RUNS, f"W5: the DataFrame has {len(frame)} rows")
    w.check("metrics.accuracy" in frame.columns, "W5: no metrics.accuracy column")
    # On PostgreSQL or MariaDB: the same search by the database alone (search_floor.py).
    floors = {}
    if args.get("db_url"):
        from search_floor import database_floors

        floors = database_floors(args["db_url"], experiment_id, run_ids)
    return {
        **floors,
        "runs": w.W5_RUNS,
        "create_runs_per_s": w.W5_RUNS / single_s,
        "create_runs_batched_per_s": w.W5_RUNS / batched_s,
        "search_ms": search_ms,
        "page_ms": page_ms,
        "frame_s": frame_s,
    }


def w6_writer(index: int, args: dict):
    # Over a fleet (args["uris"], bench-compare --servers): writer i talks to server i mod N.
    uris = args.get("uris") or [args["uri"]]
    client = TrackwireClient(uris[index % len(uris)])
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
    TrackwireClient(args["uri"]).create_experiment(args["experiment"])
    return w.concurrent_writers(w6_writer, args)


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def w7(args: dict) -> dict:
    client = TrackwireClient(args["uri"])
    experiment_id = client.create_experiment(f"w7-{time.time_ns()}")
    run_id = client.create_run(experiment_id).info.run_id
    path = args["artifact"]
    size = os.path.getsize(path)
    start = time.perf_counter()
    client.log_artifact(run_id, path)
    upload_s = time.perf_counter() - start
    start = time.perf_counter()
    local = client.download_artifacts(run_id, os.path.basename(path), args["download_dir"])
    download_s = time.perf_counter() - start
    w.check(sha256(local) == sha256(path), "W7: the downloaded file differs")
    os.remove(local)
    return {
        "bytes": size,
        "upload_mb_per_s": size / 2**20 / upload_s,
        "download_mb_per_s": size / 2**20 / download_s,
    }


WORKLOADS = {"warmup": warmup, "W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6, "W7": w7}

if __name__ == "__main__":
    w.runner_main(WORKLOADS)
