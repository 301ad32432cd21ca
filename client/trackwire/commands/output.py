"""What every `trackwire` command shares: its parser (help with an example, the
`--tracking-uri` and `--json` options), its client, its output (tables for people, JSON
for scripts) and its exit code.

Exit codes: 0 done; 1 the server (or the client, before sending) refused or failed, with
"error: CODE: message" on stderr; 2 a usage error (argparse's own).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence

from trackwire import errors

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

# Transfers at least this large show a progress bar (on a terminal, or with --progress).
PROGRESS_THRESHOLD_BYTES = 4 * 1024 * 1024


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help, with the epilog's "Example:" lines kept as written."""

    def _fill_text(self, text, width, indent):
        if text.startswith("Example"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _client_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--tracking-uri",
        metavar="URI",
        default=None,
        help="the server: grpc://host:port or host:port (grpcs:// for TLS), a fleet "
        "grpc://h1:p1,h2:p2,... or dns:///name:port (calls spread round-robin), or a "
        "database URL for an embedded server (default: $TRACKWIRE_TRACKING_URI, else "
        "sqlite:///trackwire.db)",
    )
    options.add_argument(
        "--json", action="store_true", help="print JSON (for scripts) instead of a table"
    )
    return options


CLIENT_OPTIONS = _client_options()


def group(subparsers, name: str, help: str, description: str, example: str):
    """A command group (`trackwire runs`): its parser's subparsers, to add commands to."""
    parser = subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=f"Example:\n  {example}",
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(handler=None, group_parser=parser)
    return parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND")


def command(
    subparsers,
    name: str,
    help: str,
    example: str,
    handler: Callable,
    description: str | None = None,
    client: bool = True,
) -> argparse.ArgumentParser:
    """A command: `help` says what it does (its --help starts with it), `example` is shown
    under "Example:"; `handler(args, client)` runs it (`handler(args)` without a client)."""
    parser = subparsers.add_parser(
        name,
        help=help,
        description=description or help[0].upper() + help[1:] + ".",
        epilog=f"Example:\n  {example}",
        formatter_class=HelpFormatter,
        parents=[CLIENT_OPTIONS] if client else [],
    )
    parser.set_defaults(handler=handler, needs_client=client, command_parser=parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Runs the command `args` names; its exit code (errors reported on stderr)."""
    try:
        if not getattr(args, "needs_client", True):
            return args.handler(args) or EXIT_OK
        from trackwire.client import TrackwireClient

        try:
            client = TrackwireClient(args.tracking_uri)
        except ValueError as e:  # a tracking URI the client cannot use
            raise CommandError(str(e)) from None
        with client:
            return args.handler(args, client) or EXIT_OK
    except errors.TrackwireException as e:
        print(f"error: {e.code.name}: {e.message}", file=sys.stderr)
        return EXIT_ERROR
    except CommandError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR


class CommandError(Exception):
    """A command that cannot be done for a reason found on this side (a local file
    missing, an export format without its library): exit code 1."""


# -- output ---------------------------------------------------------------------------


def as_plain(value):
    """Dataclasses (entities) as dicts, recursively: what --json prints."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: as_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_plain(v) for v in value]
    return value


def print_json(value) -> None:
    json.dump(as_plain(value), sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


def time_text(ms: int | None) -> str:
    """Milliseconds since the epoch as `2026-01-31 12:00:00` (UTC); "" when unset."""
    if ms is None:
        return ""
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def size_text(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def print_table(columns: Sequence[str], rows: Sequence[Sequence[object]], empty: str) -> None:
    """Columns padded to their widest cell; `empty` is printed when there are no rows."""
    if not rows:
        print(empty)
        return
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(columns)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*columns).rstrip())
    for row in cells:
        print(line.format(*row).rstrip())


def print_fields(pairs: Sequence[tuple[str, object]]) -> None:
    """`name: value` lines, the names aligned."""
    width = max(len(name) for name, _ in pairs)
    for name, value in pairs:
        print(f"{name + ':':<{width + 1}} {'' if value is None else value}".rstrip())


def print_mapping(title: str, mapping: dict) -> None:
    print(f"{title}:")
    if not mapping:
        print("  (none)")
    for key in sorted(mapping):
        print(f"  {key}: {mapping[key]}")


def key_values(pairs: Sequence[str], option: str) -> dict[str, str]:
    """KEY=VALUE arguments as a dict."""
    result = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"{option} takes KEY=VALUE, not {pair!r}")
        result[key] = value
    return result


# -- progress -------------------------------------------------------------------------


def add_progress_options(parser: argparse.ArgumentParser) -> None:
    bars = parser.add_mutually_exclusive_group()
    bars.add_argument(
        "--progress",
        dest="progress",
        action="store_const",
        const=True,
        default=None,
        help="always show a progress bar (by default: on a terminal, for transfers over "
        f"{PROGRESS_THRESHOLD_BYTES // (1024 * 1024)} MiB)",
    )
    bars.add_argument(
        "--no-progress", dest="progress", action="store_const", const=False, help="never show one"
    )


def _terminal_size() -> tuple[int, int]:
    """stderr's (columns, lines); 80 x 24 where it says 0 (a pseudo-terminal never
    sized), on which tqdm would draw nothing."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return 80, 24
    return size.columns or 80, size.lines or 24


@contextlib.contextmanager
def progress_bar(args: argparse.Namespace, total: int, what: str) -> Iterator:
    """A callback told each chunk's size, drawing a bar on stderr for a transfer of
    `total` bytes over the threshold when stderr is a terminal (or --progress); never
    with --json (unless --progress), never for small transfers."""
    forced = getattr(args, "progress", None)
    wanted = forced if forced is not None else (not args.json and sys.stderr.isatty())
    if not wanted or total < PROGRESS_THRESHOLD_BYTES:
        yield None
        return
    from tqdm import tqdm

    columns, lines = _terminal_size()
    with tqdm(
        total=total,
        desc=what,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=False,
        # Redrawn at most 10 times a second whatever the chunk rate.
        mininterval=0.1,
        ncols=columns,
        nrows=lines,
        leave=True,
        ascii=os.environ.get("TERM") in (None, "dumb"),
    ) as bar:
        yield bar.update
