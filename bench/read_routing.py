"""What reads on a replica cost and give (issue #15, item 7): `--db-read-url`.

Run with `python bench/read_routing.py [--runs 5000] [--rounds 3] [--json PATH]`.
A throw-away PostgreSQL primary and a streaming replica of it (tests/support/db_servers:
initdb, `pg_basebackup -R`, both on this machine), and two `trackwire server` processes
on the same primary database: P without a replica, R with `--db-read-url`. Measured:

  W5   the filtered top-100 search (bench/search.py's (b): `metrics.accuracy > 0.8 and
       params.model_type = 'rf'`, by f1) over N runs, p50 of 30 searches, ms: on P; on R
       by a client that wrote nothing (served by the replica); on R by the client that
       created the runs (its position replayed: the replica too);
  LB10 `log_batch` of 10 points, one call per batch, p50 of 500 calls, ms, and the
       server process's CPU time per call, us (LB10cpu: steadier than latencies on a
       loaded machine): what carrying the position costs a small write (P vs R: the
       position answered with the COMMIT, a trailing metadata entry, the client keeping
       it and sending it back);
  W2   `log_batch` of 1,000 points per call, points/s, median of the rounds, P vs R;
  GSI  an empty call (GetServerInfo) p50 in microseconds on P through the client's
       channel wrapper (trackwire_protocol.positions) and through the bare channel: what
       the wrapper costs every call, replica or not.

Rounds alternate P and R so that the machine's drift hits both alike. Both databases
and both servers share this machine's cores: the replica adds no capacity here, so the
figures say what the route costs, not what a replica on its own machine gives.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import grpc  # noqa: E402

import trackwire  # noqa: E402
from tests.support.db_servers import PostgresReplica, PostgresServer  # noqa: E402
from tests.support.server_process import ServerProcess  # noqa: E402
from trackwire import Metric  # noqa: E402
from trackwire.v1 import tracking_service_pb2, tracking_service_pb2_grpc  # noqa: E402
from trackwire_protocol.channel import Connection  # noqa: E402

FILTER = "metrics.accuracy > 0.8 and params.model_type = 'rf'"
ORDER = ["metrics.f1 DESC"]


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def create_runs(client: trackwire.TrackwireClient, experiment_id: str, n: int) -> None:
    rng = random.Random(7)
    for lo in range(0, n, 1000):
        runs = []
        for i in range(lo, min(n, lo + 1000)):
            runs.append(
                {
                    "run_name": f"run-{i}",
                    "params": {
                        "model_type": rng.choice(["rf", "lr", "xgb"]),
                        "C": str(rng.random()),
                        "max_depth": str(rng.randint(2, 12)),
                        "lr": str(rng.random() / 10),
                        "seed": str(i),
                    },
                    "metrics": [
                        Metric(k, rng.random(), 1_700_000_000_000, 0)
                        for k in ("accuracy", "f1", "precision", "recall", "auc")
                    ],
                    "tags": {"team": "bench", "kind": "w5"},
                }
            )
        client.create_runs(experiment_id, runs)


def search_p50(client, experiment_id: str, times: int = 30) -> float:
    for _ in range(3):  # warm-up: connection, statement cache, buffers
        client.search_runs([experiment_id], FILTER, order_by=ORDER, max_results=100)
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        runs = client.search_runs([experiment_id], FILTER, order_by=ORDER, max_results=100)
        samples.append((time.perf_counter() - started) * 1000)
        assert len(runs) == 100
    return p50(samples)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def small_batches(clients: dict, pids: dict, run_id: str, calls: int = 500) -> dict:
    """Per side: p50 ms of a 10-point log_batch, and the server process's CPU us per
    call; the sides' calls interleaved, in turns (P R R P P R ...)."""
    samples: dict[str, list[float]] = {side: [] for side in clients}
    cpu_before = {side: cpu_seconds(pid) for side, pid in pids.items()}
    step = int(time.time() * 1000) % 1_000_000_000
    sides = list(clients.items())
    for n in range(calls):
        for side, client in sides if n % 2 == 0 else sides[::-1]:  # P R R P P R ...
            metrics = [Metric("lb10", 0.5, 1_700_000_000_000, step + i) for i in range(10)]
            step += 10
            started = time.perf_counter()
            client.log_batch(run_id, metrics=metrics)
            samples[side].append((time.perf_counter() - started) * 1000)
    return {
        side: (p50(values), (cpu_seconds(pids[side]) - cpu_before[side]) / calls * 1e6)
        for side, values in samples.items()
    }


def w2_points_per_s(client, run_id: str, calls: int = 50) -> float:
    step = 0
    started = time.perf_counter()
    for _ in range(calls):
        metrics = [Metric("w2", 0.5, 1_700_000_000_000, step + i) for i in range(1000)]
        step += 1000
        client.log_batch(run_id, metrics=metrics)
    return calls * 1000 / (time.perf_counter() - started)


def empty_call_us(target: str, calls: int = 2000) -> dict[str, float]:
    """GetServerInfo p50 through the client's channel wrapper and through a bare channel,
    interleaved."""
    connection = Connection.open(target)
    channel = grpc.insecure_channel(target)
    stubs = {
        "wrapped": connection.tracking,
        "bare": tracking_service_pb2_grpc.TrackingServiceStub(channel),
    }
    request = tracking_service_pb2.GetServerInfoRequest()
    samples: dict[str, list[float]] = {side: [] for side in stubs}
    for _ in range(200):
        for stub in stubs.values():
            stub.GetServerInfo(request)
    items = list(stubs.items())
    for n in range(calls):
        for side, stub in items if n % 2 == 0 else items[::-1]:
            started = time.perf_counter()
            stub.GetServerInfo(request)
            samples[side].append((time.perf_counter() - started) * 1e6)
    connection.close()
    channel.close()
    return {side: p50(values) for side, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default=os.path.join(HERE, "results", "read_routing.json"))
    args = parser.parse_args()
    primary = PostgresServer()
    replica = None
    servers: list[ServerProcess] = []
    figures: dict[str, dict[str, list[float]]] = {}

    def add(name: str, side: str, value: float) -> None:
        figures.setdefault(name, {}).setdefault(side, []).append(value)
        print(f"{name:<5} {side:<14} {value:,.2f}", flush=True)

    try:
        primary.setup()
        replica = PostgresReplica(primary).setup()
        work = tempfile.mkdtemp(prefix="trackwire-bench-read-routing-")
        plain = ServerProcess(primary.app_url, os.path.join(work, "a")).start()
        servers.append(plain)
        routed = ServerProcess(
            primary.app_url,
            os.path.join(work, "a"),
            extra_args=("--db-read-url", replica.app_url),
        ).start()
        servers.append(routed)
        writer = trackwire.TrackwireClient(routed.uri)
        experiment_id = writer.create_experiment("w5")
        create_runs(writer, experiment_id, args.runs)
        primary.sql("ANALYZE", dbname="test")
        replica.wait_replayed()
        run_id = writer.create_run(writer.create_experiment("writes")).info.run_id
        replica.wait_replayed()
        clients = {
            "P": trackwire.TrackwireClient(plain.uri),
            "R": trackwire.TrackwireClient(routed.uri),
        }
        for round_ in range(args.rounds):
            print(f"-- round {round_ + 1}", flush=True)
            add("W5", "P primary", search_p50(clients["P"], experiment_id))
            add("W5", "R replica", search_p50(clients["R"], experiment_id))
            add("W5", "R writer", search_p50(writer, experiment_id))
            pids = {"P": plain.process.pid, "R": routed.process.pid}
            for side, (ms, cpu_us) in small_batches(clients, pids, run_id).items():
                add("LB10", side, ms)
                add("LB10cpu", side, cpu_us)
            for side in ("P", "R"):
                add("W2", side, w2_points_per_s(clients[side], run_id))
            replica.wait_replayed()
            for side, value in empty_call_us(plain.target).items():
                add("GSI", side, value)
        for client in (*clients.values(), writer):
            client.close()
    finally:
        for server in servers:
            server.stop()
        if replica is not None:
            replica.close()
        primary.close()
    report = {"runs": args.runs, "rounds": args.rounds, "figures": figures, "medians": {}}
    print(f"\nmedians over {args.rounds} rounds ({args.runs} runs):")
    for name, sides in figures.items():
        report["medians"][name] = {side: p50(values) for side, values in sides.items()}
        line = ", ".join(f"{side} {p50(v):,.2f}" for side, v in sides.items())
        print(f"  {name}: {line}")
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
