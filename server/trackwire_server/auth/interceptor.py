"""The one enforcement point: every call passes here before its servicer.

It finds the method's rule in `table.RULES` (a method without one is refused with
PERMISSION_DENIED, authentication on or off), checks the caller's token, and applies the
rule to the request (to each streamed message where the rule says so) in the thread that
serves the call. The caller is then available to the servicer (`access.current_caller`)
for the lists it filters and the resources it creates.
"""

from __future__ import annotations

import grpc

from trackwire_server.auth.access import (
    Access,
    OpenAccess,
    reset_current_caller,
    set_current_caller,
)
from trackwire_server.auth.rules import Check, Rule
from trackwire_server.auth.table import RULES
from trackwire_server.errors import PermissionDenied


def _refuse(method: str):
    def behavior(request, context):
        raise PermissionDenied(f"no access rule covers {method}: it is refused")

    return behavior


class AuthInterceptor(grpc.ServerInterceptor):
    def __init__(self, access: Access | OpenAccess, rules: dict[str, Rule] = RULES):
        self.access = access
        self.rules = rules

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        rule = self.rules.get(method)
        if rule is None:
            return _replace(handler, lambda behavior: _refuse(method))
        if not self.access.enabled or rule.open:
            return handler
        if handler.request_streaming:
            streams_out = handler.response_streaming
            return _replace(
                handler, lambda b: self._streamed_requests(b, method, rule, streams_out)
            )
        wrap = self._streamed_responses if handler.response_streaming else self._unary
        return _replace(handler, lambda behavior: wrap(behavior, method, rule))

    def _begin(self, context, method: str, rule: Rule, request=None):
        caller = self.access.authenticate(context.invocation_metadata())
        token = set_current_caller(caller)
        if request is not None:
            try:
                rule.check(Check(self.access, caller, method, request))
            except BaseException:
                reset_current_caller(token)
                raise
        return caller, token

    def _unary(self, behavior, method, rule):
        def wrapped(request, context):
            _caller, token = self._begin(context, method, rule, request)
            try:
                return behavior(request, context)
            finally:
                reset_current_caller(token)

        return wrapped

    def _streamed_responses(self, behavior, method, rule):
        def wrapped(request, context):
            _caller, token = self._begin(context, method, rule, request)
            try:
                yield from behavior(request, context)
            finally:
                reset_current_caller(token)

        return wrapped

    def _streamed_requests(self, behavior, method, rule, streams_out: bool):
        access = self.access

        def checked(requests, caller):
            first = True
            for request in requests:
                if first or rule.per_message:
                    if not first:  # a stream may last days: its token and teams may change
                        caller = access.refreshed(caller)
                    rule.check(Check(access, caller, method, request))
                    first = False
                yield request

        def call(requests, context):
            caller, token = self._begin(context, method, rule)
            try:
                return caller, token, behavior(checked(requests, caller), context)
            except BaseException:
                reset_current_caller(token)
                raise

        def wrapped_unary(requests, context):
            _caller, token, result = call(requests, context)
            reset_current_caller(token)
            return result

        def wrapped_stream(requests, context):
            _caller, token, results = call(requests, context)
            try:
                yield from results
            finally:
                reset_current_caller(token)

        return wrapped_stream if streams_out else wrapped_unary


def _replace(handler, wrap):
    """`handler` with its behavior wrapped by `wrap(behavior)`."""
    if handler.unary_unary:
        return handler._replace(unary_unary=wrap(handler.unary_unary))
    if handler.unary_stream:
        return handler._replace(unary_stream=wrap(handler.unary_stream))
    if handler.stream_unary:
        return handler._replace(stream_unary=wrap(handler.stream_unary))
    return handler._replace(stream_stream=wrap(handler.stream_stream))
