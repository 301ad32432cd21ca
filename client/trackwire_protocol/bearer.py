"""`authorization: Bearer <token>` on every call of a channel: a client interceptor.

A server with authentication (`trackwire server --auth`) wants the token on every call.
gRPC's call credentials would do it, but gRPC refuses them on a plaintext channel (a
loopback server without TLS is the common case), so an interceptor adds the metadata
instead, to unary and streaming calls alike.

The token is a secret: it is kept only inside the interceptor, and neither its repr nor
any error message shows it.
"""

from __future__ import annotations

import collections

import grpc

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


class _CallDetails(
    collections.namedtuple(
        "_CallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    pass


class BearerToken(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds `authorization: Bearer <token>` to each call's metadata."""

    __slots__ = ("_header",)

    def __init__(self, token: str):
        self._header = (AUTHORIZATION, f"{SCHEME} {check_token(token)}")

    def __repr__(self) -> str:
        return "BearerToken(<hidden>)"

    def _details(self, details: grpc.ClientCallDetails) -> _CallDetails:
        metadata = [m for m in (details.metadata or ()) if m[0] != AUTHORIZATION]
        metadata.append(self._header)
        return _CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return continuation(self._details(client_call_details), request_iterator)


def with_token(channel: grpc.Channel, token: str | None) -> grpc.Channel:
    """`channel`, sending `token` on every call (unchanged when `token` is None)."""
    if token is None:
        return channel
    return grpc.intercept_channel(channel, BearerToken(token))
