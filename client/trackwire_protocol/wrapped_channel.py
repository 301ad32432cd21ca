"""A channel that wraps another and hands its calls on: what `bearer.BearerChannel` and
`positions.PositionChannel` share. A subclass wraps the four multi-callable factories
(`unary_unary`, `unary_stream`, `stream_unary`, `stream_stream`); connectivity and closing
go to the wrapped channel as they are."""

from __future__ import annotations

import grpc


class WrappedChannel(grpc.Channel):
    """`channel`, with the calls a subclass wraps."""

    def __init__(self, channel: grpc.Channel):
        self._channel = channel

    def subscribe(self, callback, try_to_connect=False):
        self._channel.subscribe(callback, try_to_connect=try_to_connect)

    def unsubscribe(self, callback):
        self._channel.unsubscribe(callback)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self._channel.close()
        return False
