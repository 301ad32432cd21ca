"""Admission control: which calls the server takes on, on which threads, and how long a
stream may keep it waiting.

gRPC's sync server runs each call on a thread of a pool, a stream for as long as it is
open, so a few idle streams could hold every thread. `AdmissionInterceptor` splits the
calls over three pools and admits or refuses each call as it arrives, on gRPC's serving
thread, before it is given a thread:

- unary calls run on `workers` threads; at most `max_concurrent_rpcs` calls, streams
  included, are in progress at once (unary calls beyond `workers` wait for a thread);
- every streaming call (WriteMetrics, WatchMetrics, ReadMetricHistory,
  BatchReadMetricHistory, UploadArtifact, DownloadArtifact, health Watch, reflection)
  gets a thread of its own among `max_streams`, so open streams never take the unary
  calls' threads;
- health checks, GetServerInfo and refusals run on CONTROL_THREADS threads of their own:
  none of them waits on the database, and a refusal does not even read the request.

A call beyond a bound is refused with RESOURCE_EXHAUSTED at once, never queued. Its
admission is returned when the call's job on its pool ends, however the call ended
(answered, failed, cancelled by the client or by the server's shutdown, or never given
its request), so a slot cannot leak.

`IdleWatchdog` ends the streams that keep the server waiting on their client for longer
than `stream_idle_timeout`: waiting for the client's next message (WriteMetrics,
UploadArtifact, reflection), or for the client to take a message the server sent (every
server stream: a client that stopped reading). It cancels the call, so the client sees
CANCELLED, the stream's thread wakes up and its slot is freed. A WatchMetrics on quiet
runs waits on the runs, not on its client: it ends itself, with OK, once it had nothing
to send for as long (`TrackingServicer.WatchMetrics`).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent import futures

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from trackwire_server.errors import ResourceExhausted
from trackwire_server.interceptors import ERROR_DOMAIN

log = logging.getLogger("trackwire.server")

# Calls that never wait on the database or a client, and must answer even when every
# other thread is taken.
CONTROL_METHODS = frozenset(
    {
        "/grpc.health.v1.Health/Check",
        "/trackwire.v1.TrackingService/GetServerInfo",
    }
)
CONTROL_THREADS = 4


class _Bounds:
    """How many calls and streams are admitted; admits without ever waiting."""

    def __init__(self, max_calls: int, max_streams: int):
        self.max_calls = max_calls
        self.max_streams = max_streams
        self.calls = 0  # streams included
        self.streams = 0
        self._lock = threading.Lock()

    def admit_call(self) -> bool:
        with self._lock:
            if self.calls >= self.max_calls:
                return False
            self.calls += 1
            return True

    def admit_stream(self) -> str:
        """Which bound refuses a stream ("streams" or "calls"); "" admits it."""
        with self._lock:
            if self.streams >= self.max_streams:
                return "streams"
            if self.calls >= self.max_calls:
                return "calls"
            self.streams += 1
            self.calls += 1
            return ""

    def release_call(self) -> None:
        with self._lock:
            self.calls -= 1

    def release_stream(self) -> None:
        with self._lock:
            self.streams -= 1
            self.calls -= 1


class _AdmittedPool(futures.ThreadPoolExecutor):
    """A pool whose every job is one admitted call: the admission ends with the job.

    gRPC submits exactly one job per call it hands a handler to, and runs it whether or
    not the call is still alive by then, so releasing here covers every way a call ends.
    """

    def __init__(self, threads: int, name: str, release):
        super().__init__(max_workers=threads, thread_name_prefix=name)
        self._release = release

    def submit(self, fn, /, *args, **kwargs):
        return super().submit(self._run, fn, args, kwargs)

    def _run(self, fn, args, kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
            self._release()


def _refusal(pool: futures.ThreadPoolExecutor, reason: str, message: str):
    """A handler that answers RESOURCE_EXHAUSTED at once. It is request-streaming whatever
    the method, so gRPC calls it without waiting for (or buffering) the request."""
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN))
    status = rpc_status.to_status(
        status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message, details=[detail])
    )

    def refuse(request_iterator, context):
        context.abort_with_status(status)

    refuse.experimental_thread_pool = pool
    return grpc.stream_unary_rpc_method_handler(refuse)


class _OpenStream:
    """An admitted stream, as the watchdog sees it: since when it waits on its client."""

    __slots__ = ("context", "method", "waiting_since", "cancelled")

    def __init__(self, context: grpc.ServicerContext, method: str):
        self.context = context
        self.method = method
        self.waiting_since: float | None = None
        self.cancelled = False

    def requests(self, iterator):
        """The client's messages; waiting for the next one is waiting on the client."""
        while True:
            self.waiting_since = time.monotonic()
            try:
                request = next(iterator)
            except StopIteration:
                if self.cancelled:
                    # gRPC may end the requests of a call cancelled under them as if the
                    # client had sent its last one: an upload must not be stored cut
                    # short. (The client was answered CANCELLED already.)
                    raise ResourceExhausted(
                        f"{self.method} was cancelled for idling", reason="STREAM_IDLE"
                    ) from None
                return
            finally:
                self.waiting_since = None
            yield request

    def responses(self, iterator):
        """The server's messages; gRPC asks for the next one once the client took the last
        (within its flow-control window), so until then the server waits on the client."""
        for response in iterator:
            self.waiting_since = time.monotonic()
            yield response
            self.waiting_since = None


class IdleWatchdog:
    """Cancels the streams that have waited on their client for more than `timeout` s."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.cancelled = 0  # streams ended for idling, since the start
        self._streams: set[_OpenStream] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trackwire-idle", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()

    def watch(self, context: grpc.ServicerContext, method: str) -> _OpenStream:
        stream = _OpenStream(context, method)
        with self._lock:
            self._streams.add(stream)
        return stream

    def forget(self, stream: _OpenStream) -> None:
        with self._lock:
            self._streams.discard(stream)

    def _run(self) -> None:
        while not self._stopped.wait(min(1.0, self.timeout / 4)):
            self.cancel_idle(time.monotonic())

    def cancel_idle(self, now: float) -> None:
        with self._lock:
            idle = [
                s
                for s in self._streams
                if s.waiting_since is not None and now - s.waiting_since > self.timeout
            ]
        for stream in idle:
            since = stream.waiting_since
            if since is None or now - since <= self.timeout:
                continue  # a message came in the meantime
            log.info(
                "%s from %s waited on its client for over %gs: cancelled",
                stream.method,
                stream.context.peer(),
                self.timeout,
            )
            stream.waiting_since = None
            stream.cancelled = True
            self.cancelled += 1
            stream.context.cancel()


class AdmissionInterceptor(grpc.ServerInterceptor):
    """Admits each call to its pool or refuses it at once (see the module's docstring).

    It must come first among the server's interceptors, as the thread pool of a call is
    read from the handler the interceptors return; `unary_pool` is the server's own pool.
    """

    def __init__(
        self, workers: int, max_streams: int, max_concurrent_rpcs: int, stream_idle_timeout: float
    ):
        self.bounds = _Bounds(max_concurrent_rpcs, max_streams)
        self.unary_pool = _AdmittedPool(workers, "trackwire", self.bounds.release_call)
        self.stream_pool = _AdmittedPool(
            max_streams, "trackwire-stream", self.bounds.release_stream
        )
        self.control_pool = futures.ThreadPoolExecutor(
            CONTROL_THREADS, thread_name_prefix="trackwire-control"
        )
        self.watchdog = IdleWatchdog(stream_idle_timeout)
        self._refusals = {
            "streams": _refusal(
                self.control_pool,
                "TOO_MANY_STREAMS",
                f"the server has {max_streams} streams open, its limit (--max-streams); "
                "retry later",
            ),
            "calls": _refusal(
                self.control_pool,
                "TOO_MANY_CALLS",
                f"the server has {max_concurrent_rpcs} calls in progress, its limit "
                "(--max-concurrent-rpcs); retry later",
            ),
        }

    def start(self) -> None:
        self.watchdog.start()

    def close(self) -> None:
        """After the gRPC server stopped: ends the watchdog and lets idle threads exit."""
        self.watchdog.stop()
        for pool in (self.unary_pool, self.stream_pool, self.control_pool):
            pool.shutdown(wait=False)

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        if handler.request_streaming or handler.response_streaming:
            refused = self.bounds.admit_stream()
            if refused:
                return self._refusals[refused]
            return self._on_stream_pool(handler, handler_call_details.method)
        if handler_call_details.method in CONTROL_METHODS:
            return self._on_control_pool(handler)
        if not self.bounds.admit_call():
            return self._refusals["calls"]
        return handler  # the server's own pool: unary_pool

    def _on_control_pool(self, handler):
        behavior = handler.unary_unary

        def control(request, context):
            return behavior(request, context)

        control.experimental_thread_pool = self.control_pool
        return handler._replace(unary_unary=control)

    def _on_stream_pool(self, handler, method: str):
        watchdog = self.watchdog
        request_streaming = handler.request_streaming
        if handler.response_streaming:
            field = "stream_stream" if request_streaming else "unary_stream"
            behavior = getattr(handler, field)

            def stream(request, context):
                open_stream = watchdog.watch(context, method)
                try:
                    if request_streaming:
                        request = open_stream.requests(request)
                    yield from open_stream.responses(behavior(request, context))
                finally:
                    watchdog.forget(open_stream)

        else:
            field = "stream_unary"
            behavior = handler.stream_unary

            def stream(request_iterator, context):
                open_stream = watchdog.watch(context, method)
                try:
                    return behavior(open_stream.requests(request_iterator), context)
                finally:
                    watchdog.forget(open_stream)

        stream.experimental_thread_pool = self.stream_pool
        return handler._replace(**{field: stream})
