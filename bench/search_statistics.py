"""The W5 filtered search right after the runs are created (issue #15, search statistics).

Run with `python bench/search_statistics.py [--db URL ...] [--baseline-rev REV]`.

For each database (default: $TRACKWIRE_TEST_POSTGRES_URL and $TRACKWIRE_TEST_MYSQL_URL,
if set, and a SQLite file) and each code version (this checkout, and
`--baseline-rev`, by default `main`, exported with `git archive`), on an emptied
database: a server process starts, 5,000 runs are created through the public client
(`create_runs`, 1,000 per call, W5's runs: 5 params, 5 metrics, 2 tags), and at once the
W5 search (bench/compare/workloads.py: W5_FILTER, W5_ORDER_BY, top W5_TOP) runs
W5_SEARCH_REPEATS times; every answer is checked. Printed: p50, first and max in ms,
and on PostgreSQL, for reference, the p50 of as many searches after an explicit ANALYZE
of the whole database.

PostgreSQL plans from statistics that only ANALYZE gathers (autovacuum does, when its
timing says so): a search made right after a bulk write meets tables the planner knows
nothing about. Both versions run in the same invocation, alternately, so their figures
share the machine's load.

Needs permission to empty the databases it is given (all Trackwire tables are dropped).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "compare"))

from common import ServerProcess, export_revision  # noqa: E402
from workloads import (  # noqa: E402
    W5_FILTER,
    W5_ORDER_BY,
    W5_SEARCH_REPEATS,
    W5_TOP,
    expected_top_seeds,
    run_specs,
)

import trackwire  # noqa: E402
from trackwire_server.store.migrations import drop_all  # noqa: E402

RUNS = 5_000
BATCH = 1_000


def default_databases() -> list[str]:
    """$TRACKWIRE_TEST_POSTGRES_URL and $TRACKWIRE_TEST_MYSQL_URL (those set), and SQLite."""
    urls = [
        os.environ.get(e, "") for e in ("TRACKWIRE_TEST_POSTGRES_URL", "TRACKWIRE_TEST_MYSQL_URL")
    ]
    return [*(u for u in urls if u and u.lower() != "none"), "sqlite"]


def measure(db_url: str, pythonpath: str, workdir: str) -> dict:
    drop_all(db_url)
    server = ServerProcess(workdir, db_url=db_url, pythonpath=pythonpath)
    try:
        client = trackwire.TrackwireClient(server.uri)
        specs = run_specs(RUNS)
        experiment_id = client.create_experiment(f"w5-{time.time_ns()}")
        seeds = {}
        start = time.perf_counter()
        for first in range(0, RUNS, BATCH):
            block = specs[first : first + BATCH]
            ts = int(time.time() * 1000)
            runs = [
                dict(
                    params=s.params,
                    metrics=[trackwire.Metric(k, v, ts, 0) for k, v in s.metrics.items()],
                    tags=s.tags,
                )
                for s in block
            ]
            for run in client.create_runs(experiment_id, runs):
                seeds[run.info.run_id] = run.data.params["seed"]
        create_s = time.perf_counter() - start
        expected = expected_top_seeds(specs)

        def searches() -> list[float]:
            times = []
            for _ in range(W5_SEARCH_REPEATS):
                start = time.perf_counter()
                found = client.search_runs(
                    [experiment_id],
                    filter_string=W5_FILTER,
                    order_by=W5_ORDER_BY,
                    max_results=W5_TOP,
                )
                times.append((time.perf_counter() - start) * 1000)
                got = [seeds[r.info.run_id] for r in found]
                if got != expected:
                    raise AssertionError(f"wrong answer: {got[:5]}... != {expected[:5]}...")
            return times

        times = searches()
        analyzed = searches() if analyze(db_url) else [float("nan")]
        client.close()
    finally:
        server.stop()
    return {
        "create_s": create_s,
        "p50_ms": statistics.median(times),
        "first_ms": times[0],
        "max_ms": max(times),
        "analyzed_p50_ms": statistics.median(analyzed),
    }


def analyze(url: str) -> bool:
    """ANALYZE (PostgreSQL: the reference, with every table's statistics); False elsewhere."""
    if not url.startswith("postgres"):
        return False
    from trackwire_server.store import open_database

    db = open_database(url)
    with db.connection_context():
        db.execute_sql("ANALYZE")
    db.close()
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", action="append", help="database URL, or 'sqlite' (repeatable)")
    parser.add_argument("--baseline-rev", default="main", help="git revision to compare with")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per database")
    args = parser.parse_args()
    here = os.pathsep.join(os.path.join(ROOT, p) for p in ("client", "server"))
    with tempfile.TemporaryDirectory(prefix="tw-search-stats-") as workdir:
        baseline_dir = os.path.join(workdir, "baseline")
        os.mkdir(baseline_dir)
        versions = {
            f"baseline {args.baseline_rev}": export_revision(args.baseline_rev, baseline_dir),
            "this checkout": here,
        }
        print(f"W5 search right after {RUNS:,} runs are created; {W5_SEARCH_REPEATS} searches")
        print(
            f"{'database':<12} {'code':<22} {'create s':>9} {'p50 ms':>8} {'first ms':>9} {'max ms':>8}"
        )
        for url in args.db or default_databases():
            db_url = f"sqlite:///{workdir}/w5.db" if url == "sqlite" else url
            kind = db_url.split(":")[0]
            results: dict[str, list[dict]] = {v: [] for v in versions}
            for _ in range(args.rounds):
                for version, pythonpath in versions.items():
                    if kind == "sqlite" and os.path.exists(f"{workdir}/w5.db"):
                        for suffix in ("", "-wal", "-shm"):
                            if os.path.exists(f"{workdir}/w5.db{suffix}"):
                                os.unlink(f"{workdir}/w5.db{suffix}")
                    r = measure(db_url, pythonpath, workdir)
                    results[version].append(r)
                    print(
                        f"{kind:<12} {version:<22} {r['create_s']:9.2f} {r['p50_ms']:8.1f} "
                        f"{r['first_ms']:9.1f} {r['max_ms']:8.1f} {r['analyzed_p50_ms']:18.1f}",
                        flush=True,
                    )
            medians = {v: statistics.median(r["p50_ms"] for r in rs) for v, rs in results.items()}
            base, now = medians[f"baseline {args.baseline_rev}"], medians["this checkout"]
            print(f"{kind}: p50 {base:.1f} ms -> {now:.1f} ms ({base / now:.1f}x)", flush=True)


if __name__ == "__main__":
    main()
