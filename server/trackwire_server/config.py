"""Server configuration: where data lives and where the server listens."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_DB_URL = "sqlite:///trackwire.db"
DEFAULT_ARTIFACTS = "./trackwire-artifacts"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50051


def resolve_artifact_root(url: str) -> str:
    """A local folder becomes an absolute path, so stored URIs survive a change of directory."""
    if "://" in url:
        return url.rstrip("/")
    return os.path.abspath(os.path.expanduser(url))


@dataclass
class ServerConfig:
    db_url: str = DEFAULT_DB_URL
    artifacts: str = DEFAULT_ARTIFACTS
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 64
    # Extra fsspec options for the artifact filesystem (e.g. an S3 endpoint).
    storage_options: dict | None = None
    # Extra gRPC server interceptors (authentication, metrics, fault injection in tests),
    # applied after the error mapping.
    interceptors: tuple = ()
