"""What the `trackwire` commands of trackwire.auth_commands and trackwire.access_commands
share: subcommands with help and an example, the server they talk to, secrets read from a
prompt or stdin, exit statuses (0 done, 1 refused or failed, 2 a usage error), tables."""

from __future__ import annotations

import argparse
import datetime
import getpass
import sys

from trackwire.connection import is_embedded, resolve_tracking_uri
from trackwire.errors import TrackwireException


class UsageError(Exception):
    """A command given what it cannot work with: exit status 2."""


class CommandFailed(Exception):
    """A command that could not do its work (not the server's refusal): exit status 1."""


def fail(message: str) -> None:
    raise CommandFailed(message)


def formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def add_command(subparsers, name: str, summary: str, description: str, handler):
    parser = subparsers.add_parser(
        name, help=summary, description=description, formatter_class=formatter
    )
    # `run` for this branch's trackwire.cli; `handler` (with needs_client False) for the
    # dispatch of trackwire.commands, which calls handler(args) for its exit status.
    parser.set_defaults(
        run=lambda args: run(handler, args),
        handler=lambda args: run(handler, args),
        needs_client=False,
    )
    return parser


def add_group(subparsers, name: str, summary: str, description: str, example: str):
    """A command with subcommands (`trackwire users create ...`)."""
    parser = subparsers.add_parser(
        name,
        help=summary,
        description=f"{description}\n\nExample:\n  {example}",
        formatter_class=formatter,
    )
    parser.set_defaults(
        run=lambda args: (parser.print_help(sys.stderr), 2)[1], handler=None, group_parser=parser
    )
    return parser.add_subparsers(metavar="COMMAND", title="commands")


def add_tracking_uri(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tracking-uri",
        metavar="URI",
        help=(
            "the server: grpc://host:port or grpcs://host:port (TLS); a fleet of servers "
            "as grpc://h1:p1,h2:p2,... or dns:///name:port (every address of name), calls "
            "spread round-robin (default: $TRACKWIRE_TRACKING_URI)"
        ),
    )


def run(handler, args: argparse.Namespace) -> int:
    """Runs a command's handler; reports failures on stderr as one line and returns the
    exit status (the token is in no message: see trackwire.credentials)."""
    try:
        return handler(args) or 0
    except UsageError as e:
        print(f"trackwire: error: {e}", file=sys.stderr)
        return 2
    except (TrackwireException, CommandFailed) as e:
        print(f"trackwire: error: {e}", file=sys.stderr)
        return 1
    except ValueError as e:  # a token or credentials file the client cannot use
        print(f"trackwire: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


def server_uri(args: argparse.Namespace) -> str:
    """The tracking URI of a command that talks to a running server."""
    uri = resolve_tracking_uri(getattr(args, "tracking_uri", None))
    if is_embedded(uri):
        raise UsageError(
            f"this command talks to a running server: give --tracking-uri grpc://host:port "
            f"(or grpcs://) or set $TRACKWIRE_TRACKING_URI (now {uri!r})"
        )
    return uri


def client(args: argparse.Namespace, token: str | None = None):
    from trackwire.client import TrackwireClient

    return TrackwireClient(server_uri(args), token=token)


def read_secret(prompt: str, from_stdin: bool, confirm: bool = False) -> str:
    """A password or token: the first line of stdin with `from_stdin` (or when stdin is
    not a terminal), else asked for without echo (twice with `confirm`)."""
    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line.strip():
            raise UsageError(f"{prompt.lower()}: nothing on stdin")
        return line.rstrip("\r\n")
    secret = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass(f"{prompt} again: ") != secret:
        raise UsageError("the two passwords differ")
    return secret


def print_table(rows: list[tuple]) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def when(ms: int | None, none: str = "-") -> str:
    if ms is None:
        return none
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M UTC")
