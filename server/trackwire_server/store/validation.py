"""Checks on names, keys and values shared by the store's write paths.

The rules themselves are `trackwire_protocol.naming` (the client applies the same ones); this
module turns their refusals into InvalidArgument and adds the server's length limits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from trackwire_protocol import naming
from trackwire_server.errors import InvalidArgument
from trackwire_server.limits import LIMITS


@contextlib.contextmanager
def invalid_argument() -> Iterator[None]:
    """A `naming.InvalidName` raised inside becomes InvalidArgument (same message)."""
    try:
        yield
    except naming.InvalidName as e:
        raise InvalidArgument(e.message) from None


def check_text(field: str, value: str) -> None:
    """No NUL characters: PostgreSQL cannot store them in text."""
    if "\x00" in value:
        raise InvalidArgument(f"{field} contains a NUL character")


def check_key(field: str, key: str) -> None:
    """A key being written: naming.check_key's characters and segments, and the length limit."""
    with invalid_argument():
        naming.check_key(field, key)
    _check_key_length(field, key)


def check_lookup_key(field: str, key: str) -> None:
    """A key being read or deleted: not empty, no NUL, within the limit. Keys stored before
    the character rules existed stay readable and deletable."""
    if not key:
        raise InvalidArgument(f"{field} must not be empty")
    check_text(field, key)
    _check_key_length(field, key)


def _check_key_length(field: str, key: str) -> None:
    if len(key) > LIMITS.max_key_length:
        raise InvalidArgument(
            f"{field} '{key[:40]}...' is {len(key)} characters; the limit is {LIMITS.max_key_length}"
        )


def check_length(field: str, value: str, limit: int) -> None:
    check_text(field, value)
    if len(value) > limit:
        raise InvalidArgument(f"{field} is {len(value)} characters; the limit is {limit}")


def check_name(field: str, name: str, limit: int) -> None:
    """A name people read: not blank, no control or bidirectional characters, within `limit`."""
    with invalid_argument():
        naming.check_name(field, name)
    check_length(field, name, limit)


def check_printable(field: str, value: str, limit: int) -> None:
    """An optional name (may be empty): no control or bidirectional characters, within `limit`."""
    with invalid_argument():
        naming.check_printable(field, value)
    check_length(field, value, limit)


def check_relative_path(field: str, path: str, allow_empty: bool = False) -> str:
    """`path` normalised, or InvalidArgument if it could leave its root (naming's rules)."""
    with invalid_argument():
        return naming.check_relative_path(field, path, allow_empty)


def creation_time(field: str, ms: int | None, now: int) -> int:
    """A resource's creation time given by its creator (an import), or `now` when None:
    at most a minute ahead of `now`, not before the Unix epoch."""
    if ms is None:
        return now
    if ms < 0 or ms > now + 60_000:
        raise InvalidArgument(f"{field} must lie between the Unix epoch and now, not {ms} ms")
    return ms


def parse_experiment_id(field: str, experiment_id: str) -> int:
    if not experiment_id:
        raise InvalidArgument(f"{field} must not be empty")
    try:
        value = int(experiment_id)
    except ValueError:
        raise InvalidArgument(f"{field} '{experiment_id}' is not a decimal integer") from None
    if not 0 <= value < 2**63:
        raise InvalidArgument(f"{field} '{experiment_id}' is out of range")
    return value


def check_run_id(field: str, run_id: str) -> None:
    """32 lowercase hex characters (InvalidArgument naming the field otherwise)."""
    with invalid_argument():
        naming.check_run_id(field, run_id)
