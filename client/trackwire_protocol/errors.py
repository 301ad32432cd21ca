"""Status codes as exceptions: one class per gRPC status code the server uses.

The client raises them (`trackwire.errors` re-exports them); the web UI answers each with
its `http_status`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import grpc

from trackwire_protocol import naming


class TrackwireException(Exception):
    """An error reported by the Trackwire server (or found by the client before sending).

    `code` is the gRPC status code, `reason` the server's stable reason string.
    """

    code = grpc.StatusCode.UNKNOWN
    # What an HTTP front (the web UI) answers for it: a server error, unless a subclass
    # says the request was at fault.
    http_status = 502

    def __init__(self, message: str, *, code: grpc.StatusCode | None = None, reason: str = ""):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.reason = reason or self.code.name

    @property
    def error_code(self) -> str:
        """The status code's name, e.g. "INVALID_ARGUMENT" (MLflow's attribute name)."""
        return self.code.name


class InvalidArgumentError(TrackwireException):
    code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 400


class NotFoundError(TrackwireException):
    code = grpc.StatusCode.NOT_FOUND
    http_status = 404


class AlreadyExistsError(TrackwireException):
    code = grpc.StatusCode.ALREADY_EXISTS
    http_status = 409


class FailedPreconditionError(TrackwireException):
    code = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 409


class PermissionDeniedError(TrackwireException):
    """The caller's token is good, but its grants do not allow the call."""

    code = grpc.StatusCode.PERMISSION_DENIED
    http_status = 403


class UnauthenticatedError(TrackwireException):
    """The server wants a token (`trackwire server --auth`) and got none, or one it does
    not accept (unknown, revoked, expired, or of a disabled user)."""

    code = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401


class ResourceExhaustedError(TrackwireException):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 413


class UnavailableError(TrackwireException):
    code = grpc.StatusCode.UNAVAILABLE
    http_status = 503


_BY_CODE = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        NotFoundError,
        AlreadyExistsError,
        FailedPreconditionError,
        PermissionDeniedError,
        UnauthenticatedError,
        ResourceExhaustedError,
        UnavailableError,
    )
}


@contextlib.contextmanager
def names_checked() -> Iterator[None]:
    """A refusal of trackwire_protocol.naming's rules inside becomes InvalidArgumentError, as the
    server answers it."""
    try:
        yield
    except naming.InvalidName as e:
        raise InvalidArgumentError(e.message) from None


def from_status(code: grpc.StatusCode, message: str, reason: str = "") -> TrackwireException:
    cls = _BY_CODE.get(code, TrackwireException)
    return cls(message, code=code, reason=reason)


def from_code_number(number: int, message: str) -> TrackwireException:
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return from_status(code, message)
    return TrackwireException(message)


def from_rpc_error(error: grpc.RpcError) -> TrackwireException:
    reason = ""
    try:
        from google.rpc import error_details_pb2
        from grpc_status import rpc_status

        status = rpc_status.from_call(error)
        if status is not None:
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    reason = info.reason
    except Exception:  # details are a bonus; the code and message are what matter
        pass
    return from_status(error.code(), error.details() or "", reason)
