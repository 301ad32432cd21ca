"""Exceptions the client raises: one per gRPC status code the server uses (defined in
`trackwire_protocol.errors`, which the server's web UI shares)."""

from trackwire_protocol.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    TrackwireException,
    UnauthenticatedError,
    UnavailableError,
    from_code_number,
    from_rpc_error,
    from_status,
    names_checked,
)

__all__ = [
    "AlreadyExistsError",
    "FailedPreconditionError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "TrackwireException",
    "UnauthenticatedError",
    "UnavailableError",
    "from_code_number",
    "from_rpc_error",
    "from_status",
    "names_checked",
]
