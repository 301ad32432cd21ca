"""`trackwire runs`: list, describe, delete, restore and export runs."""

from __future__ import annotations

import sys

from trackwire.commands import run_export
from trackwire.commands.experiments import VIEWS, experiment_id
from trackwire.commands.output import (
    CommandError,
    command,
    group,
    print_fields,
    print_json,
    print_mapping,
    print_table,
    time_text,
)

PAGE = 1000


def search_all(client, args, limit: int | None):
    """The runs `args` selects (--experiment, --filter, --order-by, --view), every page
    up to `limit`."""
    ids = [experiment_id(client, e) for e in args.experiment]
    found, token = [], None
    while limit is None or len(found) < limit:
        size = PAGE if limit is None else min(PAGE, limit - len(found))
        page = client.search_runs(
            ids, args.filter or "", VIEWS[args.view], size, args.order_by, token
        )
        found += page
        token = page.token
        if not token:
            break
    return found


def _add_search_options(p, default_max: int | None) -> None:
    p.add_argument(
        "--experiment",
        action="append",
        required=True,
        metavar="EXPERIMENT",
        help="an experiment's id or name (repeat for several)",
    )
    p.add_argument("--filter", help="e.g. \"metrics.rmse < 0.8 AND params.model = 'rf'\"")
    p.add_argument("--order-by", action="append", default=[], help="e.g. 'metrics.rmse ASC'")
    p.add_argument("--view", choices=sorted(VIEWS), default="active", help="lifecycle stage")
    p.add_argument(
        "--max",
        type=int,
        default=default_max,
        help=f"at most this many runs (default: {default_max or 'all'})",
    )


def register(subparsers):
    commands = group(
        subparsers,
        "runs",
        help="list, describe, delete, restore and export runs",
        description="Runs: one training or evaluation each, with params, metrics, tags "
        "and artifacts.",
        example="trackwire runs list --experiment churn --order-by 'metrics.rmse ASC'",
    )
    p = command(
        commands,
        "list",
        "list the runs of experiments, newest first",
        "trackwire runs list --experiment churn --filter 'metrics.rmse < 0.8' "
        "--columns metrics.rmse,params.lr",
        _list,
    )
    _add_search_options(p, default_max=1000)
    p.add_argument(
        "--columns",
        default="",
        help="extra columns, comma-separated: metrics.X, params.X, tags.X",
    )

    p = command(
        commands,
        "describe",
        "show a run: its info, params, latest metrics and tags",
        "trackwire runs describe 0f3c9a2e6b5d4c1e8f7a6b5c4d3e2f1a",
        _describe,
    )
    p.add_argument("run_id")

    p = command(
        commands,
        "delete",
        "delete runs (restorable until `trackwire gc` purges them)",
        "trackwire runs delete 0f3c9a2e6b5d4c1e8f7a6b5c4d3e2f1a",
        _delete,
    )
    p.add_argument("run_ids", nargs="+", metavar="RUN_ID")

    p = command(
        commands,
        "restore",
        "restore deleted runs",
        "trackwire runs restore 0f3c9a2e6b5d4c1e8f7a6b5c4d3e2f1a",
        _restore,
    )
    p.add_argument("run_ids", nargs="+", metavar="RUN_ID")

    p = command(
        commands,
        "export",
        "export runs as a table file: CSV, or Parquet (for a lakehouse)",
        "trackwire runs export --experiment churn --format parquet -o churn_runs.parquet",
        _export,
        description="Export runs as a table file, one row per run, with the columns of "
        "MLflow's search_runs DataFrame: run_id, experiment_id, run_name, status, "
        "artifact_uri, start_time, end_time, lifecycle_stage, user_id, then metrics.*, "
        "params.* and tags.*. Parquet needs pyarrow (pip install 'trackwire[export]').",
    )
    _add_search_options(p, default_max=None)
    p.add_argument("--format", choices=("csv", "parquet"), default="csv")
    p.add_argument("-o", "--output", help="the file to write (CSV: stdout if omitted)")
    return commands


def _cell(run, column: str):
    kind, _, key = column.partition(".")
    source = {"metrics": run.data.metrics, "params": run.data.params, "tags": run.data.tags}
    if kind not in source:
        raise CommandError(f"--columns: '{column}' is not metrics.X, params.X nor tags.X")
    return source[kind].get(key, "")


def _list(args, client):
    runs = search_all(client, args, args.max)
    if args.json:
        print_json(runs)
        return
    extra = [c.strip() for c in args.columns.split(",") if c.strip()]
    print_table(
        ("RUN ID", "NAME", "STATUS", "STARTED (UTC)", "EXPERIMENT", *extra),
        [
            (
                r.info.run_id,
                r.info.run_name,
                r.info.status,
                time_text(r.info.start_time),
                r.info.experiment_id,
                *(_cell(r, c) for c in extra),
            )
            for r in runs
        ],  # fmt: skip
        "No runs.",
    )


def _describe(args, client):
    run = client.get_run(args.run_id)
    if args.json:
        print_json(run)
        return
    info = run.info
    print_fields(
        [
            ("Run ID", info.run_id),
            ("Name", info.run_name),
            ("Experiment", info.experiment_id),
            ("Status", info.status),
            ("Stage", info.lifecycle_stage),
            ("User", info.user_id),
            ("Started (UTC)", time_text(info.start_time)),
            ("Ended (UTC)", time_text(info.end_time)),
            ("Parent run", info.parent_run_id),
            ("Artifact URI", info.artifact_uri),
        ]
    )
    print_mapping("Params", run.data.params)
    print_mapping("Metrics", run.data.metrics)
    print_mapping("Tags", run.data.tags)


def _each(args, act, verb: str, stage: str) -> None:
    for run_id in args.run_ids:
        act(run_id)
        if not args.json:
            print(f"{verb} run {run_id}")
    if args.json:
        print_json([{"run_id": r, "lifecycle_stage": stage} for r in args.run_ids])


def _delete(args, client):
    _each(args, client.delete_run, "Deleted", "deleted")


def _restore(args, client):
    _each(args, client.restore_run, "Restored", "active")


def _export(args, client):
    if args.format == "parquet" and not args.output:
        raise CommandError("--format parquet writes a file: give it with --output FILE")
    runs = search_all(client, args, args.max)
    if args.format == "parquet":
        run_export.write_parquet(runs, args.output)
    elif args.output:
        with open(args.output, "w", newline="", encoding="utf-8") as f:
            run_export.write_csv(runs, f)
    else:
        run_export.write_csv(runs, sys.stdout)
        return
    if args.json:
        print_json({"path": args.output, "format": args.format, "runs": len(runs)})
    else:
        print(f"Exported {len(runs)} runs to {args.output} ({args.format})")
