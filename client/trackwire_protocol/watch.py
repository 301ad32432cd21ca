"""A server stream of committed metric points (WatchMetrics), watched anew when the server
ends it for being quiet."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import grpc

from trackwire.v1 import tracking_service_pb2
from trackwire_protocol import errors

# The reason of the ResourceExhaustedError a MetricWatch raises when points were dropped.
WATCH_OVERFLOWED = "WATCH_OVERFLOWED"
# The header the server sends once a WatchMetrics call is registered (the watch is live).
LIVE_HEADER = "trackwire-watch-live"


class MetricWatch:
    """New metric points of some runs, as the server commits them.

    Iterating yields `convert(message)` for each committed write (a
    `WatchMetricsResponse`), until `cancel()` (from any thread) or the server stops. If
    the watcher fell too far behind, points were dropped: iteration raises
    `ResourceExhaustedError` (reason WATCH_OVERFLOWED); read the histories again and
    watch anew. The server ends a watch that had nothing to send for its stream idle
    timeout (5 minutes by default); this one then watches anew at once, so a point
    committed in that instant can be missed.
    """

    def __init__(
        self,
        open_call: Callable[[], grpc.Call],
        convert: Callable[[tracking_service_pb2.WatchMetricsResponse], object] = lambda m: m,
    ):
        self._open_call = open_call
        self._convert = convert
        self._lock = threading.Lock()
        self._cancelled = False
        self._call = open_call()

    def __iter__(self) -> Iterator:
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
                    yield self._convert(m)
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

    def wait_live(self, timeout: float = 10.0) -> bool:
        """Waits until the server has registered the watch (it sends the header
        `trackwire-watch-live: 1` then): a point committed after this returns is seen.
        False if that did not happen within `timeout` seconds (or the call ended)."""
        call = self._call
        headers: list = []
        waiter = threading.Thread(
            target=lambda: headers.extend(call.initial_metadata() or ()), daemon=True
        )
        waiter.start()
        waiter.join(timeout)
        return any(k == LIVE_HEADER and v == "1" for k, v in headers)

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            self._call.cancel()

    def __enter__(self) -> MetricWatch:
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()
