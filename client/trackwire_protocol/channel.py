"""A channel to a server (or to a fleet of them) with its stubs: what every caller of the
services holds. Every channel has the service config of trackwire_protocol.service_config:
calls spread round-robin over the target's addresses, and gRPC retries the calls that are
safe to repeat on UNAVAILABLE."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc

from trackwire.v1 import (
    artifact_service_pb2,
    artifact_service_pb2_grpc,
    auth_service_pb2_grpc,
    model_registry_service_pb2_grpc,
    tracking_service_pb2,
    tracking_service_pb2_grpc,
)
from trackwire_protocol import service_config, wire
from trackwire_protocol.bearer import with_token
from trackwire_protocol.positions import CommitPositions, PositionChannel

MAX_MESSAGE_BYTES = 64 * 1024 * 1024

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 0),
    # Each channel its own connections: gRPC otherwise shares them between the channels
    # of a process that name the same address, and a new client inherited the failure
    # and reconnection backoff of an older one to a server that had since died, so its
    # first calls failed at once with UNAVAILABLE although a new server was listening
    # there (tests/test_balancing.py).
    ("grpc.use_local_subchannel_pool", 1),
    *service_config.CHANNEL_OPTIONS,
]


@dataclass
class Connection:
    """A channel to a server (or a fleet: see `open`) and its stubs; `close()` closes
    the channel."""

    target: str
    channel: grpc.Channel
    tracking: tracking_service_pb2_grpc.TrackingServiceStub = field(init=False)
    artifacts: artifact_service_pb2_grpc.ArtifactServiceStub = field(init=False)
    registry: model_registry_service_pb2_grpc.ModelRegistryServiceStub = field(init=False)
    auth: auth_service_pb2_grpc.AuthServiceStub = field(init=False)
    # UploadArtifact and DownloadArtifact with their chunks encoded by trackwire_protocol.wire
    upload: grpc.StreamUnaryMultiCallable = field(init=False)
    download: grpc.UnaryStreamMultiCallable = field(init=False)
    _info: tracking_service_pb2.GetServerInfoResponse | None = field(default=None, init=False)

    def __post_init__(self):
        self.tracking = tracking_service_pb2_grpc.TrackingServiceStub(self.channel)
        self.artifacts = artifact_service_pb2_grpc.ArtifactServiceStub(self.channel)
        self.registry = model_registry_service_pb2_grpc.ModelRegistryServiceStub(self.channel)
        self.auth = auth_service_pb2_grpc.AuthServiceStub(self.channel)
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

    @classmethod
    def open(
        cls,
        target: str,
        options=CHANNEL_OPTIONS,
        credentials: grpc.ChannelCredentials | None = None,
        token: str | None = None,
    ) -> Connection:
        """A new channel to `target` (`host:port`, or a gRPC target naming several
        addresses: `ipv4:a:p,b:p`, `dns:///name:port`): over TLS with `credentials`
        (grpc.ssl_channel_credentials), else plaintext; sending `authorization: Bearer
        <token>` on every call when `token` is given (trackwire_protocol.bearer), and the
        highest commit position the server answered (trackwire_protocol.positions)."""
        if credentials is None:
            channel = grpc.insecure_channel(target, options=options)
        else:
            channel = grpc.secure_channel(target, credentials, options=options)
        return cls(target, PositionChannel(with_token(channel, token)))

    @property
    def commit_positions(self) -> CommitPositions | None:
        """The commit positions this connection keeps (None for a channel given as is)."""
        return getattr(self.channel, "positions", None)

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

    def close(self) -> None:
        self.channel.close()
