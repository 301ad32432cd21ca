"""Unary calls bound by their deadline, and mutating calls applied once per request id.

Every unary call runs inside `unit_of_work.call_deadline`: its units of work roll back
instead of committing once the caller's deadline has passed. A unary call whose request
has a non-empty `request_id` (every mutating call of trackwire.v1 has the field) runs as
one unit of work with the record of its id (`store.request_log`): a retry of a call that
was applied gets the first call's response, serialized as it was, and changes nothing.
"""

from __future__ import annotations

import hashlib

import grpc

from trackwire_server.auth.access import current_caller
from trackwire_server.store.request_log import RequestLog
from trackwire_server.store.unit_of_work import call_deadline


def fingerprint(method: str, request, caller: str = "") -> str:
    """What tells a retry of a request from another request sent with the same id: with
    authentication on, the same request from another user is another request (its first
    response may show what they may not read)."""
    digest = hashlib.blake2b(method.encode(), digest_size=16)
    digest.update(b"\0")
    if caller:
        digest.update(caller.encode())
        digest.update(b"\0")
    digest.update(request.SerializeToString(deterministic=True))
    return digest.hexdigest()


class IdempotencyInterceptor(grpc.ServerInterceptor):
    """See the module docstring. Streaming calls pass through untouched."""

    def __init__(self, request_log: RequestLog):
        self.request_log = request_log
        self._takes_request_id: dict[str, bool] = {}  # per method, from its first request

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        behavior = handler.unary_unary
        serialize = handler.response_serializer
        method = handler_call_details.method
        request_log = self.request_log
        takes_request_id = self._takes_request_id

        def wrapped(request, context):
            with call_deadline(context.time_remaining()):
                takes = takes_request_id.get(method)
                if takes is None and hasattr(request, "DESCRIPTOR"):
                    takes = takes_request_id[method] = (
                        "request_id" in request.DESCRIPTOR.fields_by_name
                    )
                # (An oversized request arrives unparsed, and is refused inside.)
                request_id = getattr(request, "request_id", "") if takes else ""
                if not request_id:
                    return behavior(request, context)
                return request_log.run_once(
                    request_id,
                    fingerprint(method, request, _caller_key()),
                    lambda: serialize(behavior(request, context)),
                )

        def serialize_once(response) -> bytes:
            # A request-id call's response comes serialized already (recorded, or made
            # in the unit of work that recorded it).
            return response if type(response) is bytes else serialize(response)

        return handler._replace(unary_unary=wrapped, response_serializer=serialize_once)


def _caller_key() -> str:
    caller = current_caller()
    return "" if caller is None else f"user:{caller.user_id}"
