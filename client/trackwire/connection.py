"""Where the client talks to: tracking URIs, and connecting to one (starting the embedded
server it names, if it names one).

A tracking URI is one of:
- `grpc://host:port` or `host:port`: a running Trackwire server, in plaintext (calls
  spread round-robin over every address the name resolves to);
- `grpcs://host:port`: a running Trackwire server over TLS (trackwire.tls: the system's
  CAs or $TRACKWIRE_TLS_CA, a client certificate for mutual TLS);
- `grpc://h1:p1,h2:p2,...` (or `grpcs://`): a fleet of servers on one database, calls
  spread round-robin over them (see `channel_target` for how names are resolved);
  an IPv6 address goes in brackets (`[::1]:50051`);
- `dns:///name:port`: every address (A/AAAA records) of `name`, found and followed by
  gRPC's own DNS resolver, calls spread round-robin over them (plaintext);
- a database URL (`sqlite:///path.db`, `postgresql://...`, `mysql://...`): an
  embedded server started in this process over that database, with artifacts in
  $TRACKWIRE_ARTIFACTS or ./trackwire-artifacts (without authentication);
- empty (the default): the embedded server over ./trackwire.db and
  ./trackwire-artifacts, the same files `trackwire server` uses in that folder.

Calls to a remote server carry the token trackwire.credentials finds (a server with
`--auth` needs one). Every remote channel has trackwire_protocol.service_config's
service config: round-robin over its addresses, so a server that dies is skipped, and
gRPC's retries on UNAVAILABLE of the calls that are safe to repeat (README.md,
"Balancing and failover").
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from dataclasses import dataclass, field

from trackwire import credentials, tls
from trackwire_protocol.channel import CHANNEL_OPTIONS, MAX_MESSAGE_BYTES, Connection

TRACKING_URI_ENV = "TRACKWIRE_TRACKING_URI"
ARTIFACTS_ENV = "TRACKWIRE_ARTIFACTS"
ARTIFACTS_ALLOW_ENV = "TRACKWIRE_ARTIFACTS_ALLOW"
DEFAULT_EMBEDDED_DB = "sqlite:///trackwire.db"
DEFAULT_EMBEDDED_ARTIFACTS = "./trackwire-artifacts"
_DB_SCHEMES = ("sqlite:", "postgresql:", "postgres:", "mysql:")
_SERVER_SCHEMES = ("grpc://", "grpcs://")

log = logging.getLogger("trackwire.connection")

__all__ = [
    "CHANNEL_OPTIONS",
    "MAX_MESSAGE_BYTES",
    "ChannelTarget",
    "Connection",
    "channel_target",
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
    """`grpc://host:port`, `host:port`, `grpcs://host:port` (TLS), a fleet
    `grpc://h1:p1,h2:p2`, `dns:///name:port`, or a database URL for an embedded server
    (None forgets the setting; the module docstring says more)."""
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
    """The gRPC target `uri` names (see `channel_target`)."""
    return channel_target(uri).target


@dataclass(frozen=True)
class ChannelTarget:
    """What gRPC is given for a tracking URI: the target and the channel options it needs."""

    target: str
    options: list[tuple[str, object]] = field(default_factory=list)


def channel_target(uri: str) -> ChannelTarget:
    """The gRPC target of a server's tracking URI; ValueError naming `uri` if it is none.

    - `host:port` (with or without grpc:// or grpcs://): that target; gRPC resolves the
      name and the channel's round_robin uses all its addresses.
    - `dns:///name:port` (or `dns://dns-server/name:port`): passed to gRPC as it is.
    - a list `h1:p1,h2:p2,...`: IP addresses become gRPC's own address lists
      (`ipv4:a:p,b:p` or `ipv6:[a]:p,[b]:p`); names are resolved here, once, when the
      client connects (all their addresses; IPv4 ones only, when a name has both). So a
      list of names does not follow DNS changes while the client lives (use
      `dns:///name:port` for a fleet behind one name whose records change), and one
      list cannot mix IPv4 and IPv6 servers. Calls carry the first entry as their
      authority: over TLS every server's certificate must be valid for the first host.
    """
    if uri.startswith("dns:"):
        if not uri.startswith("dns://") or not uri[len("dns://") :].partition("/")[2].strip("/"):
            raise ValueError(
                f"tracking URI '{uri}' is not dns:///name:port (gRPC's DNS resolver: every "
                "address of name, round-robin)"
            )
        return ChannelTarget(uri.rstrip("/"))
    rest = uri
    for prefix in _SERVER_SCHEMES:
        if uri.startswith(prefix):
            rest = uri[len(prefix) :].rstrip("/")
            break
    else:
        if "://" in uri:
            raise ValueError(
                f"tracking URI '{uri}' is neither grpc://host:port[,host:port...], "
                "grpcs://host:port[,...], dns:///name:port nor a database URL (sqlite:///, "
                "postgresql://, mysql://)"
            )
    entries = [_parse_entry(uri, entry) for entry in rest.split(",")]
    if len(entries) == 1:
        host, port = entries[0]
        return ChannelTarget(_join(host, port))
    seen = set()
    for host, port in entries:
        if (host.lower(), port) in seen:
            raise ValueError(f"tracking URI '{uri}' lists {_join(host, port)} twice")
        seen.add((host.lower(), port))
    addresses = _addresses(uri, entries)
    families = {ipaddress.ip_address(host).version for host, _ in addresses}
    if len(families) > 1:
        raise ValueError(
            f"tracking URI '{uri}' mixes IPv4 and IPv6 servers; gRPC's address lists take "
            "one family (use dns:///name:port for a name with both)"
        )
    scheme = "ipv6" if families == {6} else "ipv4"
    target = f"{scheme}:" + ",".join(_join(host, port) for host, port in addresses)
    authority = _join(*entries[0])
    return ChannelTarget(target, [("grpc.default_authority", authority)])


def _parse_entry(uri: str, entry: str) -> tuple[str, int]:
    """(host, port) of one `host:port` of `uri` (an IPv6 host in brackets)."""
    entry = entry.strip()
    if not entry:
        raise ValueError(f"tracking URI '{uri}' has an empty server in its list")
    if "/" in entry or "@" in entry or "?" in entry:
        raise ValueError(
            f"tracking URI '{uri}': '{entry}' is not host:port (no path, user or query)"
        )
    if entry.startswith("["):
        host, bracket, port_text = entry[1:].partition("]")
        if not bracket or not port_text.startswith(":"):
            raise ValueError(f"tracking URI '{uri}': '{entry}' is not [ipv6-address]:port")
        port_text = port_text[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(
                f"tracking URI '{uri}': '{host}' in brackets is not an IPv6 address"
            ) from None
    else:
        host, colon, port_text = entry.rpartition(":")
        if not colon or not host:
            raise ValueError(f"tracking URI '{uri}': '{entry}' is not host:port")
        if ":" in host:
            raise ValueError(
                f"tracking URI '{uri}': '{entry}': an IPv6 address goes in brackets, [address]:port"
            )
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(
            f"tracking URI '{uri}': the port of '{entry}' is not a number from 1 to 65535"
        )
    return host, int(port_text)


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _addresses(uri: str, entries: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The IP addresses of the entries, names resolved now (in order, without repeats)."""
    addresses: dict[tuple[str, int], None] = {}
    unresolved = []
    for host, port in entries:
        try:
            ipaddress.ip_address(host)
            addresses[(host, port)] = None
            continue
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as e:
            unresolved.append(f"{host} ({e})")
            continue
        found = [info[4][0] for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]
        ipv4 = [a for a in found if ipaddress.ip_address(a).version == 4]
        for address in ipv4 or found:
            addresses[(address.split("%")[0], port)] = None
    if unresolved:
        if not addresses:
            raise ValueError(
                f"tracking URI '{uri}': no server's name resolves: " + "; ".join(unresolved)
            )
        # The others serve; a client that connects later resolves these names again.
        log.warning("tracking URI %s: left out %s", uri, "; ".join(unresolved))
    return list(addresses)


def connect(uri: str, token: str | None = None) -> tuple[Connection, object | None]:
    """A new connection to the server `uri` names, and the embedded server started for it
    (None for a remote server); the caller closes both. Calls to a remote server carry
    `token`, else the one trackwire.credentials finds for `uri` (if any)."""
    if is_embedded(uri):
        server, target = _start_embedded(uri)
        return Connection.open(target), server
    token = credentials.resolve_token(uri, token)
    tls_credentials = tls.channel_credentials() if is_tls(uri) else None
    target = channel_target(uri)
    options = [*CHANNEL_OPTIONS, *target.options]
    connection = Connection.open(target.target, options, credentials=tls_credentials, token=token)
    return connection, None


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
