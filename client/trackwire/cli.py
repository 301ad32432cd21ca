"""The `trackwire` command: `server` (trackwire_server.cli) and the client commands of
`trackwire.commands`, one module per group."""

from __future__ import annotations

import argparse
import sys

from trackwire import auth_commands, commands
from trackwire.importing.commands import add_import_commands
from trackwire.serving.commands import add_models_serve_commands
from trackwire_server import db_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trackwire",
        description="Trackwire: ML experiment tracking over gRPC. Every command but "
        "`server` is a client of a server: --tracking-uri or $TRACKWIRE_TRACKING_URI.",
        epilog="Example:\n  trackwire experiments list --tracking-uri grpc://localhost:50051",
        formatter_class=commands.HelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    from trackwire_server.cli import build_parser as build_server_parser

    build_server_parser(
        subparsers.add_parser(
            "server",
            help="run the tracking server",
            epilog="Example: trackwire server --db postgresql://trackwire@db:5432/trackwire "
            "--artifacts s3://ml-artifacts/trackwire --host 0.0.0.0",
        )
    )
    for group in commands.GROUPS:
        if group is commands.models:  # serve and predict join the registry's commands
            group.register(subparsers, extra=[add_models_serve_commands])
        else:
            group.register(subparsers)
    # login, logout, whoami, users, tokens, teams, permissions
    auth_commands.register(subparsers)
    add_import_commands(subparsers)  # import mlflow
    db_commands.register(subparsers)  # db upgrade, db current (on the database itself)
    parser.set_defaults(root_parser=parser)  # what `trackwire completion` describes
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "server":
        from trackwire_server.cli import serve

        serve(args)
    elif getattr(args, "run_command", None) is not None:  # trackwire import mlflow
        sys.exit(args.run_command(args, parser.error))
    elif args.command is None:
        parser.print_help()
        sys.exit(commands.EXIT_USAGE)
    elif args.handler is None:  # a group without its command: `trackwire runs`
        args.group_parser.print_help(sys.stderr)
        sys.exit(commands.EXIT_USAGE)
    else:
        sys.exit(commands.run(args))
