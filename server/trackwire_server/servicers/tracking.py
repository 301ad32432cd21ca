"""TrackingService: experiments, runs, params, tags and metrics."""

from __future__ import annotations

import time

import grpc
from google.protobuf import duration_pb2

from trackwire.v1 import tracking_service_pb2 as pb
from trackwire.v1 import tracking_service_pb2_grpc
from trackwire_server import __version__, convert
from trackwire_server.artifacts import ArtifactLocations, ArtifactRepository
from trackwire_server.auth.access import Access, OpenAccess
from trackwire_server.config import DEFAULT_STREAM_IDLE_TIMEOUT
from trackwire_server.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    SequenceGap,
    TrackwireError,
)
from trackwire_server.interceptors import status_code_for
from trackwire_server.limits import LIMITS
from trackwire_server.metric_feed import MetricFeed
from trackwire_server.store import Store
from trackwire_server.store.grants import EXPERIMENT_RESOURCE

# How often an idle WatchMetrics stream checks that its client is still there.
WATCH_POLL_SECONDS = 1.0
# The initial-metadata header a WatchMetrics stream sends once it is live.
WATCH_LIVE_HEADER = "trackwire-watch-live"


class TrackingServicer(tracking_service_pb2_grpc.TrackingServiceServicer):
    def __init__(
        self,
        store: Store,
        feed: MetricFeed | None = None,
        locations: ArtifactLocations | None = None,
        stream_idle_timeout: float = DEFAULT_STREAM_IDLE_TIMEOUT,
        repository: ArtifactRepository | None = None,
        access: Access | OpenAccess | None = None,
    ):
        self.store = store
        # Who may see what (searches) and who gets MANAGE on a new experiment.
        self.access = access or OpenAccess()
        self.feed = feed
        # Where experiments' artifacts may be: the store's root only, unless told more.
        self.locations = locations or ArtifactLocations.configured(store.artifact_root)
        # Where PurgeRun removes a purged run's artifacts.
        self.repository = repository or ArtifactRepository(self.locations)
        # A watch with nothing to send for this long ends (the client opens a new one).
        self.stream_idle_timeout = stream_idle_timeout
        self._stream_idle_timeout = duration_pb2.Duration()
        self._stream_idle_timeout.FromNanoseconds(round(stream_idle_timeout * 1e9))

    # -- experiments -------------------------------------------------------

    def CreateExperiment(self, request, context):
        location = self.locations.experiment_location(request.artifact_location)
        record = self.store.experiments.create_experiment(
            request.name,
            location,
            {t.key: t.value for t in request.tags},
            convert.millis(request.create_time, request.HasField("create_time")),
            creator=self.access.creator(),
        )
        return pb.CreateExperimentResponse(experiment=convert.experiment(record))

    def GetExperiment(self, request, context):
        record = self.store.reads.experiments.get_experiment(request.experiment_id)
        return pb.GetExperimentResponse(experiment=convert.experiment(record))

    def GetExperimentByName(self, request, context):
        record = self.store.reads.experiments.get_experiment_by_name(request.name)
        return pb.GetExperimentByNameResponse(experiment=convert.experiment(record))

    def SearchExperiments(self, request, context):
        records, token = self.store.reads.experiments.search_experiments(
            request.view_type,
            request.page_size,
            request.page_token,
            filter=request.filter,
            order_by=list(request.order_by),
            visible=self.access.visible(EXPERIMENT_RESOURCE),
        )
        return pb.SearchExperimentsResponse(
            experiments=[convert.experiment(r) for r in records], next_page_token=token
        )

    def UpdateExperiment(self, request, context):
        if request.HasField("name"):
            record = self.store.experiments.rename_experiment(request.experiment_id, request.name)
        else:
            record = self.store.experiments.get_experiment(request.experiment_id)
        return pb.UpdateExperimentResponse(experiment=convert.experiment(record))

    def DeleteExperiment(self, request, context):
        self.store.experiments.delete_experiment(request.experiment_id)
        return pb.DeleteExperimentResponse()

    def RestoreExperiment(self, request, context):
        self.store.experiments.restore_experiment(request.experiment_id)
        return pb.RestoreExperimentResponse()

    def SetExperimentTag(self, request, context):
        self.store.experiments.set_experiment_tag(
            request.experiment_id, request.tag.key, request.tag.value
        )
        return pb.SetExperimentTagResponse()

    # -- runs --------------------------------------------------------------

    def CreateRun(self, request, context):
        new = convert.new_run(request)
        record, resumed = self.store.runs.create_run(
            experiment_id=request.experiment_id,
            run_name=new.run_name,
            start_time=new.start_time,
            tags=new.tags,
            parent_run_id=new.parent_run_id,
            run_id=new.run_id,
            user_id=new.user_id,
            params=new.params,
            metrics=new.metrics,
        )
        return pb.CreateRunResponse(run=convert.run(record), resumed=resumed)

    def BatchCreateRuns(self, request, context):
        for i, r in enumerate(request.requests):
            if r.experiment_id and r.experiment_id != request.experiment_id:
                raise InvalidArgument(
                    f"requests[{i}].experiment_id is {r.experiment_id}, not {request.experiment_id}"
                )
        records = self.store.runs.create_runs(
            request.experiment_id,
            [convert.new_run(r, f"requests[{i}].") for i, r in enumerate(request.requests)],
        )
        response = pb.BatchCreateRunsResponse()
        convert.runs_into(response.runs, records)
        return response

    def GetRun(self, request, context):
        return pb.GetRunResponse(run=convert.run(self.store.reads.runs.get_run(request.run_id)))

    def UpdateRun(self, request, context):
        record = self.store.runs.update_run(
            request.run_id,
            status=request.status,
            end_time=convert.millis(request.end_time, request.HasField("end_time")),
            run_name=request.run_name if request.HasField("run_name") else None,
        )
        return pb.UpdateRunResponse(run=convert.run(record))

    def DeleteRun(self, request, context):
        self.store.runs.delete_run(request.run_id)
        return pb.DeleteRunResponse()

    def RestoreRun(self, request, context):
        self.store.runs.restore_run(request.run_id)
        return pb.RestoreRunResponse()

    def PurgeRun(self, request, context):
        purged = self.store.purges.purge_run(
            request.run_id,
            deleted_before=_cutoff(request),
            validate_only=request.validate_only,
        )
        if not request.validate_only:
            # After the commit (PurgeRun has no request_id, so no request log's transaction
            # is around it): a purge rolled back never loses a restorable run's files.
            self._remove_artifacts(purged)
        return pb.PurgeRunResponse(
            run_id=purged.run_id,
            experiment_id=str(purged.experiment_id),
            delete_time=convert.timestamp(purged.deleted_time),
            artifact_uri=purged.artifact_uri,
        )

    def _remove_artifacts(self, purged) -> None:
        try:
            self.repository.remove_run(purged.artifact_uri)
        except TrackwireError as e:
            # Whatever the storage said: the purge itself is done, and a client must not
            # retry it (a retry would be answered from the request log, or NOT_FOUND).
            raise FailedPrecondition(
                f"run {purged.run_id} was purged, but removing its artifacts at "
                f"{purged.artifact_uri} failed: {e.message}",
                reason="ARTIFACTS_NOT_REMOVED",
            ) from None

    def PurgeExperiment(self, request, context):
        purged = self.store.purges.purge_experiment(
            request.experiment_id,
            deleted_before=_cutoff(request),
            validate_only=request.validate_only,
        )
        if not request.validate_only:
            self.access.forget_levels()  # its id may be given to the next experiment
        return pb.PurgeExperimentResponse(
            experiment_id=str(purged.experiment_id),
            delete_time=convert.timestamp(purged.deleted_time),
        )

    def SetRunTag(self, request, context):
        self.store.runs.set_run_tag(request.run_id, request.tag.key, request.tag.value)
        return pb.SetRunTagResponse()

    def DeleteRunTag(self, request, context):
        self.store.runs.delete_run_tag(request.run_id, request.key)
        return pb.DeleteRunTagResponse()

    def LogBatch(self, request, context):
        self.store.runs.log_batch(
            request.run_id,
            metrics=[],
            params=[(p.key, p.value) for p in request.params],
            tags=[(t.key, t.value) for t in request.tags],
            metric_columns=convert.metric_points(
                request.metrics, "metrics.", LIMITS.max_batch_metrics
            ),
        )
        return pb.LogBatchResponse()

    # -- metric streams ----------------------------------------------------

    def WriteMetrics(self, request_iterator, context):
        for request in request_iterator:
            try:
                duplicate, expected = self.store.metrics.write_points(
                    request.writer_id,
                    request.sequence_number,
                    request.run_id,
                    convert.metric_batch(request),
                )
            except TrackwireError as e:
                # A refused batch is answered, not fatal: the stream goes on.
                yield pb.WriteMetricsResponse(
                    sequence_number=request.sequence_number,
                    error_code=status_code_for(e).value[0],
                    error_message=e.message,
                    expected_sequence_number=self._expected_sequence_number(request, e),
                )
                continue
            yield pb.WriteMetricsResponse(
                sequence_number=request.sequence_number,
                duplicate=duplicate,
                expected_sequence_number=expected,
            )

    def _expected_sequence_number(self, request, error: TrackwireError) -> int:
        """What a refused batch's writer should number its next batch (0 if unknown)."""
        if isinstance(error, SequenceGap):
            return error.expected
        try:
            return self.store.metrics.next_sequence_number(request.writer_id)
        except TrackwireError:  # the database is away too: the writer resends later
            return 0

    def ReadMetricHistory(self, request, context):
        chunk_size = request.chunk_size or LIMITS.default_history_chunk_points
        if not 0 < chunk_size <= LIMITS.max_history_chunk_points:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"chunk_size must be between 1 and {LIMITS.max_history_chunk_points}",
            )
        chunks = self.store.reads.metrics.iter_metric_history(
            request.run_id,
            request.metric_key,
            request.start_step if request.HasField("start_step") else None,
            request.end_step if request.HasField("end_step") else None,
            chunk_size,
        )
        for steps, timestamps, values in chunks:
            response = pb.ReadMetricHistoryResponse()
            convert.fill_metric_points(
                response.points, request.metric_key, steps, timestamps, values
            )
            yield response

    def BatchReadMetricHistory(self, request, context):
        histories = self.store.reads.metrics.read_metric_histories(
            list(request.run_ids),
            request.metric_key,
            request.start_step if request.HasField("start_step") else None,
            request.end_step if request.HasField("end_step") else None,
            request.max_points,
        )
        chunk_size = LIMITS.default_history_chunk_points
        for run_id, total, (steps, timestamps, values) in histories:
            for lo in range(0, max(len(values), 1), chunk_size):
                response = pb.BatchReadMetricHistoryResponse(
                    run_id=run_id, total_points=total if lo == 0 else 0
                )
                convert.fill_metric_points(
                    response.points,
                    request.metric_key,
                    steps[lo : lo + chunk_size],
                    timestamps[lo : lo + chunk_size],
                    values[lo : lo + chunk_size],
                )
                yield response

    def WatchMetrics(self, request, context):
        run_ids = list(dict.fromkeys(request.run_ids))
        if not run_ids:
            raise InvalidArgument("run_ids must name at least one run")
        if len(run_ids) > LIMITS.max_batch_history_runs:
            raise InvalidArgument(
                f"run_ids has {len(run_ids)} runs; the limit is {LIMITS.max_batch_history_runs}"
            )
        for i, run_id in enumerate(run_ids):
            # INVALID_ARGUMENT for a malformed id, NOT_FOUND for an unknown run
            self.store.runs.get_run(run_id, with_data=False, field=f"run_ids[{i}]")
        if self.feed is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "this server has no live metric feed")
        subscription = self.feed.subscribe(run_ids, request.metric_keys)
        if subscription.closed:  # a client re-opening its watch as the server stops
            context.abort(grpc.StatusCode.UNAVAILABLE, "the server is stopping")
        # The call's end (a client that leaves) wakes this handler, which unsubscribes in
        # `finally`: the callbacks run on gRPC's one thread that handles every call's
        # events, and unsubscribing may wait on the database.
        context.add_callback(subscription.end)
        # The subscription is registered: every point committed from now on is sent.
        context.send_initial_metadata(((WATCH_LIVE_HEADER, "1"),))
        expires = time.monotonic() + self.stream_idle_timeout
        try:
            while context.is_active() and not subscription.closed:
                update = subscription.get(
                    min(WATCH_POLL_SECONDS, max(expires - time.monotonic(), 0.0))
                )
                if update is None:
                    if time.monotonic() >= expires:
                        return  # quiet for stream_idle_timeout: OK, the client re-opens
                    continue
                if update.overflowed:
                    yield pb.WatchMetricsResponse(overflowed=True)
                    expires = time.monotonic() + self.stream_idle_timeout
                    continue
                if not self.access.still_reads_run(update.run_id):
                    # As the access rule answers for a run the caller may not read.
                    index = list(request.run_ids).index(update.run_id)
                    raise NotFound(f"run_ids[{index}]: run {update.run_id} does not exist")
                response = pb.WatchMetricsResponse(run_id=update.run_id)
                convert.fill_metric_points(
                    response.points, update.key, update.steps, update.timestamps, update.values
                )
                yield response
                expires = time.monotonic() + self.stream_idle_timeout
        finally:
            subscription.close()

    # -- search ------------------------------------------------------------

    def SearchRuns(self, request, context):
        records, token, total = self.store.reads.search.search_runs(
            list(request.experiment_ids),
            request.view_type,
            request.page_size,
            request.page_token,
            experiment_names=list(request.experiment_names),
            filter=request.filter,
            order_by=list(request.order_by),
            select=list(request.select),
            include_total_count=request.include_total_count,
            visible=self.access.visible(EXPERIMENT_RESOURCE),
        )
        return pb.SearchRunsResponse(
            runs=convert.run_table(records), next_page_token=token, total_count=total
        )

    # -- server ------------------------------------------------------------

    def GetServerInfo(self, request, context):
        return pb.GetServerInfoResponse(
            version=__version__,
            limits=pb.ServerLimits(
                max_key_length=LIMITS.max_key_length,
                max_param_value_length=LIMITS.max_param_value_length,
                max_tag_value_length=LIMITS.max_tag_value_length,
                max_experiment_name_length=LIMITS.max_experiment_name_length,
                max_batch_metrics=LIMITS.max_batch_metrics,
                max_batch_params=LIMITS.max_batch_params,
                max_batch_tags=LIMITS.max_batch_tags,
                max_stream_batch_points=LIMITS.max_stream_batch_points,
                max_stream_batch_keys=LIMITS.max_stream_batch_keys,
                max_history_chunk_points=LIMITS.max_history_chunk_points,
                max_message_bytes=LIMITS.max_message_bytes,
                max_page_size=LIMITS.max_page_size,
                max_batch_history_runs=LIMITS.max_batch_history_runs,
                max_batch_create_runs=LIMITS.max_batch_create_runs,
                max_request_bytes=LIMITS.max_request_bytes,
                max_log_batch_bytes=LIMITS.max_log_batch_bytes,
                max_batch_create_runs_bytes=LIMITS.max_batch_create_runs_bytes,
                max_stream_batch_bytes=LIMITS.max_stream_batch_bytes,
                max_upload_chunk_bytes=LIMITS.max_upload_chunk_bytes,
                stream_idle_timeout=self._stream_idle_timeout,
            ),
        )


def _cutoff(request) -> int | None:
    """A purge request's deleted_before, in ms (None when unset)."""
    return convert.millis(request.deleted_before, request.HasField("deleted_before"))
