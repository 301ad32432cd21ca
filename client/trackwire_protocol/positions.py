"""Commit positions: a client reads what it wrote, also from a server reading on a replica.

A server with a read replica (`trackwire server --db-read-url`) answers each call that
wrote with `trackwire-commit-position: <n>` in its trailing metadata: the primary
database's position past that write. The connection keeps the highest one it was
answered (`CommitPositions`) and sends it, as the same metadata key, with every later
call; the server reads on the replica only once the replica has replayed that far, else
on the primary. While a client-streaming call (a metric stream, an upload) is open, its
commits' positions are not known yet (they come with its end), so calls send `primary`
instead; after one that failed (its commits' positions never come), until the next write
answers a position. Without a replica the server sends no positions and the client none
either.

As in `bearer`, a thin wrapper of the channel's multi-callables does it (a gRPC client
interceptor costs tens of microseconds per call).
"""

from __future__ import annotations

import threading

import grpc

from trackwire_protocol.wrapped_channel import WrappedChannel

POSITION_KEY = "trackwire-commit-position"


class CommitPositions:
    """The highest commit position a connection was answered, and its write streams open
    now; `header` is what its calls send (None: nothing)."""

    __slots__ = ("_lock", "header", "highest", "open_writes", "unknown")

    def __init__(self):
        self._lock = threading.Lock()
        self.highest = 0
        self.open_writes = 0
        # A write stream failed: what it committed has no known position, until a later
        # write answers one (past it).
        self.unknown = False
        self.header: tuple[str, str] | None = None

    def note(self, trailing_metadata) -> bool:
        """Takes the position a finished call was answered with; whether there was one."""
        for key, value in trailing_metadata or ():
            if key == POSITION_KEY:
                if not value.isdigit():
                    return False
                with self._lock:
                    self.highest = max(self.highest, int(value))
                    self.unknown = False
                    self._update()
                return True
        return False

    def stream_opened(self) -> None:
        with self._lock:
            self.open_writes += 1
            self._update()

    def stream_ended(self, call) -> None:
        """A client-streaming call ended (`call`: its rendezvous or RpcError; None if it
        never started). Ended OK without a position, it committed nothing."""
        try:
            trailing, ok = call.trailing_metadata(), call.code() == grpc.StatusCode.OK
        except Exception:
            trailing, ok = None, False
        known = self.note(trailing)
        with self._lock:
            self.open_writes -= 1
            if not known and not ok:
                self.unknown = True
            self._update()

    def _update(self) -> None:
        if self.open_writes or self.unknown:
            self.header = (POSITION_KEY, "primary")
        elif self.highest:
            self.header = (POSITION_KEY, str(self.highest))
        else:
            self.header = None


def _with_position(metadata, header):
    if header is None:
        return metadata
    if not metadata:
        return (header,)
    return (*(m for m in metadata if m[0] != POSITION_KEY), header)


class _Unary:
    """A unary-request multi-callable (unary-unary): sends the position, takes the answer's."""

    __slots__ = ("_callable", "_positions")

    def __init__(self, multicallable, positions: CommitPositions):
        self._callable = multicallable
        self._positions = positions

    def __call__(self, request, *args, metadata=None, **kwargs):
        positions = self._positions
        response, call = self._callable.with_call(
            request, *args, metadata=_with_position(metadata, positions.header), **kwargs
        )
        trailing = call.trailing_metadata()
        if trailing:
            positions.note(trailing)
        return response

    def with_call(self, request, *args, metadata=None, **kwargs):
        positions = self._positions
        response, call = self._callable.with_call(
            request, *args, metadata=_with_position(metadata, positions.header), **kwargs
        )
        positions.note(call.trailing_metadata())
        return response, call

    def future(self, request, *args, metadata=None, **kwargs):
        positions = self._positions
        future = self._callable.future(
            request, *args, metadata=_with_position(metadata, positions.header), **kwargs
        )
        future.add_done_callback(lambda call: positions.note(call.trailing_metadata()))
        return future


class _Reading:
    """A server-streaming multi-callable (reads, watches, downloads): sends the position."""

    __slots__ = ("_callable", "_positions")

    def __init__(self, multicallable, positions: CommitPositions):
        self._callable = multicallable
        self._positions = positions

    def __call__(self, request, *args, metadata=None, **kwargs):
        header = self._positions.header
        return self._callable(request, *args, metadata=_with_position(metadata, header), **kwargs)


class _Writing:
    """A client-streaming multi-callable (metric streams, uploads): `primary` is sent by
    the connection's calls while it is open, its answer's position is taken at its end."""

    __slots__ = ("_callable", "_positions", "_unary_response")

    def __init__(self, multicallable, positions: CommitPositions, unary_response: bool):
        self._callable = multicallable
        self._positions = positions
        self._unary_response = unary_response

    def __call__(self, request_iterator, *args, metadata=None, **kwargs):
        positions = self._positions
        metadata = _with_position(metadata, positions.header)
        if self._unary_response:
            positions.stream_opened()
            call = None
            try:
                response, call = self._callable.with_call(
                    request_iterator, *args, metadata=metadata, **kwargs
                )
                return response
            except grpc.RpcError as e:
                call = e
                raise
            finally:
                positions.stream_ended(call)
        call = self._callable(request_iterator, *args, metadata=metadata, **kwargs)
        positions.stream_opened()
        call.add_done_callback(positions.stream_ended)
        return call

    def with_call(self, request_iterator, *args, metadata=None, **kwargs):
        positions = self._positions
        positions.stream_opened()
        call = None
        try:
            response, call = self._callable.with_call(
                request_iterator,
                *args,
                metadata=_with_position(metadata, positions.header),
                **kwargs,
            )
            return response, call
        except grpc.RpcError as e:
            call = e
            raise
        finally:
            positions.stream_ended(call)

    def future(self, request_iterator, *args, metadata=None, **kwargs):
        positions = self._positions
        future = self._callable.future(
            request_iterator,
            *args,
            metadata=_with_position(metadata, positions.header),
            **kwargs,
        )
        positions.stream_opened()
        future.add_done_callback(positions.stream_ended)
        return future


class PositionChannel(WrappedChannel):
    """`channel`, whose calls carry the connection's commit position (see the module
    docstring); `positions` is what it keeps."""

    def __init__(self, channel: grpc.Channel):
        super().__init__(channel)
        self.positions = CommitPositions()

    def __repr__(self) -> str:
        return f"PositionChannel({self._channel!r})"

    def unary_unary(self, *args, **kwargs):
        return _Unary(self._channel.unary_unary(*args, **kwargs), self.positions)

    def unary_stream(self, *args, **kwargs):
        return _Reading(self._channel.unary_stream(*args, **kwargs), self.positions)

    def stream_unary(self, *args, **kwargs):
        return _Writing(self._channel.stream_unary(*args, **kwargs), self.positions, True)

    def stream_stream(self, *args, **kwargs):
        return _Writing(self._channel.stream_stream(*args, **kwargs), self.positions, False)
