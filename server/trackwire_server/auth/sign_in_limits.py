"""Failed sign-ins, counted per source address: after `max_failures` within `window`
seconds, that address's sign-ins are refused (RESOURCE_EXHAUSTED) until the window has
passed, whatever the password. Counts live in this process.

The source of a call is its gRPC peer, except for the sign-ins the web UI relays: the
UI runs in this process and its gRPC peer is itself, so it names the browser's address
in `UI_CLIENT_ADDRESS` metadata together with `UI_RELAY_SECRET`, a random secret of this
process that never leaves it (the UI sends it over its own channel to this server). The
address is believed only with that secret: any other caller is counted by its peer.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque

from trackwire_server.errors import ResourceExhausted


def source_address(peer: str) -> str:
    """`ipv4:1.2.3.4:5678` → `1.2.3.4`; `ipv6:[::1]:5678` → `::1` (the port varies)."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rpartition("]")[0].lstrip("[")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    return peer


# Metadata of a sign-in relayed by this process's web UI (see the module docstring).
UI_CLIENT_ADDRESS = "trackwire-ui-client-address"
UI_RELAY_KEY = "trackwire-ui-relay-secret"
UI_RELAY_SECRET = secrets.token_urlsafe(32)


def ui_relay_metadata(client_address: str | None) -> tuple[tuple[str, str], ...]:
    """What the web UI sends with a sign-in it relays for a browser at `client_address`."""
    if not client_address:
        return ()
    return ((UI_CLIENT_ADDRESS, client_address[:64]), (UI_RELAY_KEY, UI_RELAY_SECRET))


def sign_in_source(context) -> str:
    """The address a sign-in is counted against: the browser's when this process's web UI
    relays it (with the secret), else the call's peer."""
    metadata = dict(context.invocation_metadata() or ())
    relayed = metadata.get(UI_CLIENT_ADDRESS)
    key = metadata.get(UI_RELAY_KEY)
    if relayed and isinstance(key, str) and hmac.compare_digest(key, UI_RELAY_SECRET):
        return relayed
    return context.peer()


class SignInLimits:
    def __init__(self, max_failures: int = 5, window: float = 60.0, clock=time.monotonic):
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque:
        failures = self._failures.setdefault(address, deque())
        while failures and now - failures[0] > self.window:
            failures.popleft()
        return failures

    def check(self, peer: str) -> None:
        address = source_address(peer)
        with self._lock:
            failures = self._recent(address, self.clock())
            if len(failures) >= self.max_failures:
                wait = self.window - (self.clock() - failures[0])
                raise ResourceExhausted(
                    f"too many failed sign-ins from this address: try again in {wait:.0f} s"
                )

    def failed(self, peer: str) -> None:
        address = source_address(peer)
        with self._lock:
            now = self.clock()
            self._recent(address, now).append(now)
            if len(self._failures) > 100_000:  # a flood of addresses: forget the oldest
                self._failures.pop(next(iter(self._failures)))

    def succeeded(self, peer: str) -> None:
        with self._lock:
            self._failures.pop(source_address(peer), None)
