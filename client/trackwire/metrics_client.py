"""TrackwireClient's metric methods: points written in a batch or streamed by its metric
writer, histories read, new points watched.

Kept apart from client.py: `TrackwireClient` inherits them from `MetricMethods`.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Sequence

from trackwire import metric_points
from trackwire.entities import Metric, MetricHistory
from trackwire.metric_writer import MetricWriter
from trackwire.v1 import run_pb2, tracking_service_pb2_grpc
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire_protocol.calls import call, stream
from trackwire_protocol.channel import Connection
from trackwire_protocol.watch import MetricWatch

# The clients whose metric writer is open, held until it is closed: the points a client
# queued are stored (at the latest at interpreter exit) even if the client was dropped.
_writing: set[MetricMethods] = set()


def close_metric_writers(timeout: float | None = 60.0) -> None:
    """Stores the points queued by every client of this process, then closes their metric
    writers (a client opens a new one if it streams again)."""
    for client in list(_writing):
        client.close_metric_writer(timeout)


def _param_value(value) -> str:
    return str(value)


def _watched(m: pb.WatchMetricsResponse) -> tuple[str, str, MetricHistory]:
    return m.run_id, m.points.keys[0], metric_points.history(m.points)


class MetricMethods:
    """The metric RPCs, on top of a client's connection; the client owns the writer."""

    _connection: Connection
    _tracking: tracking_service_pb2_grpc.TrackingServiceStub
    _lock: threading.Lock
    _writer: MetricWriter | None

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
        """This client's metric stream (`log_metric_async`), opened on first use."""
        writer = self._writer
        if writer is None:
            with self._lock:
                if self._writer is None:
                    connection = self._connection
                    self._writer = MetricWriter(lambda: (connection.tracking, connection.limits))
                    _writing.add(self)
                writer = self._writer
        return writer

    def close_metric_writer(self, timeout: float | None = 60.0) -> None:
        """Stores the points still queued, then closes the metric stream (a later
        `log_metric_async` opens a new one)."""
        with self._lock:
            writer, self._writer = self._writer, None
            _writing.discard(self)
        if writer is not None:
            writer.close(timeout)

    def log_metric_async(
        self, run_id: str, key: str, value: float, step: int = 0, timestamp: int | None = None
    ) -> None:
        """Queues one point on the background stream; `flush_metrics` waits for it."""
        self.metric_writer.add(
            run_id, key, float(value), int(step), timestamp or int(time.time() * 1000)
        )

    def flush_metrics(self, timeout: float | None = 300.0) -> None:
        """Waits until every streamed point is committed; raises what the server refused."""
        writer = self._writer
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

    def watch_metrics(self, run_ids: Sequence[str], keys: Sequence[str] = ()) -> MetricWatch:
        """Watches runs for new metric points (of `keys`, or all): a `MetricWatch` to
        iterate (`(run_id, key, MetricHistory)` per committed write), then cancel. Only
        points committed after the call are seen."""
        request = pb.WatchMetricsRequest(run_ids=list(run_ids), metric_keys=list(keys))
        watch = MetricWatch(functools.partial(self._tracking.WatchMetrics, request), _watched)
        watch.wait_live()  # the server registered it: every later point is seen
        return watch

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
