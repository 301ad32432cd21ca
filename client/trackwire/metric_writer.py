"""The background metric streamer behind `log_metric`.

`add` only appends a tuple to a deque: it never touches the network. A sender
thread drains the deque into columnar `WriteMetricsRequest` batches (by size, or
every `flush_interval` seconds) and streams them on one `WriteMetrics` call. Each
batch has this writer's id and a sequence number and stays in `_unacked` until
the server acknowledges it as committed; after a broken connection the sender
reconnects with backoff and resends every unacknowledged batch, which the server
stores once. When the producer outruns the server, `add` blocks (bounded
memory); nothing is dropped. A batch the server could not store for now (its
database away: UNAVAILABLE) is resent; batches it refuses (a deleted run, a bad key,
a full disk) are kept as errors and raised by the next `flush`, and the batches behind
a refused one are renumbered under a new writer id (the server takes a writer's batches
in order, without gaps).

An open stream holds one of the server's stream slots and threads, so the sender
closes it once everything was acknowledged and nothing was sent for `idle_close`
seconds (at most half the server's stream_idle_timeout, after which the server would
cancel it), and opens a new one when there is something to send again.
"""

from __future__ import annotations

import collections
import itertools
import logging
import queue
import threading
import time
import uuid

import grpc

from trackwire import metric_points
from trackwire.errors import (
    InvalidArgumentError,
    TrackwireException,
    from_code_number,
    from_rpc_error,
    names_checked,
)
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire_protocol import naming

log = logging.getLogger("trackwire.metric_writer")

_RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


# Batch refusals that say "not stored now", not "never": the batch is sent again.
_TRANSIENT_CODES = {
    grpc.StatusCode.UNAVAILABLE.value[0],
    grpc.StatusCode.DEADLINE_EXCEEDED.value[0],
    grpc.StatusCode.ABORTED.value[0],
}


class _Stream:
    """One WriteMetrics call: requests go in through a queue, acks come back on a thread."""

    def __init__(self, stub, on_ack, on_end):
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._on_ack = on_ack
        self._on_end = on_end
        self._call = stub.WriteMetrics(iter(self._requests.get, None))
        self._reader = threading.Thread(target=self._read, name="trackwire-acks", daemon=True)
        self._reader.start()

    def send(self, request: pb.WriteMetricsRequest) -> None:
        self._requests.put(request)

    def close(self) -> None:
        self._requests.put(None)

    def cancel(self) -> None:
        self._call.cancel()

    def _read(self) -> None:
        try:
            for ack in self._call:
                self._on_ack(self, ack)
            self._on_end(self, None)
        except grpc.RpcError as e:
            self._on_end(self, e)
        finally:
            # gRPC's thread sending the requests may be waiting on the queue: let it go.
            self._requests.put(None)


class MetricWriter:
    """Buffers metric points and streams them to the server in acknowledged batches."""

    def __init__(
        self,
        stub_provider,
        *,
        batch_points: int = 20_000,
        flush_interval: float = 0.5,
        max_buffered_points: int = 1_000_000,
        max_inflight_batches: int = 8,
        max_backoff: float = 5.0,
        idle_close: float = 30.0,
    ):
        """`stub_provider()` returns (TrackingServiceStub, ServerLimits)."""
        self._stub_provider = stub_provider
        self._batch_points = batch_points
        self._flush_interval = flush_interval
        self._max_buffered = max_buffered_points
        self._max_inflight = max_inflight_batches
        self._max_backoff = max_backoff
        self._idle_close = self._idle_after = idle_close
        self._last_activity = 0.0  # when a batch was last sent or acknowledged
        self.writer_id = uuid.uuid4().hex
        self._points: collections.deque = collections.deque()
        self._series_ids: dict[tuple[str, str], int] = {}
        self._series: list[tuple[str, str]] = []  # (run_id, key) by series id
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._sequence = itertools.count(1)
        self._unacked: dict[int, pb.WriteMetricsRequest] = {}
        self._errors: list[TrackwireException] = []
        self._stream: _Stream | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._failures = 0
        # Resent batches the server had already committed (and did not store again).
        self.duplicates_acknowledged = 0
        self._max_batch_points = batch_points
        self._max_batch_series = 10_000
        self._max_key_length = 250  # until the server says otherwise

    # -- producer side (the training loop) -----------------------------------

    def add(self, run_id: str, key: str, value: float, step: int, timestamp: int) -> None:
        """Queues one point. Blocks only when `max_buffered_points` are waiting."""
        sid = self._series_ids.get((run_id, key))
        if sid is None:
            sid = self._register(run_id, key)
        points = self._points
        points.append((sid, value, step, timestamp))
        if len(points) >= self._batch_points:
            self._on_full()

    def _register(self, run_id: str, key: str) -> int:
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError(f"metric key must be a non-empty string, not {key!r}")
        if len(key) > self._max_key_length:
            raise InvalidArgumentError(
                f"metric key '{key[:40]}...' is {len(key)} characters; the limit is {self._max_key_length}"
            )
        # The server's rules, checked here: a refused key would refuse its whole batch.
        with names_checked():
            naming.check_key("metric key", key)
            naming.check_run_id("run_id", run_id)
        with self._lock:
            sid = self._series_ids.get((run_id, key))
            if sid is None:
                sid = len(self._series)
                self._series.append((run_id, key))
                self._series_ids[(run_id, key)] = sid
            if self._thread is None:
                self._start()
            return sid

    def _on_full(self) -> None:
        self._wake.set()
        if len(self._points) >= self._max_buffered:
            with self._changed:
                while len(self._points) >= self._max_buffered and not self._closed:
                    self._wake.set()
                    self._changed.wait(0.05)

    # -- flushing --------------------------------------------------------------

    def flush(self, timeout: float | None = 300.0) -> None:
        """Waits until every point added so far is committed; raises the first refusal."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while self._points or self._unacked:
                if self._thread is None or not self._thread.is_alive():
                    break
                self._wake.set()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TrackwireException(
                        f"metrics not acknowledged after {timeout}s: {len(self._points)} points "
                        f"buffered, {len(self._unacked)} batches unacknowledged",
                        code=grpc.StatusCode.DEADLINE_EXCEEDED,
                    )
                self._changed.wait(0.05 if remaining is None else min(remaining, 0.05))
            self._raise_errors()

    def _raise_errors(self) -> None:
        if self._errors:
            first, self._errors = self._errors[0], []
            raise first

    def close(self, timeout: float | None = 300.0) -> None:
        try:
            self.flush(timeout)
        finally:
            with self._changed:
                self._closed = True
                self._changed.notify_all()
            self._wake.set()
            if self._thread is not None:
                self._thread.join(timeout=5)

    # -- sender thread -----------------------------------------------------------

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="trackwire-metrics", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            with self._changed:
                if self._closed and not self._points and not self._unacked:
                    break
            if self._stream is None:
                if not self._points and not self._unacked:
                    continue  # connect only when there is something to send
                if self._failures:
                    time.sleep(min(self._max_backoff, 0.05 * 2 ** (self._failures - 1)))
                try:
                    self._connect()
                except grpc.RpcError as e:
                    self._after_failure(e)
                    continue
            self._send_buffered()
            self._close_if_idle()
        if self._stream is not None:
            self._stream.close()

    def _close_if_idle(self) -> None:
        with self._changed:
            stream = self._stream
            if stream is None or self._points or self._unacked:
                return
            if time.monotonic() - self._last_activity < self._idle_after:
                return
            self._stream = None  # its end (OK) is not a failure: see _on_end
        stream.close()

    def _connect(self) -> None:
        stub, limits = self._stub_provider()
        self._max_batch_points = min(
            self._batch_points, limits.max_stream_batch_points or self._batch_points
        )
        self._max_batch_series = limits.max_stream_batch_keys or self._max_batch_series
        self._max_key_length = limits.max_key_length or self._max_key_length
        server_idle = limits.stream_idle_timeout.ToNanoseconds() / 1e9
        self._idle_after = (
            min(self._idle_close, server_idle / 2) if server_idle else self._idle_close
        )
        with self._changed:
            stream = _Stream(stub, self._on_ack, self._on_end)
            for seq in sorted(self._unacked):
                stream.send(self._unacked[seq])
            self._stream = stream
            self._last_activity = time.monotonic()

    def _after_failure(self, error: grpc.RpcError) -> None:
        """A connection attempt or stream failed: retry with backoff, or give up for good."""
        code = error.code()
        if code in _RETRYABLE:
            self._failures += 1
            log.warning(
                "metric stream: %s (%s); retry %d", code.name, error.details(), self._failures
            )
        else:
            self._failures = 0
            self._fail_pending(from_rpc_error(error))
        self._wake.set()

    def _fail_pending(self, error: TrackwireException) -> None:
        """A permanent failure: every unacknowledged batch is lost, and flush says so."""
        with self._changed:
            self._errors.append(error)
            self._unacked.clear()
            self._points.clear()
            self._changed.notify_all()

    def _send_buffered(self) -> None:
        points = self._points
        while points:
            with self._changed:
                while len(self._unacked) >= self._max_inflight and self._stream is not None:
                    self._changed.wait(0.05)
                stream = self._stream
                if stream is None:
                    return
                n = min(len(points), self._max_batch_points)
                items = [points.popleft() for _ in range(n)]
                for request in self._encode(items):
                    self._unacked[request.sequence_number] = request
                    stream.send(request)
                self._last_activity = time.monotonic()
                self._changed.notify_all()

    def _encode(self, items: list[tuple]) -> list[pb.WriteMetricsRequest]:
        sids, values, steps, timestamps = zip(*items, strict=True)
        used = set(sids)
        if len(used) == 1:
            return [self._request([self._series[sids[0]]], None, values, steps, timestamps)]
        by_run: dict[str, list[int]] = {}
        for sid in used:
            by_run.setdefault(self._series[sid][0], []).append(sid)
        if len(by_run) == 1 and len(used) <= self._max_batch_series:
            index_of = {sid: i for i, sid in enumerate(used)}
            index = list(map(index_of.__getitem__, sids))
            return [
                self._request([self._series[s] for s in used], index, values, steps, timestamps)
            ]
        # Points of several runs: one batch per run, so a refused run cannot take
        # another run's points down with it.
        requests = []
        for run_sids in by_run.values():
            for group in (
                run_sids[i : i + self._max_batch_series]
                for i in range(0, len(run_sids), self._max_batch_series)
            ):
                index_of = {sid: i for i, sid in enumerate(group)}
                picked = [i for i, s in enumerate(sids) if s in index_of]
                requests.append(
                    self._request(
                        [self._series[s] for s in group],
                        [index_of[sids[i]] for i in picked],
                        [values[i] for i in picked],
                        [steps[i] for i in picked],
                        [timestamps[i] for i in picked],
                    )
                )
        return requests

    def _request(self, series, index, values, steps, timestamps) -> pb.WriteMetricsRequest:
        """One batch; `series` are (run_id, key) pairs of one run."""
        request = pb.WriteMetricsRequest(
            writer_id=self.writer_id, sequence_number=next(self._sequence), run_id=series[0][0]
        )
        metric_points.fill_columns(
            request.points, [key for _, key in series], index, values, steps, timestamps
        )
        return request

    def _on_ack(self, stream: _Stream, ack: pb.WriteMetricsResponse) -> None:
        with self._changed:
            if stream is not self._stream:
                return  # a stream given up (below): its batches are being resent
            self._last_activity = time.monotonic()
            if not ack.error_code:
                self._unacked.pop(ack.sequence_number, None)
                self._failures = 0
                if ack.duplicate:
                    self.duplicates_acknowledged += 1
            elif ack.error_code in _TRANSIENT_CODES:
                # Not stored (the database is away, say): the batch is resent, in order,
                # on a new stream after a pause; the batches behind it would only meet
                # a gap in the sequence now.
                self._failures += 1
                log.warning(
                    "metric stream: batch %d not stored (%s); resending",
                    ack.sequence_number,
                    ack.error_message,
                )
                self._drop_stream(stream)
            else:
                gap = 0 < ack.expected_sequence_number < ack.sequence_number
                refused = self._unacked.pop(ack.sequence_number, None)
                if refused is not None and not gap:
                    self._errors.append(from_code_number(ack.error_code, ack.error_message))
                self._renumber()
                self._drop_stream(stream)
            self._changed.notify_all()
        self._wake.set()

    def _renumber(self) -> None:
        """After a refused batch: the server expects that batch's number next, and refuses
        the batches behind it as gaps. None of those can have been stored (the server
        commits a writer's batches in order), so they go again under a new writer id,
        numbered from 1: the resend can still never be stored twice."""
        self.writer_id = uuid.uuid4().hex
        self._sequence = itertools.count(1)
        unacked = [self._unacked[seq] for seq in sorted(self._unacked)]
        self._unacked = {}
        for request in unacked:
            request.writer_id = self.writer_id
            request.sequence_number = next(self._sequence)
            self._unacked[request.sequence_number] = request

    def _drop_stream(self, stream: _Stream) -> None:
        """Gives up `stream` (its further acks are ignored); the sender thread opens a new
        one and resends every unacknowledged batch."""
        self._stream = None
        stream.cancel()

    def _on_end(self, stream: _Stream, error: grpc.RpcError | None) -> None:
        with self._changed:
            if self._stream is not stream:
                return  # given up, or closed for idling with nothing unacknowledged
            self._stream = None
            idle = not self._points and not self._unacked
            self._changed.notify_all()
        if error is not None and not self._closed:
            if idle and error.code() in _RETRYABLE:
                # Nothing to resend (say the server ended an idle stream): the next
                # point opens a new stream.
                log.debug("idle metric stream ended: %s (%s)", error.code().name, error.details())
            else:
                self._after_failure(error)
        self._wake.set()
