"""Trackwire model registry benchmark: registrations per second, alone and under contention,
and models:/ URI resolution latency.

Run with `make bench` (or `python bench/registry.py [--calls N] [--json PATH]`). Issue #4.
One run measures, on this machine, against one server process on SQLite:

  (a) `trackwire.register_model("runs:/<run_id>/model", "Bench")` from one client, N
      calls one after another, in calls/s (each call is MLflow's two requests: create the
      registered model, answered ALREADY_EXISTS after the first, then create the version);
  (b) the same from 8 client processes at once on the same registered model (every
      version number is taken under that model's lock), N calls each, aggregate calls/s
      from the moment all 8 are ready until the last call returns; the version numbers
      are checked to be exactly 1..9N (with (a)'s), with no error in any caller;
  (c) `trackwire.artifacts.resolve("models:/Bench@champion")` (one GetModelVersionByAlias
      call, then the source parsed locally), 500 times, p50 and max in ms.

The server runs as its own process (`python -m trackwire_server ... --port 0`), so it has
the second core; clients talk to it over gRPC on localhost. There is no MLflow reference
for these workloads in WORKLOADS.md; "8 / 1" says how the aggregate rate of 8 contending
clients compares with one client alone. The machine is shared and noisy: compare ratios
and repeat runs rather than trusting one absolute figure.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field

from common import (
    ServerProcess,
    check,
    close_clients_and_stop,
    machine_info,
    print_figures,
    publish,
    source_revision,
)

import trackwire

MODEL = "Bench"
ALIAS = "champion"
CLIENTS = 8
RESOLUTIONS = 500
WARMUP_CALLS = 20


@dataclass
class Results:
    machine: dict
    calls: int
    single_s: float = 0.0
    concurrent_s: float = 0.0
    resolve_ms: list[float] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)

    @property
    def single_rate(self) -> float:
        return self.calls / self.single_s

    @property
    def concurrent_rate(self) -> float:
        return CLIENTS * self.calls / self.concurrent_s


def _register(uri: str, run_id: str, calls: int) -> list[int]:
    trackwire.set_tracking_uri(uri)
    # register_model reports each registration on stderr, as MLflow's does: not here.
    with contextlib.redirect_stderr(io.StringIO()):
        return [
            int(trackwire.register_model(f"runs:/{run_id}/model", MODEL).version)
            for _ in range(calls)
        ]


def _client_process(uri: str, run_id: str, calls: int, ready, start, results) -> None:
    """One of the 8 clients: connects, says it is ready, waits for the start, registers."""
    try:
        trackwire.set_tracking_uri(uri)
        # The channel of the default client (register_model's) up before the start.
        trackwire.get_experiment("0")
        ready.put(None)
        start.wait()
        results.put(("ok", _register(uri, run_id, calls)))
    except BaseException as e:
        results.put(("error", f"{type(e).__name__}: {e}"))


def run_benchmark(calls: int, workdir: str) -> Results:
    results = Results(machine={**machine_info(), "revision": source_revision()}, calls=calls)
    server = ServerProcess(workdir)
    try:
        trackwire.set_tracking_uri(server.uri)
        client = trackwire.TrackwireClient()
        experiment_id = client.create_experiment("registry-bench")
        run = client.create_run(experiment_id)
        run_id = run.info.run_id
        client.log_bytes(run_id, b"model weights", "model/model.pkl")
        client.log_bytes(run_id, b"flavors: {}", "model/MLmodel")

        # warm-up: connection set-up and first-call costs stay out of the figures
        numbers = _register(server.uri, run_id, WARMUP_CALLS)

        # (a) one client
        t0 = time.perf_counter()
        numbers += _register(server.uri, run_id, calls)
        results.single_s = time.perf_counter() - t0

        # (b) 8 client processes at once
        ctx = multiprocessing.get_context("spawn")
        ready, outcomes, start = ctx.Queue(), ctx.Queue(), ctx.Event()
        workers = [
            ctx.Process(
                target=_client_process, args=(server.uri, run_id, calls, ready, start, outcomes)
            )
            for _ in range(CLIENTS)
        ]
        for w in workers:
            w.start()
        for _ in workers:
            ready.get(timeout=120)
        t0 = time.perf_counter()
        start.set()
        done = [outcomes.get(timeout=600) for _ in workers]
        results.concurrent_s = time.perf_counter() - t0
        for w in workers:
            w.join(timeout=60)
        errors = [detail for status, detail in done if status != "ok"]
        check(not errors, f"clients failed: {errors}")
        for _, got in done:
            numbers += got
        expected = list(range(1, WARMUP_CALLS + (CLIENTS + 1) * calls + 1))
        check(sorted(numbers) == expected, "version numbers are not exactly 1..N")
        stored = sorted(int(v.version) for v in client.search_model_versions(f"name = '{MODEL}'"))
        check(stored == expected, "stored version numbers are not exactly 1..N")

        # (c) models:/<name>@<alias> resolution
        client.set_registered_model_alias(MODEL, ALIAS, expected[-1] // 2)
        uri = f"models:/{MODEL}@{ALIAS}"
        for _ in range(WARMUP_CALLS):
            trackwire.artifacts.resolve(uri)
        for _ in range(RESOLUTIONS):
            t0 = time.perf_counter()
            resolved = trackwire.artifacts.resolve(uri)
            results.resolve_ms.append((time.perf_counter() - t0) * 1000)
            check(
                (resolved.run_id, resolved.path, resolved.model_version)
                == (run_id, "model", str(expected[-1] // 2)),
                f"{uri} resolved to {resolved}",
            )
    finally:
        close_clients_and_stop(server)
    return results


def table_rows(r: Results) -> list[dict]:
    return [
        {"figure": "register_model, 1 client", "value": r.single_rate, "unit": "calls/s"},
        {
            "figure": f"register_model, {CLIENTS} client processes (aggregate)",
            "value": r.concurrent_rate,
            "unit": "calls/s",
            "reference": "1 client",
            "ratio": r.concurrent_rate / r.single_rate,
        },
        {
            "figure": f"resolve models:/{MODEL}@{ALIAS}, p50",
            "value": statistics.median(r.resolve_ms),
            "unit": "ms",
        },
        {
            "figure": f"resolve models:/{MODEL}@{ALIAS}, max",
            "value": max(r.resolve_ms),
            "unit": "ms",
        },
    ]


def report(r: Results) -> None:
    m = r.machine
    print(f"Trackwire registry benchmark, {m['date']}, revision {m['revision']}")
    print(f"{m['nproc']} cores ({m['cpu']}), Python {m['python']}; server on SQLite")
    print()
    print_figures(r.rows)
    print()
    print(
        f"(a) {r.calls:,} calls in {r.single_s:.2f} s; (b) {CLIENTS} x {r.calls:,} calls in "
        f"{r.concurrent_s:.2f} s, versions checked to be exactly 1..N; (c) {RESOLUTIONS} "
        "resolutions, each checked"
    )
    print(f"'x ref' of (b): aggregate rate of {CLIENTS} contending clients / one client alone")


def to_json(r: Results) -> dict:
    return {
        "machine": r.machine,
        "calls_per_client": r.calls,
        "clients": CLIENTS,
        "single_s": r.single_s,
        "single_calls_per_s": r.single_rate,
        "concurrent_s": r.concurrent_s,
        "concurrent_calls_per_s": r.concurrent_rate,
        "resolve_ms_p50": statistics.median(r.resolve_ms),
        "resolve_ms_max": max(r.resolve_ms),
        "table": r.rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--calls",
        type=int,
        default=500,
        help="register_model calls per client (default %(default)s)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    with tempfile.TemporaryDirectory(prefix="trackwire-bench-") as workdir:
        results = run_benchmark(args.calls, workdir)
    results.rows = table_rows(results)
    return publish(results, report, to_json, args.json)


if __name__ == "__main__":
    sys.exit(main())
