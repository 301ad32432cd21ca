"""TrackwireClient: one method per RPC, plain Python values in and out.

A client owns what it uses: its connection (a channel, and the embedded server a
database URI starts), its metric writer (made on first use) and its artifact transfers.
`close()` (or leaving a `with TrackwireClient(...) as client:` block) stores the points
still queued, then closes them. Two clients of one URI share nothing; the fluent API
keeps one default client per URI.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
import weakref
from collections.abc import Sequence

from trackwire import errors, metric_points
from trackwire.artifact_client import ArtifactMethods
from trackwire.artifact_transfer import ArtifactTransfer
from trackwire.auth_client import AuthClient
from trackwire.connection import connect, get_tracking_uri, resolve_tracking_uri
from trackwire.entities import (
    RUN_STATUSES,
    Experiment,
    Metric,
    PagedList,
    PurgedExperiment,
    PurgedRun,
    Run,
    RunInfo,
    ServerInfo,
    ViewType,
    _ms,
    runs_from_table,
)
from trackwire.metric_writer import MetricWriter
from trackwire.metrics_client import (
    MetricMethods,
    _param_value,
    close_metric_writers,
)
from trackwire.registry_client import ModelRegistryMethods
from trackwire.user import default_user
from trackwire.v1 import experiment_pb2, run_pb2
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire_protocol.calls import call
from trackwire_protocol.times import timestamp
from trackwire_protocol.watch import WATCH_OVERFLOWED, MetricWatch  # noqa: F401 (re-exported)

# The clients not closed yet, to close at interpreter exit (nothing looks them up).
_open_clients: weakref.WeakSet[TrackwireClient] = weakref.WeakSet()


class TrackwireClient(MetricMethods, ArtifactMethods, ModelRegistryMethods):
    """A client of a Trackwire server, or of a fleet of them (metric methods:
    `metrics_client`, artifacts: `artifact_client`, registry: `registry_client`).

    `tracking_uri`: `grpc://host:port`, `host:port`, `grpcs://host:port` (TLS: see
    `trackwire.tls`), a fleet `grpc://h1:p1,h2:p2,...` (or `grpcs://`) or
    `dns:///name:port` whose calls spread round-robin (`trackwire.connection`), a
    database URL for an embedded server, or None for the URI given to
    `trackwire.set_tracking_uri`, else $TRACKWIRE_TRACKING_URI, else the embedded default.

    `token`: what to send as `authorization: Bearer <token>` to a server with
    authentication; None for the one `trackwire.set_tracking_token` set, else
    $TRACKWIRE_TOKEN, else the credentials file's (`trackwire login`; see
    `trackwire.credentials`).
    """

    def __init__(self, tracking_uri: str | None = None, token: str | None = None):
        if tracking_uri is None:
            # As MlflowClient(): the URI set with trackwire.set_tracking_uri, if any.
            tracking_uri = get_tracking_uri()
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self._connection, self._embedded_server = connect(self.tracking_uri, token)
        self._tracking = self._connection.tracking
        self._transfer = ArtifactTransfer(self._connection)
        self._writer: MetricWriter | None = None
        self._lock = threading.Lock()
        _open_clients.add(self)

    def close(self, timeout: float | None = 60.0) -> None:
        """Stores the streamed points still queued, then closes the channel (and stops the
        embedded server, if this client started one)."""
        _open_clients.discard(self)
        try:
            self.close_metric_writer(timeout)
        finally:
            self._connection.close()
            if self._embedded_server is not None:
                self._embedded_server.stop(grace=1.0)
                self._embedded_server = None

    @property
    def auth(self) -> AuthClient:
        """The server's AuthService: users, teams, API tokens and grants
        (trackwire.auth_client)."""
        return AuthClient(self._connection.auth)

    def __enter__(self) -> TrackwireClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- server ------------------------------------------------------------

    def get_server_info(self) -> ServerInfo:
        info = call(self._tracking.GetServerInfo, pb.GetServerInfoRequest())
        limits = {}
        for f in info.limits.DESCRIPTOR.fields:
            value = getattr(info.limits, f.name)
            # Durations (stream_idle_timeout) in seconds.
            limits[f.name] = value.ToNanoseconds() / 1e9 if f.message_type else value
        return ServerInfo(version=info.version, limits=limits)

    # -- experiments -------------------------------------------------------

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, str] | None = None
    ) -> str:
        """Creates an experiment; returns its id."""
        response = call(
            self._tracking.CreateExperiment,
            pb.CreateExperimentRequest(
                name=name,
                artifact_location=artifact_location or "",
                tags=[
                    experiment_pb2.ExperimentTag(key=k, value=str(v))
                    for k, v in (tags or {}).items()
                ],
            ),
        )
        return response.experiment.experiment_id

    def get_experiment(self, experiment_id: str) -> Experiment:
        response = call(
            self._tracking.GetExperiment, pb.GetExperimentRequest(experiment_id=str(experiment_id))
        )
        return Experiment.from_proto(response.experiment)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment named `name`, or None if there is none (as MLflow)."""
        try:
            response = call(
                self._tracking.GetExperimentByName, pb.GetExperimentByNameRequest(name=name)
            )
        except errors.NotFoundError:
            return None
        return Experiment.from_proto(response.experiment)

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """One page of experiments; filter on name, times and tags (`name LIKE 'churn%'`)."""
        response = call(
            self._tracking.SearchExperiments,
            pb.SearchExperimentsRequest(
                view_type=view_type,
                page_size=max_results,
                page_token=page_token or "",
                filter=filter_string or "",
                order_by=list(order_by or ()),
            ),
        )
        return PagedList(
            [Experiment.from_proto(e) for e in response.experiments], response.next_page_token
        )

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        call(
            self._tracking.UpdateExperiment,
            pb.UpdateExperimentRequest(experiment_id=str(experiment_id), name=new_name),
        )

    def delete_experiment(self, experiment_id: str) -> None:
        call(
            self._tracking.DeleteExperiment,
            pb.DeleteExperimentRequest(experiment_id=str(experiment_id)),
        )

    def restore_experiment(self, experiment_id: str) -> None:
        call(
            self._tracking.RestoreExperiment,
            pb.RestoreExperimentRequest(experiment_id=str(experiment_id)),
        )

    def set_experiment_tag(self, experiment_id: str, key: str, value) -> None:
        call(
            self._tracking.SetExperimentTag,
            pb.SetExperimentTagRequest(
                experiment_id=str(experiment_id),
                tag=experiment_pb2.ExperimentTag(key=key, value=str(value)),
            ),
        )

    # -- runs --------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, str] | None = None,
        run_name: str | None = None,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        user_id: str | None = None,
        params: dict[str, object] | None = None,
        metrics: Sequence[Metric] = (),
    ) -> Run:
        """Creates a run, or resumes run `run_id` if it exists in that experiment.

        `params`, `tags` and `metrics` are written with the run, in one transaction.
        """
        request = self._create_run_request(
            experiment_id,
            start_time,
            tags,
            run_name,
            run_id,
            parent_run_id,
            user_id,
            params,
            metrics,
        )
        return self._create_run(request)[0]

    def create_runs(self, experiment_id: str, runs: Sequence[dict]) -> list[Run]:
        """Creates many runs of one experiment in one call and one transaction (all or none).

        Each entry takes create_run's keywords: run_name, start_time, tags, params,
        metrics, run_id (a new id), parent_run_id, user_id. At most
        `max_batch_create_runs` (1000) runs per call.
        """
        requests = [self._create_run_request(experiment_id, **run) for run in runs]
        response = call(
            self._tracking.BatchCreateRuns,
            pb.BatchCreateRunsRequest(experiment_id=str(experiment_id), requests=requests),
        )
        return [Run.from_proto(r) for r in response.runs]

    def _create_run_request(
        self,
        experiment_id,
        start_time=None,
        tags=None,
        run_name=None,
        run_id=None,
        parent_run_id=None,
        user_id=None,
        params=None,
        metrics=(),
    ) -> pb.CreateRunRequest:
        request = pb.CreateRunRequest(
            experiment_id=str(experiment_id),
            run_name=run_name or "",
            start_time=timestamp(start_time),
            tags=[run_pb2.RunTag(key=k, value=str(v)) for k, v in (tags or {}).items()],
            parent_run_id=parent_run_id or "",
            run_id=run_id or "",
            user_id=user_id if user_id is not None else default_user(),
            params=[run_pb2.Param(key=k, value=_param_value(v)) for k, v in (params or {}).items()],
        )
        metric_points.fill(request.metrics, metrics)
        return request

    def _create_run(self, request: pb.CreateRunRequest) -> tuple[Run, bool]:
        """(the run, whether an existing run was resumed)."""
        response = call(self._tracking.CreateRun, request)
        return Run.from_proto(response.run), response.resumed

    def get_run(self, run_id: str) -> Run:
        return Run.from_proto(call(self._tracking.GetRun, pb.GetRunRequest(run_id=run_id)).run)

    def update_run(
        self,
        run_id: str,
        status: str | None = None,
        name: str | None = None,
        end_time: int | None = None,
    ) -> RunInfo:
        request = pb.UpdateRunRequest(run_id=run_id, end_time=timestamp(end_time))
        if status is not None:
            request.status = _status_number(status)
        if name is not None:
            request.run_name = name
        return RunInfo.from_proto(call(self._tracking.UpdateRun, request).run.info)

    def set_terminated(
        self, run_id: str, status: str = "FINISHED", end_time: int | None = None
    ) -> None:
        """Flushes the run's streamed metrics, then marks it ended."""
        self.flush_metrics()
        self.update_run(run_id, status=status, end_time=end_time or int(time.time() * 1000))

    def delete_run(self, run_id: str) -> None:
        call(self._tracking.DeleteRun, pb.DeleteRunRequest(run_id=run_id))

    def restore_run(self, run_id: str) -> None:
        call(self._tracking.RestoreRun, pb.RestoreRunRequest(run_id=run_id))

    def purge_run(
        self, run_id: str, deleted_before: int | None = None, validate_only: bool = False
    ) -> PurgedRun:
        """Removes a deleted run for good, with its data and artifacts (FAILED_PRECONDITION
        for a live run, or one deleted at or after `deleted_before`, ms). With
        `validate_only`, only checks that it could."""
        r = call(
            self._tracking.PurgeRun,
            pb.PurgeRunRequest(
                run_id=run_id,
                deleted_before=timestamp(deleted_before),
                validate_only=validate_only,
            ),
        )
        return PurgedRun(r.run_id, r.experiment_id, _ms(r, "delete_time"), r.artifact_uri)

    def purge_experiment(
        self, experiment_id: str, deleted_before: int | None = None, validate_only: bool = False
    ) -> PurgedExperiment:
        """Removes a deleted experiment whose runs have all been purged (see purge_run)."""
        r = call(
            self._tracking.PurgeExperiment,
            pb.PurgeExperimentRequest(
                experiment_id=str(experiment_id),
                deleted_before=timestamp(deleted_before),
                validate_only=validate_only,
            ),
        )
        return PurgedExperiment(r.experiment_id, _ms(r, "delete_time"))

    def set_tag(self, run_id: str, key: str, value) -> None:
        call(
            self._tracking.SetRunTag,
            pb.SetRunTagRequest(run_id=run_id, tag=run_pb2.RunTag(key=key, value=str(value))),
        )

    def delete_tag(self, run_id: str, key: str) -> None:
        call(self._tracking.DeleteRunTag, pb.DeleteRunTagRequest(run_id=run_id, key=key))

    def log_param(self, run_id: str, key: str, value) -> str:
        value = _param_value(value)
        self.log_batch(run_id, params={key: value})
        return value

    # -- search ------------------------------------------------------------

    def search_runs(
        self,
        experiment_ids: Sequence[str] = (),
        filter_string: str = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        *,
        experiment_names: Sequence[str] = (),
        select: Sequence[str] = (),
        include_total_count: bool = False,
    ) -> PagedList:
        """One page of runs matching `filter_string` (MLflow's grammar, plus OR and parentheses).

        `select` limits the data returned (`["metrics.accuracy", "params.*"]`); with
        `include_total_count`, the page's `total_count` is the number of matches.
        """
        response = self.search_runs_page(
            experiment_ids,
            filter_string,
            run_view_type,
            max_results,
            order_by,
            page_token,
            experiment_names=experiment_names,
            select=select,
            include_total_count=include_total_count,
        )
        return PagedList(
            runs_from_table(response.runs),
            response.next_page_token,
            response.total_count if include_total_count else None,
        )

    def search_runs_page(
        self,
        experiment_ids: Sequence[str] = (),
        filter_string: str = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        *,
        experiment_names: Sequence[str] = (),
        select: Sequence[str] = (),
        include_total_count: bool = False,
    ) -> pb.SearchRunsResponse:
        """One page of runs as the server sends it (`search_runs`' arguments): the runs as
        columns (`.runs`, a RunTable), `.next_page_token` (empty after the last page) and
        `.total_count`."""
        return call(
            self._tracking.SearchRuns,
            pb.SearchRunsRequest(
                experiment_ids=[str(e) for e in experiment_ids],
                experiment_names=list(experiment_names),
                filter=filter_string or "",
                order_by=list(order_by or ()),
                page_size=max_results,
                page_token=page_token or "",
                view_type=run_view_type,
                select=list(select),
                include_total_count=include_total_count,
            ),
        )


def _status_number(status: str) -> int:
    try:
        return RUN_STATUSES[status.upper()]
    except KeyError:
        raise errors.InvalidArgumentError(
            f"status '{status}' is not one of {', '.join(RUN_STATUSES)}"
        ) from None


def _close_open_clients() -> None:
    """At interpreter exit: stores every queued point, then closes every client."""
    try:
        close_metric_writers()
    except Exception as e:  # at exit, say it; there is no caller left to raise to
        print(f"trackwire: while flushing metrics at exit: {e}", file=sys.stderr)
    for client in list(_open_clients):
        try:
            client.close()
        except Exception as e:  # at exit, say it; there is no caller left to raise to
            print(f"trackwire: while closing clients at exit: {e}", file=sys.stderr)


def _register_exit_hook() -> None:
    # Interpreter exit first joins the worker threads of every ThreadPoolExecutor
    # (the embedded server's among them), and only then runs atexit callbacks;
    # an open metric stream would hold a server worker and hang the exit. Hooks
    # registered with threading run before that join, newest first.
    # Importing it here registers that join first, so that ours runs before it.
    import concurrent.futures.thread  # noqa: F401

    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        register(_close_open_clients)
    else:
        atexit.register(_close_open_clients)


_register_exit_hook()
