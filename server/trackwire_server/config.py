"""Server configuration: where data lives and where the server listens."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_DB_URL = "sqlite:///trackwire.db"
DEFAULT_ARTIFACTS = "./trackwire-artifacts"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50051


class ConfigError(ValueError):
    """A server option that cannot work (a malformed artifact root or allowed prefix, an
    fsspec protocol that is not installed); the message says which."""


@dataclass
class ServerConfig:
    db_url: str = DEFAULT_DB_URL
    artifacts: str = DEFAULT_ARTIFACTS
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 64
    # Extra fsspec options for the artifact filesystem (e.g. an S3 endpoint).
    storage_options: dict | None = None
    # Prefixes besides `artifacts` where experiments' artifacts may be
    # (`--artifacts-allow`): a client may name a location under one of them.
    artifacts_allow: tuple[str, ...] = ()
    # Extra gRPC server interceptors (authentication, metrics, fault injection in tests),
    # applied after the error mapping.
    interceptors: tuple = ()
