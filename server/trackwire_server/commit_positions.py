"""Commit positions in call metadata, for reads on a replica (`--db-read-url`).

Installed only when the server has a read replica. Every call runs inside
`read_routing.call_positions`, given the position its client sent in the
`trackwire-commit-position` request metadata (if any): its reads wait for the replica to
have replayed that far, or run on the primary. A call that committed a write answers,
in its trailing metadata, `trackwire-commit-position: <the primary's WAL position after
its commit>` (a decimal integer). See store/read_routing.py and the README's "Reads on a
replica".
"""

from __future__ import annotations

import logging

import grpc

from trackwire_server.errors import TrackwireError
from trackwire_server.store import Store
from trackwire_server.store.read_routing import call_positions, parse_position

log = logging.getLogger("trackwire.server")

POSITION_KEY = "trackwire-commit-position"


def _sent_position(metadata) -> int | None:
    for key, value in metadata or ():
        if key == POSITION_KEY:
            return parse_position(value)
    return None


class CommitPositionInterceptor(grpc.ServerInterceptor):
    """See the module docstring."""

    def __init__(self, store: Store):
        self.store = store

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        read_after = _sent_position(handler_call_details.invocation_metadata)
        if handler.unary_unary:
            return handler._replace(unary_unary=self._wrap_unary(handler.unary_unary, read_after))
        if handler.stream_unary:
            return handler._replace(stream_unary=self._wrap_unary(handler.stream_unary, read_after))
        if handler.unary_stream:
            return handler._replace(
                unary_stream=self._wrap_stream(handler.unary_stream, read_after)
            )
        return handler._replace(stream_stream=self._wrap_stream(handler.stream_stream, read_after))

    def _answer(self, context, committed: int | None) -> None:
        if committed == 0:
            return  # nothing written
        if committed is None:  # a commit whose position could not be read after it
            try:
                committed = self.store.commit_position()
            except TrackwireError as e:
                log.warning("no commit position for the call: %s", e)
                return
        context.set_trailing_metadata(((POSITION_KEY, str(committed)),))

    def _wrap_unary(self, behavior, read_after):
        def wrapped(request, context):
            with call_positions(read_after) as positions:
                response = behavior(request, context)
            self._answer(context, positions.committed)
            return response

        return wrapped

    def _wrap_stream(self, behavior, read_after):
        def wrapped(request, context):
            with call_positions(read_after) as positions:
                yield from behavior(request, context)
            self._answer(context, positions.committed)

        return wrapped
