"""Request size limits per method, checked on a message's bytes before it is parsed.

gRPC itself refuses any message above LIMITS.max_message_bytes as it arrives (the
server's `grpc.max_receive_message_length`), before buffering it. Below that, each
method has its own limit (METHOD_LIMITS, else LIMITS.max_request_bytes): the handler's
request deserializer, which receives the raw bytes, answers a larger message with an
`Oversized` marker instead of parsing it, and the handler raises ResourceExhausted for
it (a deserializer that raised would be answered INTERNAL by gRPC).
"""

from __future__ import annotations

import grpc

from trackwire_server.errors import ResourceExhausted
from trackwire_server.limits import LIMITS

METHOD_LIMITS = {
    "/trackwire.v1.TrackingService/LogBatch": LIMITS.max_log_batch_bytes,
    "/trackwire.v1.TrackingService/CreateRun": LIMITS.max_log_batch_bytes,
    "/trackwire.v1.TrackingService/BatchCreateRuns": LIMITS.max_batch_create_runs_bytes,
    "/trackwire.v1.TrackingService/WriteMetrics": LIMITS.max_stream_batch_bytes,
    "/trackwire.v1.ArtifactService/UploadArtifact": LIMITS.max_upload_chunk_bytes
    + LIMITS.max_upload_header_bytes,
}


def limit_for(method: str) -> int:
    """The largest request message `method` accepts, in bytes."""
    return METHOD_LIMITS.get(method, LIMITS.max_request_bytes)


class Oversized:
    """Stands for a request message that was too large to parse."""

    __slots__ = ("method", "size", "limit")

    def __init__(self, method: str, size: int, limit: int):
        self.method = method
        self.size = size
        self.limit = limit

    def error(self) -> ResourceExhausted:
        name = self.method.rsplit("/", 1)[-1]
        return ResourceExhausted(
            f"the {name} request message is {self.size:,} bytes; the limit is "
            f"{self.limit:,} (GetServerInfo's limits)",
            reason="MESSAGE_TOO_LARGE",
        )


def _refuse_oversized(requests):
    for request in requests:
        if type(request) is Oversized:
            raise request.error()
        yield request


def limited(handler: grpc.RpcMethodHandler, method: str, limit: int) -> grpc.RpcMethodHandler:
    """`handler` refusing request messages of more than `limit` bytes."""
    deserialize = handler.request_deserializer

    def deserializer(raw: bytes):
        if len(raw) > limit:
            return Oversized(method, len(raw), limit)
        return deserialize(raw) if deserialize is not None else raw

    if handler.request_streaming:
        field = "stream_stream" if handler.response_streaming else "stream_unary"
        behavior = getattr(handler, field)

        def checked(request_iterator, context):
            return behavior(_refuse_oversized(request_iterator), context)

    else:
        field = "unary_stream" if handler.response_streaming else "unary_unary"
        behavior = getattr(handler, field)

        def checked(request, context):
            if type(request) is Oversized:
                raise request.error()
            return behavior(request, context)

    return handler._replace(request_deserializer=deserializer, **{field: checked})


class MessageLimitsInterceptor(grpc.ServerInterceptor):
    """Gives each method's handler its size limit. It must come last among the server's
    interceptors: it is handed the registered handlers themselves, and wraps each once."""

    def __init__(self):
        self._handlers: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        known = self._handlers.get(method)
        if known is None or known[0] is not handler:
            known = self._handlers[method] = (handler, limited(handler, method, limit_for(method)))
        return known[1]
