"""Calling the server: request ids, retries and errors, in one place.

`call` makes a unary call. A request with a `request_id` field (every mutating call of
trackwire.v1 but a few: trackwire_protocol.service_config.NOT_RETRIED) gets a fresh id
unless it has one, and keeps it through retries: the server applies it once however
often it arrives. So those calls and the reads are safe to retry, and `call` retries them
when the server answers UNAVAILABLE (unreachable, restarting, its database away) or
DEADLINE_EXCEEDED (rolled back past a per-attempt timeout), with backoff, for up to
`retry_seconds` ($TRACKWIRE_RETRY_SECONDS, 30 by default); the channel's own retry
policy has already tried other servers of a fleet by then. A call that is not safe to
repeat (NOT_RETRIED: SignIn, CreateApiToken, ...) is sent once: it waits (within that
budget) for a server to be reachable instead of failing at once, but is never sent
again after an error. Errors come out as `trackwire_protocol.errors` exceptions.
Streams are not retried here: the metric writer resends its own batches, and an
upload's chunks are consumed as they go.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator

import grpc

from trackwire_protocol import errors, service_config

RETRY_SECONDS_ENV = "TRACKWIRE_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 30.0
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


def retry_seconds() -> float:
    """How long a call keeps retrying: $TRACKWIRE_RETRY_SECONDS, else 30 s."""
    value = os.environ.get(RETRY_SECONDS_ENV, "")
    try:
        return max(0.0, float(value)) if value else DEFAULT_RETRY_SECONDS
    except ValueError:
        return DEFAULT_RETRY_SECONDS


def with_request_id(request):
    """Gives a mutating request a request id, unless it has one already."""
    if "request_id" in request.DESCRIPTOR.fields_by_name and not request.request_id:
        request.request_id = uuid.uuid4().hex
    return request


def call(method, request, *, timeout: float | None = None, retry_for: float | None = None):
    """The response of a unary call (see the module docstring); `timeout` bounds each
    attempt, `retry_for` the retries (None: `retry_seconds()`)."""
    with_request_id(request)
    budget = retry_seconds() if retry_for is None else retry_for
    if not service_config.is_retry_safe(request):
        return _send_once(method, request, timeout, budget)
    give_up = time.monotonic() + budget
    pause = 0.05
    while True:
        try:
            return method(request, timeout=timeout)
        except grpc.RpcError as e:
            if e.code() not in RETRYABLE or time.monotonic() + pause > give_up:
                raise errors.from_rpc_error(e) from None
        time.sleep(pause * random.uniform(0.5, 1.0))
        pause = min(pause * 2, 2.0)


def _send_once(method, request, timeout: float | None, budget: float):
    """One attempt; with a retry `budget`, made once a server is reachable (gRPC's
    wait_for_ready) within `timeout`, else within the budget."""
    wait = budget > 0
    if wait and timeout is None:
        timeout = budget
    try:
        return method(request, timeout=timeout, wait_for_ready=wait)
    except grpc.RpcError as e:
        raise errors.from_rpc_error(e) from None


def call_once(method, request):
    """A call that is not retried (a client stream, whose chunks cannot be sent twice)."""
    try:
        return method(request)
    except grpc.RpcError as e:
        raise errors.from_rpc_error(e) from None


def stream(method, request, *, timeout: float | None = None) -> Iterator:
    """The messages of a server stream; errors as `trackwire_protocol.errors` exceptions."""
    try:
        yield from method(request, timeout=timeout)
    except grpc.RpcError as e:
        raise errors.from_rpc_error(e) from None
