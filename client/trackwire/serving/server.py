"""Runs the scoring server: the HTTP app under uvicorn and PredictionService over gRPC.

With one worker, the model is loaded in this process before the ports open. With
`workers` > 1, uvicorn starts that many processes; each loads the model (from the local
model cache this process filled), serves HTTP on the shared port and gRPC on the shared
gRPC port (SO_REUSEPORT), and runs its own --watch. SIGTERM or Ctrl-C stops taking
connections, lets requests in flight finish (up to `graceful_seconds`), then exits.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os

from trackwire.serving.http_app import DEFAULT_MAX_BODY_BYTES, ScoringApp
from trackwire.serving.served_model import ServedModel

log = logging.getLogger("trackwire.serving")

CONFIG_ENV = "TRACKWIRE_SERVING_OPTIONS"


@dataclasses.dataclass
class ServeOptions:
    model_uri: str
    tracking_uri: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    grpc_port: int | None = None  # None: port + 1; -1: no gRPC
    workers: int = 1
    watch: bool = False
    watch_interval: float = 10.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    graceful_seconds: float = 30.0
    access_log: bool = False

    @property
    def grpc_port_resolved(self) -> int | None:
        if self.grpc_port == -1:
            return None
        return self.port + 1 if self.grpc_port is None else self.grpc_port


class _Lifecycle:
    """What starts with the HTTP app and stops with it: the gRPC server and the watch."""

    def __init__(self, options: ServeOptions):
        self.options = options
        self.grpc_server = None

    def start(self, served: ServedModel) -> None:
        options = self.options
        grpc_port = options.grpc_port_resolved
        if grpc_port is not None:
            from trackwire.serving.grpc_service import start_grpc_server

            self.grpc_server, bound = start_grpc_server(
                served, options.host, grpc_port, options.max_body_bytes
            )
            log.info("PredictionService (gRPC) on %s:%d", options.host, bound)
        if options.watch:
            served.watch(options.watch_interval)
            log.info("watching %s every %gs", options.model_uri, options.watch_interval)

    def stop(self, served: ServedModel) -> None:
        served.close()
        if self.grpc_server is not None:
            self.grpc_server.stop(self.options.graceful_seconds).wait()


def build_app(options: ServeOptions, served: ServedModel | None = None) -> ScoringApp:
    lifecycle = _Lifecycle(options)
    return ScoringApp(
        served or (lambda: ServedModel(options.model_uri, options.tracking_uri)),
        max_body_bytes=options.max_body_bytes,
        on_startup=lifecycle.start,
        on_shutdown=lifecycle.stop,
    )


def app_from_environment() -> ScoringApp:
    """The app of a uvicorn worker process (options in $TRACKWIRE_SERVING_OPTIONS)."""
    return build_app(ServeOptions(**json.loads(os.environ[CONFIG_ENV])))


def _uvicorn_settings(options: ServeOptions) -> dict:
    import importlib.util

    fast = importlib.util.find_spec("uvloop") and importlib.util.find_spec("httptools")
    return {
        "host": options.host,
        "port": options.port,
        "loop": "uvloop" if fast else "asyncio",
        "http": "httptools" if fast else "h11",
        "lifespan": "on",
        "access_log": options.access_log,
        "log_level": "info",
        "timeout_graceful_shutdown": int(options.graceful_seconds),
        "server_header": False,
        "date_header": False,
    }


def _exit_cleanly_after_shutdown() -> None:
    """uvicorn re-raises SIGTERM / SIGINT once it has shut down gracefully; exit 0 then,
    as a server that stopped when asked."""
    import signal
    import sys

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: sys.exit(0))


def serve(options: ServeOptions) -> None:
    import uvicorn

    from trackwire import fluent

    if options.tracking_uri:
        fluent.set_tracking_uri(options.tracking_uri)
    _exit_cleanly_after_shutdown()
    if options.workers <= 1:
        served = ServedModel(options.model_uri, options.tracking_uri)
        uvicorn.run(build_app(options, served), **_uvicorn_settings(options))
        return
    # Fill the model cache once (and fail here, not in N workers, on a bad URI).
    from trackwire.models.download import download_model
    from trackwire.serving.served_model import resolve

    download_model(
        resolve(options.model_uri, options.tracking_uri), tracking_uri=options.tracking_uri
    )
    os.environ[CONFIG_ENV] = json.dumps(dataclasses.asdict(options))
    uvicorn.run(
        "trackwire.serving.server:app_from_environment",
        factory=True,
        workers=options.workers,
        **_uvicorn_settings(options),
    )
