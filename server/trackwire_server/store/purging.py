"""Purging: deleted runs and experiments removed for good (PurgeRun, PurgeExperiment).

Only what is in the deleted lifecycle stage is ever purged, each run in a transaction of
its own that locks its row first: a run restored, or written to, concurrently is either
seen live (FAILED_PRECONDITION, untouched) or waits for the purge and then finds no run.
The artifacts are not the store's: the caller (the servicer) removes them once the purge
has committed.
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee

from trackwire_server.errors import FailedPrecondition
from trackwire_server.store.constants import DEFAULT_EXPERIMENT_ID, DELETED
from trackwire_server.store.context import StoreContext
from trackwire_server.store.grants import EXPERIMENT_RESOURCE, delete_resource_grants
from trackwire_server.store.rows import experiment_row, run_row


@dataclass
class PurgedRun:
    run_id: str
    experiment_id: int
    artifact_uri: str
    # When the run was deleted (ms since the epoch; None if the database never said).
    deleted_time: int | None


@dataclass
class PurgedExperiment:
    experiment_id: int
    # When the experiment was deleted (its last update while deleted; ms).
    deleted_time: int


def _check_cutoff(what: str, deleted_time: int | None, deleted_before: int | None) -> None:
    if deleted_before is not None and deleted_time is not None and deleted_time >= deleted_before:
        raise FailedPrecondition(
            f"{what} was deleted at {deleted_time} ms, not before deleted_before "
            f"({deleted_before} ms)",
            reason="DELETED_TOO_RECENTLY",
        )


class Purges:
    """Permanent removal of deleted runs and experiments, in one database."""

    def __init__(self, ctx: StoreContext):
        self.ctx = ctx
        self.db = ctx.db
        self.t = ctx.t

    def purge_run(
        self, run_id: str, deleted_before: int | None = None, validate_only: bool = False
    ) -> PurgedRun:
        """Removes a deleted run with its params, tags and metric history (one unit of
        work); FAILED_PRECONDITION for a live run, or one deleted at or after
        `deleted_before` (ms). With `validate_only`, checks and changes nothing."""

        def work() -> PurgedRun:
            row = run_row(self.ctx, run_id, lock=True)
            if row.lifecycle_stage != DELETED:
                raise FailedPrecondition(
                    f"run {run_id} is not deleted; only deleted runs can be purged",
                    reason="RUN_NOT_DELETED",
                )
            _check_cutoff(f"run {run_id}", row.deleted_time, deleted_before)
            purged = PurgedRun(row.run_id, row.experiment_id, row.artifact_uri, row.deleted_time)
            if not validate_only:
                t = self.t
                for table in (t.MetricChunk, t.LatestMetric, t.Param, t.RunTag):
                    table.delete().where(table.run_id == run_id).execute()
                t.Run.delete().where(t.Run.run_id == run_id).execute()
            return purged

        return self.ctx.write(work)

    def purge_experiment(
        self, experiment_id: str, deleted_before: int | None = None, validate_only: bool = False
    ) -> PurgedExperiment:
        """Removes a deleted experiment that holds no runs any more, with its tags;
        FAILED_PRECONDITION otherwise (see purge_run for the arguments)."""

        def work() -> PurgedExperiment:
            row = experiment_row(self.ctx, experiment_id, lock=True)
            if row.experiment_id == DEFAULT_EXPERIMENT_ID or row.lifecycle_stage != DELETED:
                raise FailedPrecondition(
                    f"experiment {experiment_id} is not deleted; only deleted experiments "
                    "can be purged",
                    reason="EXPERIMENT_NOT_DELETED",
                )
            _check_cutoff(f"experiment {experiment_id}", row.last_update_time, deleted_before)
            R = self.t.Run
            remaining = (
                R.select(peewee.fn.COUNT(R.run_id))
                .where(R.experiment_id == row.experiment_id)
                .scalar()
            )
            if remaining:
                raise FailedPrecondition(
                    f"experiment {experiment_id} still holds {remaining} run(s); purge them "
                    "first (PurgeRun, one transaction per run)",
                    reason="EXPERIMENT_HAS_RUNS",
                )
            purged = PurgedExperiment(row.experiment_id, row.last_update_time)
            if not validate_only:
                T = self.t.ExperimentTag
                T.delete().where(T.experiment_id == row.experiment_id).execute()
                # Its grants go too: on SQLite the next experiment may get the same id.
                delete_resource_grants(self.t, EXPERIMENT_RESOURCE, row.experiment_id)
                E = self.t.Experiment
                E.delete().where(E.experiment_id == row.experiment_id).execute()
            return purged

        return self.ctx.write(work)
