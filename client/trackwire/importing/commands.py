"""`trackwire import`: bringing another tracker's data into Trackwire."""

from __future__ import annotations

import argparse
import json
import os
import sys

MLFLOW_HELP = """\
Copies everything an MLflow tracking server holds into a Trackwire server: experiments
(matched by name), runs with their ids, params, tags, status, times and full metric
histories (steps and timestamps), artifacts, and registered models with their versions
(numbers kept), stages, aliases, tags and descriptions (an MLflow 3 logged model's
files go into its run's artifacts, under logged-models/<model id>/).

The source is an MLflow server's URL (read through its REST API), or its database URL
with --artifact-root (the folder or fsspec URL its artifacts are in). No `mlflow`
package is needed. Running the import again copies only what is missing: an interrupted
import continues where it stopped, and a finished one copies nothing.

Example:
  trackwire import mlflow --from http://127.0.0.1:5000 --tracking-uri grpc://127.0.0.1:50051
  trackwire import mlflow --from sqlite:///mlflow.db --artifact-root ./mlartifacts
"""


def add_import_commands(commands) -> None:
    """Adds `import` (with its `mlflow` subcommand) to the `trackwire` command's parsers."""
    parser = commands.add_parser(
        "import",
        help="import data from another tracker (MLflow)",
        description="Imports another tracker's data into a Trackwire server.\n\n"
        "Example:\n  trackwire import mlflow --from http://127.0.0.1:5000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    mlflow = sources.add_parser(
        "mlflow",
        help="copy an MLflow server's experiments, runs and models",
        description=MLFLOW_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mlflow.add_argument(
        "--from",
        dest="source_uri",
        required=True,
        metavar="URI",
        help="the MLflow server's URL (http://host:port), or its database URL "
        "(sqlite:///mlflow.db, postgresql://..., mysql://...)",
    )
    mlflow.add_argument(
        "--artifact-root",
        metavar="PATH",
        help="with a database URL: where the MLflow server kept its artifacts "
        "(its --artifacts-destination or default artifact root; a folder or fsspec URL)",
    )
    mlflow.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="the Trackwire server to import into (grpc://host:port, a fleet "
        "grpc://h1:p1,h2:p2,... or dns:///name:port, or a database URL); "
        "default: $TRACKWIRE_TRACKING_URI, else the embedded default",
    )
    mlflow.add_argument("--workers", type=int, default=4, help="runs copied at once (default 4)")
    mlflow.add_argument(
        "--json", action="store_true", help="print the final report as JSON on stdout"
    )
    mlflow.add_argument("--no-progress", action="store_true", help="show no progress bar")
    mlflow.set_defaults(run_command=run_mlflow_import)


def _source(args, parser_error):
    from trackwire.importing.mlflow_database import MlflowDatabaseSource
    from trackwire.importing.mlflow_source import MlflowRestSource

    uri = args.source_uri
    if uri.startswith(("http://", "https://")):
        if args.artifact_root:
            parser_error("--artifact-root goes with a database URL, not a server URL")
        return MlflowRestSource(uri)
    if uri.split(":", 1)[0].split("+", 1)[0] in ("sqlite", "postgresql", "postgres", "mysql"):
        return MlflowDatabaseSource(uri, args.artifact_root)
    parser_error(f"--from {uri!r} is neither an http(s) URL nor a database URL")


def run_mlflow_import(args, parser_error) -> int:
    """Runs the import; returns the exit code (0 done, 1 errors)."""
    from trackwire import TrackwireClient, errors
    from trackwire.importing.importer import MlflowImporter
    from trackwire.importing.mlflow_source import SourceError
    from trackwire.importing.progress import Progress

    if args.workers < 1:
        parser_error("--workers must be at least 1")
    try:
        source = _source(args, parser_error)
    except SourceError as e:
        print(f"trackwire import mlflow: {e}", file=sys.stderr)
        return 1
    show = not args.no_progress and sys.stderr.isatty()
    try:
        with TrackwireClient(
            args.tracking_uri or os.environ.get("TRACKWIRE_TRACKING_URI")
        ) as client:
            importer = MlflowImporter(source, client, workers=args.workers)
            plan = importer.plan()
            with Progress(sum(len(runs) for _, runs in plan) + 1, show, importer.report) as bar:
                importer.on_progress = bar.advance
                report = importer.run(plan)
    except (SourceError, errors.TrackwireException) as e:
        # The source or the server failed before any item (unreachable, refused...).
        print(f"trackwire import mlflow: {e}", file=sys.stderr)
        return 1
    finally:
        source.close()
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report.as_text())
    return 1 if report.errors else 0
