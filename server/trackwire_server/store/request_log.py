"""Client request ids: what makes a retried mutating call apply once.

A mutating call that carries a `request_id` runs as one unit of work that first looks
the id up: if it was recorded, the call is not applied again and gets the recorded
response; otherwise the call runs, and its id, a fingerprint of the request and the
serialized response are recorded in the same transaction. Two copies of one request
running at once cannot both record it (the id is the primary key): the second one's
unit is retried and then finds the first's record. Records older than RETENTION_MS
are trimmed by `trim`.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from types import SimpleNamespace

import peewee

from trackwire_server.errors import InvalidArgument
from trackwire_server.store import unit_of_work
from trackwire_server.store.inserts import insert_sql
from trackwire_server.store.statement_cache import RenderedQueries
from trackwire_server.store.unit_of_work import RetryTransaction

RETENTION_MS = 24 * 3600 * 1000
REQUEST_ID_PATTERN = re.compile(r"[\x20-\x7e]{1,64}")
# Responses larger than this are kept compressed (BatchCreateRuns answers with its runs).
_COMPRESS_ABOVE = 4096
_RAW, _ZLIB = b"\x00", b"\x01"


def check_request_id(request_id: str) -> None:
    if not REQUEST_ID_PATTERN.fullmatch(request_id):
        raise InvalidArgument(
            f"request_id must be 1 to 64 printable ASCII characters, not {request_id[:80]!r}"
        )


def _encode(response: bytes) -> bytes:
    if len(response) > _COMPRESS_ABOVE:
        return _ZLIB + zlib.compress(response, 1)
    return _RAW + response


def _decode(stored: bytes) -> bytes:
    stored = bytes(stored)
    return zlib.decompress(stored[1:]) if stored[:1] == _ZLIB else stored[1:]


class RequestLog:
    """The request ids recorded in one database."""

    def __init__(self, db: peewee.Database, tables: SimpleNamespace, clock: Callable[[], int]):
        self.db = db
        self.table = tables.RequestLog
        self.clock = clock
        # Both statements run once per mutating call: rendered by Peewee once, not per call.
        L = self.table
        self._lookup_sql = RenderedQueries(db).sql(
            ("request_log_lookup",),
            lambda: L.select(L.fingerprint, L.response).where(L.request_id == peewee.SQL(db.param)),
        )
        self._record_sql = insert_sql(L, ("request_id", "fingerprint", "response", "create_time"))

    def run_once(self, request_id: str, fingerprint: str, apply: Callable[[], bytes]) -> bytes:
        """The response of the call `request_id`: recorded, or made by `apply()` (which
        runs the call and returns its serialized response) and recorded with it, in one
        unit of work. INVALID_ARGUMENT if the id was recorded for another request."""
        check_request_id(request_id)
        db = self.db

        def work() -> bytes:
            row = db.execute_sql(self._lookup_sql, (request_id,)).fetchone()
            if row is not None:
                if row[0] != fingerprint:
                    raise InvalidArgument(
                        f"request_id {request_id!r} was already used for another request; "
                        "use a new id for each distinct request"
                    )
                return _decode(row[1])
            response = apply()
            try:
                db.execute_sql(
                    self._record_sql, (request_id, fingerprint, _encode(response), self.clock())
                )
            except peewee.IntegrityError:
                raise RetryTransaction(f"request {request_id} was recorded concurrently") from None
            return response

        return unit_of_work.run(self.db, work)

    def trim(self) -> int:
        """Forgets the requests recorded more than RETENTION_MS ago; returns how many."""
        L = self.table
        cutoff = self.clock() - RETENTION_MS
        return unit_of_work.run(self.db, lambda: L.delete().where(L.create_time < cutoff).execute())
