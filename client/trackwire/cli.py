"""The `trackwire` command."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="trackwire", description="Trackwire: ML experiment tracking over gRPC."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    from trackwire_server.cli import build_parser

    build_parser(commands.add_parser("server", help="run the tracking server"))
    from trackwire_server import db_commands

    db_commands.register(commands)
    args = parser.parse_args(argv)
    if args.command == "db":
        if args.handler is None:
            args.group_parser.print_help(sys.stderr)
        sys.exit(args.handler(args) if args.handler else 2)
    elif args.command == "server":
        from trackwire_server.cli import serve

        serve(args)
    else:
        parser.print_help()
        sys.exit(2)
