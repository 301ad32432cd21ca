"""Failed sign-ins, counted per source address: after `max_failures` within `window`
seconds, that address's sign-ins are refused (RESOURCE_EXHAUSTED) until the window has
passed, whatever the password. Counts live in this process."""

from __future__ import annotations

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
