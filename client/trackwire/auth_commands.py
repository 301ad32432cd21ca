"""`trackwire login`, `logout`, `whoami` and `users`: signing in to a server with
authentication, and the operator's commands that make users straight in the database.
`tokens`, `teams` and `permissions` are in trackwire.access_commands.

Exit status: 0 done, 1 the server (or database) refused or failed, 2 a usage error.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

from trackwire import access_commands, credentials
from trackwire.command_helpers import (
    UsageError,
    add_command,
    add_group,
    add_tracking_uri,
    client,
    fail,
    print_table,
    read_secret,
    server_uri,
)
from trackwire.errors import TrackwireException

LOGIN_TTL_SECONDS = 30 * 24 * 3600  # the longest SignIn gives


# -- login, logout, whoami -------------------------------------------------------------------


def login(args: argparse.Namespace) -> int:
    uri = server_uri(args)
    token_id = None
    if args.user is not None:
        password = read_secret("Password", args.password_stdin)
        with client(args) as c:
            signed_in = c.auth.sign_in(
                args.user,
                password,
                ttl_seconds=LOGIN_TTL_SECONDS,
                description=f"trackwire login on {socket.gethostname()}",
            )
        token, token_id = signed_in.secret, signed_in.token.token_id
    else:
        token = args.token or read_secret("Token", args.password_stdin)
        token = credentials.check_token(token.strip())
    with client(args, token) as c:
        who = c.auth.whoami()
    if not who.auth_enabled:
        fail(f"{uri} does not check tokens (it runs without --auth): nothing to log in to")
    path = credentials.save_token(uri, token, token_id=token_id)
    print(f"Logged in to {uri} as {describe(who)}; the token is kept in {path}")
    return 0


def logout(args: argparse.Namespace) -> int:
    uri = server_uri(args)
    token, token_id = credentials.saved_token(uri), credentials.saved_token_id(uri)
    if token is None:
        print(f"Not logged in to {uri} ({credentials.credentials_path()} has no entry for it)")
        return 0
    if token_id is not None:
        # The sign-in token `login --user` made is revoked too (best effort: it expires).
        try:
            with client(args, token) as c:
                c.auth.revoke_token(token_id)
        except TrackwireException as e:
            print(f"trackwire: note: the sign-in token was not revoked: {e}", file=sys.stderr)
    credentials.forget_token(uri)
    print(f"Logged out of {uri}")
    return 0


def describe(who) -> str:
    user = who.user
    notes = [
        n for n, on in (("admin", user.admin), ("service account", user.service_account)) if on
    ]
    if who.team_names:
        notes.append("teams: " + ", ".join(who.team_names))
    return user.name + (f" ({'; '.join(notes)})" if notes else "")


def whoami(args: argparse.Namespace) -> int:
    uri = server_uri(args)
    with client(args) as c:
        who = c.auth.whoami()
    if not who.auth_enabled:
        print(f"{uri} does not check tokens (started without --auth): every call is allowed")
    else:
        print(f"{describe(who)} on {uri}; default permission {who.default_permission}")
    return 0


# -- users -----------------------------------------------------------------------------------


def operator_store(db_url: str):
    """The server's store over `db_url`, its schema created or migrated (no server needed,
    nor running: the operator's own access to the database)."""
    import peewee

    from trackwire_server.cli import redacted
    from trackwire_server.store import Store, migrations, open_database

    try:
        db = open_database(db_url)
        store = Store(db, "")
        migrations.upgrade(db, store.t, then=store.experiments.create_default)
    except peewee.PeeweeException as e:
        first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
        fail(f"cannot open the database {redacted(db_url)}: {first_line}")
    return store


def store_errors():
    """The server's domain errors, reported as the command's failure."""
    from trackwire_server.errors import TrackwireError

    return TrackwireError


def users_create(args: argparse.Namespace) -> int:
    from trackwire_server.auth.bootstrap import create_user_with_token
    from trackwire_server.servicers.auth import check_password

    if args.service_account and args.password_stdin:
        raise UsageError("a service account has no password: leave out --password-stdin")
    password = read_secret("Password", True) if args.password_stdin else None
    store = operator_store(args.db)
    try:
        if password is not None:
            check_password("password", password)
        secret = create_user_with_token(
            store,
            args.name,
            admin=args.admin,
            service_account=args.service_account,
            password=password,
        )
    except store_errors() as e:
        fail(e.message)
    finally:
        store.close()
    kind = "service account" if args.service_account else ("admin" if args.admin else "user")
    print(
        f"created {kind} '{args.name}'. Its API token (shown only now) is on stdout; use it "
        "as TRACKWIRE_TOKEN or with `trackwire login --token`.",
        file=sys.stderr,
    )
    print(secret, flush=True)
    return 0


def users_set_password(args: argparse.Namespace) -> int:
    from trackwire_server.auth import credentials as server_credentials
    from trackwire_server.servicers.auth import check_password

    password = read_secret("Password", args.password_stdin, confirm=True)
    store = operator_store(args.db)
    try:
        check_password("password", password)
        store.identities.update_user(
            args.name, password_hash=server_credentials.hash_password(password)
        )
    except store_errors() as e:
        fail(e.message)
    finally:
        store.close()
    print(f"password of '{args.name}' set")
    return 0


def users_list(args: argparse.Namespace) -> int:
    with client(args) as c:
        users = c.auth.list_users()
    rows = [("NAME", "ADMIN", "SERVICE ACCOUNT", "DISABLED")]
    yes = {True: "yes", False: "-"}
    rows += [(u.name, yes[u.admin], yes[u.service_account], yes[u.disabled]) for u in users]
    print_table(rows)
    return 0


def add_db(parser: argparse.ArgumentParser) -> None:
    from trackwire_server.cli import database_url
    from trackwire_server.config import DEFAULT_DB_URL

    parser.add_argument(
        "--db",
        type=database_url,
        default=os.environ.get("TRACKWIRE_DB", DEFAULT_DB_URL),
        help="the server's database, as `trackwire server --db` (env TRACKWIRE_DB; "
        "default %(default)s)",
    )


def register(subparsers) -> None:
    """Adds login, logout, whoami, users, tokens, teams and permissions to `trackwire`."""
    p = add_command(
        subparsers,
        "login",
        "sign in to a server and keep the token for it",
        "Sign in to a server with authentication (trackwire server --auth) and keep the "
        "token in the credentials file\n(~/.trackwire/credentials or $TRACKWIRE_CREDENTIALS, "
        "mode 0600), where every client of that tracking URI finds it.\nWith --user: asks "
        "for the password and gets a 30-day sign-in token. Otherwise: an API token, "
        "asked for\n(or --token; a token in a command line can be seen by other users of "
        "the machine).\n\nExamples:\n  trackwire login --tracking-uri grpc://tracking:50051 "
        '--user ana\n  echo "$TOKEN" | trackwire login --tracking-uri grpcs://tracking:443',
        login,
    )
    add_tracking_uri(p)
    who = p.add_mutually_exclusive_group()
    who.add_argument("--token", help="an API token (default: asked for)")
    who.add_argument("--user", metavar="NAME", help="sign in as this user with a password")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password (or token) from the first line of stdin",
    )
    p = add_command(
        subparsers,
        "logout",
        "forget the token kept for a server",
        "Remove the credentials file's token for a server (and revoke it, if `trackwire "
        "login --user` made it).\n\nExample:\n  trackwire logout --tracking-uri "
        "grpc://tracking:50051",
        logout,
    )
    add_tracking_uri(p)
    p = add_command(
        subparsers,
        "whoami",
        "say who the server takes you for",
        "Ask the server who the token (TRACKWIRE_TOKEN, or `trackwire login`'s) belongs "
        "to.\n\nExample:\n  TRACKWIRE_TRACKING_URI=grpc://tracking:50051 trackwire whoami",
        whoami,
    )
    add_tracking_uri(p)

    users = add_group(
        subparsers,
        "users",
        "create users, set passwords, list users",
        "Users of a server with authentication. `create` and `set-password` work straight "
        "on the database\n(the operator's commands: no token needed); `list` asks the "
        "server (admins only).",
        example="trackwire users create ana --admin --db postgresql://tw@db/trackwire",
    )
    p = add_command(
        users,
        "create",
        "create a user and print an API token for it (on the database)",
        "Create a user (or --service-account, or --admin) in the server's database and "
        "print a new API token\nfor it on stdout, once. Without --password-stdin the user "
        "has no password (tokens only;\n`trackwire users set-password` sets one).\n\n"
        "Examples:\n  trackwire users create ana --admin --db postgresql://tw@db/trackwire\n"
        "  TOKEN=$(trackwire users create nightly-job --service-account)",
        users_create,
    )
    p.add_argument("name", metavar="NAME", help="the user's name")
    p.add_argument("--admin", action="store_true", help="the user administers the server")
    p.add_argument("--service-account", action="store_true", help="a service account: tokens only")
    p.add_argument(
        "--password-stdin", action="store_true", help="read a password from stdin's first line"
    )
    add_db(p)
    p = add_command(
        users,
        "set-password",
        "set a user's password (on the database)",
        "Set a user's password in the server's database (asked twice, or --password-stdin)."
        "\n\nExample:\n  trackwire users set-password admin",
        users_set_password,
    )
    p.add_argument("name", metavar="NAME", help="the user's name")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin's first line"
    )
    add_db(p)
    p = add_command(
        users,
        "list",
        "list the server's users (admins)",
        "List the users of a server (admins only).\n\nExample:\n  trackwire users list "
        "--tracking-uri grpc://tracking:50051",
        users_list,
    )
    add_tracking_uri(p)
    access_commands.register(subparsers)
