"""Trackwire ingest benchmark: metric points in, metric history out, bytes on disk.

Run with `make bench` (or `python bench/ingest.py [--points N] [--json PATH]`). One run
measures, on this machine and in this process:

  (a) end-to-end ingest: `trackwire.log_metric("loss", v, step=i)` N times inside
      `with trackwire.start_run():`, timed from the first call until the `with` block
      has ended the run (which flushes and waits until the server committed every
      point), in points/s;
  (b) the cost of one `log_metric` call in the training loop: the loop alone / N, in µs;
  (c) reading the N points back with `TrackwireClient.read_metric_history` (columns),
      points/s, median of 3; (c') the same through the MLflow-shaped
      `get_metric_history` (a list of Metric objects), for information;
  (d) the raw SQLite ceiling: Python sqlite3, WAL, synchronous=NORMAL, one row per
      point with an index on (run_id, key, step), `executemany` of the same N rows in
      10,000-row transactions, rows/s;
  (e) the server's database size (db + -wal + -shm, after the server stopped and a
      `PRAGMA wal_checkpoint(TRUNCATE)`) per stored point, in bytes;
  and the server process's peak resident memory (VmHWM).

The server runs as its own process (`python -m trackwire_server ... --port 0`), as users
run it, so it has the second core; the client talks to it over gRPC on localhost. A
20,000-point warm-up run goes first so that connection set-up and first-call costs stay
out of (a) and (b).

Reading the ratios: "× ref" is Trackwire's figure divided by the reference (for bytes
per point it is the reference divided by Trackwire's, so above 1 is always better).
(a)/(d) is the share of the raw SQLite insert rate that Trackwire's whole path (client,
gRPC, server, SQLite) reaches. The MLflow figures are constants from
../shared/bench/WORKLOADS.md (beside the repository), measured on this machine type; the machines are shared
and noisy, so compare ratios and repeat runs rather than trusting one absolute time.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
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
    verdict,
)

import trackwire

WARMUP_POINTS = 20_000
SQLITE_TRANSACTION_ROWS = 10_000
READ_REPEATS = 3

# MLflow 3.17.2 and raw SQLite on this machine type, from ../shared/bench/WORKLOADS.md (beside the repository)
# ("MLflow 3.17.2, measured 2026-11-26 (2 cores, Python 3.11)" and "The ceiling on this
# machine (same day)").
MLFLOW_PER_CALL_POINTS_S = 102  # W1, fluent log_metric against `mlflow server`
MLFLOW_LOG_BATCH_POINTS_S = 7_551  # W2, MlflowClient().log_batch of 1,000 points
MLFLOW_HISTORY_POINTS_S = 17_800  # W4, get_metric_history of 100,000 points
MLFLOW_BYTES_PER_POINT = 280  # MLflow's database size per stored point
REFERENCE_SQLITE_ROWS_S = 630_000  # raw SQLite executemany ceiling, same day

# Targets.
TARGET_INGEST_POINTS_S = 300_000
TARGET_INGEST_SHARE_OF_SQLITE = 0.5
TARGET_CALL_US = 3.0
TARGET_READ_POINTS_S = 1_000_000
TARGET_BYTES_PER_POINT = 24


# -- the figures -----------------------------------------------------------------------


def make_values(n: int) -> list[float]:
    """A loss-like curve with noise; the same values for Trackwire and raw SQLite."""
    rng = random.Random(0)
    return [1.0 / (1.0 + 0.001 * i) + 0.01 * rng.random() for i in range(n)]


def measure_raw_sqlite(path: str, values: list[float]) -> float:
    """(d) rows/s: executemany of one row per point in 10,000-row transactions."""
    n = len(values)
    run_id = uuid.uuid4().hex
    base_ms = time.time_ns() // 1_000_000
    rows = [(run_id, "loss", i, base_ms + i // 1000, v) for i, v in enumerate(values)]
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE metrics (run_id TEXT, key TEXT, step INTEGER, timestamp INTEGER,"
            " value REAL)"
        )
        db.execute("CREATE INDEX metrics_series ON metrics (run_id, key, step)")
        insert = "INSERT INTO metrics VALUES (?, ?, ?, ?, ?)"
        start = time.perf_counter()
        for i in range(0, n, SQLITE_TRANSACTION_ROWS):
            db.execute("BEGIN")
            db.executemany(insert, rows[i : i + SQLITE_TRANSACTION_ROWS])
            db.execute("COMMIT")
        elapsed = time.perf_counter() - start
        (count,) = db.execute("SELECT count(*) FROM metrics").fetchone()
        check(count == n, f"raw SQLite stored {count} rows of {n}")
    finally:
        db.close()
    return n / elapsed


@dataclass
class Ingest:
    run_id: str
    points: int
    loop_s: float  # the log_metric loop alone
    total_s: float  # first call until the run has ended (every point committed)

    @property
    def points_per_s(self) -> float:
        return self.points / self.total_s

    @property
    def call_us(self) -> float:
        return self.loop_s / self.points * 1e6


def measure_ingest(values: list[float]) -> Ingest:
    """(a) and (b): the fluent API loop in one run, until the run has ended."""
    log_metric = trackwire.log_metric
    with trackwire.start_run() as run:
        start = time.perf_counter()
        for i, v in enumerate(values):
            log_metric("loss", v, step=i)
        loop_end = time.perf_counter()
    end = time.perf_counter()
    return Ingest(run.info.run_id, len(values), loop_end - start, end - start)


def measure_read(uri: str, run_id: str, values: list[float]) -> tuple[float, float]:
    """(c) and (c') in points/s, median of READ_REPEATS; checks what comes back."""
    client = trackwire.TrackwireClient(uri)
    n = len(values)
    columns, objects = [], []
    for _ in range(READ_REPEATS):
        start = time.perf_counter()
        history = client.read_metric_history(run_id, "loss")
        columns.append(time.perf_counter() - start)
        check(len(history) == n, f"read_metric_history returned {len(history)} points of {n}")
        check(history.steps == list(range(n)) and history.values == values, "history differs")
        del history

        start = time.perf_counter()
        metrics = client.get_metric_history(run_id, "loss")
        objects.append(time.perf_counter() - start)
        check(len(metrics) == n, f"get_metric_history returned {len(metrics)} points of {n}")
        del metrics
    return n / statistics.median(columns), n / statistics.median(objects)


# -- the run ---------------------------------------------------------------------------


@dataclass
class Results:
    points: int
    machine: dict
    sqlite_rows_s: float = 0.0
    warmup: Ingest | None = None
    ingest: Ingest | None = None
    read_points_s: float = 0.0
    read_metrics_points_s: float = 0.0
    db_bytes_at_stop: int = 0
    db_bytes: int = 0
    stored_points: int = 0
    server_peak_rss_bytes: int | None = None
    rows: list[dict] = field(default_factory=list)

    @property
    def bytes_per_point(self) -> float:
        return self.db_bytes / self.stored_points


def run_benchmark(points: int, workdir: str) -> Results:
    results = Results(points=points, machine=machine_info())
    values = make_values(points)

    # The ceiling first, with the machine otherwise idle (no server yet).
    results.sqlite_rows_s = measure_raw_sqlite(os.path.join(workdir, "raw.db"), values)

    server = ServerProcess(workdir)
    try:
        trackwire.set_tracking_uri(server.uri)
        trackwire.set_experiment("bench-ingest")
        warmup_values = make_values(min(WARMUP_POINTS, points))
        results.warmup = measure_ingest(warmup_values)
        measure_read(server.uri, results.warmup.run_id, warmup_values)

        results.ingest = measure_ingest(values)
        results.read_points_s, results.read_metrics_points_s = measure_read(
            server.uri, results.ingest.run_id, values
        )
        results.stored_points = results.warmup.points + results.ingest.points
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
    a, d = r.ingest.points_per_s, r.sqlite_rows_s
    a_target = a >= TARGET_INGEST_POINTS_S and a / d >= TARGET_INGEST_SHARE_OF_SQLITE
    rss = r.server_peak_rss_bytes
    return [
        dict(
            figure="(a) ingest, log_metric loop until run ended",
            value=a,
            unit="points/s",
            reference="raw SQLite (d)",
            ratio=a / d,
            target=f">= {TARGET_INGEST_POINTS_S:,} points/s and >= "
            f"{TARGET_INGEST_SHARE_OF_SQLITE}x (d)",
            result=verdict(a_target),
        ),
        dict(
            figure="(a) vs MLflow per-call log_metric",
            value=a,
            unit="points/s",
            reference=f"{MLFLOW_PER_CALL_POINTS_S:,} points/s",
            ratio=a / MLFLOW_PER_CALL_POINTS_S,
        ),
        dict(
            figure="(a) vs MLflow log_batch x 1,000",
            value=a,
            unit="points/s",
            reference=f"{MLFLOW_LOG_BATCH_POINTS_S:,} points/s",
            ratio=a / MLFLOW_LOG_BATCH_POINTS_S,
        ),
        dict(
            figure="(b) one log_metric call in the loop",
            value=r.ingest.call_us,
            unit="us",
            target=f"<= {TARGET_CALL_US} us",
            result=verdict(r.ingest.call_us <= TARGET_CALL_US),
        ),
        dict(
            figure="(c) read_metric_history (columns)",
            value=r.read_points_s,
            unit="points/s",
            reference=f"MLflow {MLFLOW_HISTORY_POINTS_S:,} points/s",
            ratio=r.read_points_s / MLFLOW_HISTORY_POINTS_S,
            target=f">= {TARGET_READ_POINTS_S:,} points/s",
            result=verdict(r.read_points_s >= TARGET_READ_POINTS_S),
        ),
        dict(
            figure="(c') get_metric_history (Metric objects)",
            value=r.read_metrics_points_s,
            unit="points/s",
            reference=f"MLflow {MLFLOW_HISTORY_POINTS_S:,} points/s",
            ratio=r.read_metrics_points_s / MLFLOW_HISTORY_POINTS_S,
            target="(information)",
        ),
        dict(
            figure="(d) raw SQLite executemany, this run",
            value=d,
            unit="rows/s",
            reference=f"WORKLOADS.md {REFERENCE_SQLITE_ROWS_S:,} rows/s",
            ratio=d / REFERENCE_SQLITE_ROWS_S,
            target="(the ceiling)",
        ),
        dict(
            figure="(e) database bytes per stored point",
            value=r.bytes_per_point,
            unit="bytes",
            reference=f"MLflow {MLFLOW_BYTES_PER_POINT} bytes",
            ratio=MLFLOW_BYTES_PER_POINT / r.bytes_per_point,
            target=f"<= {TARGET_BYTES_PER_POINT} bytes",
            result=verdict(r.bytes_per_point <= TARGET_BYTES_PER_POINT),
        ),
        dict(
            figure="server peak RSS (VmHWM)",
            value=None if rss is None else rss / 2**20,
            unit="MB",
            reference="MLflow 2.5 GB (W1-W6)",
            target="(information)",
        ),
    ]


def report(r: Results) -> None:
    m = r.machine
    print(f"Trackwire {m['trackwire']} ingest benchmark, {m['date']}")
    print(f"machine: {m['nproc']} x {m['cpu']}; Python {m['python']}; {m['platform']}")
    print(
        f"points: {r.points:,} in one run, after a {r.warmup.points:,}-point warm-up run; "
        "server: a separate process, SQLite (WAL), gRPC on localhost"
    )
    print()
    print_figures(r.rows)
    ing = r.ingest
    print()
    print(
        f"(a) {ing.total_s:.2f} s in all: the loop {ing.loop_s:.2f} s, then "
        f"{ing.total_s - ing.loop_s:.2f} s until the run had ended"
    )
    print(
        f"(e) {r.db_bytes:,} bytes for {r.stored_points:,} stored points (warm-up included) "
        f"after wal_checkpoint(TRUNCATE); {r.db_bytes_at_stop:,} bytes as the server left it"
    )
    print("ratios: 'x ref' = Trackwire / reference (for bytes: reference / Trackwire)")


def to_json(r: Results) -> dict:
    return {
        "machine": r.machine,
        "points": r.points,
        "warmup_points": r.warmup.points,
        "ingest_points_s": r.ingest.points_per_s,
        "ingest_loop_s": r.ingest.loop_s,
        "ingest_total_s": r.ingest.total_s,
        "call_us": r.ingest.call_us,
        "read_metric_history_points_s": r.read_points_s,
        "get_metric_history_points_s": r.read_metrics_points_s,
        "raw_sqlite_rows_s": r.sqlite_rows_s,
        "db_bytes": r.db_bytes,
        "db_bytes_at_stop": r.db_bytes_at_stop,
        "stored_points": r.stored_points,
        "bytes_per_point": r.bytes_per_point,
        "server_peak_rss_bytes": r.server_peak_rss_bytes,
        "table": r.rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--points", type=int, default=1_000_000, help="points (default %(default)s)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.points < 1:
        parser.error("--points must be at least 1")

    with tempfile.TemporaryDirectory(prefix="trackwire-bench-") as workdir:
        results = run_benchmark(args.points, workdir)
    results.rows = table_rows(results)
    return publish(results, report, to_json, args.json)


if __name__ == "__main__":
    sys.exit(main())
