"""Runs as one table: the columns of MLflow's `search_runs` DataFrame, written as CSV or
Parquet (`trackwire runs export`)."""

from __future__ import annotations

import csv
import datetime

from trackwire.commands.output import CommandError

INFO_COLUMNS = (
    "run_id",
    "experiment_id",
    "run_name",
    "status",
    "artifact_uri",
    "start_time",
    "end_time",
    "lifecycle_stage",
    "user_id",
)
TIME_COLUMNS = ("start_time", "end_time")


def columns(runs) -> list[str]:
    """The info columns, then metrics.*, params.* and tags.*, each sorted by key."""
    keys = {"metrics": set(), "params": set(), "tags": set()}
    for run in runs:
        keys["metrics"].update(run.data.metrics)
        keys["params"].update(run.data.params)
        keys["tags"].update(run.data.tags)
    return [*INFO_COLUMNS, *(f"{kind}.{k}" for kind in keys for k in sorted(keys[kind]))]


def _value(run, column: str):
    if column in INFO_COLUMNS:
        return getattr(run.info, column)
    kind, _, key = column.partition(".")
    return getattr(run.data, kind).get(key)


def _iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc).isoformat()


def write_csv(runs, out) -> None:
    """One row per run; times in ISO 8601 (UTC), missing values empty."""
    names = columns(runs)
    writer = csv.writer(out)
    writer.writerow(names)
    for run in runs:
        row = []
        for name in names:
            value = _value(run, name)
            if name in TIME_COLUMNS:
                value = _iso(value)
            row.append("" if value is None else value)
        writer.writerow(row)


def write_parquet(runs, path: str) -> None:
    """One row per run: times as timestamp[ms, UTC], metrics as float64, the rest as
    strings; missing values null."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise CommandError(
            "--format parquet needs pyarrow: pip install 'trackwire[export]'"
        ) from None
    names = columns(runs)
    arrays = []
    for name in names:
        values = [_value(run, name) for run in runs]
        if name in TIME_COLUMNS:
            kind = pa.timestamp("ms", tz="UTC")
        elif name.startswith("metrics."):
            kind = pa.float64()
        else:
            kind = pa.string()
        arrays.append(pa.array(values, type=kind))
    pq.write_table(pa.Table.from_arrays(arrays, names=names), path)
