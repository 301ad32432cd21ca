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
    from trackwire import auth_commands

    auth_commands.register(commands)  # login, logout, whoami, users, tokens, teams, permissions
    args = parser.parse_args(argv)
    if args.command == "server":
        from trackwire_server.cli import serve

        serve(args)
    elif hasattr(args, "run"):
        sys.exit(args.run(args))
    else:
        parser.print_help()
        sys.exit(2)
