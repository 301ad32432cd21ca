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
    models = commands.add_parser(
        "models",
        help="serve models and score files with them (serve, predict)",
        description="Serve a registered or logged model, or score a file with it.",
        epilog="Example:\n  trackwire models serve -m models:/churn/Production --port 8080",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from trackwire.serving.commands import add_models_serve_commands

    add_models_serve_commands(models.add_subparsers(dest="models_command", metavar="COMMAND"))
    args = parser.parse_args(argv)
    if args.command == "server":
        from trackwire_server.cli import serve

        serve(args)
    elif args.command == "models" and getattr(args, "handler", None):
        args.handler(args)
    elif args.command == "models":
        models.print_help()
        sys.exit(2)
    else:
        parser.print_help()
        sys.exit(2)
