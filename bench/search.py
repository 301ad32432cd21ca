"""Trackwire search benchmark: runs with params/metrics/tags in, filtered and full searches out.

Run with `make bench` (or `python bench/search.py [--runs N] [--json PATH]`). This is
workload W5 of ../shared/bench/WORKLOADS.md (beside the repository), issue #3. One run
measures, on this machine, against one server process on SQLite:

  (a) creating runs, each with 5 params (`model_type` in rf/lr/xgb, `C`, `max_depth`,
      `lr`, `seed`), 5 metrics (`accuracy`, `f1`, `precision`, `recall`, `auc`, uniform
      random) and 2 tags, through the client: `client.create_runs` (BatchCreateRuns,
      1,000 runs per call and transaction, each run with its one batch of params,
      metrics and tags), 5,000 runs in an experiment of its own, in runs/s;
  (a') for information, one `client.create_run(experiment_id, params=..., metrics=...,
      tags=...)` call per run (one call, one transaction) in the main experiment: the
      first 5,000 runs, then the rest up to N; and MLflow's two-call pattern
      (`create_run`, then `log_batch`) on a 1,000-run sample. A loop of calls cannot
      beat one call's round trip, so
  (a0) the median time of an empty call (GetServerInfo) is measured too: 1/(a0) is the
      ceiling of any one-call-per-run loop on this machine;
  (b) at 5,000 runs, 20 times `client.search_runs([experiment_id], filter_string=
      "metrics.accuracy > 0.8 and params.model_type = 'rf'", order_by=["metrics.f1 DESC"],
      max_results=100)`, p50 and max in ms; every answer is checked against the runs the
      benchmark created (the right 100 runs, in f1 order, each matching the filter);
  (c) at 5,000 runs, the fluent `trackwire.search_runs(experiment_ids=[experiment_id])`
      of all runs into a pandas DataFrame, median of 3, in s; its shape is checked (5,000
      rows; run_id, experiment_id, status, artifact_uri, start_time, end_time, metrics.*,
      params.*, tags.*) and so are the run ids and accuracies;
  (d) (b) again at N runs (default 100,000), and, for information, (c) once at N runs;
  (e) the server's database size (db + -wal + -shm, after the server stopped and a
      `PRAGMA wal_checkpoint(TRUNCATE)`) per stored run (warm-up and (a') included);
  and the server process's peak resident memory (VmHWM).

The server runs as its own process (`python -m trackwire_server ... --port 0`), so it has
the second core; the client talks to it over gRPC on localhost. A 200-run warm-up
experiment, searched once each way, goes first so that connection set-up and first-call
costs stay out of the figures. The runs' data is generated before each 1,000-run block
of create calls, outside the timed loop.

Reading the ratios: "x ref" says how many times better than the reference Trackwire is
(Trackwire / reference for rates, reference / Trackwire for times), so above 1 is always
better. The MLflow figures are constants from WORKLOADS.md, measured on this machine
type with 5,000 runs; the machines are shared and noisy, so compare ratios and repeat
runs rather than trusting one absolute time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field

from common import (
    ServerProcess,
    check,
    checkpoint,
    close_clients_and_stop,
    database_bytes,
    machine_info,
    print_figures,
    publish,
    source_revision,
    verdict,
)

import trackwire

MODEL_TYPES = ("rf", "lr", "xgb")
METRIC_KEYS = ("accuracy", "f1", "precision", "recall", "auc")
PARAM_KEYS = ("C", "lr", "max_depth", "model_type", "seed")
TAG_KEYS = ("dataset", "team")
FILTER = "metrics.accuracy > 0.8 and params.model_type = 'rf'"
ORDER_BY = ["metrics.f1 DESC"]
TOP = 100
INFO_COLUMNS = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]

FIRST_RUNS = 5_000  # where (b) and (c) are measured
TWO_CALL_RUNS = 1_000
BATCHED_RUNS = 5_000  # (a') through create_runs, BATCH_SIZE runs per call
BATCH_SIZE = 1_000
WARMUP_RUNS = 200
BLOCK_RUNS = 1_000  # runs generated ahead of each timed block of create calls
SEARCH_REPEATS = 20
FRAME_REPEATS = 3

# MLflow 3.17.2 on this machine type, W5 with 5,000 runs, from ../shared/bench/WORKLOADS.md
# (beside the repository), "MLflow 3.17.2, measured 2026-11-26 (2 cores, Python 3.11)".
MLFLOW_CREATE_RUNS_S = 37.8
MLFLOW_SEARCH_P50_MS = 198
MLFLOW_SEARCH_MAX_MS = 391
MLFLOW_FRAME_S = 5.1

# Targets.
TARGET_CREATE_RUNS_S = 2_000
TARGET_SEARCH_P50_MS_FIRST = 10  # at 5,000 runs
TARGET_SEARCH_P50_MS_ALL = 50  # at 100,000 runs
TARGET_FRAME_S = 0.25  # 5,000 runs


def progress(message: str) -> None:
    print(f"[search bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the runs ------------------------------------------------------------------------


@dataclass
class RunSpec:
    params: dict[str, str]
    metrics: list[trackwire.Metric]
    tags: dict[str, str]


def make_block(rng: random.Random, first_seed: int, n: int) -> list[RunSpec]:
    """`n` runs' data; metric values uniform in [0, 1)."""
    ts = time.time_ns() // 1_000_000
    specs = []
    for i in range(n):
        specs.append(
            RunSpec(
                params={
                    "model_type": rng.choice(MODEL_TYPES),
                    "C": f"{10 ** rng.uniform(-3, 2):.4g}",
                    "max_depth": str(rng.randint(2, 16)),
                    "lr": f"{10 ** rng.uniform(-4, -1):.3g}",
                    "seed": str(first_seed + i),
                },
                metrics=[trackwire.Metric(key, rng.random(), ts, 0) for key in METRIC_KEYS],
                tags={
                    "dataset": rng.choice(("churn-2025q3", "churn-2025q4")),
                    "team": rng.choice(("growth", "risk", "platform")),
                },
            )
        )
    return specs


@dataclass
class Created:
    """What the benchmark created in the main experiment, to check the answers against."""

    run_ids: list[str] = field(default_factory=list)
    model_types: list[str] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    f1: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.run_ids)

    def add(self, run_id: str, spec: RunSpec) -> None:
        self.run_ids.append(run_id)
        self.model_types.append(spec.params["model_type"])
        self.accuracy.append(spec.metrics[0].value)
        self.f1.append(spec.metrics[1].value)

    def expected_top(self) -> list[str]:
        """The filtered top-100 run ids, best f1 first."""
        matching = [
            i for i in range(len(self)) if self.model_types[i] == "rf" and self.accuracy[i] > 0.8
        ]
        matching.sort(key=lambda i: -self.f1[i])
        return [self.run_ids[i] for i in matching[:TOP]]


def create_runs(
    client: trackwire.TrackwireClient,
    experiment_id: str,
    rng: random.Random,
    n: int,
    created: Created | None = None,
) -> float:
    """(a): `n` runs, one create_run call each; returns the seconds spent in the calls."""
    elapsed = 0.0
    done = 0
    create_run = client.create_run
    while done < n:
        seed = done if created is None else len(created)
        block = make_block(rng, seed, min(BLOCK_RUNS, n - done))
        run_ids = []
        start = time.perf_counter()
        for spec in block:
            run = create_run(
                experiment_id, params=spec.params, metrics=spec.metrics, tags=spec.tags
            )
            run_ids.append(run.info.run_id)
        elapsed += time.perf_counter() - start
        check(len(set(run_ids)) == len(block), "create_run returned duplicate run ids")
        if created is not None:
            for run_id, spec in zip(run_ids, block, strict=True):
                created.add(run_id, spec)
        done += len(block)
    return elapsed


def create_runs_two_calls(
    client: trackwire.TrackwireClient, experiment_id: str, rng: random.Random, n: int
) -> float:
    """(a'): MLflow's pattern, create_run then log_batch; returns the seconds spent."""
    block = make_block(rng, 0, n)
    start = time.perf_counter()
    for spec in block:
        run_id = client.create_run(experiment_id).info.run_id
        client.log_batch(run_id, metrics=spec.metrics, params=spec.params, tags=spec.tags)
    return time.perf_counter() - start


def create_runs_batched(
    client: trackwire.TrackwireClient, experiment_id: str, rng: random.Random, n: int
) -> float:
    """(a'): create_runs, BATCH_SIZE runs per call; returns the seconds spent in the calls."""
    elapsed = 0.0
    for first in range(0, n, BATCH_SIZE):
        block = make_block(rng, first, min(BATCH_SIZE, n - first))
        runs = [dict(params=s.params, metrics=s.metrics, tags=s.tags) for s in block]
        start = time.perf_counter()
        created = client.create_runs(experiment_id, runs)
        elapsed += time.perf_counter() - start
        check(len(created) == len(block), f"create_runs created {len(created)} of {len(block)}")
    return elapsed


def measure_round_trip(client: trackwire.TrackwireClient, calls: int = 2_000) -> float:
    """The median time of one call that does no work (GetServerInfo), in us: the floor
    under any one-call-per-run loop."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        client.get_server_info()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


# -- the searches ----------------------------------------------------------------------


@dataclass
class SearchTimes:
    runs: int
    ms: list[float]

    @property
    def p50(self) -> float:
        return statistics.median(self.ms)

    @property
    def max(self) -> float:
        return max(self.ms)


def measure_filtered_search(
    client: trackwire.TrackwireClient, experiment_id: str, created: Created
) -> SearchTimes:
    """(b) and (d): SEARCH_REPEATS timed searches, each answer checked."""
    expected = created.expected_top()
    times = []
    for _ in range(SEARCH_REPEATS):
        start = time.perf_counter()
        runs = client.search_runs(
            [experiment_id], filter_string=FILTER, order_by=ORDER_BY, max_results=TOP
        )
        times.append((time.perf_counter() - start) * 1e3)
        ids = [r.info.run_id for r in runs]
        check(
            len(ids) == len(expected),
            f"filtered search returned {len(ids)} runs, expected {len(expected)}",
        )
        check(ids == expected, "filtered search returned other runs or another order")
        f1 = [r.data.metrics["f1"] for r in runs]
        check(f1 == sorted(f1, reverse=True), "filtered search is not sorted by f1 desc")
        check(
            all(
                r.data.params["model_type"] == "rf" and r.data.metrics["accuracy"] > 0.8
                for r in runs
            ),
            "filtered search returned a run that does not match the filter",
        )
    return SearchTimes(len(created), times)


def measure_frame(experiment_id: str, created: Created, repeats: int) -> list[float]:
    """(c): the fluent search of every run into a DataFrame; seconds per repeat, each checked."""
    # The fluent default is max_results=100,000: only a larger --runs needs more.
    more = {"max_results": len(created)} if len(created) > 100_000 else {}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        frame = trackwire.search_runs(experiment_ids=[experiment_id], **more)
        times.append(time.perf_counter() - start)
        check_frame(frame, created)
        del frame
    return times


def check_frame(frame, created: Created) -> None:
    n = len(created)
    check(frame.shape[0] == n, f"the DataFrame has {frame.shape[0]} rows, expected {n}")
    columns = list(frame.columns)
    check(columns[: len(INFO_COLUMNS)] == INFO_COLUMNS, f"DataFrame columns start {columns[:6]}")
    rest = columns[len(INFO_COLUMNS) :]
    metrics = [c for c in rest if c.startswith("metrics.")]
    params = [c for c in rest if c.startswith("params.")]
    tags = [c for c in rest if c.startswith("tags.")]
    check(rest == metrics + params + tags, f"DataFrame data columns out of order: {rest}")
    check(metrics == [f"metrics.{k}" for k in sorted(METRIC_KEYS)], f"metric columns {metrics}")
    check(params == [f"params.{k}" for k in sorted(PARAM_KEYS)], f"param columns {params}")
    check(tags == sorted(tags), f"tag columns not sorted: {tags}")
    check({f"tags.{k}" for k in TAG_KEYS} <= set(tags), f"tag columns {tags}")
    check(set(frame["run_id"]) == set(created.run_ids), "the DataFrame holds other runs")
    accuracy = dict(zip(created.run_ids, created.accuracy, strict=True))
    check(
        [accuracy[r] for r in frame["run_id"]] == frame["metrics.accuracy"].tolist(),
        "the DataFrame's accuracies differ from what was logged",
    )
    check((frame["status"] == "RUNNING").all(), "the DataFrame has runs not RUNNING")


# -- the run ---------------------------------------------------------------------------


@dataclass
class Results:
    runs: int
    machine: dict
    round_trip_us: float = 0.0
    first_runs: int = 0
    first_create_s: float = 0.0
    rest_create_s: float = 0.0
    two_call_runs: int = 0
    two_call_s: float = 0.0
    batched_runs: int = 0
    batched_s: float = 0.0
    search_first: SearchTimes | None = None
    frame_first_s: list[float] = field(default_factory=list)
    search_all: SearchTimes | None = None
    frame_all_s: float | None = None
    stored_runs: int = 0
    db_bytes_at_stop: int = 0
    db_bytes: int = 0
    server_peak_rss_bytes: int | None = None
    rows: list[dict] = field(default_factory=list)

    @property
    def first_runs_s(self) -> float:
        return self.first_runs / self.first_create_s

    @property
    def rest_runs(self) -> int:
        return self.runs - self.first_runs

    @property
    def rest_runs_s(self) -> float | None:
        return self.rest_runs / self.rest_create_s if self.rest_runs else None

    @property
    def two_call_runs_s(self) -> float:
        return self.two_call_runs / self.two_call_s

    @property
    def batched_runs_s(self) -> float | None:
        return self.batched_runs / self.batched_s if self.batched_runs else None

    @property
    def frame_first_median_s(self) -> float:
        return statistics.median(self.frame_first_s)

    @property
    def bytes_per_run(self) -> float:
        return self.db_bytes / self.stored_runs


def run_benchmark(runs: int, workdir: str) -> Results:
    results = Results(runs=runs, machine={**machine_info(), "revision": source_revision()})
    rng = random.Random(0)
    server = ServerProcess(workdir)
    progress(f"server pid {server.pid} at {server.uri}")
    try:
        client = trackwire.TrackwireClient(server.uri)
        trackwire.set_tracking_uri(server.uri)

        # Warm-up: every call the figures time, once, on an experiment of its own.
        warmup_id = client.create_experiment("bench-search-warmup")
        warmup = Created()
        create_runs(client, warmup_id, rng, WARMUP_RUNS, warmup)
        client.search_runs([warmup_id], filter_string=FILTER, order_by=ORDER_BY, max_results=TOP)
        check_frame(trackwire.search_runs(experiment_ids=[warmup_id]), warmup)
        results.round_trip_us = measure_round_trip(client)
        progress(f"one empty call: {results.round_trip_us:.0f} us")

        # (a') MLflow's two calls per run, on a sample in an experiment of its own.
        results.two_call_runs = min(TWO_CALL_RUNS, runs)
        two_call_id = client.create_experiment("bench-search-two-calls")
        results.two_call_s = create_runs_two_calls(client, two_call_id, rng, results.two_call_runs)
        progress(f"(a') {results.two_call_runs:,} runs in two calls: {results.two_call_s:.2f} s")
        if hasattr(client, "create_runs"):
            results.batched_runs = min(BATCHED_RUNS, runs)
            batched_id = client.create_experiment("bench-search-batched")
            results.batched_s = create_runs_batched(client, batched_id, rng, results.batched_runs)
            progress(
                f"(a) {results.batched_runs:,} runs through create_runs: {results.batched_s:.2f} s"
            )

        experiment_id = client.create_experiment("bench-search")
        created = Created()
        results.first_runs = min(FIRST_RUNS, runs)
        results.first_create_s = create_runs(
            client, experiment_id, rng, results.first_runs, created
        )
        progress(f"(a') {results.first_runs:,} runs: {results.first_create_s:.2f} s")
        results.search_first = measure_filtered_search(client, experiment_id, created)
        progress(f"(b) filtered search p50 {results.search_first.p50:.2f} ms")
        results.frame_first_s = measure_frame(experiment_id, created, FRAME_REPEATS)
        progress(f"(c) DataFrame {results.frame_first_median_s:.3f} s")

        if results.rest_runs:
            progress(f"(a') creating {results.rest_runs:,} more runs")
            results.rest_create_s = create_runs(
                client, experiment_id, rng, results.rest_runs, created
            )
            progress(f"(a') {results.rest_runs:,} more runs: {results.rest_create_s:.2f} s")
            results.search_all = measure_filtered_search(client, experiment_id, created)
            progress(f"(d) filtered search p50 {results.search_all.p50:.2f} ms")
            (results.frame_all_s,) = measure_frame(experiment_id, created, 1)
            progress(f"(d) DataFrame of {len(created):,} runs: {results.frame_all_s:.2f} s")
        results.stored_runs = (
            len(warmup) + results.two_call_runs + results.batched_runs + len(created)
        )
    finally:
        close_clients_and_stop(server)
    results.server_peak_rss_bytes = server.peak_rss_bytes

    results.db_bytes_at_stop = database_bytes(server.db_path)
    checkpoint(server.db_path)
    results.db_bytes = database_bytes(server.db_path)
    return results


# -- the report ------------------------------------------------------------------------


def table_rows(r: Results) -> list[dict]:
    """One dict per line of the table (also what --json writes)."""
    first, n = r.first_runs, r.runs
    mlflow_runs_s = f"MLflow {MLFLOW_CREATE_RUNS_S} runs/s"
    ceiling = 1e6 / r.round_trip_us
    per_call = f"(information; <= {ceiling:,.0f}/s, see (a0))"
    rows = [
        dict(
            figure="(a0) one empty call (GetServerInfo), median",
            value=r.round_trip_us,
            unit="us",
            target="(information)",
        ),
    ]
    if r.batched_runs:
        rows.append(
            dict(
                figure=f"(a) create_runs, {BATCH_SIZE:,} per call, {r.batched_runs:,} runs",
                value=r.batched_runs_s,
                unit="runs/s",
                reference=mlflow_runs_s,
                ratio=r.batched_runs_s / MLFLOW_CREATE_RUNS_S,
                target=f">= {TARGET_CREATE_RUNS_S:,} runs/s",
                result=verdict(r.batched_runs_s >= TARGET_CREATE_RUNS_S),
            )
        )
    rows.append(
        dict(
            figure=f"(a') create_run with its data, runs 1-{first:,}",
            value=r.first_runs_s,
            unit="runs/s",
            reference=mlflow_runs_s,
            ratio=r.first_runs_s / MLFLOW_CREATE_RUNS_S,
            target=per_call,
        )
    )
    if r.rest_runs:
        rows.append(
            dict(
                figure=f"(a') create_run with its data, runs {first + 1:,}-{n:,}",
                value=r.rest_runs_s,
                unit="runs/s",
                reference=mlflow_runs_s,
                ratio=r.rest_runs_s / MLFLOW_CREATE_RUNS_S,
                target=per_call,
            )
        )
    rows += [
        dict(
            figure=f"(a') create_run + log_batch, {r.two_call_runs:,} runs",
            value=r.two_call_runs_s,
            unit="runs/s",
            reference=mlflow_runs_s,
            ratio=r.two_call_runs_s / MLFLOW_CREATE_RUNS_S,
            target="(information)",
        ),
    ]
    rows += [
        dict(
            figure=f"(b) filtered top-100 search, {first:,} runs, p50",
            value=r.search_first.p50,
            unit="ms",
            reference=f"MLflow {MLFLOW_SEARCH_P50_MS} ms",
            ratio=MLFLOW_SEARCH_P50_MS / r.search_first.p50,
            target=f"<= {TARGET_SEARCH_P50_MS_FIRST} ms",
            result=verdict(r.search_first.p50 <= TARGET_SEARCH_P50_MS_FIRST),
        ),
        dict(
            figure=f"(b) filtered top-100 search, {first:,} runs, max",
            value=r.search_first.max,
            unit="ms",
            reference=f"MLflow {MLFLOW_SEARCH_MAX_MS} ms",
            ratio=MLFLOW_SEARCH_MAX_MS / r.search_first.max,
            target="(information)",
        ),
        dict(
            figure=f"(c) all {first:,} runs into a DataFrame, median",
            value=r.frame_first_median_s,
            unit="s",
            decimals=3,
            reference=f"MLflow {MLFLOW_FRAME_S} s",
            ratio=MLFLOW_FRAME_S / r.frame_first_median_s,
            target=f"<= {TARGET_FRAME_S} s",
            result=verdict(r.frame_first_median_s <= TARGET_FRAME_S),
        ),
    ]
    if r.search_all is not None:
        mlflow_at_first = f"MLflow {{}} ms at {FIRST_RUNS:,} runs"
        rows += [
            dict(
                figure=f"(d) filtered top-100 search, {n:,} runs, p50",
                value=r.search_all.p50,
                unit="ms",
                reference=mlflow_at_first.format(MLFLOW_SEARCH_P50_MS),
                ratio=MLFLOW_SEARCH_P50_MS / r.search_all.p50,
                target=f"<= {TARGET_SEARCH_P50_MS_ALL} ms",
                result=verdict(r.search_all.p50 <= TARGET_SEARCH_P50_MS_ALL),
            ),
            dict(
                figure=f"(d) filtered top-100 search, {n:,} runs, max",
                value=r.search_all.max,
                unit="ms",
                reference=mlflow_at_first.format(MLFLOW_SEARCH_MAX_MS),
                ratio=MLFLOW_SEARCH_MAX_MS / r.search_all.max,
                target="(information)",
            ),
            dict(
                figure=f"(d) all {n:,} runs into a DataFrame, once",
                value=r.frame_all_s,
                unit="s",
                decimals=3,
                reference=f"MLflow {MLFLOW_FRAME_S} s at {FIRST_RUNS:,} runs",
                target="(information)",
            ),
        ]
    rss = r.server_peak_rss_bytes
    rows += [
        dict(
            figure="(e) database bytes per stored run",
            value=r.bytes_per_run,
            unit="bytes",
            target="(information)",
        ),
        dict(
            figure="server peak RSS (VmHWM)",
            value=None if rss is None else rss / 2**20,
            unit="MB",
            reference="MLflow 2.5 GB (W1-W6)",
            target="(information)",
        ),
    ]
    return rows


def report(r: Results) -> None:
    m = r.machine
    print(f"Trackwire {m['trackwire']} ({m['revision']}) search benchmark, {m['date']}")
    print(f"machine: {m['nproc']} x {m['cpu']}; Python {m['python']}; {m['platform']}")
    print(
        f"runs: {r.runs:,} in one experiment (5 params, 5 metrics, 2 tags each), after a "
        f"{WARMUP_RUNS}-run warm-up experiment; server: a separate process, SQLite (WAL), "
        "gRPC on localhost"
    )
    print(f"filter: {FILTER}; order_by: {ORDER_BY}; max_results={TOP}; {SEARCH_REPEATS} repeats")
    print()
    print_figures(r.rows)
    print()
    if r.batched_runs:
        print(f"(a) {r.batched_s:.2f} s for {r.batched_runs:,} runs through create_runs")
    times = f"{r.first_create_s:.2f} s for {r.first_runs:,} runs one call each"
    if r.rest_runs:
        times += f", {r.rest_create_s:.2f} s for {r.rest_runs:,} more"
    times += f"; {r.two_call_s:.2f} s for {r.two_call_runs:,} runs in two calls each"
    print(f"(a') {times}")
    print(
        f"(c) {', '.join(f'{t:.3f}' for t in r.frame_first_s)} s; every answer checked "
        "(the right runs, order and columns)"
    )
    print(
        f"(e) {r.db_bytes:,} bytes for {r.stored_runs:,} stored runs (warm-up and (a') "
        f"included) after wal_checkpoint(TRUNCATE); {r.db_bytes_at_stop:,} bytes as the "
        "server left it"
    )
    print("ratios: 'x ref' = times better than the reference (rates: Trackwire / reference;")
    print("        times: reference / Trackwire); MLflow's figures are for 5,000 runs")


def to_json(r: Results) -> dict:
    return {
        "machine": r.machine,
        "runs": r.runs,
        "warmup_runs": WARMUP_RUNS,
        "first_runs": r.first_runs,
        "first_create_s": r.first_create_s,
        "first_runs_per_s": r.first_runs_s,
        "rest_runs": r.rest_runs,
        "rest_create_s": r.rest_create_s,
        "rest_runs_per_s": r.rest_runs_s,
        "two_call_runs": r.two_call_runs,
        "two_call_s": r.two_call_s,
        "two_call_runs_per_s": r.two_call_runs_s,
        "batched_runs": r.batched_runs,
        "batched_s": r.batched_s,
        "batched_runs_per_s": r.batched_runs_s,
        "search_first_ms": r.search_first.ms,
        "search_all_ms": r.search_all.ms if r.search_all else None,
        "frame_first_s": r.frame_first_s,
        "frame_all_s": r.frame_all_s,
        "db_bytes": r.db_bytes,
        "db_bytes_at_stop": r.db_bytes_at_stop,
        "stored_runs": r.stored_runs,
        "bytes_per_run": r.bytes_per_run,
        "server_peak_rss_bytes": r.server_peak_rss_bytes,
        "table": r.rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--runs", type=int, default=100_000, help="runs in the experiment (default %(default)s)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    with tempfile.TemporaryDirectory(prefix="trackwire-bench-") as workdir:
        results = run_benchmark(args.runs, workdir)
    results.rows = table_rows(results)
    return publish(results, report, to_json, args.json)


if __name__ == "__main__":
    sys.exit(main())
