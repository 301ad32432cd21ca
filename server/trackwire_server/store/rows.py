"""Reading the rows a write or a read starts from (an experiment, a run), checked and,
for writes, locked; and the run records built from them."""

from __future__ import annotations

import peewee

from trackwire_server.errors import FailedPrecondition, NotFound
from trackwire_server.store.constants import DELETED
from trackwire_server.store.context import StoreContext
from trackwire_server.store.metric_points import loaded_value
from trackwire_server.store.records import MetricRecord, RunRecord
from trackwire_server.store.unit_of_work import for_update
from trackwire_server.store.validation import check_run_id, parse_experiment_id
from trackwire_server.store.writes import WritableRun, slices

# Runs whose params, tags and metrics one statement reads (SQLite takes them as one JSON
# array, the others as bound values; 5,000 at a time was slower on SQLite).
IDS_PER_STATEMENT = 500


def deleted_run(run_id: str) -> FailedPrecondition:
    return FailedPrecondition(f"run {run_id} is deleted; restore it before writing to it")


def experiment_row(ctx: StoreContext, experiment_id: str, field: str = "experiment_id", lock=False):
    """The experiment's row (locked for the transaction with `lock`); NOT_FOUND."""
    eid = parse_experiment_id(field, experiment_id)
    E = ctx.t.Experiment
    query = E.select().where(E.experiment_id == eid)
    row = (for_update(ctx.db, query) if lock else query).first()
    if row is None:
        raise NotFound(f"experiment {experiment_id} does not exist")
    return row


def writable_experiment(ctx: StoreContext, experiment_id: str):
    """The experiment's row; FAILED_PRECONDITION if it is deleted."""
    experiment = experiment_row(ctx, experiment_id)
    if experiment.lifecycle_stage == DELETED:
        raise FailedPrecondition(f"experiment {experiment_id} is deleted")
    return experiment


def run_row(ctx: StoreContext, run_id: str, field: str = "run_id", lock: bool = False):
    """The run's row (locked for the transaction with `lock`); NOT_FOUND."""
    check_run_id(field, run_id)
    R = ctx.t.Run

    def build():  # every write reads its run first: rendered once
        query = R.select().where(R.run_id == peewee.SQL(ctx.db.param))
        return for_update(ctx.db, query) if lock else query

    sql = ctx.queries.sql(("run", lock), build)
    row = next(iter(R.raw(sql, run_id)), None)
    if row is None:
        raise NotFound(f"run {run_id} does not exist")
    return row


def active_run_row(ctx: StoreContext, run_id: str, field: str = "run_id"):
    """The run, locked for the transaction; FAILED_PRECONDITION if it is deleted."""
    row = run_row(ctx, run_id, field, lock=True)
    if row.lifecycle_stage == DELETED:
        raise deleted_run(run_id)
    return row


def writable_run(ctx: StoreContext, run_id: str, field: str = "run_id") -> WritableRun:
    """(run_id, experiment_id) of an active run, locked for the transaction; NOT_FOUND,
    or FAILED_PRECONDITION if it is deleted. A plain tuple: LogBatch's every call
    reads its run first."""
    check_run_id(field, run_id)
    R = ctx.t.Run

    def render():
        query = R.select(R.run_id, R.experiment_id, R.lifecycle_stage).where(
            R.run_id == peewee.SQL(ctx.db.param)
        )
        return for_update(ctx.db, query)

    sql = ctx.queries.sql(("writable_run",), render)
    row = ctx.db.execute_sql(sql, (run_id,)).fetchone()
    if row is None:
        raise NotFound(f"run {run_id} does not exist")
    if row[2] == DELETED:
        raise deleted_run(run_id)
    return WritableRun(row[0], row[1])


def run_columns(ctx: StoreContext) -> tuple:
    """The runs columns in RunRecord's field order, for building records from tuples."""
    R = ctx.t.Run
    return (
        R.run_id, R.experiment_id, R.name, R.status, R.start_time, R.end_time,
        R.artifact_uri, R.lifecycle_stage, R.parent_run_id, R.user_id,
    )  # fmt: skip


def run_record(ctx: StoreContext, row, with_data: bool = True) -> RunRecord:
    """The record of a run's row; with its params, tags and latest metrics unless
    `with_data` is False."""
    record = RunRecord(
        run_id=row.run_id,
        experiment_id=row.experiment_id,
        name=row.name,
        status=row.status,
        start_time=row.start_time,
        end_time=row.end_time,
        artifact_uri=row.artifact_uri,
        lifecycle_stage=row.lifecycle_stage,
        parent_run_id=row.parent_run_id,
        user_id=row.user_id,
    )
    if with_data:
        load_run_data(ctx, [record])
    return record


def load_run_data(
    ctx: StoreContext,
    records: list[RunRecord],
    projection: dict[str, set[str] | None] | None = None,
) -> None:
    """Fills params, tags and latest metrics; `projection` limits kinds and keys."""
    if not records:
        return
    ids = [r.run_id for r in records]
    kinds = {"param": ctx.t.Param, "tag": ctx.t.RunTag, "metric": ctx.t.LatestMetric}
    for kind, table in kinds.items():
        if projection is not None and kind not in projection:
            continue
        keys = projection.get(kind) if projection is not None else None
        if kind == "metric":
            columns = (
                table.run_id,
                table.key,
                table.value,
                table.special,
                table.timestamp,
                table.step,
            )
        else:
            columns = (table.run_id, table.key, table.value)
        # One loop per kind, straight into each record's dict or list: this runs
        # once per value of a whole experiment's runs (85,000 for 5,000 runs).
        if kind == "param":
            into = {r.run_id: r.params for r in records}
        elif kind == "tag":
            into = {r.run_id: r.tags for r in records}
        else:
            into = {r.run_id: r.metrics for r in records}
        for chunk in slices(ids, IDS_PER_STATEMENT):
            rows = ctx.select_by_run_ids(table, columns, chunk, keys)
            if kind != "metric":
                for run_id, key, value in rows:
                    into[run_id][key] = value
                continue
            for run_id, key, value, special, ts, step in rows:
                if special:
                    value = loaded_value(value, special)
                into[run_id].append(MetricRecord(key, value, ts, step))
