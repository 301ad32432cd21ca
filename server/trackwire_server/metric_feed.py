"""The live metric feed: committed metric points, fanned out to WatchMetrics streams.

The store calls `MetricFeed.publish` after each commit that stored points (it is
one of `Store.metric_listeners`), and so does `database_feed` for the points other
servers on the same database committed; each watcher has a bounded queue of
its own, so a slow watcher never holds up a writer: when its queue is full it
is told it overflowed and should re-read the histories.

With other servers on the same database, `across` (a `database_feed.WatchRegistry`)
records the runs watched here in the database, so that writes through the other
servers announce their points: `subscribe` returns once that is committed.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

# Messages a watcher may have waiting before it is told it overflowed.
MAX_PENDING = 10_000


@dataclass(frozen=True)
class MetricUpdate:
    """New points of one metric of one run; or, with `overflowed`, a gap."""

    run_id: str
    key: str
    steps: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    values: np.ndarray | None = None
    overflowed: bool = False


_CLOSED = object()


class Subscription:
    """One watcher's queue of updates for some runs (and optionally some keys)."""

    def __init__(self, feed: MetricFeed, run_ids: frozenset[str], keys: frozenset[str]):
        self.feed = feed
        self.run_ids = run_ids
        self.keys = keys
        self._queue: queue.Queue = queue.Queue(MAX_PENDING)
        self._overflowed = False
        self.closed = False

    def offer(self, update: MetricUpdate) -> None:
        if self._overflowed:
            return
        try:
            self._queue.put_nowait(update)
        except queue.Full:
            self.missed()

    def missed(self) -> None:
        """Tells the watcher it may have missed points (it should re-read the
        histories): what is waiting is dropped and the `overflowed` notice queued."""
        if self._overflowed:
            return
        self._overflowed = True
        # Make room for the notice: the watcher re-reads anyway.
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(MetricUpdate(run_id="", key="", overflowed=True))

    def get(self, timeout: float) -> MetricUpdate | None:
        """The next update; None after `timeout` seconds without one or once closed."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _CLOSED:
            self.closed = True
            return None
        if item.overflowed:
            self._overflowed = False
        return item

    def end(self) -> None:
        """Wakes a reader blocked in get(), which then finds the subscription closed and
        closes it. No database work: safe on gRPC's thread that runs a call's callbacks."""
        self.closed = True
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_CLOSED)

    def close(self) -> None:
        """Unsubscribes (with the other servers too: a database call, which may wait) and
        wakes a reader blocked in get()."""
        self.feed.unsubscribe(self)
        self.end()


class MetricFeed:
    """Subscriptions by run id; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_run: dict[str, set[Subscription]] = {}
        self._closed = False
        # The registry of the runs watched here, for the other servers (None: no others).
        self.across = None
        # Subscriptions registered with `across` and not yet released.
        self._registered: set[Subscription] = set()

    def subscribe(self, run_ids: Iterable[str], keys: Iterable[str] = ()) -> Subscription:
        """A new subscription; once it returns, every point committed (through any server)
        is handed to it. Raises the store's error when the registration for the other
        servers fails (nothing is then subscribed)."""
        subscription = Subscription(self, frozenset(run_ids), frozenset(keys))
        with self._lock:
            if self._closed:
                subscription.closed = True
                return subscription
            for run_id in subscription.run_ids:
                self._by_run.setdefault(run_id, set()).add(subscription)
        across = self.across
        if across is not None:
            try:
                across.acquire(subscription.run_ids)
            except BaseException:
                self.unsubscribe(subscription)
                raise
            with self._lock:
                self._registered.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            for run_id in subscription.run_ids:
                watchers = self._by_run.get(run_id)
                if watchers is not None:
                    watchers.discard(subscription)
                    if not watchers:
                        del self._by_run[run_id]
            registered = subscription in self._registered
            self._registered.discard(subscription)
        if registered and self.across is not None:
            self.across.release(subscription.run_ids)

    def publish(self, written: dict[str, dict[str, tuple]]) -> None:
        """Hands each watcher of a run the points just committed for it."""
        if not self._by_run:  # nobody watches: every metric commit passes here
            return
        with self._lock:
            targets = [(run_id, list(self._by_run.get(run_id, ()))) for run_id in written]
        for run_id, watchers in targets:
            if not watchers:
                continue
            for key, (steps, timestamps, values) in written[run_id].items():
                update = MetricUpdate(run_id, key, steps, timestamps, values)
                for watcher in watchers:
                    if not watcher.keys or key in watcher.keys:
                        watcher.offer(update)

    def watched_runs(self) -> frozenset[str]:
        """The runs someone watches now."""
        if not self._by_run:
            return frozenset()
        with self._lock:
            return frozenset(self._by_run)

    def tell_missed(self) -> int:
        """Tells every watcher it may have missed points (the server lost its feed from
        the other servers for a while); returns how many were told."""
        with self._lock:
            watchers = {w for ws in self._by_run.values() for w in ws}
        for watcher in watchers:
            watcher.missed()
        return len(watchers)

    def close(self) -> None:
        """Ends every subscription (the server is stopping)."""
        with self._lock:
            self._closed = True
            watchers = {w for ws in self._by_run.values() for w in ws}
        for watcher in watchers:
            watcher.close()
