"""The tracking store: experiments, runs, params, tags and metrics in one database.

Every public method is one transaction. Errors are the domain errors of
`trackwire_server.errors`; the servicers never see SQL or Peewee.
"""

from __future__ import annotations

import functools
import json
import random
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np
import peewee

from trackwire_server.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    SequenceGap,
)
from trackwire_server.limits import LIMITS
from trackwire_server.search.grammar import Node
from trackwire_server.store import metric_codec, schema, unit_of_work
from trackwire_server.store.connecting import (
    is_mysql,
    is_sqlite,
    ping,
    start_wal_checkpoints,
)
from trackwire_server.store.constants import (
    ACTIVE,
    DEFAULT_EXPERIMENT_ID,
    DEFAULT_EXPERIMENT_NAME,
    DELETED,
    RUN_STATUSES,
    RUNNING,
)
from trackwire_server.store.metric_points import (
    MERGE_BATCHES_BELOW,
    MERGE_BELOW_POINTS,
    chunk_fields,
    downsample,
    latest_point,
    latest_row,
    loaded_value,
)
from trackwire_server.store.paging import PageToken, checked_page_size, view_condition
from trackwire_server.store.records import (
    ExperimentRecord,
    MetricColumns,
    MetricPointColumns,
    MetricRecord,
    RunRecord,
)
from trackwire_server.store.request_log import RequestLog
from trackwire_server.store.run_search import RunSearch
from trackwire_server.store.search_queries import (
    EXPERIMENT_ATTRIBUTES,
    EXPERIMENT_GRAMMAR,
    QueryBuilder,
)
from trackwire_server.store.statement_cache import RenderedQueries, bulk_insert, upsert
from trackwire_server.store.unit_of_work import RetryTransaction, for_update
from trackwire_server.store.validation import (
    check_key,
    check_length,
    check_lookup_key,
    check_name,
    check_run_id,
    check_text,
    parse_experiment_id,
)
from trackwire_server.store.writes import Batch, NewRun, WritableRun, now_ms, slices

# How NaN and the infinities are kept in latest_metrics.value (see schema.LatestMetric).
# Runs whose params, tags and metrics one statement reads (SQLite takes them as one JSON
# array, the others as bound values; 5,000 at a time was slower on SQLite).
IDS_PER_STATEMENT = 500

_ADJECTIVES = [
    "amber",
    "bold",
    "brave",
    "calm",
    "clever",
    "crisp",
    "eager",
    "fair",
    "gentle",
    "glad",
    "keen",
    "lucid",
    "merry",
    "nimble",
    "quiet",
    "rapid",
    "serene",
    "sharp",
    "steady",
    "swift",
    "tidy",
    "vivid",
    "warm",
    "wise",
]
_NOUNS = [
    "badger",
    "bison",
    "crane",
    "dolphin",
    "eagle",
    "falcon",
    "fox",
    "gecko",
    "heron",
    "ibis",
    "jaguar",
    "koala",
    "lemur",
    "lynx",
    "mole",
    "newt",
    "otter",
    "owl",
    "panda",
    "quail",
    "raven",
    "seal",
    "tiger",
    "wolf",
    "yak",
]


T = TypeVar("T")


def _deleted_run(run_id: str) -> FailedPrecondition:
    return FailedPrecondition(f"run {run_id} is deleted; restore it before writing to it")


class TrackingStore(RunSearch):
    """Experiments, runs and their data in one Peewee database."""

    def __init__(self, db: peewee.Database, artifact_root: str):
        self.db = db
        self.artifact_root = artifact_root.rstrip("/")
        self.t = schema.bind_tables(db)
        self._queries = RenderedQueries(db)
        self._checked_filters: dict[str, Node | None] = {}
        self._checkpoints = None
        # Called after each commit that stored metric points, with
        # {run_id: {key: (steps, timestamps, values)}}; the server's live feed.
        self.metric_listeners: list[Callable[[dict[str, dict[str, tuple]]], None]] = []
        self.request_log = RequestLog(db, self.t, now_ms)

    def _write(self, work: Callable[[], T]) -> T:
        """`work()` as one unit of work that writes (see `unit_of_work`)."""
        return unit_of_work.run(self.db, work)

    def _read(self, work: Callable[[], T]) -> T:
        """`work()` as one unit of work that only reads."""
        return unit_of_work.run(self.db, work, write=False)

    def _announce(self, written: dict[str, dict[str, tuple]]) -> None:
        """Tells the listeners about the points of `written` once the unit of work that
        stores them has committed (never if it rolls back)."""
        if written and self.metric_listeners:
            listeners = list(self.metric_listeners)
            self.db.after_commit(lambda: [listener(written) for listener in listeners])

    def ping(self) -> bool:
        """Whether the database answers now."""
        return ping(self.db)

    # -- lifecycle ---------------------------------------------------------

    def initialize(self) -> None:
        """Creates or migrates the schema and the default experiment."""
        with self.db.connection_context():
            schema.migrate(self.db, self.t)
            if self.t.Experiment.get_or_none(experiment_id=DEFAULT_EXPERIMENT_ID) is None:
                self._write(self._create_default_experiment)
        if self._checkpoints is None:
            self._checkpoints = start_wal_checkpoints(self.db)

    def _create_default_experiment(self) -> None:
        if self.t.Experiment.get_or_none(experiment_id=DEFAULT_EXPERIMENT_ID) is not None:
            return
        if is_mysql(self.db):
            # Without it MySQL takes an explicit 0 as "next auto-increment value".
            self.db.execute_sql(
                "SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_AUTO_VALUE_ON_ZERO')"
            )
        ts = now_ms()
        self.t.Experiment.insert(
            experiment_id=DEFAULT_EXPERIMENT_ID,
            name=DEFAULT_EXPERIMENT_NAME,
            artifact_location=f"{self.artifact_root}/{DEFAULT_EXPERIMENT_ID}",
            lifecycle_stage=ACTIVE,
            creation_time=ts,
            last_update_time=ts,
        ).execute()

    def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.stop()
            self._checkpoints = None
        self.db.close()

    # -- experiments -------------------------------------------------------

    def _experiment_row(self, experiment_id: str, field: str = "experiment_id", lock=False):
        eid = parse_experiment_id(field, experiment_id)
        query = self.t.Experiment.select().where(self.t.Experiment.experiment_id == eid)
        row = (for_update(self.db, query) if lock else query).first()
        if row is None:
            raise NotFound(f"experiment {experiment_id} does not exist")
        return row

    def _experiment_record(self, row) -> ExperimentRecord:
        tags = {
            t.key: t.value
            for t in self.t.ExperimentTag.select().where(
                self.t.ExperimentTag.experiment_id == row.experiment_id
            )
        }
        return ExperimentRecord(
            experiment_id=row.experiment_id,
            name=row.name,
            artifact_location=row.artifact_location,
            lifecycle_stage=row.lifecycle_stage,
            creation_time=row.creation_time,
            last_update_time=row.last_update_time,
            tags=tags,
        )

    def _check_experiment_name_free(self, name: str) -> None:
        existing = self.t.Experiment.get_or_none(self.t.Experiment.name == name)
        if existing is not None:
            state = "a deleted" if existing.lifecycle_stage == DELETED else "an"
            raise AlreadyExists(
                f"name '{name}' is taken by {state} experiment (id {existing.experiment_id})"
            )

    def create_experiment(
        self, name: str, artifact_location: str = "", tags: dict[str, str] | None = None
    ) -> ExperimentRecord:
        """Creates an experiment. `artifact_location` is one the caller has checked
        (`ArtifactLocations.experiment_location`); empty for `<artifact root>/<id>`."""
        check_name("name", name, LIMITS.max_experiment_name_length)
        tags = tags or {}
        for key, value in tags.items():
            check_key("tags.key", key)
            check_length(f"tags['{key}'].value", value, LIMITS.max_tag_value_length)

        def work():
            self._check_experiment_name_free(name)
            ts = now_ms()
            try:
                eid = self.t.Experiment.insert(
                    name=name,
                    artifact_location=artifact_location,
                    lifecycle_stage=ACTIVE,
                    creation_time=ts,
                    last_update_time=ts,
                ).execute()
            except peewee.IntegrityError:
                raise AlreadyExists(f"name '{name}' is taken by an experiment") from None
            if not artifact_location:
                self.t.Experiment.update(artifact_location=f"{self.artifact_root}/{eid}").where(
                    self.t.Experiment.experiment_id == eid
                ).execute()
            if tags:
                self.t.ExperimentTag.insert_many(
                    [{"experiment_id": eid, "key": k, "value": v} for k, v in tags.items()]
                ).execute()
            return self._experiment_record(self.t.Experiment.get_by_id(eid))

        return self._write(work)

    def get_experiment(self, experiment_id: str) -> ExperimentRecord:
        def work():
            return self._experiment_record(self._experiment_row(experiment_id))

        return self._read(work)

    def get_experiment_by_name(self, name: str) -> ExperimentRecord:
        if not name:
            raise InvalidArgument("name must not be empty")
        check_text("name", name)

        def work():
            row = self.t.Experiment.get_or_none(self.t.Experiment.name == name)
            if row is None:
                raise NotFound(f"experiment named '{name}' does not exist")
            return self._experiment_record(row)

        return self._read(work)

    def search_experiments(
        self,
        view_type: int = 0,
        page_size: int = 0,
        page_token: str = "",
        *,
        filter: str = "",
        order_by: list[str] = (),
    ) -> tuple[list[ExperimentRecord], str]:
        tree = EXPERIMENT_GRAMMAR.parse_filter(filter)
        order_keys = EXPERIMENT_GRAMMAR.parse_order_by(list(order_by))
        size = checked_page_size(page_size)
        fingerprint = PageToken.fingerprint("experiments", view_type, filter, list(order_by))
        offset = PageToken.decode(page_token, fingerprint)
        E = self.t.Experiment
        builder = QueryBuilder(
            E, "experiment_id", {"tag": self.t.ExperimentTag}, EXPERIMENT_ATTRIBUTES
        )
        where = view_condition(E.lifecycle_stage, view_type)
        if tree is not None:
            where = where & builder.condition(tree)

        def work():
            query = builder.order(
                E.select().where(where),
                order_keys,
                [E.creation_time.desc(), E.experiment_id.desc()],
            )
            rows = list(query.offset(offset).limit(size + 1))
            return rows, [self._experiment_record(r) for r in rows[:size]]

        rows, records = self._read(work)
        token = PageToken.encode(offset + size, fingerprint) if len(rows) > size else ""
        return records, token

    def rename_experiment(self, experiment_id: str, name: str) -> ExperimentRecord:
        check_name("name", name, LIMITS.max_experiment_name_length)

        def work():
            row = self._experiment_row(experiment_id, lock=True)
            if row.lifecycle_stage == DELETED:
                raise FailedPrecondition(f"experiment {experiment_id} is deleted")
            if row.name != name:
                self._check_experiment_name_free(name)
                row.name = name
                row.last_update_time = now_ms()
                row.save()
            return self._experiment_record(row)

        return self._write(work)

    def delete_experiment(self, experiment_id: str) -> None:
        def work():
            row = self._experiment_row(experiment_id, lock=True)
            if row.experiment_id == DEFAULT_EXPERIMENT_ID:
                raise FailedPrecondition("the default experiment (id 0) cannot be deleted")
            if row.lifecycle_stage == DELETED:
                raise FailedPrecondition(f"experiment {experiment_id} is already deleted")
            R = self.t.Run
            # Runs deleted with the experiment carry its deletion time, which
            # restore_experiment matches; it must differ from the time of any
            # run deleted on its own before.
            latest = (
                R.select(peewee.fn.MAX(R.deleted_time))
                .where(R.experiment_id == row.experiment_id)
                .scalar()
            )
            ts = max(now_ms(), (latest or 0) + 1)
            row.lifecycle_stage, row.last_update_time = DELETED, ts
            row.save()
            R.update(lifecycle_stage=DELETED, deleted_time=ts).where(
                (R.experiment_id == row.experiment_id) & (R.lifecycle_stage == ACTIVE)
            ).execute()

        self._write(work)

    def restore_experiment(self, experiment_id: str) -> None:
        def work():
            row = self._experiment_row(experiment_id, lock=True)
            if row.lifecycle_stage == ACTIVE:
                raise FailedPrecondition(f"experiment {experiment_id} is not deleted")
            deleted_at = row.last_update_time
            row.lifecycle_stage, row.last_update_time = ACTIVE, now_ms()
            row.save()
            R = self.t.Run
            R.update(lifecycle_stage=ACTIVE, deleted_time=None).where(
                (R.experiment_id == row.experiment_id) & (R.deleted_time == deleted_at)
            ).execute()

        self._write(work)

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        check_key("tag.key", key)
        check_length("tag.value", value, LIMITS.max_tag_value_length)

        def work():
            row = self._experiment_row(experiment_id, lock=True)
            if row.lifecycle_stage == DELETED:
                raise FailedPrecondition(f"experiment {experiment_id} is deleted")
            T = self.t.ExperimentTag
            rows = [{"experiment_id": row.experiment_id, "key": key, "value": value}]
            upsert(T, rows, (T.experiment_id, T.key), (T.value,))

        self._write(work)

    # -- runs --------------------------------------------------------------

    def _run_row(self, run_id: str, field: str = "run_id", lock: bool = False):
        check_run_id(field, run_id)
        R = self.t.Run

        def build():  # every write reads its run first: rendered once
            query = R.select().where(R.run_id == peewee.SQL(self.db.param))
            return for_update(self.db, query) if lock else query

        sql = self._queries.sql(("run", lock), build)
        row = next(iter(self.t.Run.raw(sql, run_id)), None)
        if row is None:
            raise NotFound(f"run {run_id} does not exist")
        return row

    def _active_run_row(self, run_id: str, field: str = "run_id"):
        """The run, locked for the transaction; FAILED_PRECONDITION if it is deleted."""
        row = self._run_row(run_id, field, lock=True)
        if row.lifecycle_stage == DELETED:
            raise _deleted_run(run_id)
        return row

    def _select_by_run_ids(self, table, columns: tuple, run_ids: list, keys) -> list[tuple]:
        """Rows of `table` for these runs (and keys, if given). The statement is rendered
        once per shape and kept: rendering a few hundred bound values through Peewee
        costs more than SQLite takes to answer."""
        keys = sorted(keys) if keys is not None else []
        # SQLite takes the ids as one JSON array (json_each), faster than as many bound
        # values, and one statement serves every count.
        as_json = is_sqlite(self.db)
        shape = (table.__name__, columns, -1 if as_json else len(run_ids), len(keys))

        def build():
            if as_json:
                ids = "(SELECT value FROM json_each(?))"
            else:
                ids = self._placeholders(len(run_ids))
            condition = table.run_id.in_(peewee.SQL(ids))
            if keys:
                condition &= table.key.in_(peewee.SQL(self._placeholders(len(keys))))
            return table.select(*columns).where(condition)

        sql = self._queries.sql(shape, build)
        ids = [json.dumps(run_ids)] if as_json else run_ids
        return self.db.execute_sql(sql, [*ids, *keys]).fetchall()

    def _placeholders(self, n: int) -> str:
        return f"({', '.join([self.db.param] * n)})"

    def _run_columns(self) -> tuple:
        """The runs columns in RunRecord's field order, for building records from tuples."""
        R = self.t.Run
        return (
            R.run_id, R.experiment_id, R.name, R.status, R.start_time, R.end_time,
            R.artifact_uri, R.lifecycle_stage, R.parent_run_id, R.user_id,
        )  # fmt: skip

    def _run_record(self, row, with_data: bool = True) -> RunRecord:
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
            self._load_run_data([record])
        return record

    def _load_run_data(
        self, records: list[RunRecord], projection: dict[str, set[str] | None] | None = None
    ) -> None:
        """Fills params, tags and latest metrics; `projection` limits kinds and keys."""
        if not records:
            return
        ids = [r.run_id for r in records]
        kinds = {"param": self.t.Param, "tag": self.t.RunTag, "metric": self.t.LatestMetric}
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
                rows = self._select_by_run_ids(table, columns, chunk, keys)
                if kind != "metric":
                    for run_id, key, value in rows:
                        into[run_id][key] = value
                    continue
                for run_id, key, value, special, ts, step in rows:
                    if special:
                        value = loaded_value(value, special)
                    into[run_id].append(MetricRecord(key, value, ts, step))

    def _random_run_name(self) -> str:
        return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(1, 999)}"

    def create_run(
        self,
        experiment_id: str,
        run_name: str = "",
        start_time: int | None = None,
        tags: dict[str, str] | None = None,
        parent_run_id: str = "",
        run_id: str = "",
        user_id: str = "",
        params: dict[str, str] | list[tuple[str, str]] = (),
        metrics: list[MetricRecord] = (),
    ) -> tuple[RunRecord, bool]:
        """Creates a run with its first params, tags and metrics, or resumes the run
        `run_id` if it exists. Returns (run, resumed)."""
        new = NewRun(run_name, start_time, tags, parent_run_id, run_id, user_id, params, metrics)
        checked = new.checked()

        def work():
            written: dict[str, dict[str, tuple]] = {}
            experiment = self._writable_experiment(experiment_id)
            existing = None
            if run_id:
                existing = for_update(
                    self.db, self.t.Run.select().where(self.t.Run.run_id == run_id)
                ).first()
            if existing is not None:
                result = (
                    self._resume_run(
                        existing, experiment.experiment_id, run_name, checked[1], written
                    ),
                    True,
                )
            else:
                result = self._insert_new_runs(experiment, [checked], written)[0], False
            self._announce(written)
            return result

        return self._write(work)

    def create_runs(self, experiment_id: str, runs: list[NewRun]) -> list[RunRecord]:
        """Creates several new runs of one experiment in one transaction."""
        if not runs:
            raise InvalidArgument("requests must hold at least one run")
        if len(runs) > LIMITS.max_batch_create_runs:
            raise InvalidArgument(
                f"requests has {len(runs)} runs; the limit is {LIMITS.max_batch_create_runs}"
            )
        checked = [run.checked(f"requests[{i}].") for i, run in enumerate(runs)]
        chosen = [run.run_id for run in runs if run.run_id]
        if len(set(chosen)) != len(chosen):
            raise InvalidArgument("requests: a run_id appears twice")

        def work():
            written: dict[str, dict[str, tuple]] = {}
            experiment = self._writable_experiment(experiment_id)
            R = self.t.Run
            for chunk in peewee.chunked(chosen, 500):
                taken = R.select(R.run_id).where(R.run_id.in_(chunk)).first()
                if taken is not None:
                    raise AlreadyExists(f"run_id {taken.run_id} exists already")
            records = self._insert_new_runs(experiment, checked, written)
            self._announce(written)
            return records

        return self._write(work)

    def _writable_experiment(self, experiment_id: str):
        experiment = self._experiment_row(experiment_id)
        if experiment.lifecycle_stage == DELETED:
            raise FailedPrecondition(f"experiment {experiment_id} is deleted")
        return experiment

    def _insert_new_runs(
        self, experiment, checked: list[tuple[NewRun, Batch]], written: dict
    ) -> list[RunRecord]:
        """Inserts new runs with their data in a few multi-row statements; the records
        returned are built from what was written, not read back. The metric points
        go into `written` as {run_id: series}."""
        R = self.t.Run
        parents = {new.parent_run_id for new, _ in checked if new.parent_run_id}
        found = {}
        for chunk in peewee.chunked(list(parents), 500):
            found.update(R.select(R.run_id, R.experiment_id).where(R.run_id.in_(chunk)).tuples())
        now = now_ms()
        location = experiment.artifact_location.rstrip("/")
        records, rows = [], {"runs": [], "params": [], "tags": [], "chunks": [], "latest": []}
        for new, batch in checked:
            if new.parent_run_id:
                if new.parent_run_id not in found:
                    raise NotFound(f"parent_run_id: run {new.parent_run_id} does not exist")
                if found[new.parent_run_id] != experiment.experiment_id:
                    raise InvalidArgument(
                        f"parent_run_id {new.parent_run_id} belongs to experiment "
                        f"{found[new.parent_run_id]}, not {experiment.experiment_id}"
                    )
            run_id = new.run_id or uuid.uuid4().hex
            record = RunRecord(
                run_id=run_id,
                experiment_id=experiment.experiment_id,
                name=new.run_name or self._random_run_name(),
                status=RUNNING,
                start_time=new.start_time or now,
                end_time=None,
                artifact_uri=f"{location}/{run_id}/artifacts",
                lifecycle_stage=ACTIVE,
                parent_run_id=new.parent_run_id or None,
                user_id=new.user_id,
                params=batch.params,
                tags=batch.tags,
            )
            record.tags.setdefault("trackwire.runName", record.name)
            if new.parent_run_id:
                record.tags.setdefault("trackwire.parentRunId", new.parent_run_id)
            if new.user_id:
                record.tags.setdefault("trackwire.user", new.user_id)
            rows["runs"].append(
                {
                    "run_id": run_id,
                    "experiment_id": record.experiment_id,
                    "name": record.name,
                    "status": RUNNING,
                    "start_time": record.start_time,
                    "end_time": None,
                    "artifact_uri": record.artifact_uri,
                    "lifecycle_stage": ACTIVE,
                    "parent_run_id": record.parent_run_id,
                    "user_id": record.user_id,
                }
            )
            rows["params"] += [
                {"run_id": run_id, "key": k, "value": v} for k, v in batch.params.items()
            ]
            rows["tags"] += [
                {"run_id": run_id, "key": k, "value": v} for k, v in record.tags.items()
            ]
            series = batch.series()
            if series:
                written[run_id] = series
            for key, columns in series.items():
                rows["chunks"].append({"run_id": run_id, "key": key, **chunk_fields(*columns)})
                point = latest_point(*columns)
                rows["latest"].append(latest_row(experiment.experiment_id, run_id, key, point))
                record.metrics.append(MetricRecord(key, point[2], point[1], point[0]))
            records.append(record)
        for name, table in (
            ("runs", R),
            ("params", self.t.Param),
            ("tags", self.t.RunTag),
            ("chunks", self.t.MetricChunk),
            ("latest", self.t.LatestMetric),
        ):
            bulk_insert(table, rows[name])
        return records

    def _resume_run(
        self, row, experiment_id: int, run_name: str, batch: Batch, written: dict
    ) -> RunRecord:
        if row.experiment_id != experiment_id:
            raise AlreadyExists(
                f"run_id {row.run_id} exists in experiment {row.experiment_id}, not {experiment_id}"
            )
        if row.lifecycle_stage == DELETED:
            raise FailedPrecondition(f"run {row.run_id} is deleted; restore it before resuming it")
        row.status, row.end_time = RUNNING, None
        if run_name:
            row.name = run_name
            batch.tags["trackwire.runName"] = run_name
        row.save()
        self._write_batch(row, batch, written)
        return self._run_record(row)

    def get_run(self, run_id: str, with_data: bool = True, field: str = "run_id") -> RunRecord:
        """The run; with its params, tags and latest metrics unless `with_data` is False.
        `field` names the run id in errors."""

        def work():
            return self._run_record(self._run_row(run_id, field), with_data)

        return self._read(work)

    def update_run(
        self, run_id: str, status: int = 0, end_time: int | None = None, run_name: str | None = None
    ) -> RunRecord:
        if status and status not in RUN_STATUSES:
            raise InvalidArgument(f"status {status} is not a RunStatus")
        if run_name is not None:
            check_name("run_name", run_name, LIMITS.max_run_name_length)

        def work():
            row = self._active_run_row(run_id)
            if status:
                row.status = status
                if status == RUNNING:
                    row.end_time = None
            if end_time is not None:
                row.end_time = end_time
            if run_name is not None:
                row.name = run_name
                self._upsert_tags(run_id, {"trackwire.runName": run_name})
            row.save()
            return self._run_record(row)

        return self._write(work)

    def delete_run(self, run_id: str) -> None:
        def work():
            row = self._run_row(run_id, lock=True)
            if row.lifecycle_stage == DELETED:
                raise FailedPrecondition(f"run {run_id} is already deleted")
            row.lifecycle_stage, row.deleted_time = DELETED, now_ms()
            row.save()

        self._write(work)

    def restore_run(self, run_id: str) -> None:
        def work():
            row = self._run_row(run_id, lock=True)
            if row.lifecycle_stage == ACTIVE:
                raise FailedPrecondition(f"run {run_id} is not deleted")
            experiment = self.t.Experiment.get_by_id(row.experiment_id)
            if experiment.lifecycle_stage == DELETED:
                raise FailedPrecondition(
                    f"run {run_id} belongs to deleted experiment {row.experiment_id}; restore that first"
                )
            row.lifecycle_stage, row.deleted_time = ACTIVE, None
            row.save()

        self._write(work)

    def set_run_tag(self, run_id: str, key: str, value: str) -> None:
        check_key("tag.key", key)
        check_length("tag.value", value, LIMITS.max_tag_value_length)

        def work():
            self._writable_run(run_id)
            self._upsert_tags(run_id, {key: value})

        self._write(work)

    def delete_run_tag(self, run_id: str, key: str) -> None:
        check_lookup_key("key", key)

        def work():
            self._writable_run(run_id)
            T = self.t.RunTag
            if not T.delete().where((T.run_id == run_id) & (T.key == key)).execute():
                raise NotFound(f"run {run_id} has no tag '{key}'")

        self._write(work)

    def _upsert_tags(self, run_id: str, tags: dict[str, str]) -> None:
        if not tags:
            return
        T = self.t.RunTag
        rows = [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
        upsert(T, rows, (T.run_id, T.key), (T.value,))

    def _experiment_ids(self, experiment_ids: list[str], experiment_names: list[str]) -> list[int]:
        ids = [parse_experiment_id("experiment_ids", e) for e in experiment_ids]
        for i, name in enumerate(experiment_names):
            check_text(f"experiment_names[{i}]", name)
        if experiment_names:
            E = self.t.Experiment
            found = dict(
                E.select(E.name, E.experiment_id).where(E.name.in_(list(experiment_names))).tuples()
            )
            missing = [n for n in experiment_names if n not in found]
            if missing:
                raise NotFound(
                    f"experiment_names: no experiment named {', '.join(map(repr, missing))}"
                )
            ids += [found[n] for n in experiment_names]
        if not ids:
            raise InvalidArgument(
                "experiment_ids or experiment_names must name at least one experiment"
            )
        return sorted(set(ids))

    # -- params, tags, metrics ---------------------------------------------

    def _writable_run(self, run_id: str, field: str = "run_id") -> WritableRun:
        """(run_id, experiment_id) of an active run, locked for the transaction; NOT_FOUND,
        or FAILED_PRECONDITION if it is deleted. A plain tuple: LogBatch's every call
        reads its run first."""
        check_run_id(field, run_id)
        R = self.t.Run

        def render():
            query = R.select(R.run_id, R.experiment_id, R.lifecycle_stage).where(
                R.run_id == peewee.SQL(self.db.param)
            )
            return for_update(self.db, query)

        sql = self._queries.sql(("writable_run",), render)
        row = self.db.execute_sql(sql, (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"run {run_id} does not exist")
        if row[2] == DELETED:
            raise _deleted_run(run_id)
        return WritableRun(row[0], row[1])

    def log_batch(
        self,
        run_id: str,
        metrics: list[MetricRecord],
        params: dict[str, str] | list[tuple[str, str]],
        tags: dict[str, str] | list[tuple[str, str]],
        metric_columns: MetricPointColumns | None = None,
    ) -> None:
        """Writes params, tags and points (`metrics`, then `metric_columns`) to an active
        run, all or nothing."""
        batch = Batch.checked(metrics, params, tags, columns=metric_columns)

        def work():
            written: dict[str, dict[str, tuple]] = {}
            self._write_batch(self._writable_run(run_id), batch, written)
            self._announce(written)

        self._write(work)

    def _write_batch(self, run, batch: Batch, written: dict) -> None:
        """Writes a checked batch to `run` (its row, locked); its points go into `written`."""
        run_id = run.run_id
        if batch.params:
            self._insert_params(run_id, batch.params)
        if batch.tags:
            self._upsert_tags(run_id, batch.tags)
        if batch.has_metrics:
            series = batch.series()
            self._append_points(run, series)
            written[run_id] = series

    def _insert_params(self, run_id: str, params: dict[str, str]) -> None:
        P = self.t.Param
        existing = {}
        for chunk in peewee.chunked(list(params), 500):
            query = P.select(P.key, P.value).where((P.run_id == run_id) & P.key.in_(chunk))
            existing.update(query.tuples())
        for key, value in params.items():
            if key in existing and existing[key] != value:
                raise InvalidArgument(
                    f"param '{key}' was logged as '{existing[key][:100]}'; it cannot be changed "
                    f"to '{value[:100]}' (params are write-once)"
                )
        rows = [
            {"run_id": run_id, "key": k, "value": v} for k, v in params.items() if k not in existing
        ]
        for chunk in peewee.chunked(rows, 200):
            P.insert_many(chunk).execute()

    def _append_points(
        self, run, series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    ) -> None:
        """Stores points per key of `run` (its row, locked) and moves latest_metrics forward."""
        run_id = run.run_id
        candidates = {key: latest_point(*columns) for key, columns in series.items()}
        self._store_chunks(run_id, series)
        M = self.t.LatestMetric
        param = peewee.SQL(self.db.param)

        def latest(n):  # the latest points of n keys
            return M.select(M.key, M.step, M.timestamp).where(
                (M.run_id == param) & M.key.in_(peewee.SQL(self._placeholders(n)))
            )

        current = {}
        for chunk in slices(list(candidates), 500):
            sql = self._queries.sql(("latest", len(chunk)), functools.partial(latest, len(chunk)))
            rows = self.db.execute_sql(sql, (run_id, *chunk)).fetchall()
            current.update((k, (s, t)) for k, s, t in rows)
        inserts, updates = [], []
        for key, point in candidates.items():
            if key not in current:
                inserts.append(latest_row(run.experiment_id, run_id, key, point))
            elif point[:2] >= current[key]:
                row = latest_row(run.experiment_id, run_id, key, point)
                updates.append(
                    (row["value"], row["special"], row["step"], row["timestamp"], run_id, key)
                )
        if updates:
            sql = self._queries.sql(
                ("latest_update",),
                lambda: M.update(
                    {M.value: param, M.special: param, M.step: param, M.timestamp: param}
                ).where((M.run_id == param) & (M.key == param)),
            )
            for values in updates:
                self.db.execute_sql(sql, values)
        bulk_insert(M, inserts)

    def _store_chunks(
        self, run_id: str, series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    ) -> None:
        """One chunk per key; a key's few points are appended to its last chunk while that
        is small too (see MERGE_BATCHES_BELOW)."""
        C = self.t.MetricChunk
        param = peewee.SQL(self.db.param)
        small = [k for k, cols in series.items() if len(cols[0]) < MERGE_BATCHES_BELOW]
        tails = {}

        def tails_query(n):
            last = (
                C.select(peewee.fn.MAX(C.chunk_id))
                .where((C.run_id == param) & C.key.in_(peewee.SQL(self._placeholders(n))))
                .group_by(C.key)
            )
            return C.select(C.chunk_id, C.key, C.data).where(
                C.chunk_id.in_(last) & (C.point_count < param)
            )

        for keys in slices(small, 500):
            sql = self._queries.sql(
                ("chunk_tails", len(keys)), functools.partial(tails_query, len(keys))
            )
            rows = self.db.execute_sql(sql, (run_id, *keys, MERGE_BELOW_POINTS)).fetchall()
            tails.update((key, (chunk_id, data)) for chunk_id, key, data in rows)
        inserts = []
        for key, columns in series.items():
            if key in tails:
                chunk_id, data = tails[key]
                old = metric_codec.decode(bytes(data))
                columns = tuple(np.concatenate((a, b)) for a, b in zip(old, columns, strict=True))
            fields = chunk_fields(*columns)
            if key in tails:
                sql = self._queries.sql(
                    ("chunk_update",),
                    lambda: C.update(
                        {C.min_step: param, C.max_step: param, C.point_count: param, C.data: param}
                    ).where(C.chunk_id == param),
                )
                self.db.execute_sql(
                    sql,
                    (
                        fields["min_step"],
                        fields["max_step"],
                        fields["point_count"],
                        fields["data"],
                        chunk_id,
                    ),
                )
            else:
                inserts.append({"run_id": run_id, "key": key, **fields})
        bulk_insert(C, inserts)

    def write_metric_columns(
        self, writer_id: str, sequence_number: int, batch: MetricColumns
    ) -> tuple[bool, int]:
        """Stores a streamed batch once per (writer_id, sequence_number), in the writer's
        order: the batch must be the writer's next (its last committed number + 1; 1 for
        a new writer). Returns (duplicate, the number expected next): duplicate is True
        for a batch at or below the last committed one (a resend), which is not stored
        again. A batch beyond the next number is refused (SequenceGap). All or nothing: a
        refused batch writes nothing.
        """
        if not writer_id:
            raise InvalidArgument("writer_id must not be empty")
        check_length("writer_id", writer_id, 64)
        if sequence_number <= 0:
            raise InvalidArgument("sequence_number must be positive")
        groups = self._group_columns(batch)

        def work():
            W = self.t.WriterProgress
            progress = for_update(self.db, W.select().where(W.writer_id == writer_id)).first()
            last = progress.sequence_number if progress is not None else 0
            if sequence_number <= last:
                return True, last + 1
            if sequence_number != last + 1:
                raise SequenceGap(
                    f"sequence_number {sequence_number} of writer {writer_id} skips "
                    f"{last + 1}: the next batch must have number {last + 1}",
                    expected=last + 1,
                )
            for run_id, series in groups.items():
                self._append_points(self._writable_run(run_id, "series.run_id"), series)
            ts = now_ms()
            if progress is None:
                try:
                    W.insert(
                        writer_id=writer_id, sequence_number=sequence_number, update_time=ts
                    ).execute()
                except peewee.IntegrityError:  # the same writer's first batch, concurrently
                    raise RetryTransaction(f"writer {writer_id} started concurrently") from None
            else:
                W.update(sequence_number=sequence_number, update_time=ts).where(
                    W.writer_id == writer_id
                ).execute()
            self._announce(groups)
            return False, sequence_number + 1

        return self._write(work)

    def next_sequence_number(self, writer_id: str) -> int:
        """The number the writer's next batch must have (1 for a writer not seen)."""
        W = self.t.WriterProgress

        def work():
            return W.select(W.sequence_number).where(W.writer_id == writer_id).scalar() or 0

        return self._read(work) + 1

    @staticmethod
    def _group_columns(batch: MetricColumns) -> dict[str, dict[str, tuple]]:
        """Validates a columnar batch and splits it into {run_id: {key: (steps, ts, values)}}."""
        n = len(batch.values)
        n_series = len(batch.series)
        if n_series == 0:
            raise InvalidArgument("series must name at least one (run_id, key)")
        if n_series > LIMITS.max_stream_batch_series:
            raise ResourceExhausted(
                f"series has {n_series} entries; the limit is {LIMITS.max_stream_batch_series}"
            )
        if n == 0:
            raise InvalidArgument("values must not be empty")
        if n > LIMITS.max_stream_batch_points:
            raise ResourceExhausted(
                f"values has {n} points; the limit is {LIMITS.max_stream_batch_points} per batch"
            )
        for name, column in (("steps", batch.steps), ("timestamps_ms", batch.timestamps)):
            if len(column) not in (0, n):
                raise InvalidArgument(f"{name} has {len(column)} entries; values has {n}")
        if len(batch.series_index) not in ((0, n) if n_series == 1 else (n,)):
            raise InvalidArgument(
                f"series_index has {len(batch.series_index)} entries; values has {n}"
            )
        for i, s in enumerate(batch.series):
            check_run_id(f"series[{i}].run_id", s.run_id)
            check_key(f"series[{i}].key", s.key)
        values = np.asarray(batch.values, dtype=np.float64)
        steps = (
            np.asarray(batch.steps, dtype=np.int64) if len(batch.steps) else np.zeros(n, np.int64)
        )
        if len(batch.timestamps):
            timestamps = np.asarray(batch.timestamps, dtype=np.int64)
        else:
            timestamps = np.full(n, now_ms(), dtype=np.int64)
        groups: dict[str, dict[str, tuple]] = {}
        if n_series == 1 and len(batch.series_index) == 0:
            s = batch.series[0]
            groups[s.run_id] = {s.key: (steps, timestamps, values)}
            return groups
        index = np.asarray(batch.series_index, dtype=np.int64)
        if index.max() >= n_series:
            raise InvalidArgument(
                f"series_index holds {int(index.max())}; series has {n_series} entries"
            )
        order = np.argsort(index, kind="stable")
        bounds = np.searchsorted(index[order], np.arange(n_series + 1))
        for i, s in enumerate(batch.series):
            part = order[bounds[i] : bounds[i + 1]]
            if len(part) == 0:
                continue
            series = groups.setdefault(s.run_id, {})
            if s.key in series:
                raise InvalidArgument(f"series[{i}] repeats ({s.run_id}, {s.key})")
            series[s.key] = (steps[part], timestamps[part], values[part])
        return groups

    def read_metric_history(
        self, run_id: str, key: str, start_step: int | None = None, end_step: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(steps, timestamps, values) of one metric, ordered by step then timestamp."""
        check_lookup_key("metric_key", key)

        def work():
            self._run_row(run_id)
            return self._history(run_id, key, start_step, end_step)

        return self._read(work)

    def read_metric_histories(
        self,
        run_ids: list[str],
        key: str,
        start_step: int | None = None,
        end_step: int | None = None,
        max_points: int = 0,
    ) -> list[tuple[str, int, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """[(run_id, points in range, (steps, timestamps, values))] per run, in request order;
        downsampled to about `max_points` each when it is set."""
        check_lookup_key("metric_key", key)
        if not run_ids:
            raise InvalidArgument("run_ids must name at least one run")
        if len(run_ids) > LIMITS.max_batch_history_runs:
            raise InvalidArgument(
                f"run_ids has {len(run_ids)} entries; the limit is {LIMITS.max_batch_history_runs}"
            )
        for i, run_id in enumerate(run_ids):
            check_run_id(f"run_ids[{i}]", run_id)
        repeated = next((r for i, r in enumerate(run_ids) if r in run_ids[:i]), None)
        if repeated is not None:
            raise InvalidArgument(f"run_ids: run {repeated} appears twice")
        if max_points and max_points < 4:
            raise InvalidArgument(f"max_points must be 0 or at least 4, not {max_points}")
        R = self.t.Run

        def work():
            result = []
            known = set()
            for chunk in peewee.chunked(list(set(run_ids)), 500):
                known.update(r for (r,) in R.select(R.run_id).where(R.run_id.in_(chunk)).tuples())
            missing = [r for r in run_ids if r not in known]
            if missing:
                raise NotFound(f"run_ids: run {missing[0]} does not exist")
            for run_id in run_ids:
                columns = self._history(run_id, key, start_step, end_step)
                total = len(columns[0])
                if max_points and total > max_points:
                    columns = downsample(*columns, max_points)
                result.append((run_id, total, columns))
            return result

        return self._read(work)

    def _history(self, run_id, key, start_step, end_step):
        C = self.t.MetricChunk
        condition = (C.run_id == run_id) & (C.key == key)
        if start_step is not None:
            condition &= C.max_step >= start_step
        if end_step is not None:
            condition &= C.min_step <= end_step
        query = C.select(C.data).where(condition).order_by(C.chunk_id)
        blobs = [bytes(d) for (d,) in query.tuples()]
        if not blobs:
            empty = np.empty(0, np.int64)
            return empty, empty, np.empty(0, np.float64)
        parts = [metric_codec.decode(b) for b in blobs]
        steps = np.concatenate([p[0] for p in parts])
        timestamps = np.concatenate([p[1] for p in parts])
        values = np.concatenate([p[2] for p in parts])
        if start_step is not None or end_step is not None:
            keep = np.ones(len(steps), dtype=bool)
            if start_step is not None:
                keep &= steps >= start_step
            if end_step is not None:
                keep &= steps <= end_step
            steps, timestamps, values = steps[keep], timestamps[keep], values[keep]
        step_diff = np.diff(steps)
        in_order = np.all((step_diff > 0) | ((step_diff == 0) & (np.diff(timestamps) >= 0)))
        if not in_order:
            order = np.lexsort((timestamps, steps))
            steps, timestamps, values = steps[order], timestamps[order], values[order]
        return steps, timestamps, values

    def iter_metric_history(
        self, run_id: str, key: str, start_step: int | None, end_step: int | None, chunk_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        steps, timestamps, values = self.read_metric_history(run_id, key, start_step, end_step)
        for lo in range(0, len(values), chunk_size):
            hi = lo + chunk_size
            yield steps[lo:hi], timestamps[lo:hi], values[lo:hi]
