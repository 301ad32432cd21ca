"""Copying an MLflow source into Trackwire through Trackwire's gRPC API.

Idempotent and resumable: every item is compared with what Trackwire already holds and
only what is missing is written, so a second import copies nothing and an interrupted
one continues where it stopped. Experiments are matched by name, runs by id (kept),
metric histories by their point count: points are written in the order Trackwire reads
them back (step, timestamp), one transaction per chunk, so what an interrupted import
stored is a prefix of the source's history and the rest follows it. Every write
carries a request id derived from what it writes, so a retried write is applied once.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from trackwire import TrackwireClient, errors
from trackwire.importing.mlflow_source import SourceError, SourceExperiment, SourceRun
from trackwire.importing.registry_import import import_registry
from trackwire.importing.report import ImportReport
from trackwire.v1 import experiment_pb2, run_pb2
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire_protocol.calls import call, stream
from trackwire_protocol.times import timestamp

# MLflow's system tags that are fields of a Trackwire run (not copied as tags), and the
# ones Trackwire names in its own namespace.
RUN_FIELD_TAGS = {"mlflow.runName", "mlflow.user", "mlflow.parentRunId"}
RENAMED_TAGS = {
    "mlflow.source.name": "trackwire.source.name",
    "mlflow.note.content": "trackwire.note.content",
}
STATUSES = {
    "RUNNING": run_pb2.RUN_STATUS_RUNNING,
    "SCHEDULED": run_pb2.RUN_STATUS_SCHEDULED,
    "FINISHED": run_pb2.RUN_STATUS_FINISHED,
    "FAILED": run_pb2.RUN_STATUS_FAILED,
    "KILLED": run_pb2.RUN_STATUS_KILLED,
}


def request_id(*parts) -> str:
    """A request id derived from what a write writes: the same write, retried or
    repeated by a restarted import, has the same id and is applied once."""
    digest = hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return f"mlflow-import:{digest}"


def run_tags(run: SourceRun) -> dict[str, str]:
    """The run's tags as Trackwire keeps them."""
    return {RENAMED_TAGS.get(k, k): v for k, v in run.tags.items() if k not in RUN_FIELD_TAGS}


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


class MlflowImporter:
    """Imports everything `source` holds into the server behind `client`."""

    def __init__(
        self,
        source,
        client: TrackwireClient,
        report: ImportReport | None = None,
        workers: int = 4,
        on_progress: Callable[[str, int], None] | None = None,
    ):
        self.source = source
        self.client = client
        self.tracking = client._connection.tracking
        self.report = report or ImportReport(source=source.description)
        self.workers = workers
        self.on_progress = on_progress or (lambda what, n: None)
        limits = client.get_server_info().limits
        self.max_points = int(limits["max_batch_metrics"])
        self.max_params = int(limits["max_batch_params"])
        self.max_tags = int(limits["max_batch_tags"])

    # -- the whole import ----------------------------------------------------

    def plan(self) -> list[tuple[SourceExperiment, list[SourceRun]]]:
        """Every experiment with its runs (parents before their children)."""
        return [
            (experiment, _parents_first(list(self.source.runs(experiment.experiment_id))))
            for experiment in self.source.experiments()
        ]

    def run(self, plan=None) -> ImportReport:
        started = time.monotonic()
        plan = self.plan() if plan is None else plan
        for experiment, runs in plan:
            try:
                target = self.import_experiment(experiment)
            except (errors.TrackwireException, SourceError) as e:
                self.report.error(f"experiment {experiment.name!r}: {e}")
                self.on_progress("runs", len(runs))
                continue
            # Runs are created one by one (a parent before its children), then filled
            # in parallel: histories and artifacts are most of the work.
            created = []
            for run in runs:
                found = self._guard(run, self.ensure_run, run, target)
                if found is None:
                    self.on_progress("runs", 1)
                else:
                    created.append((run, found))
            with ThreadPoolExecutor(self.workers) as pool:
                for _ in pool.map(lambda pair: self._guard(pair[0], self.fill_run, *pair), created):
                    self.on_progress("runs", 1)
            if experiment.lifecycle_stage == "deleted" and target.lifecycle_stage != "deleted":
                self._delete_experiment(experiment, target)
        try:
            import_registry(self.source, self.client, self.report, request_id)
        except SourceError as e:
            self.report.error(f"model registry: {e}")
        self.on_progress("models", 1)
        self.report.seconds = time.monotonic() - started
        return self.report

    def _delete_experiment(self, experiment: SourceExperiment, target) -> None:
        """Deletes the copy of an experiment MLflow deleted, once its runs are in."""
        try:
            self._call(
                self.tracking.DeleteExperiment,
                pb.DeleteExperimentRequest(
                    experiment_id=target.experiment_id,
                    request_id=request_id("delete-experiment", experiment.name),
                ),
            )
            self.report.add("experiment deletions")
        except errors.TrackwireException as e:
            self.report.error(f"experiment {experiment.name!r}: {e}")

    def _call(self, method, request):
        return call(method, request)

    # -- experiments -----------------------------------------------------------

    def import_experiment(self, experiment: SourceExperiment):
        target = self.client.get_experiment_by_name(experiment.name)
        if target is None:
            response = self._call(
                self.tracking.CreateExperiment,
                pb.CreateExperimentRequest(
                    name=experiment.name,
                    tags=[
                        experiment_pb2.ExperimentTag(key=k, value=v)
                        for k, v in experiment.tags.items()
                    ],
                    request_id=request_id("experiment", experiment.name),
                    create_time=timestamp(experiment.creation_time),
                ),
            )
            self.report.add("experiments")
            return self.client.get_experiment(response.experiment.experiment_id)
        changed = 0
        for key, value in experiment.tags.items():
            if target.tags.get(key) != value:
                self.client.set_experiment_tag(target.experiment_id, key, value)
                changed += 1
        self.report.add("experiment tags", changed)
        self.report.skip("experiments", "already in Trackwire (matched by name)")
        return target

    # -- runs ------------------------------------------------------------------

    def _guard(self, run: SourceRun, step, *args):
        """`step(*args)`, with an error recorded against the run instead of raised."""
        try:
            return step(*args)
        except (errors.TrackwireException, SourceError) as e:
            self.report.error(f"run {run.run_id}: {e}")
            return None

    def ensure_run(self, run: SourceRun, experiment):
        """The run in Trackwire, created if missing; None when it is to be left alone."""
        try:
            target = self.client.get_run(run.run_id)
        except errors.NotFoundError:
            target = None
        if target is not None and target.info.experiment_id != experiment.experiment_id:
            self.report.skip("runs", "run id taken by a run of another Trackwire experiment")
            return None
        if target is not None and target.info.lifecycle_stage == "deleted":
            deleted_too = (
                run.lifecycle_stage == "deleted" or experiment.lifecycle_stage == "deleted"
            )
            reason = "already imported (deleted)" if deleted_too else "deleted in Trackwire"
            self.report.skip("runs", reason)
            return None
        if target is None:
            self._create_run(run, experiment.experiment_id)
            self.report.add("runs")
            self.report.add("params", min(len(run.params), self.max_params))
            self.report.add("tags", min(len(run_tags(run)), self.max_tags))
            target = self.client.get_run(run.run_id)
            target.created_now = True
        return target

    def fill_run(self, run: SourceRun, target) -> None:
        """Copies what the run lacks: params, tags, histories, artifacts, status."""
        wrote = self._copy_params_and_tags(run, target)
        for key in run.metric_keys:
            wrote += self._copy_history(run, key, target)
        wrote += self._copy_artifacts(run)
        wrote += self._finish(run, target)
        if not wrote and not getattr(target, "created_now", False):
            self.report.skip("runs", "already imported, equal")

    def _create_run(self, run: SourceRun, experiment_id: str) -> None:
        tags = list(run_tags(run).items())
        params = list(run.params.items())
        self._call(
            self.tracking.CreateRun,
            pb.CreateRunRequest(
                experiment_id=experiment_id,
                run_id=run.run_id,
                run_name=run.run_name,
                start_time=timestamp(run.start_time),
                user_id=run.user_id,
                parent_run_id=run.tags.get("mlflow.parentRunId", ""),
                tags=[run_pb2.RunTag(key=k, value=v) for k, v in tags[: self.max_tags]],
                params=[run_pb2.Param(key=k, value=v) for k, v in params[: self.max_params]],
                request_id=request_id("run", run.run_id),
            ),
        )

    def _copy_params_and_tags(self, run: SourceRun, target) -> int:
        params, conflicts = [], 0
        for key, value in run.params.items():
            stored = target.data.params.get(key)
            if stored is None:
                params.append((key, value))
            elif stored != value:
                conflicts += 1
        self.report.skip(
            "params", "Trackwire has another value (params are written once)", conflicts
        )
        wanted = run_tags(run)
        tags = [(k, v) for k, v in wanted.items() if target.data.tags.get(k) != v]
        for chunk in _chunks(params, self.max_params):
            self._log_batch(run.run_id, params=chunk)
        for chunk in _chunks(tags, self.max_tags):
            self._log_batch(run.run_id, tags=chunk)
        self.report.add("params", len(params))
        self.report.add("tags", len(tags))
        return len(params) + len(tags)

    def _log_batch(self, run_id: str, params=(), tags=(), points=None, rid: str = "") -> None:
        request = pb.LogBatchRequest(
            run_id=run_id,
            params=[run_pb2.Param(key=k, value=v) for k, v in params],
            tags=[run_pb2.RunTag(key=k, value=v) for k, v in tags],
            request_id=rid or request_id("batch", run_id, sorted(params), sorted(tags)),
        )
        if points is not None:
            request.metrics.CopyFrom(points)
        self._call(self.tracking.LogBatch, request)

    def stored_points(self, run_id: str, key: str) -> int:
        """How many points of `key` Trackwire holds for the run."""
        request = pb.BatchReadMetricHistoryRequest(run_ids=[run_id], metric_key=key, max_points=4)
        for chunk in stream(self.tracking.BatchReadMetricHistory, request):
            return int(chunk.total_points)
        return 0

    def _copy_history(self, run: SourceRun, key: str, target) -> int:
        stored_latest = target.data.latest_metrics.get(key)
        source_latest = run.latest.get(key)
        if stored_latest is not None and source_latest is not None:
            step, timestamp_ms, value = source_latest
            if (stored_latest.step, stored_latest.timestamp) == (step, timestamp_ms) and (
                stored_latest.value == value
                or (math.isnan(value) and math.isnan(stored_latest.value))
            ):
                # Points are copied in (step, timestamp) order: a history whose latest
                # point is stored was copied whole (not read again).
                self.report.skip("metric histories", "already imported (latest point stored)")
                return 0
        history = self.source.metric_history(run.run_id, key)
        stored = self.stored_points(run.run_id, key)
        if stored > len(history):
            self.report.skip("metric histories", "Trackwire holds more points than MLflow")
            return 0
        if stored == len(history):
            self.report.skip("metric points", "already imported", stored)
            return 0
        self.report.skip("metric points", "already imported", stored)
        for start in range(stored, len(history), self.max_points):
            end = min(start + self.max_points, len(history))
            points = run_pb2.MetricPoints(
                keys=[key],
                values=history.values[start:end],
                steps=history.steps[start:end],
                timestamps_ms=history.timestamps[start:end],
            )
            rid = request_id("points", run.run_id, key, start, end)
            self._log_batch(run.run_id, points=points, rid=rid)
            self.report.add("metric points", end - start)
        return len(history) - stored

    def _target_files(self, run_id: str) -> dict[str, int]:
        files, folders = {}, [""]
        while folders:
            for info in self.client.list_artifacts(run_id, folders.pop() or None):
                if info.is_dir:
                    folders.append(info.path)
                else:
                    files[info.path] = info.file_size
        return files

    def _copy_artifacts(self, run: SourceRun) -> int:
        wanted = self.source.artifacts(run)
        if not wanted:
            return 0
        present = self._target_files(run.run_id)
        copied = 0
        for artifact in wanted:
            if present.get(artifact.path) == artifact.size:
                self.report.skip("artifacts", "already imported (same size)")
                continue
            data = self.source.read_artifact(run, artifact.path)
            self.client.log_bytes(run.run_id, data, artifact.path)
            self.report.add("artifacts")
            self.report.add("artifact bytes", len(data))
            copied += 1
        return copied

    def _finish(self, run: SourceRun, target) -> int:
        """The run's status and end time, then its deletion if MLflow deleted it."""
        wrote = 0
        status = STATUSES.get(run.status, run_pb2.RUN_STATUS_RUNNING)
        info = target.info
        if (
            info.status != run.status
            or info.end_time != run.end_time
            or (run.run_name and info.run_name != run.run_name)
        ):
            request = pb.UpdateRunRequest(
                run_id=run.run_id,
                status=status,
                end_time=timestamp(run.end_time),
                request_id=request_id("update", run.run_id, run.status, run.end_time),
            )
            if run.run_name:
                request.run_name = run.run_name
            self._call(self.tracking.UpdateRun, request)
            wrote += 1
        if run.lifecycle_stage == "deleted":
            self._call(
                self.tracking.DeleteRun,
                pb.DeleteRunRequest(run_id=run.run_id, request_id=request_id("delete", run.run_id)),
            )
            self.report.add("run deletions")
            wrote += 1
        return wrote


def _parents_first(runs: list[SourceRun]) -> list[SourceRun]:
    """The runs in their order, except that a nested run comes after its parent."""
    by_id = {r.run_id: r for r in runs}
    ordered, placed = [], set()

    def place(run: SourceRun, depth: int = 0) -> None:
        if run.run_id in placed:
            return
        parent = by_id.get(run.tags.get("mlflow.parentRunId", ""))
        if parent is not None and depth < 100:
            place(parent, depth + 1)
        placed.add(run.run_id)
        ordered.append(run)

    for run in runs:
        place(run)
    return ordered
