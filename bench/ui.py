"""Trackwire web UI benchmark: time to first render, measured in headless Chromium.

Run with `make bench` (or `python bench/ui.py [--runs N] [--points N] [--json PATH]`).
Issue #6. Against one `python -m trackwire_server` process (SQLite, UI on a free port):

  (a) the experiment page of an experiment of N runs (default 10,000), each with 5 params,
      5 metrics and 2 tags: from navigation start until the runs table (the first page of
      100 rows, the total count, sorted newest first) is in the DOM;
  (b) the compare view of 10 runs whose `loss` history has P points each (default
      100,000): from navigation start until the params/metrics tables and the overlaid
      chart of the 10 curves (downsampled by the server to 2,000 points per run) are drawn.

Each figure is the median of 5 page loads in fresh browser pages, after one warm-up load.
The render time is read in the page (performance.now() when the page says it has rendered,
which is relative to the navigation start). For the ratio column, the same run also times
the gRPC calls the page needs (SearchRuns of 100 rows as columns with the total count; the
BatchReadMetricHistory of the 10 runs at 2,000 points) from Python: "x ref" is that API
time / the page time, the share of the page's time that is the server's work. Targets:
both pages under 1 s on this (shared, 2-core) machine.

Needs Debian's chromium (apt-get install chromium) and the dev extra (playwright).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from common import (  # noqa: E402
    ServerProcess,
    check,
    close_clients_and_stop,
    machine_info,
    print_figures,
    publish,
)

import trackwire  # noqa: E402
from tests.support.browser import chromium_path, launch  # noqa: E402
from trackwire.v1 import tracking_service_pb2 as pb  # noqa: E402

TARGET_MS = 1000.0
REPEATS = 5
COMPARE_RUNS = 10
CHART_POINTS = 2000


def progress(message: str) -> None:
    print(f"[ui bench] {message}", file=sys.stderr, flush=True)


def seed_runs(client: trackwire.TrackwireClient, n: int) -> str:
    experiment_id = client.create_experiment("ui-bench-runs")
    rng = random.Random(6)
    for lo in range(0, n, 1000):
        client.create_runs(
            experiment_id,
            [
                {
                    "run_name": f"run-{i}",
                    "params": {
                        "model_type": rng.choice(["rf", "lr", "xgb"]),
                        "C": round(rng.uniform(0.01, 10), 3),
                        "max_depth": rng.randint(2, 20),
                        "lr": round(rng.uniform(1e-4, 1e-1), 5),
                        "seed": i,
                    },
                    "metrics": [
                        trackwire.Metric(k, rng.random(), 0, 0)
                        for k in ("accuracy", "f1", "precision", "recall", "auc")
                    ],
                    "tags": {"team": "growth", "stage": "sweep"},
                }
                for i in range(lo, min(n, lo + 1000))
            ],
        )
    return experiment_id


def seed_histories(client: trackwire.TrackwireClient, points: int) -> list[str]:
    experiment_id = client.create_experiment("ui-bench-compare")
    run_ids = []
    for r in range(COMPARE_RUNS):
        run_id = client.create_run(
            experiment_id, run_name=f"long-{r}", params={"lr": 0.001 * (r + 1), "layers": 4}
        ).info.run_id
        for step in range(points):
            client.log_metric_async(run_id, "loss", 1.0 / (1 + step * (r + 1) / points), step=step)
        client.flush_metrics()
        client.set_terminated(run_id)
        run_ids.append(run_id)
    return run_ids


def page_times(browser, url: str, check_page) -> list[float]:
    """Render times (ms) of REPEATS loads of `url`, after a warm-up load."""
    times = []
    for i in range(REPEATS + 1):
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
        page = context.new_page()
        page.goto(url)
        page.wait_for_function("window.trackwireRendered === location.hash", timeout=60_000)
        check_page(page)
        if i:
            times.append(page.evaluate("window.trackwireRenderedAt"))
        context.close()
    return times


def api_ms(call, repeats: int = REPEATS) -> float:
    call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def run(args) -> dict:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="trackwire-ui-bench-") as workdir:
        server = ServerProcess(workdir, ui=True)
        try:
            client = trackwire.TrackwireClient(server.uri)
            progress(f"creating {args.runs} runs")
            experiment_id = seed_runs(client, args.runs)
            progress(f"logging {COMPARE_RUNS} x {args.points} points")
            run_ids = seed_histories(client, args.points)
            tracking = client._tracking

            def search_page():
                response = tracking.SearchRuns(
                    pb.SearchRunsRequest(
                        experiment_ids=[experiment_id],
                        page_size=100,
                        include_total_count=True,
                    )
                )
                check(response.total_count == args.runs, "total count")

            def histories():
                messages = list(
                    tracking.BatchReadMetricHistory(
                        pb.BatchReadMetricHistoryRequest(
                            run_ids=run_ids, metric_key="loss", max_points=CHART_POINTS
                        )
                    )
                )
                check(
                    sum(len(m.points.values) for m in messages) <= COMPARE_RUNS * CHART_POINTS,
                    "size",
                )

            def check_runs_page(page):
                check(page.locator("#runs tbody tr").count() == 100, "100 rows")
                check(
                    page.locator("#run-count").inner_text().startswith(f"{args.runs} runs"),
                    "run count shown",
                )

            def check_compare_page(page):
                labels = page.evaluate(
                    "window.trackwireCharts.compare.series.slice(1).map(s => s.label)"
                )
                check(labels == [f"long-{r}" for r in range(COMPARE_RUNS)], "10 series")
                check(page.locator("#compare-params tbody tr").count() == 2, "params shown")

            with sync_playwright() as p:
                browser = launch(p)
                progress("timing the experiment page")
                runs_page = page_times(
                    browser, f"{server.ui_url}#/experiments/{experiment_id}", check_runs_page
                )
                progress("timing the compare view")
                compare_page = page_times(
                    browser,
                    f"{server.ui_url}#/compare?runs={','.join(run_ids)}",
                    check_compare_page,
                )
                browser.close()
            return {
                "runs": args.runs,
                "points": args.points,
                "experiment_page_ms": statistics.median(runs_page),
                "experiment_page_max_ms": max(runs_page),
                "experiment_api_ms": api_ms(search_page),
                "compare_page_ms": statistics.median(compare_page),
                "compare_page_max_ms": max(compare_page),
                "compare_api_ms": api_ms(histories),
                "machine": machine_info(),
            }
        finally:
            close_clients_and_stop(server)


def report(r: dict) -> None:
    def row(figure, value, api):
        return {
            "figure": figure,
            "value": value,
            "unit": "ms",
            "reference": f"API {api:.0f} ms",
            "ratio": api / value if value else None,
            "target": f"< {TARGET_MS:.0f} ms",
            "result": "PASS" if value < TARGET_MS else "FAIL",
            "decimals": 0,
        }

    print(f"\nWeb UI, first render in headless Chromium (median of {REPEATS} loads)")
    print_figures(
        [
            row(
                f"(a) experiment page, {r['runs']:,} runs (max {r['experiment_page_max_ms']:.0f})",
                r["experiment_page_ms"],
                r["experiment_api_ms"],
            ),
            row(
                f"(b) compare view, {COMPARE_RUNS} runs x {r['points']:,} points "
                f"(max {r['compare_page_max_ms']:.0f})",
                r["compare_page_ms"],
                r["compare_api_ms"],
            ),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if chromium_path() is None:
        print("ui bench skipped: no chromium (apt-get install chromium)")
        return 0
    return publish(run(args), report, lambda r: r, args.json)


if __name__ == "__main__":
    sys.exit(main())
