"""Runs with their params and tags: created (alone, in batches, or resumed), read,
updated, deleted and restored; and LogBatch, the batch of params, tags and metric
points written to a run at once."""

from __future__ import annotations

import uuid

import peewee

from trackwire_server.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from trackwire_server.limits import LIMITS
from trackwire_server.store import statistics
from trackwire_server.store.constants import ACTIVE, DELETED, RUN_STATUSES, RUNNING
from trackwire_server.store.context import StoreContext, Written
from trackwire_server.store.inserts import bulk_insert, upsert
from trackwire_server.store.metric_history import MetricHistory
from trackwire_server.store.metric_points import chunk_fields, latest_point, latest_row
from trackwire_server.store.records import MetricPointColumns, MetricRecord, RunRecord
from trackwire_server.store.rows import (
    active_run_row,
    run_record,
    run_row,
    writable_experiment,
    writable_run,
)
from trackwire_server.store.run_names import random_run_name
from trackwire_server.store.unit_of_work import for_update
from trackwire_server.store.validation import (
    check_key,
    check_length,
    check_lookup_key,
    check_name,
)
from trackwire_server.store.writes import Batch, NewRun, now_ms


class Runs:
    """The runs of one database, with their params and tags; their metric points go to
    `metrics`."""

    def __init__(self, ctx: StoreContext, metrics: MetricHistory):
        self.ctx = ctx
        self.db = ctx.db
        self.t = ctx.t
        self.metrics = metrics

    # -- creating ----------------------------------------------------------------

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
            written = Written()
            experiment = writable_experiment(self.ctx, experiment_id)
            existing = None
            if run_id:
                existing = for_update(
                    self.db, self.t.Run.select().where(self.t.Run.run_id == run_id)
                ).first()
            if existing is not None:
                record = self._resume(
                    existing, experiment.experiment_id, run_name, checked[1], written
                )
                result = record, True
            else:
                result = self._insert_new(experiment, [checked], written)[0], False
            self.ctx.announce(written)
            return result

        return self.ctx.write(work)

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
            written = Written()
            experiment = writable_experiment(self.ctx, experiment_id)
            R = self.t.Run
            for chunk in peewee.chunked(chosen, 500):
                taken = R.select(R.run_id).where(R.run_id.in_(chunk)).first()
                if taken is not None:
                    raise AlreadyExists(f"run_id {taken.run_id} exists already")
            records = self._insert_new(experiment, checked, written)
            self.ctx.announce(written)
            return records

        return self.ctx.write(work)

    def _insert_new(
        self, experiment, checked: list[tuple[NewRun, Batch]], written: Written
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
                name=new.run_name or random_run_name(),
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

    def _resume(
        self, row, experiment_id: int, run_name: str, batch: Batch, written: Written
    ) -> RunRecord:
        if row.experiment_id != experiment_id:
            # Not which one: the caller may not be allowed to read it.
            raise AlreadyExists(f"run_id {row.run_id} exists in another experiment")
        if row.lifecycle_stage == DELETED:
            raise FailedPrecondition(f"run {row.run_id} is deleted; restore it before resuming it")
        row.status, row.end_time = RUNNING, None
        if run_name:
            row.name = run_name
            batch.tags["trackwire.runName"] = run_name
        row.save()
        self._write_batch(row, batch, written)
        return run_record(self.ctx, row)

    # -- reading and changing ------------------------------------------------------

    def get_run(self, run_id: str, with_data: bool = True, field: str = "run_id") -> RunRecord:
        """The run; with its params, tags and latest metrics unless `with_data` is False.
        `field` names the run id in errors."""
        return self.ctx.read(
            lambda: run_record(self.ctx, run_row(self.ctx, run_id, field), with_data)
        )

    def update_run(
        self, run_id: str, status: int = 0, end_time: int | None = None, run_name: str | None = None
    ) -> RunRecord:
        if status and status not in RUN_STATUSES:
            raise InvalidArgument(f"status {status} is not a RunStatus")
        if run_name is not None:
            check_name("run_name", run_name, LIMITS.max_run_name_length)

        def work():
            row = active_run_row(self.ctx, run_id)
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
            return run_record(self.ctx, row)

        return self.ctx.write(work)

    def delete_run(self, run_id: str) -> None:
        def work():
            row = run_row(self.ctx, run_id, lock=True)
            if row.lifecycle_stage == DELETED:
                raise FailedPrecondition(f"run {run_id} is already deleted")
            row.lifecycle_stage, row.deleted_time = DELETED, now_ms()
            row.save()

        self.ctx.write(work)

    def restore_run(self, run_id: str) -> None:
        def work():
            row = run_row(self.ctx, run_id, lock=True)
            if row.lifecycle_stage == ACTIVE:
                raise FailedPrecondition(f"run {run_id} is not deleted")
            experiment = self.t.Experiment.get_by_id(row.experiment_id)
            if experiment.lifecycle_stage == DELETED:
                raise FailedPrecondition(
                    f"run {run_id} belongs to deleted experiment {row.experiment_id}; restore that first"
                )
            row.lifecycle_stage, row.deleted_time = ACTIVE, None
            row.save()

        self.ctx.write(work)

    # -- tags, params and batches ----------------------------------------------------

    def set_run_tag(self, run_id: str, key: str, value: str) -> None:
        check_key("tag.key", key)
        check_length("tag.value", value, LIMITS.max_tag_value_length)

        def work():
            writable_run(self.ctx, run_id)
            self._upsert_tags(run_id, {key: value})

        self.ctx.write(work)

    def delete_run_tag(self, run_id: str, key: str) -> None:
        check_lookup_key("key", key)

        def work():
            writable_run(self.ctx, run_id)
            T = self.t.RunTag
            if not T.delete().where((T.run_id == run_id) & (T.key == key)).execute():
                raise NotFound(f"run {run_id} has no tag '{key}'")

        self.ctx.write(work)

    def _upsert_tags(self, run_id: str, tags: dict[str, str]) -> None:
        if not tags:
            return
        T = self.t.RunTag
        rows = [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
        upsert(T, rows, (T.run_id, T.key), (T.value,))

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
            written = Written()
            self._write_batch(writable_run(self.ctx, run_id), batch, written)
            self.ctx.announce(written)

        self.ctx.write(work)

    def _write_batch(self, run, batch: Batch, written: Written) -> None:
        """Writes a checked batch to `run` (its row, locked); its points go into `written`."""
        run_id = run.run_id
        if batch.params:
            self._insert_params(run_id, batch.params)
        if batch.tags:
            self._upsert_tags(run_id, batch.tags)
        if batch.has_metrics:
            series = batch.series()
            slices = self.metrics.append(run, series)
            written[run_id] = series
            if slices:
                written.slices[run_id] = slices

    def _insert_params(self, run_id: str, params: dict[str, str]) -> None:
        """Params are write-once: a key logged again with its value is a no-op, with
        another value INVALID_ARGUMENT."""
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
        statistics.wrote(P, len(rows))
