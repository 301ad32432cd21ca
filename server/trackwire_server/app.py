"""Building the gRPC server: services, health, reflection, interceptors."""

from __future__ import annotations

import logging
import os

import grpc
from grpc_health.v1 import health, health_pb2_grpc

from trackwire.v1 import (
    artifact_service_pb2,
    auth_service_pb2,
    auth_service_pb2_grpc,
    model_registry_service_pb2,
    model_registry_service_pb2_grpc,
    tracking_service_pb2,
    tracking_service_pb2_grpc,
)
from trackwire_server import reflection
from trackwire_server.admission import AdmissionInterceptor
from trackwire_server.artifacts import ArtifactLocations, ArtifactRepository
from trackwire_server.artifacts.direct import DirectTransfers
from trackwire_server.auth.access import Access, OpenAccess
from trackwire_server.auth.bootstrap import create_first_admin
from trackwire_server.auth.interceptor import AuthInterceptor
from trackwire_server.auth.rules import Rule
from trackwire_server.auth.table import RULES
from trackwire_server.commit_positions import CommitPositionInterceptor
from trackwire_server.config import ConfigError, ServerConfig
from trackwire_server.database_feed import start_database_feed
from trackwire_server.database_watch import DatabaseWatch
from trackwire_server.idempotency import IdempotencyInterceptor
from trackwire_server.interceptors import ErrorMappingInterceptor
from trackwire_server.limits import LIMITS
from trackwire_server.message_limits import MessageLimitsInterceptor
from trackwire_server.metric_feed import MetricFeed
from trackwire_server.servicers.artifacts import ArtifactServicer
from trackwire_server.servicers.artifacts import add_to_server as add_artifact_service
from trackwire_server.servicers.auth import AuthServicer
from trackwire_server.servicers.model_registry import ModelRegistryServicer
from trackwire_server.servicers.tracking import TrackingServicer
from trackwire_server.store import Store, open_database
from trackwire_server.tls import ServerTls

log = logging.getLogger("trackwire.server")

SERVICE_NAMES = (
    tracking_service_pb2.DESCRIPTOR.services_by_name["TrackingService"].full_name,
    artifact_service_pb2.DESCRIPTOR.services_by_name["ArtifactService"].full_name,
    model_registry_service_pb2.DESCRIPTOR.services_by_name["ModelRegistryService"].full_name,
    auth_service_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name,
)


class TrackwireServer:
    """A running (or ready-to-start) Trackwire server and what it owns."""

    def __init__(self, config: ServerConfig, access_rules: dict[str, Rule] = RULES):
        """`access_rules`: the access table the AuthInterceptor applies (`auth.table.RULES`;
        tests pass a copy without an entry to check that such a method is refused)."""
        self.config = config
        # TLS files are read and checked first: a bad one is reported before anything opens.
        self.tls = ServerTls.load(config.tls_cert, config.tls_key, config.tls_client_ca)
        try:
            locations = ArtifactLocations.configured(config.artifacts, config.artifacts_allow)
            repository = ArtifactRepository(locations, config.storage_options)
            direct = DirectTransfers(
                locations,
                config.storage_options,
                config.artifacts_direct,
                config.artifacts_direct_expiry,
            )
        except (ValueError, ImportError) as e:
            raise ConfigError(f"artifact storage: {e}") from None
        root = str(locations.root)
        if locations.root.is_local and os.path.exists(root) and not os.path.isdir(root):
            raise ConfigError(f"artifact root {root} is not a folder")
        self.artifact_root = root
        read_db = None
        if config.db_read_url:
            if not (_is_postgresql_url(config.db_url) and _is_postgresql_url(config.db_read_url)):
                raise ConfigError(
                    "--db-read-url: reads on a replica need PostgreSQL (a streaming replica "
                    "of --db); SQLite and MySQL/MariaDB have no read replicas here"
                )
            read_db = open_database(config.db_read_url, pool_size=config.db_pool_size)
        self.store = Store(
            open_database(config.db_url, pool_size=config.db_pool_size),
            self.artifact_root,
            read_db,
        )
        self.store.initialize(migrate=config.auto_migrate)
        # Who may do what: checked for every call by the AuthInterceptor.
        self.access = Access(self.store, config.default_permission) if config.auth else OpenAccess()
        # The first admin's token, made on a database without users (printed once by
        # `trackwire server`); None otherwise.
        self.initial_admin_token = create_first_admin(self.store) if config.auth else None
        self.metric_feed = MetricFeed()
        self.store.metric_listeners.append(self.metric_feed.publish)
        # Points written through other servers on the same database (started with the
        # server: database_feed.py; None on SQLite).
        self.database_feed = None
        # Admission first (it picks each call's thread pool from the final handler), the
        # message limits last (they wrap the registered handlers themselves, once).
        self.admission = AdmissionInterceptor(
            workers=config.workers,
            max_streams=config.max_streams,
            max_concurrent_rpcs=config.max_concurrent_rpcs,
            stream_idle_timeout=config.stream_idle_timeout,
        )
        # With a read replica, calls carry commit positions (commit_positions.py).
        positions = [CommitPositionInterceptor(self.store)] if read_db is not None else []
        self.grpc_server = grpc.server(
            self.admission.unary_pool,
            interceptors=[
                self.admission,
                # Outside the error mapping: answers a position only with a response.
                *positions,
                ErrorMappingInterceptor(),
                # Before the request log: a retried request is checked like a new one.
                AuthInterceptor(self.access, access_rules),
                IdempotencyInterceptor(self.store.request_log),
                *config.interceptors,
                MessageLimitsInterceptor(),
            ],
            options=[
                # Larger messages are refused as they arrive, before they are buffered.
                ("grpc.max_receive_message_length", LIMITS.max_message_bytes),
                ("grpc.max_send_message_length", LIMITS.max_response_bytes),
                ("grpc.so_reuseport", 0),
                # Clients keep metric streams open for days and ping every 30 s.
                ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                ("grpc.keepalive_permit_without_calls", 1),
                # The server pings too, so that the streams of a client that vanished
                # (powered off, network gone) end within 80 s rather than never. (This
                # gRPC waits for the answer ping_timeout_ms, not keepalive_timeout_ms.)
                ("grpc.keepalive_time_ms", 60_000),
                ("grpc.keepalive_timeout_ms", 20_000),
                ("grpc.http2.ping_timeout_ms", 20_000),
                ("grpc.http2.max_pings_without_data", 0),
            ],
        )
        tracking_service_pb2_grpc.add_TrackingServiceServicer_to_server(
            TrackingServicer(
                self.store,
                self.metric_feed,
                locations,
                config.stream_idle_timeout,
                repository,
                access=self.access,
            ),
            self.grpc_server,
        )
        add_artifact_service(ArtifactServicer(self.store, repository, direct), self.grpc_server)
        model_registry_service_pb2_grpc.add_ModelRegistryServiceServicer_to_server(
            ModelRegistryServicer(self.store, self.access), self.grpc_server
        )
        auth_service_pb2_grpc.add_AuthServiceServicer_to_server(
            AuthServicer(self.store, self.access), self.grpc_server
        )
        self.health = health.HealthServicer()
        self.database_watch = DatabaseWatch(self.store, self.health, SERVICE_NAMES)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc_server)
        reflection.enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME), self.grpc_server)
        address = f"{config.host}:{config.port}"
        if self.tls is None:
            self.port = self.grpc_server.add_insecure_port(address)
        else:
            self.port = self.grpc_server.add_secure_port(address, self.tls.server_credentials)
        if self.port == 0:
            raise OSError(f"cannot listen on {config.host}:{config.port}")

    @property
    def address(self) -> str:
        host = self.config.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def start(self) -> TrackwireServer:
        self.admission.start()
        # Listening before serving: a watch opened once the server answers hears every
        # commit made after it.
        self.database_feed = start_database_feed(
            self.store,
            self.metric_feed,
            self.config.feed_log_retention,
            self.config.feed_watch_ttl,
        )
        self.grpc_server.start()
        self.database_watch.start()  # health: SERVING while the database answers
        return self

    def stop(self, grace: float | None = 5.0) -> None:
        """Stops taking calls, lets in-flight ones finish for `grace` seconds, closes the store."""
        self.health.enter_graceful_shutdown()
        self.metric_feed.close()  # ends WatchMetrics streams, which would otherwise last
        if self.database_feed is not None:
            self.database_feed.stop()
            self.database_feed = None
        self.grpc_server.stop(grace).wait()
        self.database_watch.stop()
        self.admission.close()
        self.store.close()


def _is_postgresql_url(url: str) -> bool:
    return url.split(":", 1)[0].lower() in (
        "postgres",
        "postgresql",
        "postgresext",
        "postgresqlext",
    )


def create_server(config: ServerConfig) -> tuple[TrackwireServer, int]:
    """Builds a server bound to config.host:config.port (0 picks a free port); not started."""
    server = TrackwireServer(config)
    return server, server.port
