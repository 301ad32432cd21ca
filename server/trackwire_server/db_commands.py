"""`trackwire db upgrade` and `trackwire db current`: the database's schema, without a server.

For a fleet of servers: `trackwire db upgrade --db URL` once (it takes the same lock
in the database as servers that migrate at start), then servers with --no-auto-migrate.

Exit status of `current`: 0 up to date, 3 older than this Trackwire (upgrade needed; an
empty database too), 4 newer than this Trackwire. Both: 1 when the database cannot be
opened or the upgrade fails.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import peewee

from trackwire_server.config import DEFAULT_DB_URL

UP_TO_DATE, BEHIND, AHEAD, FAILED = 0, 3, 4, 1


def register(subparsers) -> None:
    """Adds `db` (with `upgrade` and `current`) to the `trackwire` command's subparsers."""
    from trackwire_server.cli import database_url

    db = subparsers.add_parser(
        "db",
        help="the database's schema: upgrade it, or show its version",
        description="Show or upgrade the schema of Trackwire's database. Servers upgrade it "
        "themselves at start unless started with --no-auto-migrate; for a fleet, run "
        "`trackwire db upgrade` once, then start the servers with --no-auto-migrate.",
        epilog="Example:\n  trackwire db upgrade --db postgresql://trackwire@db:5432/trackwire",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # As `trackwire.commands` groups do: `handler` runs a command and returns its exit
    # status (no client needed); a group without its command has none.
    db.set_defaults(handler=None, group_parser=db)
    commands = db.add_subparsers(dest="db_command", metavar="COMMAND")
    for name, text, example in (
        (
            "upgrade",
            "apply the pending migrations (prints: from version X to Y); safe while "
            "servers start: all migrate under one lock in the database",
            "trackwire db upgrade --db postgresql://trackwire@db:5432/trackwire",
        ),
        (
            "current",
            "print the schema's version and whether it is this Trackwire's; exit "
            f"status {UP_TO_DATE} up to date, {BEHIND} older (run upgrade), {AHEAD} newer",
            "trackwire db current --db data/trackwire.db || trackwire db upgrade --db ...",
        ),
    ):
        command = commands.add_parser(
            name,
            help=text,
            description=text,
            epilog=f"Example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_argument(
            "--db",
            type=database_url,
            default=os.environ.get("TRACKWIRE_DB", DEFAULT_DB_URL),
            help="database URL or SQLite path, as for `trackwire server` (env TRACKWIRE_DB; "
            "default %(default)s)",
        )
        command.set_defaults(handler=run, needs_client=False)


def run(args: argparse.Namespace) -> int:
    """Runs `trackwire db <upgrade|current>`; returns its exit status."""
    from trackwire_server.cli import redacted
    from trackwire_server.store import migrations, open_database, schema

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    where = redacted(args.db)
    try:
        db = open_database(args.db)
        tables = schema.bind_tables(db)
        if args.db_command == "upgrade":
            found, now = migrations.upgrade(db, tables)
            if found == now:
                print(f"{where}: schema version {now}, up to date; nothing to do")
            else:
                print(f"{where}: schema upgraded from version {found} to {now}")
            status = UP_TO_DATE
        else:
            with db.connection_context():
                found = migrations.version_of(db, tables)
            status, state = _state(found)
            print(f"{where}: schema version {found} ({state})")
        db.close()
    except (peewee.PeeweeException, migrations.SchemaError, OSError) as e:
        first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
        print(f"trackwire db {args.db_command}: error: {where}: {first_line}", file=sys.stderr)
        status = FAILED
    return status


def _state(found: int) -> tuple[int, str]:
    from trackwire_server.store.schema_versions import SCHEMA_VERSION

    if found == SCHEMA_VERSION:
        return UP_TO_DATE, "up to date"
    if found < SCHEMA_VERSION:
        what = "no schema yet" if found == 0 else "older"
        return BEHIND, f"{what}: this Trackwire's is {SCHEMA_VERSION}; run `trackwire db upgrade`"
    return AHEAD, f"newer than this Trackwire's {SCHEMA_VERSION}: run a newer Trackwire"
