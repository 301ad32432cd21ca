"""The `trackwire` command."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="trackwire", description="Trackwire: ML experiment tracking over gRPC."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    from trackwire.importing.commands import add_import_commands
    from trackwire_server.cli import build_parser

    build_parser(commands.add_parser("server", help="run the tracking server"))
    add_import_commands(commands)
    args = parser.parse_args(argv)
    if args.command == "server":
        from trackwire_server.cli import serve

        serve(args)
    elif getattr(args, "run_command", None) is not None:
        sys.exit(args.run_command(args, parser.error))
    else:
        parser.print_help()
        sys.exit(2)
