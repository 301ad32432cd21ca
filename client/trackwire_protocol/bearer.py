"""`authorization: Bearer <token>` on every call of a channel.

A server with authentication (`trackwire server --auth`) wants the token on every call.
gRPC's call credentials would do it, but gRPC refuses them on a plaintext channel (a
loopback server without TLS is the common case), so a thin wrapper of the channel
(`BearerChannel`) adds the header to each call's own metadata instead, unary and streaming
calls alike.

The token is a secret: it is kept only inside the wrapper, and neither its repr nor any
error message shows it.
"""

from __future__ import annotations

import grpc

from trackwire_protocol.wrapped_channel import WrappedChannel

AUTHORIZATION = "authorization"
SCHEME = "Bearer"


def check_token(token: object) -> str:
    """`token` if it can travel as a header value; ValueError (without the token in its
    message) otherwise."""
    if not isinstance(token, str) or not token:
        raise ValueError("token: must be a non-empty string")
    if not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        raise ValueError(
            "token: must be printable ASCII without spaces (the value is not shown: it is a secret)"
        )
    return token


class _Authorized:
    """A multi-callable that adds the token's header to each call's metadata."""

    __slots__ = ("_callable", "_header")

    def __init__(self, multicallable, header: tuple[str, str]):
        self._callable = multicallable
        self._header = header

    def __repr__(self) -> str:
        return f"_Authorized({self._callable!r}, <hidden>)"

    def _metadata(self, metadata):
        if not metadata:
            return (self._header,)
        return (*(m for m in metadata if m[0] != AUTHORIZATION), self._header)

    def __call__(self, request, *args, metadata=None, **kwargs):
        return self._callable(request, *args, metadata=self._metadata(metadata), **kwargs)

    def with_call(self, request, *args, metadata=None, **kwargs):
        return self._callable.with_call(request, *args, metadata=self._metadata(metadata), **kwargs)

    def future(self, request, *args, metadata=None, **kwargs):
        return self._callable.future(request, *args, metadata=self._metadata(metadata), **kwargs)


class BearerChannel(WrappedChannel):
    """`channel`, whose calls carry `authorization: Bearer <token>`.

    Each multi-callable is wrapped so that the header is added to the call's own metadata:
    one Python call more per RPC, where a gRPC client interceptor (grpc.intercept_channel)
    costs tens of microseconds per call, ~5% of a 1,000-point LogBatch (bench/auth.py)."""

    def __init__(self, channel: grpc.Channel, token: str):
        super().__init__(channel)
        self._header = (AUTHORIZATION, f"{SCHEME} {check_token(token)}")

    def __repr__(self) -> str:
        return f"BearerChannel({self._channel!r}, <hidden>)"

    def unary_unary(self, *args, **kwargs):
        return _Authorized(self._channel.unary_unary(*args, **kwargs), self._header)

    def unary_stream(self, *args, **kwargs):
        return _Authorized(self._channel.unary_stream(*args, **kwargs), self._header)

    def stream_unary(self, *args, **kwargs):
        return _Authorized(self._channel.stream_unary(*args, **kwargs), self._header)

    def stream_stream(self, *args, **kwargs):
        return _Authorized(self._channel.stream_stream(*args, **kwargs), self._header)


def with_token(channel: grpc.Channel, token: str | None) -> grpc.Channel:
    """`channel`, sending `token` on every call (unchanged when `token` is None)."""
    if token is None:
        return channel
    return BearerChannel(channel, token)
