"""`trackwire server`: run the tracking server."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import re
import sys
import urllib.parse

import peewee
from playhouse import db_url

from trackwire_server import __version__
from trackwire_server.app import create_server
from trackwire_server.artifacts.locations import operator_location
from trackwire_server.config import (
    DB_POOL_EXTRA,
    DEFAULT_ARTIFACTS,
    DEFAULT_DB_URL,
    DEFAULT_FEED_LOG_RETENTION,
    DEFAULT_FEED_WATCH_TTL,
    DEFAULT_HOST,
    DEFAULT_MAX_STREAMS,
    DEFAULT_PORT,
    DEFAULT_STREAM_IDLE_TIMEOUT,
    DEFAULT_WORKERS,
    ConfigError,
    ServerConfig,
)
from trackwire_server.memory import tune_malloc
from trackwire_server.process_signals import StopSignals
from trackwire_server.store.unit_of_work import POOL_WAIT_SECONDS
from trackwire_server.ui.server import DEFAULT_UI_HOST, DEFAULT_UI_PORT, UiServer


def storage_option(text: str) -> tuple[str, str | bool]:
    """Parses KEY=VALUE; "true" and "false" become booleans."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    return key, value


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
ALLOW_ENV = "TRACKWIRE_ARTIFACTS_ALLOW"


def database_url(text: str) -> str:
    """A database URL of a scheme peewee knows, or a plain path: a SQLite file."""
    scheme = _SCHEME.match(text)
    if scheme and text[scheme.end() : scheme.end() + 2] == "//":
        if scheme.group(1).lower() not in db_url.schemes:
            raise argparse.ArgumentTypeError(
                f"unknown database scheme '{scheme.group(1)}': use sqlite:///path.db, "
                "postgresql://user@host:5432/db, mysql://user@host:3306/db or a path"
            )
        return text
    if not text.strip() or scheme:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a database URL (sqlite:///path.db, postgresql://..., "
            "mysql://...) nor a path to a SQLite file"
        )
    return f"sqlite:///{os.path.abspath(os.path.expanduser(text))}"


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def seconds_at_least_one(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value >= 1:
        raise argparse.ArgumentTypeError(f"expected seconds, at least 1, got {text!r}")
    return value


def artifact_location(text: str) -> str:
    """An artifact root or allowed prefix: a folder or a URL, in normal form."""
    try:
        return str(operator_location("artifact location", text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def redacted(url: str) -> str:
    """`url` with the password of its user (if any) replaced by ***."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="trackwire server")
    parser.description = (
        "Serve Trackwire's gRPC tracking, artifact and model registry services, and the web "
        "UI. With no options: SQLite in ./trackwire.db and artifacts in ./trackwire-artifacts, "
        "gRPC on 127.0.0.1:50051, the UI on http://127.0.0.1:5000/, both in plaintext "
        "(--tls-cert and --tls-key serve them over TLS). SIGTERM or Ctrl-C stops it (see "
        "--grace); SIGUSR1 prints every thread's stack on stderr and it goes on serving."
    )
    parser.add_argument(
        "--db",
        type=database_url,
        default=os.environ.get("TRACKWIRE_DB", DEFAULT_DB_URL),
        help="database URL: sqlite:///path.db, postgresql://user@host:5432/db, "
        "mysql://user@host:3306/db, or a plain path such as data/trackwire.db for a SQLite "
        "file (env TRACKWIRE_DB; default %(default)s)",
    )
    parser.add_argument(
        "--artifacts",
        type=artifact_location,
        default=os.environ.get("TRACKWIRE_ARTIFACTS", DEFAULT_ARTIFACTS),
        help="artifact root: a folder or an fsspec URL such as s3://bucket/prefix or memory://x "
        "(env TRACKWIRE_ARTIFACTS; default %(default)s). Experiments keep their artifacts "
        "under it; symbolic links inside it are never followed",
    )
    parser.add_argument(
        "--artifacts-allow",
        metavar="PREFIX",
        type=artifact_location,
        action="append",
        default=[],
        help="a folder or URL prefix (e.g. s3://bucket/team) under which clients may place an "
        "experiment's artifacts (CreateExperiment.artifact_location); repeatable; matched on "
        "whole path segments. Off by default: clients may only name folders under --artifacts "
        f"(env {ALLOW_ENV}, prefixes separated by spaces)",
    )
    parser.add_argument(
        "--artifacts-option",
        metavar="KEY=VALUE",
        type=storage_option,
        action="append",
        default=[],
        help="an fsspec storage option for the artifact filesystem; repeatable, e.g. "
        "--artifacts-option endpoint_url=http://127.0.0.1:8333 --artifacts-option key=... "
        "--artifacts-option secret=... (values true/false become booleans; fsspec also "
        "reads environment variables such as FSSPEC_S3_ENDPOINT_URL)",
    )
    parser.add_argument(
        "--artifacts-direct",
        choices=("auto", "off", "only"),
        default=os.environ.get("TRACKWIRE_ARTIFACTS_DIRECT", "auto"),
        help="direct transfers: with an S3-compatible artifact root, answer upload and "
        "download requests with presigned URLs of the store (after the permission checks), "
        "so that file bytes go between clients and the store, not through this server. "
        "auto: where the run's location is in an S3-compatible store; off: never (every "
        "byte streams through gRPC); only: also refuse to stream such files "
        "(FAILED_PRECONDITION), and refuse to start without an S3 root (env "
        "TRACKWIRE_ARTIFACTS_DIRECT; default %(default)s)",
    )
    parser.add_argument(
        "--artifacts-direct-expiry",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="how long a presigned URL works; a client whose URLs expired asks for new ones "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to listen on (default %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port to listen on; 0 picks a free one (default %(default)s)",
    )
    parser.add_argument(
        "--tls-cert",
        metavar="PEM",
        default=os.environ.get("TRACKWIRE_TLS_CERT") or None,
        help="serve gRPC over TLS with this certificate (a PEM file: the server's "
        "certificate, then any intermediate CA certificates); clients connect to "
        "grpcs://host:port. The web UI serves HTTPS with it too. Needs --tls-key "
        "(env TRACKWIRE_TLS_CERT; default: plaintext)",
    )
    parser.add_argument(
        "--tls-key",
        metavar="PEM",
        default=os.environ.get("TRACKWIRE_TLS_KEY") or None,
        help="the private key of --tls-cert (a PEM file, unencrypted, readable only by the "
        "server's user); read once at start, never logged (env TRACKWIRE_TLS_KEY)",
    )
    parser.add_argument(
        "--tls-client-ca",
        metavar="PEM",
        default=os.environ.get("TRACKWIRE_TLS_CLIENT_CA") or None,
        help="mutual TLS: refuse clients (gRPC and the web UI) that do not present a "
        "certificate signed by a CA in this PEM file (env TRACKWIRE_TLS_CLIENT_CA; default: "
        "no client certificates asked for)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help="threads serving unary calls; streams have threads of their own, and health "
        "checks too (default %(default)s)",
    )
    parser.add_argument(
        "--max-streams",
        type=int,
        default=DEFAULT_MAX_STREAMS,
        help="streams open at once (metric writers, watchers, uploads, downloads), a thread "
        "each; one more is refused with RESOURCE_EXHAUSTED at once (default %(default)s)",
    )
    parser.add_argument(
        "--db-pool-size",
        type=positive_int,
        default=None,
        metavar="N",
        help="PostgreSQL and MySQL: the most database connections this server opens, shared "
        "by all its threads (each takes one for a call's transaction and gives it back); a "
        f"call waits for one while all are busy, and after {POOL_WAIT_SECONDS:g}s (or its "
        "deadline) gets UNAVAILABLE. Keep the sum over your servers below the database's "
        f"connection limit (default: workers + {DB_POOL_EXTRA}; SQLite ignores it)",
    )
    parser.add_argument(
        "--db-read-url",
        metavar="URL",
        default=os.environ.get("TRACKWIRE_DB_READ_URL") or None,
        help="PostgreSQL: a streaming replica of --db (postgresql://user@replica:5432/db) "
        "that serves searches, metric histories, Get* reads and the web UI's reads. A "
        "client that wrote still reads what it wrote: each write answers its commit "
        "position (trailing metadata trackwire-commit-position), the client sends it with "
        "its later calls, and a read the replica has not replayed that far runs on the "
        "primary. Writes never go to the replica; while it is unreachable, reads go to the "
        "primary. Refused with SQLite and MySQL/MariaDB (env TRACKWIRE_DB_READ_URL; "
        "default: every read on --db)",
    )
    parser.add_argument(
        "--feed-watch-ttl",
        type=seconds_at_least_one,
        default=DEFAULT_FEED_WATCH_TTL,
        metavar="SECONDS",
        help="PostgreSQL, MariaDB and MySQL: how long this server's record of the runs its "
        "WatchMetrics streams watch (writes through other servers announce only those) "
        "lasts unless refreshed; refreshed every third of it, so a killed server's lapse "
        "after at most this long. SQLite ignores it (default %(default)gs)",
    )
    parser.add_argument(
        "--feed-log-retention",
        type=seconds_at_least_one,
        default=DEFAULT_FEED_LOG_RETENTION,
        metavar="SECONDS",
        help="MariaDB and MySQL: how long a row of the live feed's commit log (how servers "
        "on one database hear of each other's metric points) is kept after this server "
        "read it; a server cut off from the database for longer tells its watchers they may "
        "have missed points. PostgreSQL (LISTEN/NOTIFY) and SQLite ignore it "
        "(default %(default)gs)",
    )
    parser.add_argument(
        "--no-auto-migrate",
        action="store_true",
        help="do not create or migrate the database's schema at start: refuse to start "
        "(status 1) on a schema older than this version's. For fleets: run `trackwire db "
        "upgrade` once, then start the servers with this. (Without it, servers starting "
        "together migrate once, queued on a lock in the database.) A schema newer than this "
        "version's is always refused",
    )
    parser.add_argument(
        "--max-concurrent-rpcs",
        type=int,
        default=None,
        help="calls in progress at once, streams included (unary calls beyond --workers "
        "wait for a thread); one more is refused with RESOURCE_EXHAUSTED at once; at least "
        "workers + max-streams (default: max-streams + 4 x workers)",
    )
    parser.add_argument(
        "--stream-idle-timeout",
        type=float,
        default=DEFAULT_STREAM_IDLE_TIMEOUT,
        metavar="SECONDS",
        help="a stream that keeps the server waiting on its client this long is cancelled "
        "(no message from a writer or an upload, a message a reader does not take); a "
        "WatchMetrics with nothing to send this long ends, and clients open a new one "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=10.0,
        help="seconds in-flight calls get to finish on SIGTERM (default %(default)s)",
    )
    parser.add_argument(
        "--ui-host",
        default=DEFAULT_UI_HOST,
        help="address the web UI listens on (default %(default)s: this machine only)",
    )
    parser.add_argument(
        "--ui-port",
        type=int,
        default=DEFAULT_UI_PORT,
        help="port of the web UI over HTTP (HTTPS with --tls-cert); 0 picks a free one "
        "(default %(default)s)",
    )
    parser.add_argument("--no-ui", action="store_true", help="do not serve the web UI")
    parser.add_argument(
        "--auth",
        action="store_true",
        help="require a token on every call (authorization: Bearer <token>) and enforce "
        "permissions per experiment and registered model; the web UI asks to sign in. On a "
        "database without users, the first start creates the user 'admin' and prints a "
        "one-time token for it (or make one with `trackwire users create NAME --admin`)",
    )
    parser.add_argument(
        "--default-permission",
        choices=sorted(LEVELS, key=LEVELS.get),
        default="read",
        help="with --auth: what a signed-in user may do with an experiment or model nobody "
        "granted them anything on (default %(default)s; 'none' keeps everything private to "
        "its creator and grantees)",
    )
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="allow listening on a non-loopback address without --auth: anyone who can "
        "reach the port may read, change and delete everything. Refused otherwise",
    )
    parser.add_argument("--version", action="version", version=f"trackwire {__version__}")
    return parser


LEVELS = {"none": 1, "read": 2, "use": 3, "edit": 4, "manage": 5}


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or name to listen on) is this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(args: argparse.Namespace) -> None:
    """Refuses a non-loopback address without --auth, unless --insecure-no-auth."""
    if args.auth:
        return
    exposed = [h for h in (args.host, None if args.no_ui else args.ui_host) if h]
    exposed = [h for h in exposed if not is_loopback(h)]
    if not exposed:
        return
    if not args.insecure_no_auth:
        _exit(
            2,
            f"refusing to listen on {', '.join(exposed)} without authentication: anyone who "
            "can reach it could read, change and delete everything. Add --auth (and TLS: "
            "--tls-cert/--tls-key), or --insecure-no-auth if the network itself is trusted",
        )
    print(
        f"trackwire server: WARNING: listening on {', '.join(exposed)} without "
        "authentication (--insecure-no-auth): anyone who can reach it may read, change "
        "and delete everything",
        file=sys.stderr,
        flush=True,
    )


def serve(args: argparse.Namespace) -> None:
    tune_malloc()
    check_exposure(args)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = ServerConfig(
        db_url=args.db,
        artifacts=args.artifacts,
        host=args.host,
        port=args.port,
        workers=args.workers,
        max_streams=args.max_streams,
        db_pool_size=args.db_pool_size,
        db_read_url=args.db_read_url,
        auto_migrate=not args.no_auto_migrate,
        feed_log_retention=args.feed_log_retention,
        feed_watch_ttl=args.feed_watch_ttl,
        max_concurrent_rpcs=args.max_concurrent_rpcs,
        stream_idle_timeout=args.stream_idle_timeout,
        storage_options=dict(args.artifacts_option) or None,
        artifacts_allow=(*os.environ.get(ALLOW_ENV, "").split(), *args.artifacts_allow),
        artifacts_direct=args.artifacts_direct,
        artifacts_direct_expiry=args.artifacts_direct_expiry,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        auth=args.auth,
        default_permission=LEVELS[args.default_permission],
    )
    server, port = _created(config)
    server.start()
    ui = None
    if not args.no_ui:
        try:
            ui = UiServer(
                config.host, port, host=args.ui_host, port=args.ui_port, tls=server.tls
            ).start()
        except OSError as e:
            server.stop(0)
            raise SystemExit(
                f"trackwire: cannot serve the web UI on {args.ui_host}:{args.ui_port}: {e}; "
                "choose another --ui-port, or --no-ui"
            ) from None
    stop = StopSignals().install()
    # Printed for scripts that start the server on port 0 and need to know where it is.
    print(
        f"trackwire {__version__} listening on {server.address}{_tls_note(server.tls)} "
        f"(db {redacted(config.db_url)}, artifacts {server.artifact_root})",
        flush=True,
    )
    if config.db_read_url:
        print(f"reads on the replica {redacted(config.db_read_url)}", flush=True)
    if ui is not None:
        print(f"trackwire web UI on {ui.url}", flush=True)
    if config.auth:
        print(
            f"authentication on: a token is required on every call; default permission "
            f"{args.default_permission}",
            flush=True,
        )
    if server.initial_admin_token:
        # stdout only, never the log: shown once, the server keeps only its hash.
        print(
            "first start with --auth: created the admin user 'admin'. Its API token, shown "
            f"only now:\n\n    {server.initial_admin_token}\n\nUse it as TRACKWIRE_TOKEN "
            "or with `trackwire login --token`; set a password for the web UI with "
            "`trackwire users set-password admin`.",
            flush=True,
        )
    stop.wait()
    logging.getLogger("trackwire.server").info("shutting down; grace %.1fs", args.grace)
    if ui is not None:
        server.metric_feed.close()  # ends the UI's live streams first
        ui.stop()
    server.stop(args.grace)


def _tls_note(tls) -> str:
    if tls is None:
        return ""
    return " over TLS, client certificates required" if tls.mutual else " over TLS"


def _created(config: ServerConfig):
    """create_server(config), or exit with one line on stderr: status 2 for options that
    cannot work, 1 for a database that cannot be opened or an address taken."""
    try:
        return create_server(config)
    except ConfigError as e:
        _exit(2, str(e))
    except (peewee.PeeweeException, OSError, RuntimeError) as e:
        first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
        if isinstance(e, peewee.PeeweeException):
            hint = (
                " (does its folder exist, writable?)" if config.db_url.startswith("sqlite") else ""
            )
            _exit(1, f"cannot open the database {redacted(config.db_url)}: {first_line}{hint}")
        _exit(1, f"cannot start: {first_line}")


def _exit(status: int, message: str):
    print(f"trackwire server: error: {message}", file=sys.stderr)
    raise SystemExit(status)


def main(argv: list[str] | None = None) -> None:
    serve(build_parser().parse_args(argv))
