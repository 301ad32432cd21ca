"""Reading the rows a write or a read starts from (an experiment, a run), checked and,
for writes, locked; and the run records built from them."""

from __future__ import annotations

import json

import peewee
from peewee import fn

from trackwire_server.errors import FailedPrecondition, NotFound
from trackwire_server.store.connecting import is_mysql
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


# The kinds of values a run holds beside its own columns, as `select` names them.
KINDS = ("param", "tag", "metric")


def load_run_data(
    ctx: StoreContext,
    records: list[RunRecord],
    projection: dict[str, set[str] | None] | None = None,
) -> None:
    """Fills params, tags and latest metrics; `projection` limits kinds and keys."""
    if not records:
        return
    # kind -> its keys (sorted), or None for all of them
    wanted = {
        kind: None if projection is None or projection[kind] is None else sorted(projection[kind])
        for kind in KINDS
        if projection is None or kind in projection
    }
    if not wanted:
        return
    load = _load_aggregated if is_mysql(ctx.db) else _load_rows
    by_id = {r.run_id: r for r in records}
    for chunk in slices(list(by_id), IDS_PER_STATEMENT):
        load(ctx, by_id, chunk, wanted)


def _tables(ctx: StoreContext) -> dict:
    return {"param": ctx.t.Param, "tag": ctx.t.RunTag, "metric": ctx.t.LatestMetric}


def _load_rows(ctx: StoreContext, by_id: dict, run_ids: list[str], wanted: dict) -> None:
    """SQLite and PostgreSQL: one statement per kind, a row per value, straight into each
    record's dict or list (this runs once per value of a whole experiment's runs: 85,000
    for 5,000 runs). On PostgreSQL this beat one statement of per-run JSON objects
    (json_object_agg in correlated subqueries: 5.0-6.9 ms against 4.0 ms for 100 random
    W5 runs): its rows are parsed in C, and each table is read by one index scan."""
    tables = _tables(ctx)
    for kind, keys in wanted.items():
        table = tables[kind]
        if kind == "metric":
            columns = (
                table.run_id,
                table.key,
                table.value,
                table.special,
                table.timestamp,
                table.step,
            )
            rows = ctx.select_by_run_ids(table, columns, run_ids, keys)
            for run_id, key, value, special, ts, step in rows:
                if special:
                    value = loaded_value(value, special)
                by_id[run_id].metrics.append(MetricRecord(key, value, ts, step))
            continue
        rows = ctx.select_by_run_ids(table, (table.run_id, table.key, table.value), run_ids, keys)
        into = {run_id: getattr(by_id[run_id], f"{kind}s") for run_id in run_ids}
        for run_id, key, value in rows:
            into[run_id][key] = value


def _load_aggregated(ctx: StoreContext, by_id: dict, run_ids: list[str], wanted: dict) -> None:
    """MariaDB/MySQL: one statement for all kinds, a row per run whose params, tags and
    metrics come as JSON objects (key -> value; key -> [value, special, timestamp,
    step]), instead of a statement per kind and a row per value: PyMySQL parses rows in
    Python, and 100 W5 runs took 5.3 ms this way against 9.4 ms (medians of 150, random
    runs).

    JSON numbers are exact: MariaDB prints a double with up to 17 significant digits
    (every double reads back the same); NaN and the infinities are stored as NULL with
    `special`. JSON_OBJECTAGG is not cut at group_concat_max_len (JSON_ARRAYAGG is).
    """
    shape = (
        "run_data",
        len(run_ids),
        *((k, -1 if v is None else len(v)) for k, v in wanted.items()),
    )

    def build():
        R = ctx.t.Run
        columns = [R.run_id]
        for kind, keys in wanted.items():
            t = _tables(ctx)[kind].alias(f"d_{kind}")
            entry = (
                fn.JSON_ARRAY(t.value, t.special, t.timestamp, t.step)
                if kind == "metric"
                else t.value
            )
            of_run = t.run_id == R.run_id
            if keys is not None:
                of_run &= t.key.in_(peewee.SQL(ctx.placeholders(len(keys))))
            columns.append(t.select(fn.JSON_OBJECTAGG(t.key, entry)).where(of_run))
        ids = peewee.SQL(ctx.placeholders(len(run_ids)))
        return R.select(*columns).where(R.run_id.in_(ids))

    keys = [key for v in wanted.values() if v is not None for key in v]
    rows = ctx.db.execute_sql(ctx.queries.sql(shape, build), [*keys, *run_ids]).fetchall()
    kinds = list(wanted)
    for run_id, *documents in rows:
        record = by_id[run_id]
        for kind, document in zip(kinds, documents, strict=True):
            if document is None:  # no values of this kind (or of these keys)
                continue
            values = json.loads(document)
            if kind == "param":
                record.params.update(values)
            elif kind == "tag":
                record.tags.update(values)
            else:
                record.metrics.extend(
                    MetricRecord(
                        key,
                        loaded_value(value, special) if special else float(value),
                        ts,
                        step,
                    )
                    for key, (value, special, ts, step) in values.items()
                )
