"""`trackwire import mlflow` benchmark: metric points copied per second, against the rate at
which MLflow's own client reads the same histories.

Run with `make bench` (or `python bench/import_mlflow.py [--runs N] [--points N] [--json PATH]`).
One run, on this machine:

  1. starts a real MLflow 3 tracking server (SQLite, proxied artifacts) from MLflow's venv
     ($TRACKWIRE_TEST_MLFLOW_PYTHON, else bench/.venvs/mlflow/bin/python; `make
     bench-compare` creates it) and fills it through MLflow's client: N runs, each with a
     history of --points points (plus 5 points of a second metric), params, tags, artifacts;
  2. reads every history back with `MlflowClient.get_metric_history` (the reference rate,
     in points/s, from the time those calls took);
  3. imports the server into an empty `trackwire server` process on SQLite, from the
     server's URL (REST), and into a second one from its database + artifact root, timing
     each whole import (experiments, runs, histories, artifacts, registry), in points/s.

The ratio is import rate / MLflow read rate: an import copies histories faster than
MLflow's client alone can read them when it is above 1. Skipped (exit 0, said so) without
an MLflow venv. The machine is shared and noisy: compare ratios, repeat runs.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from common import (  # noqa: E402
    ServerProcess,
    check,
    machine_info,
    print_figures,
    publish,
    source_revision,
)

import trackwire  # noqa: E402
from tests.support.mlflow_server import MlflowServer, mlflow_python  # noqa: E402
from trackwire.importing.importer import MlflowImporter  # noqa: E402
from trackwire.importing.mlflow_database import MlflowDatabaseSource  # noqa: E402
from trackwire.importing.mlflow_source import MlflowRestSource  # noqa: E402


def timed_import(source, workdir: str) -> dict:
    server = ServerProcess(workdir)
    try:
        with trackwire.TrackwireClient(server.uri) as client:
            started = time.perf_counter()
            report = MlflowImporter(source, client).run()
            seconds = time.perf_counter() - started
        check(not report.errors, f"the import reported errors: {report.errors[:3]}")
        points = report.copied["metric points"]
        return {"seconds": seconds, "points": points, "points_per_s": points / seconds}
    finally:
        server.stop()
        source.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--json", default="bench/results/import_mlflow.json")
    args = parser.parse_args()
    python = mlflow_python()
    if python is None:
        print("bench/import_mlflow.py: skipped, no MLflow venv (make bench-compare creates one)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        mlflow = MlflowServer(python, pathlib.Path(tmp))
        try:
            started = time.perf_counter()
            mlflow.populate(args.runs, args.points)
            populate_seconds = time.perf_counter() - started
            dump = mlflow.dump()
            os.makedirs(f"{tmp}/rest")
            rest = timed_import(MlflowRestSource(mlflow.url), f"{tmp}/rest")
        finally:
            mlflow.stop()
        os.makedirs(f"{tmp}/db")
        database = timed_import(
            MlflowDatabaseSource(mlflow.db_url, str(mlflow.artifact_root)), f"{tmp}/db"
        )
    check(rest["points"] == dump["points"] == database["points"], "every point is copied")
    mlflow_rate = dump["points"] / dump["history_seconds"]
    results = {
        "machine": machine_info(),
        "revision": source_revision(),
        "runs": args.runs,
        "points": dump["points"],
        "mlflow_populate_seconds": populate_seconds,
        "mlflow_get_metric_history_points_per_s": mlflow_rate,
        "import_from_server": rest,
        "import_from_database": database,
        "ratio_server_import_vs_mlflow_read": rest["points_per_s"] / mlflow_rate,
        "ratio_database_import_vs_mlflow_read": database["points_per_s"] / mlflow_rate,
    }

    def report(r):
        reference = f"MlflowClient.get_metric_history: {r['mlflow_get_metric_history_points_per_s']:,.0f} points/s"
        print_figures(
            [
                {
                    "figure": f"import mlflow --from http://... ({r['runs']} runs, {r['points']:,} points, whole import)",
                    "value": r["import_from_server"]["points_per_s"],
                    "unit": "points/s",
                    "reference": reference,
                    "ratio": r["ratio_server_import_vs_mlflow_read"],
                },
                {
                    "figure": "import mlflow --from sqlite:///... --artifact-root ...",
                    "value": r["import_from_database"]["points_per_s"],
                    "unit": "points/s",
                    "reference": reference,
                    "ratio": r["ratio_database_import_vs_mlflow_read"],
                },
            ]
        )

    return publish(results, report, lambda r: r, args.json)


if __name__ == "__main__":
    sys.exit(main())
