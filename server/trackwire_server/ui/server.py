"""Running the UI's ASGI app with uvicorn in a thread of the server process: over HTTPS
with the gRPC server's certificate when that serves TLS (and requiring client
certificates signed by its client CA when it does)."""

from __future__ import annotations

import logging
import socket
import ssl
import threading

import uvicorn

from trackwire_protocol.channel import Connection
from trackwire_server.tls import ServerTls
from trackwire_server.ui.backend import UI_CHANNEL_OPTIONS
from trackwire_server.ui.routes import create_app

DEFAULT_UI_HOST = "127.0.0.1"
DEFAULT_UI_PORT = 5000

log = logging.getLogger("trackwire.ui")


def _loopback_host(grpc_host: str) -> str:
    """Where the UI reaches the gRPC server: itself, over loopback when it listens everywhere."""
    if grpc_host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if grpc_host == "::":
        return "::1"
    return grpc_host


def _grpc_connection(grpc_host: str, grpc_port: int, tls: ServerTls | None) -> Connection:
    host = _loopback_host(grpc_host)
    target = f"[{host}]:{grpc_port}" if ":" in host else f"{host}:{grpc_port}"
    if tls is None:
        return Connection.open(target, UI_CHANNEL_OPTIONS)
    options = [*UI_CHANNEL_OPTIONS, *tls.loopback_options(host)]
    return Connection.open(target, options, credentials=tls.loopback_credentials)


class UiServer:
    """The web UI on host:port (0 picks a free port), talking gRPC to the server at
    grpc_host:grpc_port; over HTTPS when `tls` (the gRPC server's) is given."""

    def __init__(
        self,
        grpc_host: str,
        grpc_port: int,
        host: str = DEFAULT_UI_HOST,
        port: int = 0,
        tls: ServerTls | None = None,
    ):
        connection = _grpc_connection(grpc_host, grpc_port, tls)
        self.grpc_target = connection.target
        self.tls = tls
        self.app = create_app(connection, https=tls is not None)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.host = host
        self.port = self.socket.getsockname()[1]
        https = {}
        if tls is not None:
            # uvicorn (Python's ssl) reads the files itself, as it starts.
            https = {"ssl_certfile": tls.cert_path, "ssl_keyfile": tls.key_path}
            if tls.client_ca_path is not None:
                https["ssl_ca_certs"] = tls.client_ca_path
                https["ssl_cert_reqs"] = ssl.CERT_REQUIRED
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            timeout_graceful_shutdown=1,
            lifespan="off",
            # The client's own address, never an X-Forwarded-For header: failed sign-ins
            # are limited per address (behind a proxy, that is the proxy's).
            proxy_headers=False,
            **https,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="trackwire-ui", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{host}:{self.port}/"

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
