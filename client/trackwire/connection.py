"""Where the client talks to: tracking URIs, and connecting to one (starting the embedded
server it names, if it names one).

A tracking URI is one of:
- `grpc://host:port` or `host:port`: a running Trackwire server, in plaintext;
- `grpcs://host:port`: a running Trackwire server over TLS (trackwire.tls: the system's
  CAs or $TRACKWIRE_TLS_CA, a client certificate for mutual TLS);
- a database URL (`sqlite:///path.db`, `postgresql://...`, `mysql://...`): an
  embedded server started in this process over that database, with artifacts in
  $TRACKWIRE_ARTIFACTS or ./trackwire-artifacts (without authentication);
- empty (the default): the embedded server over ./trackwire.db and
  ./trackwire-artifacts, the same files `trackwire server` uses in that folder.

Calls to a remote server carry the token trackwire.credentials finds (a server with
`--auth` needs one).
"""

from __future__ import annotations

import os

from trackwire import credentials, tls
from trackwire_protocol.channel import CHANNEL_OPTIONS, MAX_MESSAGE_BYTES, Connection

TRACKING_URI_ENV = "TRACKWIRE_TRACKING_URI"
ARTIFACTS_ENV = "TRACKWIRE_ARTIFACTS"
ARTIFACTS_ALLOW_ENV = "TRACKWIRE_ARTIFACTS_ALLOW"
DEFAULT_EMBEDDED_DB = "sqlite:///trackwire.db"
DEFAULT_EMBEDDED_ARTIFACTS = "./trackwire-artifacts"
_DB_SCHEMES = ("sqlite:", "postgresql:", "postgres:", "mysql:")

__all__ = [
    "CHANNEL_OPTIONS",
    "MAX_MESSAGE_BYTES",
    "Connection",
    "connect",
    "get_tracking_uri",
    "grpc_target",
    "is_embedded",
    "is_tls",
    "resolve_tracking_uri",
    "set_tracking_uri",
]

# The URI given to set_tracking_uri (None: not set). A process setting, as in MLflow.
_tracking_uri: str | None = None


def set_tracking_uri(uri: str | None) -> None:
    """`grpc://host:port`, `host:port`, `grpcs://host:port` (TLS), or a database URL for an
    embedded server (None forgets the setting)."""
    global _tracking_uri
    _tracking_uri = uri


def get_tracking_uri() -> str:
    """The URI set with set_tracking_uri, else $TRACKWIRE_TRACKING_URI, else the
    embedded default database."""
    return resolve_tracking_uri(_tracking_uri)


def resolve_tracking_uri(explicit: str | None = None) -> str:
    """The explicit URI, else $TRACKWIRE_TRACKING_URI, else the embedded default database."""
    uri = explicit if explicit is not None else os.environ.get(TRACKING_URI_ENV, "")
    return uri or DEFAULT_EMBEDDED_DB


def is_embedded(uri: str) -> bool:
    return not uri or uri.startswith(_DB_SCHEMES)


def is_tls(uri: str) -> bool:
    """Whether `uri` names a server reached over TLS (`grpcs://host:port`)."""
    return uri.startswith("grpcs://")


def grpc_target(uri: str) -> str:
    for prefix in ("grpc://", "grpcs://", "dns:///"):
        if uri.startswith(prefix):
            return uri[len(prefix) :].rstrip("/")
    if "://" in uri:
        raise ValueError(
            f"tracking URI '{uri}' is neither grpc://host:port, grpcs://host:port nor a "
            "database URL (sqlite:///, postgresql://, mysql://)"
        )
    return uri


def connect(uri: str, token: str | None = None) -> tuple[Connection, object | None]:
    """A new connection to the server `uri` names, and the embedded server started for it
    (None for a remote server); the caller closes both. Calls to a remote server carry
    `token`, else the one trackwire.credentials finds for `uri` (if any)."""
    if is_embedded(uri):
        server, target = _start_embedded(uri)
        return Connection.open(target), server
    token = credentials.resolve_token(uri, token)
    tls_credentials = tls.channel_credentials() if is_tls(uri) else None
    return Connection.open(grpc_target(uri), credentials=tls_credentials, token=token), None


def _start_embedded(uri: str) -> tuple[object, str]:
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
    return server, f"127.0.0.1:{port}"
