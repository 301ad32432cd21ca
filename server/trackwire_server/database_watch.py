"""The server's health follows its database, checked from a thread of its own.

Every `interval` seconds the database is asked `SELECT 1` (on a connection of the
server's pool, replaced when it broke; when all are in use, the calls using them tell
and the status stays): while it does not answer, the health service says
NOT_SERVING for the server and every service, and SERVING again once it does, so a load
balancer or orchestrator stops sending calls that can only fail. The same thread trims
the request log (client request ids older than its retention) now and then.
"""

from __future__ import annotations

import logging
import threading
import time

from grpc_health.v1 import health, health_pb2

from trackwire_server.errors import TrackwireError
from trackwire_server.store import Store

log = logging.getLogger("trackwire.server")

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class DatabaseWatch:
    def __init__(
        self,
        store: Store,
        health_servicer: health.HealthServicer,
        service_names: tuple[str, ...],
        interval: float = 0.5,
        trim_interval: float = 600.0,
    ):
        self.store = store
        self.health = health_servicer
        self.service_names = ("", *service_names)
        self.interval = interval
        self.trim_interval = trim_interval
        self.reachable: bool | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trackwire-db-watch", daemon=True)

    def start(self) -> DatabaseWatch:
        self._check()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _check(self) -> None:
        reachable = self.store.ping()
        if reachable is None or reachable == self.reachable:  # None: every connection busy
            return
        if reachable:
            if self.reachable is not None:
                log.warning("the database answers again: health SERVING")
        else:
            log.warning("the database cannot be reached: health NOT_SERVING until it answers")
        self.reachable = reachable
        for name in self.service_names:
            self.health.set(name, SERVING if reachable else NOT_SERVING)

    def _run(self) -> None:
        next_trim = time.monotonic() + self.trim_interval
        while not self._stop.wait(self.interval):
            self._check()
            if self.reachable and time.monotonic() >= next_trim:
                next_trim = time.monotonic() + self.trim_interval
                try:
                    trimmed = self.store.request_log.trim()
                    if trimmed:
                        log.info("request log: %d expired request ids trimmed", trimmed)
                except TrackwireError as e:  # a read-only database keeps its log
                    log.info("request log not trimmed: %s", e.message)
