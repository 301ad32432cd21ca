"""The workloads of `make bench-compare`, defined once for every system.

Workloads W1..W7 of ../shared/bench/WORKLOADS.md (beside the repository), issue #7: the
counts, batch sizes and data generators. Each system's runner (`run_trackwire.py`,
`run_mlflow.py`, `run_aim.py`, `run_wandb.py`) imports this module, so every system logs
the same values, steps, params, metrics and tags; only the calls differ.

Standard library only: the peers' runners import it inside their own virtual environments.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass

# Every count times SCALE: 1 for the figures; a smaller BENCH_COMPARE_SCALE only to try the
# benchmark out quickly (its results are marked and never go into the README).
SCALE = float(os.environ.get("BENCH_COMPARE_SCALE", "1"))


def scaled(n: int, at_least: int = 1) -> int:
    return max(at_least, int(n * SCALE))


# W1: per-call log_metric in a plain loop, points/s until durable.
W1_POINTS = {
    "trackwire": scaled(1_000_000),
    "mlflow": scaled(2_000),
    "aim": scaled(100_000),
    "wandb": scaled(100_000),
}
W1_KEY = "loss"

# W2: one run, points logged in batches (MLflow's log_batch), points/s.
W2_POINTS = scaled(100_000, 1_000)
W2_BATCH = 1_000

# W3: async / streaming logging, timed until every point is durable.
W3_POINTS = scaled(20_000)
MLFLOW_ASYNC_BUFFERING_SECONDS = "1"  # MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS

# W4: the history of W2's metric (W1's for Aim and W&B, which have no W2), median of reads.
W4_READS = 3

# W5: runs in one experiment, one filtered top-100 search repeated, one full search.
W5_RUNS = scaled(5_000, 1_000)
W5_CREATE_RUNS_BATCH = 1_000  # Trackwire's create_runs: runs per call (its maximum)
W5_SEARCH_REPEATS = 20
W5_TOP = 100
W5_FILTER = "metrics.accuracy > 0.8 and params.model_type = 'rf'"
W5_ORDER_BY = ["metrics.f1 DESC"]
W5_MODEL_TYPES = ("rf", "lr", "xgb")
W5_METRIC_KEYS = ("accuracy", "f1", "precision", "recall", "auc")

# W6: concurrent writer processes, each its own run, points in batches.
W6_PROCESSES = 8
W6_POINTS_PER_PROCESS = scaled(20_000, 1_000)
W6_BATCH = 1_000

# W7: one file up, then down.
W7_BYTES = scaled(100 * 2**20)

# Warm-up before the timed workloads (connection set-up, the server's first calls).
WARMUP_POINTS = 200


# -- data generators -------------------------------------------------------------------


def loss_values(n: int, seed: int = 0) -> list[float]:
    """A loss-like curve with noise: point i is logged at step i."""
    rng = random.Random(seed)
    return [1.0 / (1.0 + 0.001 * i) + 0.01 * rng.random() for i in range(n)]


def batches(n: int, size: int) -> list[range]:
    """The step ranges of `n` points cut into batches of `size`."""
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


@dataclass
class RunSpec:
    """One W5 run: 5 params, 5 metrics (uniform random), 2 tags."""

    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


def run_specs(n: int, seed: int = 0) -> list[RunSpec]:
    rng = random.Random(seed)
    specs = []
    for i in range(n):
        specs.append(
            RunSpec(
                params={
                    "model_type": rng.choice(W5_MODEL_TYPES),
                    "C": f"{10 ** rng.uniform(-3, 2):.4g}",
                    "max_depth": str(rng.randint(2, 16)),
                    "lr": f"{10 ** rng.uniform(-4, -1):.3g}",
                    "seed": str(i),
                },
                metrics={key: rng.random() for key in W5_METRIC_KEYS},
                tags={
                    "dataset": rng.choice(("churn-2025q3", "churn-2025q4")),
                    "team": rng.choice(("growth", "risk", "platform")),
                },
            )
        )
    return specs


def expected_top_seeds(specs: list[RunSpec]) -> list[str]:
    """The `seed` params of the filtered top-100 runs, best f1 first (to check answers)."""
    matching = [s for s in specs if s.params["model_type"] == "rf" and s.metrics["accuracy"] > 0.8]
    matching.sort(key=lambda s: -s.metrics["f1"])
    return [s.params["seed"] for s in matching[:W5_TOP]]


def write_artifact(path: str, size: int = W7_BYTES) -> None:
    """W7's file: `size` pseudo-random (incompressible) bytes."""
    rng = random.Random(7)
    chunk = 8 * 2**20
    with open(path, "wb") as f:
        for start in range(0, size, chunk):
            f.write(rng.randbytes(min(chunk, size - start)))


def check(ok: bool, message: str) -> None:
    """Like assert, also under python -O: a wrong answer must not be timed as a fast one."""
    if not ok:
        raise RuntimeError(message)


def timed_pages(search) -> list[float]:
    """W5's page alone: `search()` (one system's `search_runs([experiment], max_results=
    W5_TOP)`, no filter, no sort key) W5_SEARCH_REPEATS times, in ms; each answer must be
    W5_TOP distinct runs with their 5 params."""
    times = []
    for _ in range(W5_SEARCH_REPEATS):
        start = time.perf_counter()
        runs = search()
        times.append((time.perf_counter() - start) * 1e3)
        check(len({r.info.run_id for r in runs}) == W5_TOP, "W5: the page is not full")
        check(all(len(r.data.params) == 5 for r in runs), "W5: a run of the page lacks params")
    return times


# -- what every runner shares ----------------------------------------------------------


def timed_batches(log_batch, n: int, size: int, values: list[float]) -> dict:
    """Calls `log_batch(steps, values)` for each batch of `n` points; counts failed calls.

    Returns the seconds from the first call to the last return, the calls that raised,
    each call's duration and this process's CPU time meanwhile (what W2 and each W6 writer
    report).
    """
    failed = 0
    durations = []
    cpu_start = time.process_time()
    start = time.monotonic()
    for steps in batches(n, size):
        call_start = time.monotonic()
        try:
            log_batch(steps, values[steps.start : steps.stop])
        except Exception as exc:  # a failed call is counted, not fatal (W6)
            failed += 1
            print(f"call failed: {exc!r}"[:500], file=sys.stderr)
        durations.append(time.monotonic() - call_start)
    end = time.monotonic()
    return {
        "start": start,
        "end": end,
        "cpu_s": time.process_time() - cpu_start,
        "seconds": end - start,
        "calls": len(durations),
        "failed_calls": failed,
        "points": n - failed * size,
        "call_s": durations,
    }


def _writer_process(make_log_batch, index, args, barrier, queue) -> None:
    try:
        log_batch = make_log_batch(index, args)  # set-up (client, run): not timed
        values = loss_values(W6_POINTS_PER_PROCESS, seed=index)
        barrier.wait()
        queue.put(timed_batches(log_batch, W6_POINTS_PER_PROCESS, W6_BATCH, values))
    except BaseException as exc:
        queue.put({"error": repr(exc)})
        raise


def concurrent_writers(make_log_batch, args: dict) -> dict:
    """W6: W6_PROCESSES processes (spawned: no forked client state), each with its own run
    from `make_log_batch(index, args) -> log_batch(steps, values)`, start together at a
    barrier; aggregate points/s from the first call of any to the last return of any.

    "start" and "end" are that window on the machine's monotonic clock (the driver's CPU
    sampler reads it too); "writers_cpu_s" the writers' CPU time in their timed loops."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(W6_PROCESSES)
    queue = ctx.Queue()
    processes = [
        ctx.Process(target=_writer_process, args=(make_log_batch, i, args, barrier, queue))
        for i in range(W6_PROCESSES)
    ]
    for p in processes:
        p.start()
    results = [queue.get(timeout=1800) for _ in processes]
    for p in processes:
        p.join()
    errors = [r["error"] for r in results if "error" in r]
    check(not errors, f"W6 writer processes broke: {errors}")
    start = min(r["start"] for r in results)
    end = max(r["end"] for r in results)
    points = sum(r["points"] for r in results)
    call_s = sorted(s for r in results for s in r["call_s"])
    return {
        "points": points,
        "start": start,
        "end": end,
        "writers_cpu_s": sum(r["cpu_s"] for r in results),
        "seconds": end - start,
        "points_per_s": points / (end - start),
        "failed_calls": sum(r["failed_calls"] for r in results),
        "calls": sum(r["calls"] for r in results),
        "call_p50_s": statistics.median(call_s),
        "call_max_s": call_s[-1],
    }


def median_seconds(read, repeats: int) -> tuple[float, object]:
    """The median time of `repeats` calls of `read()`, and the last answer."""
    times = []
    answer = None
    for _ in range(repeats):
        answer = None
        start = time.perf_counter()
        answer = read()
        times.append(time.perf_counter() - start)
    return statistics.median(times), answer


def runner_main(workloads: dict) -> None:
    """A runner's entry point: `python run_<system>.py WORKLOAD ARGS_JSON`.

    Runs workloads[WORKLOAD](args) and prints its result as the last stdout line,
    prefixed with RESULT_PREFIX (the driver reads that line; anything else is the
    system's own output).
    """
    name, args = sys.argv[1], json.loads(sys.argv[2])
    result = workloads[name](args)
    sys.stdout.flush()
    print(RESULT_PREFIX + json.dumps(result), flush=True)


RESULT_PREFIX = "BENCH-COMPARE-RESULT "
