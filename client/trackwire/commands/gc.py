"""`trackwire gc`: permanently removes deleted runs and experiments, with their metrics
and artifacts.

Each run is purged by its own PurgeRun call (one transaction; its artifacts removed once
it has committed); the server refuses a run that is live, so a run restored or being
written to is never touched, whatever this command listed. A deleted experiment is
purged (PurgeExperiment) once all its runs are.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

from trackwire import errors
from trackwire.commands.experiments import experiment_id, search_all
from trackwire.commands.output import (
    EXIT_ERROR,
    EXIT_OK,
    command,
    print_json,
    print_table,
    time_text,
)
from trackwire.entities import ViewType

PAGE = 1000
# PurgeRun's reason when the run is purged but its files could not be removed.
ARTIFACTS_NOT_REMOVED = "ARTIFACTS_NOT_REMOVED"
# Experiment ids per SearchRuns call.
EXPERIMENTS_PER_SEARCH = 100
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def duration_ms(text: str) -> int:
    """`30d`, `12h`, `1d12h`, `90m`, `45s`, `2w` in milliseconds (argparse type)."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a duration like 30d, 12h, 1d12h, 90m or 45s"
        )
    return round(sum(float(n) * _UNITS[u] for n, u in parts) * 1000)


def register(subparsers):
    p = command(
        subparsers,
        "gc",
        "permanently remove deleted runs and experiments, with their metrics and artifacts",
        "trackwire gc --older-than 30d --dry-run",
        _gc,
        description="Permanently remove deleted runs and experiments: each run's params, "
        "tags, metric history and artifacts, in one transaction per run; then each "
        "deleted experiment once its runs are gone. Only what is in the deleted stage is "
        "removed: a live run (restored, or being written to) is never touched. This "
        "cannot be undone; try --dry-run first.",
    )
    p.add_argument(
        "--older-than",
        type=duration_ms,
        default=None,
        metavar="DURATION",
        help="only what was deleted at least this long ago: 30d, 12h, 1d12h, 90m, 45s "
        "(default: everything deleted)",
    )
    p.add_argument(
        "--experiment",
        action="append",
        default=[],
        metavar="EXPERIMENT",
        help="only the deleted runs of this experiment, and it if it is deleted "
        "(id or name; repeat for several)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be removed, remove nothing",
    )
    return p


def _deleted_runs(client, experiment_ids: list[str]) -> list[tuple[str, str]]:
    """(run id, experiment id) of the deleted runs of these experiments."""
    found = []
    for start in range(0, len(experiment_ids), EXPERIMENTS_PER_SEARCH):
        chunk = experiment_ids[start : start + EXPERIMENTS_PER_SEARCH]
        token = None
        while True:
            page = client.search_runs_page(
                chunk,
                "",
                ViewType.DELETED_ONLY,
                PAGE,
                None,
                token,
                select=["tags.trackwire.runName"],  # the ids are what is wanted
            )
            found += list(zip(page.runs.run_ids, page.runs.experiment_ids, strict=True))
            token = page.next_page_token
            if not token:
                break
    return found


def _gc(args, client):
    cutoff = None if args.older_than is None else int(time.time() * 1000) - args.older_than
    if args.experiment:
        ids = [experiment_id(client, e) for e in args.experiment]
        experiments = [client.get_experiment(i) for i in ids]
    else:
        experiments = search_all(client, ViewType.ALL, None, None, None)
        ids = [e.experiment_id for e in experiments]
    purged, skipped = [], []
    too_recent = 0
    # Per experiment, its deleted runs not purged (yet): a dry run purges none, so it
    # counts an experiment as removable when nothing of it would be left.
    left: dict[str, int] = {}

    def attempt(kind: str, key: str, purge) -> str:
        """Purges (or checks); "" when done, else the server's reason for refusing."""
        nonlocal too_recent
        try:
            result = purge(key, deleted_before=cutoff, validate_only=args.dry_run)
        except (errors.FailedPreconditionError, errors.NotFoundError) as e:
            if e.reason == ARTIFACTS_NOT_REMOVED:
                # Purged, but its files are still there: said, and gc exits with 1.
                purged.append({"kind": kind, "id": key, "deleted_at": None, "error": e.message})
                return ""
            # Deleted too recently, restored or written to meanwhile, already gone, or an
            # experiment still holding runs: left as it is.
            if e.reason == "DELETED_TOO_RECENTLY":
                too_recent += 1
            elif not (args.dry_run and e.reason == "EXPERIMENT_HAS_RUNS" and not left.get(key)):
                skipped.append({"kind": kind, "id": key, "reason": e.message})
            return e.reason or "refused"
        purged.append({"kind": kind, "id": key, "deleted_at": result.delete_time})
        return ""

    for run_id, eid in _deleted_runs(client, ids):
        if attempt("run", run_id, client.purge_run):
            left[eid] = left.get(eid, 0) + 1
    for experiment in experiments:
        if experiment.lifecycle_stage != "deleted":
            continue
        eid = experiment.experiment_id
        refused = attempt("experiment", eid, client.purge_experiment)
        if args.dry_run and refused == "EXPERIMENT_HAS_RUNS" and not left.get(eid):
            # Refused only because its runs are still there; they would be gone.
            purged.append(
                {"kind": "experiment", "id": eid, "deleted_at": experiment.last_update_time}
            )
    _report(args, purged, skipped, too_recent)
    return EXIT_ERROR if any("error" in p for p in purged) else EXIT_OK


def _report(args, purged: list[dict], skipped: list[dict], too_recent: int) -> None:
    for p in purged:
        if "error" in p:
            print(f"error: FAILED_PRECONDITION: {p['error']}", file=sys.stderr)
    if args.json:
        print_json(
            {
                "dry_run": args.dry_run,
                "purged": purged,
                "skipped": skipped,
                "deleted_too_recently": too_recent,
            }
        )
        return
    runs = sum(1 for p in purged if p["kind"] == "run")
    experiments = len(purged) - runs
    verb = "Would remove" if args.dry_run else "Removed"
    print_table(
        ("KIND", "ID", "DELETED (UTC)"),
        [(p["kind"], p["id"], time_text(p["deleted_at"])) for p in purged],
        "Nothing to remove.",
    )
    print(f"{verb} {runs} run(s) and {experiments} experiment(s).")
    if too_recent:
        print(f"Kept {too_recent} deleted more recently than --older-than.")
    for s in skipped:
        print(f"skipped {s['kind']} {s['id']}: {s['reason']}", file=sys.stderr)
