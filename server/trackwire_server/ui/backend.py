"""The UI's gRPC client of the server, and the HTTP glue its routes share: gRPC errors as
HTTP statuses, JSON endpoints run in threads, same-origin checks on writes."""

from __future__ import annotations

import functools
import threading

import grpc
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from trackwire.client import MetricWatch
from trackwire.v1 import artifact_service_pb2_grpc, tracking_service_pb2_grpc

HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 413,
    grpc.StatusCode.UNAVAILABLE: 503,
}


class ApiError(Exception):
    """An answer other than 200: an HTTP status and a message for the page."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message


def millis(ts) -> int | None:
    """A protobuf Timestamp in milliseconds; None when unset."""
    return ts.seconds * 1000 + ts.nanos // 1_000_000 if ts.seconds or ts.nanos else None


class Backend:
    """The gRPC stubs the UI calls, on one channel to the server."""

    def __init__(self, target: str):
        self.channel = grpc.insecure_channel(
            target, options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)]
        )
        self.tracking = tracking_service_pb2_grpc.TrackingServiceStub(self.channel)
        self.artifacts = artifact_service_pb2_grpc.ArtifactServiceStub(self.channel)
        self._watches: set = set()
        self._lock = threading.Lock()

    def call(self, method, request):
        try:
            return method(request, timeout=60)
        except grpc.RpcError as e:
            raise ApiError(HTTP_STATUS.get(e.code(), 502), e.details() or str(e.code())) from None

    def stream(self, method, request):
        try:
            yield from method(request, timeout=300)
        except grpc.RpcError as e:
            raise ApiError(HTTP_STATUS.get(e.code(), 502), e.details() or str(e.code())) from None

    def watch(self, request) -> MetricWatch:
        """A WatchMetrics for a page's live charts; it watches anew when the server ends
        it for being quiet, until `forget`."""
        watch = MetricWatch(functools.partial(self.tracking.WatchMetrics, request))
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
        self.channel.close()


def json_endpoint(handler):
    """An endpoint that runs handler(request) in a thread and answers its dict as JSON."""

    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(handler, request))
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
