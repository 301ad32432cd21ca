"""Maps domain errors to gRPC status codes: the only place that does.

Every error carries a google.rpc.ErrorInfo detail with a stable `reason` and
the domain "trackwire.dev", and `metadata["field"]` naming the offending request
field when there is one. Anything that is not a domain error is a bug: it
is logged with its traceback and answered INTERNAL.
"""

from __future__ import annotations

import logging

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from trackwire_server import errors

log = logging.getLogger("trackwire.server")

ERROR_DOMAIN = "trackwire.dev"

STATUS_CODES: dict[type[errors.TrackwireError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
}


def status_code_for(error: errors.TrackwireError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return grpc.StatusCode.INTERNAL


def _abort(context: grpc.ServicerContext, error: errors.TrackwireError) -> None:
    code = status_code_for(error)
    detail = any_pb2.Any()
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN)
    if error.field:
        info.metadata["field"] = error.field
    detail.Pack(info)
    status = status_pb2.Status(code=code.value[0], message=error.message, details=[detail])
    context.abort_with_status(rpc_status.to_status(status))


def _internal(context: grpc.ServicerContext, method: str, exc: BaseException) -> None:
    log.exception("internal error in %s", method)
    context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method}: {type(exc).__name__}")


class ErrorMappingInterceptor(grpc.ServerInterceptor):
    """Wraps every handler so domain errors become status codes."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        if handler.unary_unary:
            return handler._replace(unary_unary=self._wrap_unary(handler.unary_unary, method))
        if handler.stream_unary:
            return handler._replace(stream_unary=self._wrap_unary(handler.stream_unary, method))
        if handler.unary_stream:
            return handler._replace(unary_stream=self._wrap_stream(handler.unary_stream, method))
        return handler._replace(stream_stream=self._wrap_stream(handler.stream_stream, method))

    @staticmethod
    def _wrap_unary(behavior, method):
        def wrapped(request, context):
            try:
                return behavior(request, context)
            except errors.TrackwireError as e:
                _abort(context, e)
            except Exception as e:
                if context.code() is not None:  # already aborted by the handler
                    raise
                if isinstance(e, grpc.RpcError) and not context.is_active():
                    raise  # the client cancelled or went away (an upload's requests end)
                _internal(context, method, e)

        return wrapped

    @staticmethod
    def _wrap_stream(behavior, method):
        def wrapped(request, context):
            try:
                yield from behavior(request, context)
            except errors.TrackwireError as e:
                _abort(context, e)
            except grpc.RpcError:
                return  # the client cancelled or went away while streaming
            except Exception as e:
                if context.code() is not None:
                    raise
                _internal(context, method, e)

        return wrapped
