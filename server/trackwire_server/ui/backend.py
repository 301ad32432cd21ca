"""The UI's connection to the server, and the HTTP glue its routes share: the services'
errors as HTTP statuses, JSON endpoints run in threads, same-origin checks on writes.

The UI is a client of the public services like any other: it calls them through
`trackwire_protocol` (the channel and stubs, the call and stream helpers, status codes as
exceptions, each with its HTTP status), as `TrackwireClient` does.

With authentication on, every call carries the signed-in user's token: the session
middleware (sessions.py) sets `call_metadata` for the request it serves, and `Backend`
sends it with each call made for that request (the connection is shared by all users;
the metadata is per call). The server's own checks then decide what each page shows.
"""

from __future__ import annotations

import contextvars
import functools
import threading
from typing import NamedTuple

import grpc
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from trackwire.v1 import tracking_service_pb2
from trackwire_protocol import calls, errors
from trackwire_protocol.channel import CHANNEL_OPTIONS, Connection
from trackwire_protocol.watch import MetricWatch

# Charts of many long histories: larger answers than the client's default.
UI_CHANNEL_OPTIONS = [
    *(o for o in CHANNEL_OPTIONS if o[0] != "grpc.max_receive_message_length"),
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
]


# The metadata of the calls made for the request being served: the signed-in user's
# `authorization` (empty without authentication). Set by sessions.SessionMiddleware.
call_metadata: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "trackwire_ui_call_metadata", default=()
)

# Statuses the UI answers for codes whose exception class has no HTTP status of its own.
HTTP_STATUSES = {
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
}


class ApiError(Exception):
    """An answer other than 200: an HTTP status and a message for the page."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message

    @classmethod
    def of(cls, error: errors.TrackwireException) -> ApiError:
        status = HTTP_STATUSES.get(error.code, error.http_status)
        return cls(status, error.message or error.code.name)


def millis(ts) -> int | None:
    """A protobuf Timestamp in milliseconds; None when unset."""
    return ts.seconds * 1000 + ts.nanos // 1_000_000 if ts.seconds or ts.nanos else None


class WatchedPoints(NamedTuple):
    """The points of one committed write, as a live chart draws them."""

    steps: list[int]
    values: list[float]
    timestamps: list[int]


def _watched(m: tracking_service_pb2.WatchMetricsResponse) -> tuple[str, str, WatchedPoints]:
    # One message per committed write of one (run, key): `points.keys` holds that key.
    p = m.points
    return m.run_id, p.keys[0], WatchedPoints(list(p.steps), list(p.values), list(p.timestamps_ms))


class Backend:
    """The services the UI calls, on one connection to the server (its own; closed by
    `close`)."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.tracking = self.connection.tracking
        self.artifacts = self.connection.artifacts
        self.registry = self.connection.registry
        self._watches: set = set()
        self._lock = threading.Lock()

    def call(self, method, request):
        """The response of a unary call, not retried (the page shows the error at once)."""
        try:
            return calls.call(_with_metadata(method), request, timeout=60, retry_for=0)
        except errors.TrackwireException as e:
            raise ApiError.of(e) from None

    def stream(self, method, request):
        """The messages of a server stream, sent with the metadata of the request being
        served now (bound here: the messages may be read in another thread)."""
        return _messages(_with_metadata(method), request)

    def watch(self, request) -> MetricWatch:
        """A WatchMetrics for a page's live charts, yielding (run_id, key, WatchedPoints);
        it watches anew when the server ends it for being quiet, until `forget`."""
        watch = MetricWatch(
            functools.partial(
                self.tracking.WatchMetrics, request, metadata=call_metadata.get() or None
            ),
            _watched,
        )
        with self._lock:
            self._watches.add(watch)
        return watch

    def forget(self, watch: MetricWatch) -> None:
        watch.cancel()
        with self._lock:
            self._watches.discard(watch)

    def close(self) -> None:
        with self._lock:
            watches = list(self._watches)
        for watch in watches:
            watch.cancel()
        self.connection.close()


def _messages(method, request):
    try:
        yield from calls.stream(method, request, timeout=300)
    except errors.TrackwireException as e:
        raise ApiError.of(e) from None


def _with_metadata(method):
    """`method` sending the current request's call metadata."""
    metadata = call_metadata.get()
    return functools.partial(method, metadata=metadata) if metadata else method


def json_endpoint(handler):
    """An endpoint that runs handler(request) in a thread and answers its dict as JSON."""

    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(handler, request))
        except ApiError as e:
            return JSONResponse({"error": e.message}, status_code=e.status)

    return endpoint


def json_write_endpoint(handler):
    """An endpoint for a change: handler(request, body) with the request's JSON object
    body (see same_origin_json), run in a thread, its dict answered as JSON."""

    async def endpoint(request: Request) -> Response:
        body = await same_origin_json(request)
        if isinstance(body, Response):
            return body
        try:
            return JSONResponse(await run_in_threadpool(handler, request, body))
        except ApiError as e:
            return JSONResponse({"error": e.message}, status_code=e.status)

    return endpoint


async def same_origin_json(request: Request) -> dict | Response:
    """The JSON object body of a write, or the error response. A cross-site page cannot
    send JSON without a preflight, nor fake the Origin header."""
    origin = request.headers.get("origin")
    if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host"):
        return JSONResponse({"error": "cross-origin request refused"}, status_code=403)
    if request.headers.get("content-type", "").split(";")[0] != "application/json":
        return JSONResponse({"error": "send application/json"}, status_code=415)
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "the body is not JSON"}, status_code=400)
    if not isinstance(body, dict):
        return JSONResponse({"error": "the body must be an object"}, status_code=400)
    return body
