"""Paging and lifecycle filters shared by the searches."""

from __future__ import annotations

import base64
import hashlib
import json

import peewee

from trackwire_server.errors import InvalidArgument
from trackwire_server.limits import LIMITS
from trackwire_server.store.constants import (
    ACTIVE,
    DELETED,
    VIEW_ACTIVE_ONLY,
    VIEW_ALL,
    VIEW_DELETED_ONLY,
)


def view_condition(column: peewee.Field, view_type: int):
    if view_type in (0, VIEW_ACTIVE_ONLY):
        return column == ACTIVE
    if view_type == VIEW_DELETED_ONLY:
        return column == DELETED
    if view_type == VIEW_ALL:
        return True
    raise InvalidArgument(f"view_type {view_type} is not a ViewType")


class PageToken:
    """An opaque page token: an offset bound to the query that produced it."""

    @staticmethod
    def fingerprint(*parts: object) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]

    @staticmethod
    def encode(offset: int, fingerprint: str) -> str:
        raw = json.dumps({"o": offset, "q": fingerprint}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def decode(token: str, fingerprint: str) -> int:
        if not token:
            return 0
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            data = json.loads(raw)
            offset, bound = int(data["o"]), data["q"]
        except (ValueError, KeyError, TypeError):
            raise InvalidArgument("page_token is malformed") from None
        if bound != fingerprint:
            raise InvalidArgument("page_token belongs to another query")
        if not 0 <= offset < 2**31:
            raise InvalidArgument("page_token is malformed")
        return offset


def checked_page_size(page_size: int) -> int:
    if page_size < 0:
        raise InvalidArgument("page_size must not be negative")
    if page_size > LIMITS.max_page_size:
        raise InvalidArgument(f"page_size {page_size} is over the limit of {LIMITS.max_page_size}")
    return page_size or LIMITS.default_page_size
