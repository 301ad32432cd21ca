"""Running the UI's ASGI app with uvicorn in a thread of the server process."""

from __future__ import annotations

import logging
import socket
import threading

import uvicorn

from trackwire_server.ui.routes import create_app

DEFAULT_UI_HOST = "127.0.0.1"
DEFAULT_UI_PORT = 5000

log = logging.getLogger("trackwire.ui")


def _loopback_target(grpc_host: str, grpc_port: int) -> str:
    """Where the UI reaches the gRPC server: itself, over loopback when it listens everywhere."""
    if grpc_host in ("", "0.0.0.0"):
        return f"127.0.0.1:{grpc_port}"
    if grpc_host == "::":
        return f"[::1]:{grpc_port}"
    return f"[{grpc_host}]:{grpc_port}" if ":" in grpc_host else f"{grpc_host}:{grpc_port}"


class UiServer:
    """The web UI on host:port (0 picks a free port), talking gRPC to `grpc_target`."""

    def __init__(self, grpc_host: str, grpc_port: int, host: str = DEFAULT_UI_HOST, port: int = 0):
        self.grpc_target = _loopback_target(grpc_host, grpc_port)
        self.app = create_app(self.grpc_target)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.host = host
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            timeout_graceful_shutdown=1,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="trackwire-ui", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def _run(self) -> None:
        self._server.run(sockets=[self.socket])

    def start(self) -> UiServer:
        self._thread.start()
        for _ in range(500):
            if self._server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not self._server.started:
            raise OSError(f"the web UI did not start on {self.url}")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(5)
        self.app.state.close()
        self.socket.close()
