"""The live feed across servers (issue #15): how long a committed point takes to reach a
WatchMetrics stream on another server, and what announcing commits costs writers.

Run with `python bench/feed_latency.py [--postgres URL] [--mysql URL] [--batches N]
[--stream-points N] [--baseline-rev REV] [--json PATH]` (`make bench` runs it).

Databases: --postgres / --mysql, else $TRACKWIRE_TEST_POSTGRES_URL /
$TRACKWIRE_TEST_MYSQL_URL, else the local test servers (tests/conftest.py's defaults); one
that does not answer is skipped (and SQLite, one server per file, is measured for
reference). Each database is emptied first (every Trackwire table is dropped).

(a) Latency. Two server processes, A and B, on the database. A watcher on A (WatchMetrics)
    and a writer (one WriteMetrics stream of `--batches` batches of 10 points, 2 keys,
    after a random pause of 0-40 ms each, so that MariaDB's poll phase is random): the
    time from the batch's acknowledgement to the arrival of its last point at the
    watcher. "cross-server": written through B; "same server": written through A (the
    in-process path). A point that arrived before the acknowledgement counts 0. Every
    point is checked (exactly once, in order).
(b) Writer overhead (`--stream-points`, default 1,000,000; 0 skips it). One server on
    the database; one client streams that many points of one key (`log_metric_async`,
    then `flush_metrics`), and 1,000 LogBatch calls of 5 points each (one transaction
    each: where one NOTIFY or commit-log row per transaction weighs most), and 8 threads
    making 200 such calls each on runs of their own (PostgreSQL takes a lock on its
    notification queue while a notifying transaction commits), nobody watching; this
    checkout against `--baseline-rev` (default: main, exported with `git
    archive`), alternately, `--rounds` times each; the best time of each is kept.

Writes bench/results/feed_latency.json (or --json PATH).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import statistics
import sys
import tempfile
import threading
import time

import grpc
from common import ServerProcess, export_revision

import trackwire
from trackwire.v1 import run_pb2
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire.v1 import tracking_service_pb2_grpc as stubs
from trackwire_server.store.migrations import drop_all

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LOCAL = {
    "postgresql": "postgresql://postgres@127.0.0.1:5432/test",
    "mysql": "mysql://root@127.0.0.1:3306/test",
}
ENV = {"postgresql": "TRACKWIRE_TEST_POSTGRES_URL", "mysql": "TRACKWIRE_TEST_MYSQL_URL"}
POINTS_PER_BATCH = 10


def answers(url: str) -> bool:
    from trackwire_server.store import open_database

    try:
        db = open_database(url)
        db.connect()
        db.close()
        return True
    except Exception:  # noqa: BLE001 - absent: skipped
        return False


# -- (a) latency ------------------------------------------------------------------------


class Watcher:
    def __init__(self, target: str, run_id: str):
        self.channel = grpc.insecure_channel(target)
        self.call = stubs.TrackingServiceStub(self.channel).WatchMetrics(
            pb.WatchMetricsRequest(run_ids=[run_id])
        )
        self.call.initial_metadata()  # registered: every later commit is sent
        self.arrivals: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for message in self.call:
                if message.overflowed:
                    raise RuntimeError("the watcher overflowed")
                self.arrivals.put((time.perf_counter(), list(message.points.steps)))
        except grpc.RpcError:
            pass

    def close(self) -> None:
        self.call.cancel()
        self.channel.close()


def latencies(writer_target: str, watcher_target: str, batches: int, label: str) -> list[float]:
    """Seconds from each batch's acknowledgement to its last point's arrival."""
    client = trackwire.TrackwireClient(f"grpc://{writer_target}")
    run_id = client.create_run(client.create_experiment(f"feed-{label}")).info.run_id
    client.close()
    watcher = Watcher(watcher_target, run_id)
    channel = grpc.insecure_channel(writer_target)
    requests: queue.Queue = queue.Queue()
    responses = stubs.TrackingServiceStub(channel).WriteMetrics(iter(requests.get, None))
    result = []
    rng = random.Random(15)
    try:
        for sequence in range(1, batches + 1):
            time.sleep(rng.uniform(0, 0.04))
            first = sequence * POINTS_PER_BATCH
            half = POINTS_PER_BATCH // 2
            steps = [first + i for i in range(half)] * 2
            requests.put(
                pb.WriteMetricsRequest(
                    writer_id=f"feed-bench-{label}",
                    sequence_number=sequence,
                    run_id=run_id,
                    points=run_pb2.MetricPoints(
                        keys=["loss", "acc"],
                        key_index=[0] * half + [1] * half,
                        steps=steps,
                        timestamps_ms=[1] * POINTS_PER_BATCH,
                        values=[0.5] * POINTS_PER_BATCH,
                    ),
                )
            )
            ack = next(responses)
            acked = time.perf_counter()
            if ack.sequence_number != sequence or ack.error_code:
                raise RuntimeError(f"batch {sequence} refused: {ack}")
            got: list[int] = []
            arrived = acked
            while len(got) < POINTS_PER_BATCH:
                arrived, more = watcher.arrivals.get(timeout=30)
                got += more
            if got != steps:
                raise RuntimeError(f"batch {sequence}: got steps {got}, sent {steps}")
            result.append(max(0.0, arrived - acked))
        try:
            extra = watcher.arrivals.get(timeout=0.3)
            raise RuntimeError(f"points nobody sent: {extra}")
        except queue.Empty:
            pass
    finally:
        requests.put(None)
        channel.close()
        watcher.close()
    return result


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {
        "batches": len(ms),
        "p50_ms": statistics.median(ms),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms),
    }


def measure_latency(kind: str, url: str, batches: int, workdir: str, pythonpath: str) -> dict:
    if kind != "sqlite":
        drop_all(url)
    a = ServerProcess(workdir, db_url=url, pythonpath=pythonpath)
    b = ServerProcess(workdir, db_url=url, pythonpath=pythonpath) if kind != "sqlite" else None
    try:
        figures = {"same server": summary(latencies(a.target, a.target, batches, "same"))}
        if b is not None:
            figures["cross-server"] = summary(latencies(b.target, a.target, batches, "cross"))
        return figures
    finally:
        for server in (a, b):
            if server is not None:
                server.stop()


# -- (b) writer overhead ----------------------------------------------------------------


def writer_times(url: str, pythonpath: str, workdir: str, points: int) -> dict:
    drop_all(url)
    server = ServerProcess(workdir, db_url=url, pythonpath=pythonpath)
    try:
        client = trackwire.TrackwireClient(server.uri)
        experiment_id = client.create_experiment("overhead")
        run_id = client.create_run(experiment_id).info.run_id
        start = time.perf_counter()
        for i in range(points):
            client.log_metric_async(run_id, "loss", 0.5, step=i)
        client.flush_metrics()
        stream_s = time.perf_counter() - start
        client.close_metric_writer()
        run_id = client.create_run(experiment_id).info.run_id
        start = time.perf_counter()
        for i in range(1000):
            client.log_batch(
                run_id, metrics=[trackwire.Metric(f"m{k}", 0.5, 1, i) for k in range(5)]
            )
        batch_ms = (time.perf_counter() - start) * 1000 / 1000
        client.close()
        concurrent = concurrent_log_batches(server.target, experiment_id)
    finally:
        server.stop()
    return {"stream_s": stream_s, "log_batch_ms": batch_ms, "concurrent_calls_per_s": concurrent}


def concurrent_log_batches(target: str, experiment_id: str, writers: int = 8, calls: int = 200):
    """LogBatch calls per second from `writers` threads, each on a run of its own."""
    clients = [trackwire.TrackwireClient(f"grpc://{target}") for _ in range(writers)]
    runs = [c.create_run(experiment_id).info.run_id for c in clients]
    barrier = threading.Barrier(writers + 1)

    def write(client, run_id):
        barrier.wait()
        for i in range(calls):
            client.log_batch(run_id, metrics=[trackwire.Metric("loss", 0.5, 1, i)])

    threads = [
        threading.Thread(target=write, args=pair) for pair in zip(clients, runs, strict=True)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    rate = writers * calls / (time.perf_counter() - start)
    for client in clients:
        client.close()
    return rate


def measure_overhead(url: str, versions: dict[str, str], points: int, rounds: int, workdir):
    found: dict[str, list[dict]] = {v: [] for v in versions}
    for _ in range(rounds):
        for version, pythonpath in versions.items():
            found[version].append(writer_times(url, pythonpath, workdir, points))
    return {
        version: {
            "stream_s": min(r["stream_s"] for r in runs),
            "stream_points_per_s": points / min(r["stream_s"] for r in runs),
            "log_batch_ms": min(r["log_batch_ms"] for r in runs),
            "concurrent_calls_per_s": max(r["concurrent_calls_per_s"] for r in runs),
        }
        for version, runs in found.items()
    }


# -- main -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", help="PostgreSQL URL ('none' to skip)")
    parser.add_argument("--mysql", help="MariaDB/MySQL URL ('none' to skip)")
    parser.add_argument(
        "--batches", type=int, default=400, help="batches per latency series (0: skip)"
    )
    parser.add_argument(
        "--stream-points", type=int, default=1_000_000, help="writer overhead: points (0: skip)"
    )
    parser.add_argument("--baseline-rev", default="main", help="writer overhead: compared with")
    parser.add_argument("--rounds", type=int, default=2, help="writer overhead: rounds each")
    parser.add_argument(
        "--json", default=os.path.join(HERE, "results", "feed_latency.json"), help="output"
    )
    args = parser.parse_args()
    here = os.pathsep.join(os.path.join(ROOT, p) for p in ("client", "server"))
    chosen = {"postgresql": args.postgres, "mysql": args.mysql}
    databases = {}
    for kind in ("postgresql", "mysql"):
        url = chosen[kind] or os.environ.get(ENV[kind]) or LOCAL[kind]
        if url.lower() == "none":
            continue
        if answers(url):
            databases[kind] = url
        else:
            print(f"{kind}: nothing answers at {url}; skipped")
    results: dict = {"batches": args.batches, "points_per_batch": POINTS_PER_BATCH}
    with tempfile.TemporaryDirectory(prefix="tw-feed-latency-") as workdir:
        latency = {}
        for kind, url in [*databases.items(), ("sqlite", f"sqlite:///{workdir}/feed.db")]:
            if args.batches:
                latency[kind] = measure_latency(kind, url, args.batches, workdir, here)
        results["latency"] = latency
        if latency:
            print(
                f"\nFeed latency, acknowledgement -> watcher, {args.batches} batches of 10 points"
            )
            print(f"{'database':<12} {'path':<14} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for kind, figures in latency.items():
            for path, s in figures.items():
                print(
                    f"{kind:<12} {path:<14} {s['p50_ms']:>8.1f} {s['p99_ms']:>8.1f} "
                    f"{s['max_ms']:>8.1f}"
                )
        if args.stream_points and databases:
            baseline_dir = os.path.join(workdir, "baseline")
            os.mkdir(baseline_dir)
            versions = {
                f"baseline {args.baseline_rev}": export_revision(args.baseline_rev, baseline_dir),
                "this checkout": here,
            }
            overhead = {
                kind: measure_overhead(url, versions, args.stream_points, args.rounds, workdir)
                for kind, url in databases.items()
            }
            results["writer_overhead"] = {
                "stream_points": args.stream_points,
                "rounds": args.rounds,
                "by_database": overhead,
            }
            print(
                f"\nWriters, nobody watching: {args.stream_points:,} points streamed; "
                f"1,000 LogBatch calls of 5 points (best of {args.rounds})"
            )
            print(
                f"{'database':<12} {'code':<22} {'stream s':>9} {'points/s':>10} "
                f"{'ms/call':>8} {'8 writers calls/s':>18}"
            )
            for kind, by_version in overhead.items():
                for version, f in by_version.items():
                    print(
                        f"{kind:<12} {version:<22} {f['stream_s']:>9.2f} "
                        f"{f['stream_points_per_s']:>10,.0f} {f['log_batch_ms']:>8.2f} "
                        f"{f['concurrent_calls_per_s']:>18,.0f}"
                    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
