"""Where the client talks to: tracking URIs, channels and the embedded server.

A tracking URI is one of:
- `grpc://host:port` or `host:port`: a running Trackwire server;
- a database URL (`sqlite:///path.db`, `postgresql://...`, `mysql://...`): an
  embedded server started in this process over that database, with artifacts in
  $TRACKWIRE_ARTIFACTS or ./trackwire-artifacts;
- empty (the default): the embedded server over ./trackwire.db and
  ./trackwire-artifacts, the same files `trackwire server` uses in that folder.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import grpc

from trackwire import wire
from trackwire.v1 import (
    artifact_service_pb2,
    artifact_service_pb2_grpc,
    model_registry_service_pb2_grpc,
    tracking_service_pb2,
    tracking_service_pb2_grpc,
)

TRACKING_URI_ENV = "TRACKWIRE_TRACKING_URI"
ARTIFACTS_ENV = "TRACKWIRE_ARTIFACTS"
ARTIFACTS_ALLOW_ENV = "TRACKWIRE_ARTIFACTS_ALLOW"
DEFAULT_EMBEDDED_DB = "sqlite:///trackwire.db"
DEFAULT_EMBEDDED_ARTIFACTS = "./trackwire-artifacts"
_DB_SCHEMES = ("sqlite:", "postgresql:", "postgres:", "mysql:")
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 0),
]


def is_embedded(uri: str) -> bool:
    return not uri or uri.startswith(_DB_SCHEMES)


def grpc_target(uri: str) -> str:
    for prefix in ("grpc://", "dns:///"):
        if uri.startswith(prefix):
            return uri[len(prefix) :].rstrip("/")
    if "://" in uri:
        raise ValueError(
            f"tracking URI '{uri}' is neither grpc://host:port nor a database URL "
            "(sqlite:///, postgresql://, mysql://)"
        )
    return uri


@dataclass
class Connection:
    """A channel to one server and its stubs, shared by every client of that URI."""

    target: str
    channel: grpc.Channel
    tracking: tracking_service_pb2_grpc.TrackingServiceStub = field(init=False)
    artifacts: artifact_service_pb2_grpc.ArtifactServiceStub = field(init=False)
    registry: model_registry_service_pb2_grpc.ModelRegistryServiceStub = field(init=False)
    # UploadArtifact and DownloadArtifact with their chunks encoded by trackwire.wire
    upload: grpc.StreamUnaryMultiCallable = field(init=False)
    download: grpc.UnaryStreamMultiCallable = field(init=False)
    _info: tracking_service_pb2.GetServerInfoResponse | None = field(default=None, init=False)

    def __post_init__(self):
        self.tracking = tracking_service_pb2_grpc.TrackingServiceStub(self.channel)
        self.artifacts = artifact_service_pb2_grpc.ArtifactServiceStub(self.channel)
        self.registry = model_registry_service_pb2_grpc.ModelRegistryServiceStub(self.channel)
        self.upload = self.channel.stream_unary(
            wire.UPLOAD_METHOD,
            request_serializer=wire.passthrough,
            response_deserializer=artifact_service_pb2.UploadArtifactResponse.FromString,
            _registered_method=True,
        )
        self.download = self.channel.unary_stream(
            wire.DOWNLOAD_METHOD,
            request_serializer=artifact_service_pb2.DownloadArtifactRequest.SerializeToString,
            response_deserializer=wire.decode_download_response,
            _registered_method=True,
        )

    @property
    def info(self) -> tracking_service_pb2.GetServerInfoResponse:
        """The server's version and limits, asked once per connection."""
        if self._info is None:
            self._info = self.tracking.GetServerInfo(tracking_service_pb2.GetServerInfoRequest())
        return self._info

    @property
    def limits(self) -> tracking_service_pb2.ServerLimits:
        """The server's limits, asked once per connection."""
        return self.info.limits


class _Registry:
    """Process-wide cache of connections and embedded servers, keyed by tracking URI."""

    def __init__(self):
        self._lock = threading.Lock()
        self._connections: dict[str, Connection] = {}
        self._embedded: dict[str, object] = {}

    def connect(self, uri: str) -> Connection:
        with self._lock:
            connection = self._connections.get(uri)
            if connection is None:
                target = self._start_embedded(uri) if is_embedded(uri) else grpc_target(uri)
                channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
                connection = self._connections[uri] = Connection(target, channel)
            return connection

    def _start_embedded(self, uri: str) -> str:
        # Imported here: a client of a remote server never loads the server code.
        from trackwire_server.app import create_server
        from trackwire_server.config import ServerConfig

        config = ServerConfig(
            db_url=uri,
            artifacts=os.environ.get(ARTIFACTS_ENV, DEFAULT_EMBEDDED_ARTIFACTS),
            artifacts_allow=tuple(os.environ.get(ARTIFACTS_ALLOW_ENV, "").split()),
            host="127.0.0.1",
            port=0,
            workers=16,
        )
        server, port = create_server(config)
        server.start()
        self._embedded[uri] = server
        return f"127.0.0.1:{port}"

    def close_all(self) -> None:
        """Closes every channel, then stops the embedded servers."""
        with self._lock:
            for connection in self._connections.values():
                connection.channel.close()
            self._connections.clear()
            for server in self._embedded.values():
                server.stop(grace=1.0)
            self._embedded.clear()


registry = _Registry()


def resolve_tracking_uri(explicit: str | None = None) -> str:
    """The explicit URI, else $TRACKWIRE_TRACKING_URI, else the embedded default database."""
    uri = explicit if explicit is not None else os.environ.get(TRACKING_URI_ENV, "")
    return uri or DEFAULT_EMBEDDED_DB
