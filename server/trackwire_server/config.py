"""Server configuration: where data lives and where the server listens."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_DB_URL = "sqlite:///trackwire.db"
DEFAULT_ARTIFACTS = "./trackwire-artifacts"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50051
# Threads for unary calls.
DEFAULT_WORKERS = 16
# PostgreSQL and MySQL: connections a server opens at most (its pool), beyond the unary
# workers: streams (each batch of a metric stream is a short unit of work) and the health
# check share them. Threads return their connection after each unit of work.
DB_POOL_EXTRA = 4
# Streams open at once (metric writers, watchers, uploads, downloads), a thread each: a
# team's training jobs (a writer each while they log) and open run pages.
DEFAULT_MAX_STREAMS = 64
# Seconds a stream may keep the server waiting on its client (see admission.py).
DEFAULT_STREAM_IDLE_TIMEOUT = 300.0
# MariaDB/MySQL: seconds a row of the live feed's commit log is kept after a server read
# it (database_feed.py).
DEFAULT_FEED_LOG_RETENTION = 30.0
# PostgreSQL, MariaDB/MySQL: seconds a server's record of the runs it watches lasts
# unless refreshed (every third of it); a killed server's lapse after this.
DEFAULT_FEED_WATCH_TTL = 30.0


class ConfigError(ValueError):
    """A server option that cannot work (a malformed artifact root or allowed prefix, an
    fsspec protocol that is not installed, a TLS file that cannot be read or does not fit);
    the message says which."""


@dataclass
class ServerConfig:
    db_url: str = DEFAULT_DB_URL
    artifacts: str = DEFAULT_ARTIFACTS
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # Threads serving unary calls.
    workers: int = DEFAULT_WORKERS
    # Streaming calls open at once, each on a thread of its own; one more is refused
    # with RESOURCE_EXHAUSTED at once.
    max_streams: int = DEFAULT_MAX_STREAMS
    # Calls in progress at once, streams included (unary calls beyond `workers` wait for
    # a thread); one more is refused with RESOURCE_EXHAUSTED at once. None: max_streams +
    # 4 * workers.
    max_concurrent_rpcs: int | None = None
    # Seconds a stream may keep the server waiting on its client before it is ended.
    stream_idle_timeout: float = DEFAULT_STREAM_IDLE_TIMEOUT
    # PostgreSQL and MySQL: the most connections this server opens (its pool); a unit of
    # work waits for one while all are busy. None: workers + DB_POOL_EXTRA.
    db_pool_size: int | None = None
    # A PostgreSQL streaming replica of `db_url` for searches, histories and the UI's
    # reads (`--db-read-url`; see store/read_routing.py). None: every read on `db_url`.
    db_read_url: str | None = None
    # Whether the server brings an older schema up to date at start; off (fleets: run
    # `trackwire db upgrade` once), it refuses to start on an older schema instead.
    auto_migrate: bool = True
    # MariaDB/MySQL: seconds the live feed's commit log keeps a row after this server
    # read it; a server cut off from the database for longer tells its watchers they may
    # have missed points.
    feed_log_retention: float = DEFAULT_FEED_LOG_RETENTION
    # PostgreSQL, MariaDB/MySQL: seconds this server's record of the runs it watches
    # (for the other servers' writes to announce them) lasts unless refreshed.
    feed_watch_ttl: float = DEFAULT_FEED_WATCH_TTL
    # Extra fsspec options for the artifact filesystem (e.g. an S3 endpoint).
    storage_options: dict | None = None
    # Prefixes besides `artifacts` where experiments' artifacts may be
    # (`--artifacts-allow`): a client may name a location under one of them.
    artifacts_allow: tuple[str, ...] = ()
    # Direct transfers (artifacts/direct.py): "auto" hands out presigned URLs of an
    # S3-compatible root, "off" never does, "only" also refuses to stream its files.
    artifacts_direct: str = "auto"
    # Seconds a presigned URL works.
    artifacts_direct_expiry: float = 900.0
    # TLS (see tls.py): PEM files of the certificate chain the server presents and its key;
    # with `tls_client_ca`, clients must present a certificate that CA signed (mutual TLS).
    # The web UI serves HTTPS with the same certificate. None: plaintext.
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    # Authentication and permissions (`--auth`): a token on every call, grants per
    # experiment and registered model. Off: every caller may do everything.
    auth: bool = False
    # What a signed-in user may do with an experiment or model nobody granted them
    # anything on: a PermissionLevel number (1 NONE, 2 READ, 3 USE, 4 EDIT, 5 MANAGE).
    default_permission: int = 2
    # Extra gRPC server interceptors (authentication, metrics, fault injection in tests),
    # applied after the error mapping.
    interceptors: tuple = ()

    def __post_init__(self):
        for name in ("workers", "max_streams"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.db_pool_size is None:
            self.db_pool_size = self.workers + DB_POOL_EXTRA
        elif self.db_pool_size < 1:
            raise ValueError(f"db_pool_size must be at least 1, not {self.db_pool_size}")
        if self.max_concurrent_rpcs is None:
            self.max_concurrent_rpcs = self.max_streams + 4 * self.workers
        elif self.max_concurrent_rpcs < self.max_streams + self.workers:
            # Otherwise open streams could leave unary calls without their threads.
            raise ValueError(
                f"max_concurrent_rpcs ({self.max_concurrent_rpcs}) must be at least "
                f"max_streams + workers ({self.max_streams + self.workers})"
            )
        if self.default_permission not in (1, 2, 3, 4, 5):
            raise ValueError(
                f"default_permission must be a PermissionLevel from 1 (NONE) to 5 (MANAGE), "
                f"not {self.default_permission}"
            )
        if not self.feed_watch_ttl >= 1:
            raise ValueError(f"feed_watch_ttl must be at least 1 second, not {self.feed_watch_ttl}")
        if not self.feed_log_retention >= 1:
            raise ValueError(
                f"feed_log_retention must be at least 1 second, not {self.feed_log_retention}"
            )
        if not self.stream_idle_timeout > 0:
            raise ValueError(
                f"stream_idle_timeout must be positive, not {self.stream_idle_timeout}"
            )
