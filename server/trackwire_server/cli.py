"""`trackwire server`: run the tracking server."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading

from trackwire_server import __version__
from trackwire_server.app import create_server
from trackwire_server.config import (
    DEFAULT_ARTIFACTS,
    DEFAULT_DB_URL,
    DEFAULT_HOST,
    DEFAULT_MAX_STREAMS,
    DEFAULT_PORT,
    DEFAULT_STREAM_IDLE_TIMEOUT,
    DEFAULT_WORKERS,
    ServerConfig,
)
from trackwire_server.memory import tune_malloc
from trackwire_server.ui.server import DEFAULT_UI_HOST, DEFAULT_UI_PORT, UiServer


def storage_option(text: str) -> tuple[str, str | bool]:
    """Parses KEY=VALUE; "true" and "false" become booleans."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    return key, value


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="trackwire server")
    parser.description = (
        "Serve Trackwire's gRPC tracking, artifact and model registry services, and the web "
        "UI. With no options: SQLite in ./trackwire.db and artifacts in ./trackwire-artifacts, "
        "gRPC on 127.0.0.1:50051, the UI on http://127.0.0.1:5000/."
    )
    parser.add_argument(
        "--db",
        default=os.environ.get("TRACKWIRE_DB", DEFAULT_DB_URL),
        help="database URL: sqlite:///path.db, postgresql://user@host:5432/db, "
        "mysql://user@host:3306/db (env TRACKWIRE_DB; default %(default)s)",
    )
    parser.add_argument(
        "--artifacts",
        default=os.environ.get("TRACKWIRE_ARTIFACTS", DEFAULT_ARTIFACTS),
        help="artifact root: a folder or an fsspec URL such as s3://bucket/prefix or memory://x "
        "(env TRACKWIRE_ARTIFACTS; default %(default)s)",
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
        "--host", default=DEFAULT_HOST, help="address to listen on (default %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port to listen on; 0 picks a free one (default %(default)s)",
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
        "each; one more is refused with RESOURCE_EXHAUSTED at once. Each thread keeps a "
        "database connection: keep workers + max-streams below the database's connection "
        "limit (default %(default)s)",
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
        help="port of the web UI over HTTP; 0 picks a free one (default %(default)s)",
    )
    parser.add_argument("--no-ui", action="store_true", help="do not serve the web UI")
    parser.add_argument("--version", action="version", version=f"trackwire {__version__}")
    return parser


def serve(args: argparse.Namespace) -> None:
    tune_malloc()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = ServerConfig(
            db_url=args.db,
            artifacts=args.artifacts,
            host=args.host,
            port=args.port,
            workers=args.workers,
            max_streams=args.max_streams,
            max_concurrent_rpcs=args.max_concurrent_rpcs,
            stream_idle_timeout=args.stream_idle_timeout,
            storage_options=dict(args.artifacts_option) or None,
        )
    except ValueError as e:
        raise SystemExit(f"trackwire server: {e}") from None
    server, port = create_server(config)
    server.start()
    ui = None
    if not args.no_ui:
        try:
            ui = UiServer(config.host, port, host=args.ui_host, port=args.ui_port).start()
        except OSError as e:
            server.stop(0)
            raise SystemExit(
                f"trackwire: cannot serve the web UI on {args.ui_host}:{args.ui_port}: {e}; "
                "choose another --ui-port, or --no-ui"
            ) from None
    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Printed for scripts that start the server on port 0 and need to know where it is.
    print(
        f"trackwire {__version__} listening on {server.address} "
        f"(db {config.db_url}, artifacts {server.artifact_root})",
        flush=True,
    )
    if ui is not None:
        print(f"trackwire web UI on {ui.url}", flush=True)
    stopping.wait()
    logging.getLogger("trackwire.server").info("shutting down; grace %.1fs", args.grace)
    if ui is not None:
        server.metric_feed.close()  # ends the UI's live streams first
        ui.stop()
    server.stop(args.grace)


def main(argv: list[str] | None = None) -> None:
    serve(build_parser().parse_args(argv))
