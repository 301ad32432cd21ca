"""Checks on names, keys and values shared by the store's write paths."""

from __future__ import annotations

import re

from trackwire_server.errors import InvalidArgument
from trackwire_server.limits import LIMITS

RUN_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")


def check_text(field: str, value: str) -> None:
    """No NUL characters: PostgreSQL cannot store them in text."""
    if "\x00" in value:
        raise InvalidArgument(f"{field} contains a NUL character")


def check_key(field: str, key: str) -> None:
    if not key:
        raise InvalidArgument(f"{field} must not be empty")
    check_text(field, key)
    if len(key) > LIMITS.max_key_length:
        raise InvalidArgument(
            f"{field} '{key[:40]}...' is {len(key)} characters; the limit is {LIMITS.max_key_length}"
        )


def check_length(field: str, value: str, limit: int) -> None:
    check_text(field, value)
    if len(value) > limit:
        raise InvalidArgument(f"{field} is {len(value)} characters; the limit is {limit}")


def check_name(field: str, name: str, limit: int) -> None:
    if not name or not name.strip():
        raise InvalidArgument(f"{field} must not be empty")
    check_length(field, name, limit)


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
    if not run_id:
        raise InvalidArgument(f"{field} must not be empty")
    check_text(field, run_id)
