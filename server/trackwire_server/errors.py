"""Domain errors raised by the store and artifact repository.

They carry no gRPC knowledge; `interceptors.ErrorMappingInterceptor` is the one
place that turns them into status codes.
"""

import re

# The request field a message starts with: `name`, `header.path`, `requests[2].run_id`.
_LEADING_FIELD = re.compile(
    r"([a-z][a-z0-9_]*(?:\[\d+\])?(?:\.[a-z][a-z0-9_]*(?:\[\d+\])?)*)(?=[ :']|$)"
)
# Leading words of messages that start with prose, not with a field.
_NOT_FIELDS = frozenset(
    {"a", "an", "the", "message", "is", "not", "to", "use", "param", "artifact"}
)


class TrackwireError(Exception):
    """Base class of the errors the server reports to clients.

    `reason` is a stable, machine-readable UPPER_SNAKE_CASE identifier; `field`, when
    set, is the offending request field (`header.path`, `requests[2].run_id`), reported
    in `ErrorInfo.metadata["field"]`.
    """

    reason = "ERROR"

    def __init__(self, message: str, *, reason: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason
        self.field = field if field is not None else self._leading_field(message)

    def _leading_field(self, message: str) -> str:
        """The field an argument error's message starts with (our messages name the field
        first, "page_size must not be negative"); other errors name one explicitly."""
        if not isinstance(self, (InvalidArgument, ResourceExhausted)):
            return ""
        match = _LEADING_FIELD.match(message)
        if match is None or match.group(1) in _NOT_FIELDS:
            return ""
        return match.group(1)


class InvalidArgument(TrackwireError):
    """The request is malformed; the message names the field."""

    reason = "INVALID_ARGUMENT"


class NotFound(TrackwireError):
    """A named resource does not exist."""

    reason = "NOT_FOUND"


class AlreadyExists(TrackwireError):
    """A resource with that unique name or id exists already."""

    reason = "ALREADY_EXISTS"


class FailedPrecondition(TrackwireError):
    """The resource is not in a state that allows the call (e.g. it is deleted)."""

    reason = "FAILED_PRECONDITION"


class ResourceExhausted(TrackwireError):
    """A size limit was exceeded."""

    reason = "RESOURCE_EXHAUSTED"


class Unavailable(TrackwireError):
    """A backing service (the database, artifact storage) cannot be reached; the call
    may succeed if retried."""

    reason = "STORAGE_UNAVAILABLE"


class DeadlineExceeded(TrackwireError):
    """The caller's deadline passed before the call could commit: it was rolled back."""

    reason = "DEADLINE_EXCEEDED"


class Unauthenticated(TrackwireError):
    """The call carries no valid credentials (no token, or an unknown, revoked or expired
    one; a wrong password)."""

    reason = "UNAUTHENTICATED"


class PermissionDenied(TrackwireError):
    """The caller may see the resource but not do this with it."""

    reason = "PERMISSION_DENIED"


class SequenceGap(FailedPrecondition):
    """A streamed batch's sequence number skips ahead of the writer's next one."""

    reason = "SEQUENCE_GAP"

    def __init__(self, message: str, *, expected: int):
        super().__init__(message)
        self.expected = expected
