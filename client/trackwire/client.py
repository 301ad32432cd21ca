"""TrackwireClient: one method per RPC, plain Python values in and out."""

from __future__ import annotations

import concurrent.futures
import functools
import os
import posixpath
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from trackwire import artifact_helpers, errors, metric_points, naming, wire
from trackwire.calls import call, call_once, stream
from trackwire.connection import Connection, registry, resolve_tracking_uri
from trackwire.entities import (
    RUN_STATUSES,
    Experiment,
    FileInfo,
    Metric,
    MetricHistory,
    PagedList,
    Run,
    RunInfo,
    ServerInfo,
    ViewType,
    runs_from_table,
)
from trackwire.metric_writer import MetricWriter
from trackwire.registry_client import ModelRegistryMethods
from trackwire.v1 import artifact_service_pb2 as artifact_pb
from trackwire.v1 import experiment_pb2, run_pb2
from trackwire.v1 import tracking_service_pb2 as pb

UPLOAD_CHUNK_BYTES = 1024 * 1024
# Files of a folder go up or down this many at a time: one stream leaves the other core
# (and the server) idle while it reads or writes.
TRANSFER_THREADS = 4

_writers: dict[str, MetricWriter] = {}
_writers_lock = threading.Lock()


def _timestamp(ms: int | None) -> Timestamp | None:
    if ms is None:
        return None
    ts = Timestamp()
    ts.FromMilliseconds(int(ms))
    return ts


def _param_value(value) -> str:
    return str(value)


# The reason of the ResourceExhaustedError a MetricWatch raises when points were dropped.
WATCH_OVERFLOWED = "WATCH_OVERFLOWED"


class MetricWatch:
    """New metric points of some runs, as the server commits them (`watch_metrics`).

    Iterating yields `(run_id, key, MetricHistory)` for each committed write, until
    `cancel()` (from any thread) or the server stops. If the watcher fell too far
    behind, points were dropped: iteration raises `ResourceExhaustedError`; read the
    histories again and watch anew. The server ends a watch that had nothing to send
    for its stream idle timeout (5 minutes by default); this one then watches anew at
    once, so a point committed in that instant can be missed.
    """

    def __init__(self, open_call):
        self._open_call = open_call
        self._lock = threading.Lock()
        self._cancelled = False
        self._call = open_call()

    def __iter__(self) -> Iterator[tuple[str, str, MetricHistory]]:
        call, reopened = self._call, False
        while True:
            try:
                for m in call:
                    reopened = False
                    if m.overflowed:
                        raise errors.ResourceExhaustedError(
                            "the watcher fell behind and points were dropped; re-read the histories",
                            reason=WATCH_OVERFLOWED,
                        )
                    yield m.run_id, m.points.keys[0], metric_points.history(m.points)
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.CANCELLED:
                    return
                if reopened and e.code() == grpc.StatusCode.UNAVAILABLE:
                    return  # refused at once as the watch was re-opened: the server stops
                raise errors.from_rpc_error(e) from None
            # Ended with OK: the server stopped, or ended the watch for being quiet.
            with self._lock:
                if self._cancelled:
                    return
                call = self._call = self._open_call()
            reopened = True

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            self._call.cancel()

    def __enter__(self) -> MetricWatch:
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()


def metric_writer_for(uri: str) -> MetricWriter:
    """The process's metric writer for a tracking URI (one stream per server)."""
    writer = _writers.get(uri)
    if writer is None:
        with _writers_lock:
            writer = _writers.get(uri)
            if writer is None:
                connection = registry.connect(uri)
                writer = _writers[uri] = MetricWriter(
                    lambda: (connection.tracking, connection.limits)
                )
    return writer


def close_metric_writers(timeout: float | None = 60.0) -> None:
    with _writers_lock:
        writers = list(_writers.values())
        _writers.clear()
    for writer in writers:
        writer.close(timeout)


class TrackwireClient(ModelRegistryMethods):
    """A client of one Trackwire server (registry methods: `registry_client`).

    `tracking_uri`: `grpc://host:port`, `host:port`, a database URL for an
    embedded server, or None for the URI given to `trackwire.set_tracking_uri`, else
    $TRACKWIRE_TRACKING_URI, else the embedded default.
    """

    def __init__(self, tracking_uri: str | None = None):
        if tracking_uri is None:
            # As MlflowClient(): the URI set with trackwire.set_tracking_uri, if any.
            from trackwire.fluent import get_tracking_uri

            tracking_uri = get_tracking_uri()
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self._connection: Connection = registry.connect(self.tracking_uri)
        self._tracking = self._connection.tracking
        self._artifacts = self._connection.artifacts

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
            start_time=_timestamp(start_time),
            tags=[run_pb2.RunTag(key=k, value=str(v)) for k, v in (tags or {}).items()],
            parent_run_id=parent_run_id or "",
            run_id=run_id or "",
            user_id=user_id if user_id is not None else _default_user(),
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
        request = pb.UpdateRunRequest(run_id=run_id, end_time=_timestamp(end_time))
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

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
    ) -> None:
        """Writes one point synchronously (the streaming path is `log_metric_async`)."""
        self.log_batch(
            run_id,
            metrics=[Metric(key, float(value), timestamp or int(time.time() * 1000), step or 0)],
        )

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: dict[str, object] | Sequence = (),
        tags: dict[str, object] | Sequence = (),
    ) -> None:
        """Writes params, tags and metric points to a run in one transaction."""
        param_pairs = (
            params.items() if isinstance(params, dict) else [(p.key, p.value) for p in params]
        )
        tag_pairs = tags.items() if isinstance(tags, dict) else [(t.key, t.value) for t in tags]
        request = pb.LogBatchRequest(
            run_id=run_id,
            params=[run_pb2.Param(key=k, value=_param_value(v)) for k, v in param_pairs],
            tags=[run_pb2.RunTag(key=k, value=str(v)) for k, v in tag_pairs],
        )
        metric_points.fill(request.metrics, metrics)
        call(self._tracking.LogBatch, request)

    # -- streamed metrics --------------------------------------------------

    @property
    def metric_writer(self) -> MetricWriter:
        return metric_writer_for(self.tracking_uri)

    def log_metric_async(
        self, run_id: str, key: str, value: float, step: int = 0, timestamp: int | None = None
    ) -> None:
        """Queues one point on the background stream; `flush_metrics` waits for it."""
        self.metric_writer.add(
            run_id, key, float(value), int(step), timestamp or int(time.time() * 1000)
        )

    def flush_metrics(self, timeout: float | None = 300.0) -> None:
        """Waits until every streamed point is committed; raises what the server refused."""
        writer = _writers.get(self.tracking_uri)
        if writer is not None:
            writer.flush(timeout)

    def read_metric_history(
        self, run_id: str, key: str, start_step: int | None = None, end_step: int | None = None
    ) -> MetricHistory:
        """One metric's history as columns, ordered by step then timestamp."""
        request = pb.ReadMetricHistoryRequest(run_id=run_id, metric_key=key)
        if start_step is not None:
            request.start_step = start_step
        if end_step is not None:
            request.end_step = end_step
        history = MetricHistory(steps=[], values=[], timestamps=[])
        for chunk in stream(self._tracking.ReadMetricHistory, request):
            metric_points.extend_history(history, chunk.points)
        return history

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric as Metric objects (MLflow's shape)."""
        return self.read_metric_history(run_id, key).to_metrics(key)

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
        response = self._search_runs_page(
            experiment_ids,
            filter_string,
            run_view_type,
            max_results,
            order_by,
            page_token,
            experiment_names,
            select,
            include_total_count,
        )
        return PagedList(
            runs_from_table(response.runs),
            response.next_page_token,
            response.total_count if include_total_count else None,
        )

    def _search_runs_page(
        self,
        experiment_ids,
        filter_string,
        run_view_type,
        max_results,
        order_by,
        page_token,
        experiment_names=(),
        select=(),
        include_total_count=False,
    ) -> pb.SearchRunsResponse:
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

    def watch_metrics(self, run_ids: Sequence[str], keys: Sequence[str] = ()) -> MetricWatch:
        """Watches runs for new metric points (of `keys`, or all): a `MetricWatch` to
        iterate, then cancel. Only points committed after the call are seen."""
        request = pb.WatchMetricsRequest(run_ids=list(run_ids), metric_keys=list(keys))
        return MetricWatch(functools.partial(self._tracking.WatchMetrics, request))

    def get_metric_histories(
        self,
        run_ids: Sequence[str],
        key: str,
        max_points: int = 0,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> dict[str, MetricHistory]:
        """One metric's history for many runs in one call, by run id.

        `max_points` downsamples each history on the server, keeping the first,
        last, lowest and highest point of every bucket (for charts).
        """
        request = pb.BatchReadMetricHistoryRequest(
            run_ids=list(run_ids), metric_key=key, max_points=max_points
        )
        if start_step is not None:
            request.start_step = start_step
        if end_step is not None:
            request.end_step = end_step
        histories = {run_id: MetricHistory([], [], []) for run_id in run_ids}
        for chunk in stream(self._tracking.BatchReadMetricHistory, request):
            history = histories[chunk.run_id]
            if history.total_points is None:
                history.total_points = chunk.total_points
            metric_points.extend_history(history, chunk.points)
        return histories

    # -- artifacts ---------------------------------------------------------

    def log_artifact(
        self, run_id: str, local_path: str, artifact_path: str | None = None
    ) -> FileInfo:
        """Uploads one file under `artifact_path` (a folder in the run's artifacts)."""
        name = os.path.basename(local_path)
        path = posixpath.join(artifact_path, name) if artifact_path else name
        with open(local_path, "rb", buffering=0) as f:
            return self._upload(run_id, path, _file_chunks(f))

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        """Uploads every file under `local_dir`, keeping the folder structure; several
        files at once (TRANSFER_THREADS streams)."""
        uploads = []
        for root, _dirs, files in os.walk(local_dir):
            rel = os.path.relpath(root, local_dir)
            folder = "" if rel == "." else rel.replace(os.sep, "/")
            target = posixpath.join(artifact_path or "", folder).strip("/")
            for name in sorted(files):
                uploads.append((os.path.join(root, name), target or None))
        _in_parallel([functools.partial(self.log_artifact, run_id, *u) for u in uploads])

    def log_bytes(self, run_id: str, data: bytes, artifact_file: str) -> FileInfo:
        """Uploads `data` as the file `artifact_file` of the run."""
        return self._upload(
            run_id,
            artifact_file,
            [data[i : i + UPLOAD_CHUNK_BYTES] for i in range(0, len(data), UPLOAD_CHUNK_BYTES)]
            or [b""],
        )

    def log_text(self, run_id: str, text: str, artifact_file: str) -> FileInfo:
        """Uploads `text` (UTF-8) as the file `artifact_file` of the run."""
        return self.log_bytes(run_id, text.encode("utf-8"), artifact_file)

    def log_dict(self, run_id: str, dictionary: dict, artifact_file: str) -> FileInfo:
        """Uploads `dictionary` as YAML (artifact_file ending .yaml/.yml) or JSON (any other)."""
        return self.log_text(
            run_id, artifact_helpers.dict_text(dictionary, artifact_file), artifact_file
        )

    def log_figure(
        self, run_id: str, figure, artifact_file: str, save_kwargs: dict | None = None
    ) -> FileInfo:
        """Uploads a matplotlib or plotly figure, in the format artifact_file's extension names."""
        return self.log_bytes(
            run_id, artifact_helpers.figure_bytes(figure, artifact_file, save_kwargs), artifact_file
        )

    def log_table(self, run_id: str, data, artifact_file: str) -> FileInfo:
        """Uploads a table (a pandas DataFrame or a dict of columns) as JSON in pandas'
        "split" layout; if the run already has `artifact_file`, the rows are appended."""
        existing = None
        parent = posixpath.dirname(artifact_file)
        if any(f.path == artifact_file for f in self.list_artifacts(run_id, parent or None)):
            existing = b"".join(
                chunk.data
                for chunk in stream(
                    self._artifacts.DownloadArtifact,
                    artifact_pb.DownloadArtifactRequest(run_id=run_id, path=artifact_file),
                )
            )
        return self.log_bytes(
            run_id, artifact_helpers.table_bytes(data, artifact_file, existing), artifact_file
        )

    def _upload(self, run_id: str, path: str, chunks: Iterable) -> FileInfo:
        """Streams `chunks` (bytes-like, each copied once into its message: a chunk may be
        a reused buffer) as the file `path`."""

        def requests():
            header = artifact_pb.UploadArtifactHeader(run_id=run_id, path=path)
            first = True
            for data in chunks:
                yield wire.encode_upload_request(header if first else None, data)
                first = False
            if first:
                yield wire.encode_upload_request(header, b"")

        return FileInfo.from_proto(call_once(self._connection.upload, requests()).file)

    def open_artifact(self, run_id: str, artifact_file: str) -> ArtifactWriter:
        """A binary file-like object whose bytes are uploaded as the run's file
        `artifact_file` while they are written (nothing is written to disk); the file
        appears when the writer is closed, or not at all if it is closed by an error
        (`with client.open_artifact(run_id, "model.pth") as f: torch.save(m, f)`)."""
        return ArtifactWriter(self._connection, run_id, artifact_file)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        response = call(
            self._artifacts.ListArtifacts,
            artifact_pb.ListArtifactsRequest(run_id=run_id, path=path or ""),
        )
        return [FileInfo.from_proto(f) for f in response.files]

    def download_artifacts(self, run_id: str, path: str = "", dst_path: str | None = None) -> str:
        """Downloads a file or a whole folder of the run; returns the local path. Every
        path the server lists is checked to lie inside the folder listed (trackwire.naming's
        rules), so nothing is written outside `dst_path`."""
        dst_path = os.path.abspath(dst_path or os.getcwd())
        with errors.names_checked():
            path = naming.check_relative_path("path", path or "", allow_empty=True)
        entries = self.list_artifacts(run_id, path) if path == "" else None
        if entries is None:
            parent = posixpath.dirname(path)
            siblings = self.list_artifacts(run_id, parent)
            match = next((e for e in siblings if e.path == path), None)
            if match is None:
                raise errors.NotFoundError(f"artifact '{path}' does not exist in run {run_id}")
            if not match.is_dir:
                return self._download_file(
                    run_id, path, os.path.join(dst_path, posixpath.basename(path))
                )
            entries = self.list_artifacts(run_id, path)
        local_root = os.path.join(dst_path, posixpath.basename(path)) if path else dst_path
        os.makedirs(local_root, exist_ok=True)
        stack = [(path, entries)]
        downloads = []
        while stack:
            folder, listed = stack.pop()
            for entry in listed:
                inside = _listed_inside(folder, entry.path)
                rel = inside[len(path) :].lstrip("/")
                with errors.names_checked():
                    local = naming.local_path(local_root, rel, "listed artifact path")
                if entry.is_dir:
                    os.makedirs(local, exist_ok=True)
                    stack.append((inside, self.list_artifacts(run_id, inside)))
                else:
                    downloads.append(functools.partial(self._download_file, run_id, inside, local))
        _in_parallel(downloads)
        return local_root

    def _download_file(self, run_id: str, path: str, local: str) -> str:
        os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
        tmp = f"{local}.part"
        with open(tmp, "wb", buffering=0) as f:
            for data in stream(
                self._connection.download,
                artifact_pb.DownloadArtifactRequest(run_id=run_id, path=path),
            ):
                f.write(data)
        os.replace(tmp, local)
        return local


def _listed_inside(folder: str, listed: str) -> str:
    """`listed`, a path the server listed in `folder`, checked to lie strictly inside it
    (so a download never leaves its destination, and a folder listing itself cannot loop)."""
    with errors.names_checked():
        checked = naming.check_relative_path("listed artifact path", listed)
    if folder and not checked.startswith(folder + "/"):
        raise errors.InvalidArgumentError(
            f"the server listed {naming.shown(listed)} in {naming.shown(folder)}, outside it"
        )
    return checked


class ArtifactWriter:
    """Uploads what is written to it as one artifact (see TrackwireClient.open_artifact).

    The upload is one UploadArtifact stream sent by a gRPC thread: `write` cuts the bytes
    into UPLOAD_CHUNK_BYTES messages (each copied once) and queues them, waiting while
    WRITER_QUEUE messages are on their way.
    """

    WRITER_QUEUE = 4

    def __init__(self, connection: Connection, run_id: str, artifact_file: str):
        self.path = artifact_file
        self.size = 0
        self.file: FileInfo | None = None
        self._header: artifact_pb.UploadArtifactHeader | None = artifact_pb.UploadArtifactHeader(
            run_id=run_id, path=artifact_file
        )
        self._queue: queue.Queue = queue.Queue(self.WRITER_QUEUE)
        self._closed = False
        self._future = connection.upload.future(self._requests())

    def _requests(self) -> Iterator[bytes]:
        while (message := self._queue.get()) is not None:
            yield message

    def _put(self, message: bytes | None) -> None:
        while True:
            if self._future.done():  # the server ended the stream: its error says why
                self._raise_error()
            try:
                self._queue.put(message, timeout=0.05)
                return
            except queue.Full:
                continue

    def _release(self) -> None:
        """Ends the request iterator, which gRPC's sending thread may be waiting on."""
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
        self._queue.put_nowait(None)

    def _raise_error(self):
        self._closed = True
        self._release()
        try:
            self._future.result()
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e) from None
        raise errors.TrackwireException(f"the upload of '{self.path}' ended before it was complete")

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self._closed:
            raise ValueError(f"write to the closed artifact writer of '{self.path}'")
        view = memoryview(data).cast("B")
        for start in range(0, len(view), UPLOAD_CHUNK_BYTES):
            chunk = view[start : start + UPLOAD_CHUNK_BYTES]
            self._put(wire.encode_upload_request(self._header, chunk))
            self._header = None
        self.size += len(view)
        return len(view)

    def flush(self) -> None:
        pass

    def close(self) -> FileInfo:
        """Ends the upload and returns the file as stored."""
        if not self._closed:
            if self._header is not None:  # nothing written: an empty file
                self._put(wire.encode_upload_request(self._header, b""))
                self._header = None
            self._put(None)
            self._closed = True
            try:
                self.file = FileInfo.from_proto(self._future.result().file)
            except grpc.RpcError as e:
                raise errors.from_rpc_error(e) from None
        return self.file

    def abort(self) -> None:
        """Cancels the upload: the server keeps nothing of it."""
        self._closed = True
        self._future.cancel()
        self._release()

    def __enter__(self) -> ArtifactWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _file_chunks(f) -> Iterator[memoryview]:
    """The file's bytes, UPLOAD_CHUNK_BYTES at a time, read into one reused buffer (each
    chunk is valid until the next is asked for: `_upload` copies it into its message)."""
    buffer = memoryview(bytearray(UPLOAD_CHUNK_BYTES))
    while n := f.readinto(buffer):
        yield buffer[:n]


def _in_parallel(calls: list) -> None:
    """Runs the calls (file transfers) on up to TRANSFER_THREADS threads; raises the first
    error after every call has ended."""
    if len(calls) <= 1:
        for call in calls:
            call()
        return
    with concurrent.futures.ThreadPoolExecutor(min(TRANSFER_THREADS, len(calls))) as pool:
        futures = [pool.submit(call) for call in calls]
    for future in futures:
        future.result()


def _status_number(status: str) -> int:
    try:
        return RUN_STATUSES[status.upper()]
    except KeyError:
        raise errors.InvalidArgumentError(
            f"status '{status}' is not one of {', '.join(RUN_STATUSES)}"
        ) from None


@functools.cache
def _default_user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return ""
