"""`trackwire tokens`, `teams` and `permissions`: the AuthService from the command line
(trackwire.auth_client), with the caller's token (TRACKWIRE_TOKEN or `trackwire login`'s).
Registered by trackwire.auth_commands."""

from __future__ import annotations

import argparse
import datetime
import sys

from trackwire.command_helpers import (
    UsageError,
    add_command,
    add_group,
    add_tracking_uri,
    client,
    print_table,
    when,
)

# -- tokens ------------------------------------------------------------------------------------


def tokens_create(args: argparse.Namespace) -> int:
    expire = None
    if args.expires_in_days is not None:
        if args.expires_in_days <= 0:
            raise UsageError("--expires-in-days must be positive")
        expire = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
            days=args.expires_in_days
        )
    with client(args) as c:
        made = c.auth.create_token(args.user or "", args.description or "", expire)
    token = made.token
    print(
        f"created token {token.token_id} of '{token.user_name}' (expires "
        f"{when(token.expire_time, 'never')}). Its secret (shown only now) is on stdout.",
        file=sys.stderr,
    )
    print(made.secret, flush=True)
    return 0


def tokens_list(args: argparse.Namespace) -> int:
    with client(args) as c:
        tokens = c.auth.list_tokens(args.user or "", include_inactive=args.all)
    rows = [("ID", "PREFIX", "USER", "CREATED", "EXPIRES", "REVOKED", "DESCRIPTION")]
    rows += [
        (
            t.token_id,
            t.prefix,
            t.user_name,
            when(t.create_time),
            when(t.expire_time, "never"),
            when(t.revoke_time),
            t.description,
        )
        for t in tokens
    ]
    print_table(rows)
    return 0


def tokens_revoke(args: argparse.Namespace) -> int:
    with client(args) as c:
        token = c.auth.revoke_token(args.token_id)
    print(f"revoked token {token.token_id} of '{token.user_name}'")
    return 0


# -- teams -------------------------------------------------------------------------------------


def show_team(team) -> None:
    print(f"{team.name}: {', '.join(team.member_names) or '(no members)'}")


def teams_create(args):
    with client(args) as c:
        show_team(c.auth.create_team(args.name))


def teams_list(args):
    with client(args) as c:
        for team in c.auth.list_teams():
            show_team(team)


def teams_show(args):
    with client(args) as c:
        show_team(c.auth.get_team(args.name))


def teams_delete(args):
    with client(args) as c:
        c.auth.delete_team(args.name)
    print(f"deleted team '{args.name}'")


def teams_add_member(args):
    with client(args) as c:
        show_team(c.auth.add_team_member(args.team, args.user))


def teams_remove_member(args):
    with client(args) as c:
        show_team(c.auth.remove_team_member(args.team, args.user))


# -- permissions -------------------------------------------------------------------------------


def resource(args) -> dict:
    return {"experiment_id": args.experiment, "registered_model_name": args.model}


def principal(args) -> dict:
    return {"user_name": args.user, "team_name": args.team}


def describe_grant(grant) -> str:
    who = f"user {grant.user_name}" if grant.user_name else f"team {grant.team_name}"
    what = (
        f"experiment {grant.experiment_id}"
        if grant.experiment_id is not None
        else f"model {grant.registered_model_name}"
    )
    return f"{who}: {grant.level} on {what}"


def permissions_grant(args):
    with client(args) as c:
        grant = c.auth.set_permission(args.level, **resource(args), **principal(args))
    print(describe_grant(grant))


def permissions_revoke(args):
    with client(args) as c:
        c.auth.delete_permission(**resource(args), **principal(args))
    print("revoked")


def permissions_list(args):
    with client(args) as c:
        grants = c.auth.list_permissions(**resource(args))
    rows = [("PRINCIPAL", "NAME", "LEVEL")]
    rows += [
        ("user", g.user_name, g.level) if g.user_name else ("team", g.team_name, g.level)
        for g in grants
    ]
    print_table(rows)


def add_resource(parser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--experiment", metavar="ID", help="an experiment, by id")
    group.add_argument("--model", metavar="NAME", help="a registered model, by name")


def add_principal(parser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--user", metavar="NAME", help="a user, by name")
    group.add_argument("--team", metavar="NAME", help="a team, by name")


def command(group, name, summary, example, handler, *args: tuple[str, str]):
    """A subcommand taking --tracking-uri and the positional `args` ((name, help) pairs)."""
    p = add_command(
        group,
        name,
        summary,
        f"{summary[0].upper()}{summary[1:]}.\n\nExample:\n  {example}",
        handler,
    )
    for arg, text in args:
        p.add_argument(arg, help=text)
    add_tracking_uri(p)
    return p


def register(subparsers) -> None:
    tokens = add_group(
        subparsers,
        "tokens",
        "create, list and revoke API tokens",
        "API tokens: what a client sends as `authorization: Bearer <token>` "
        "(TRACKWIRE_TOKEN).\nYour own, or any user's for an admin (--user).",
        example='trackwire tokens create --description "nightly training job"',
    )
    p = command(
        tokens,
        "create",
        "create an API token and print its secret once",
        "TRACKWIRE_TOKEN=$(trackwire tokens create --description 'nightly job')",
        tokens_create,
    )
    p.add_argument("--user", metavar="NAME", help="the owner (admins; default: you)")
    p.add_argument("--description", metavar="TEXT", help="what the token is for")
    p.add_argument(
        "--expires-in-days",
        type=float,
        metavar="DAYS",
        help="when it stops working (default: never)",
    )
    p = command(
        tokens,
        "list",
        "list API tokens (never their secrets)",
        "trackwire tokens list --all",
        tokens_list,
    )
    p.add_argument("--user", metavar="NAME", help="whose tokens (admins; default: yours)")
    p.add_argument("--all", action="store_true", help="include revoked and expired tokens")
    p = command(
        tokens,
        "revoke",
        "revoke an API token at once",
        "trackwire tokens revoke 12",
        tokens_revoke,
    )
    p.add_argument("token_id", metavar="ID", type=int, help="the token's id (tokens list)")

    teams = add_group(
        subparsers,
        "teams",
        "manage teams (admins)",
        "Teams: grants to a team apply to each member. Changing them needs an admin.",
        example="trackwire teams add-member vision ana",
    )
    command(
        teams,
        "create",
        "create a team",
        "trackwire teams create vision",
        teams_create,
        ("name", "the team's name"),
    )
    command(
        teams, "list", "list teams (yours, or all for an admin)", "trackwire teams list", teams_list
    )
    command(
        teams,
        "show",
        "show a team's members",
        "trackwire teams show vision",
        teams_show,
        ("name", "the team's name"),
    )
    command(
        teams,
        "delete",
        "delete a team with its grants",
        "trackwire teams delete vision",
        teams_delete,
        ("name", "the team's name"),
    )
    command(
        teams,
        "add-member",
        "add a user to a team",
        "trackwire teams add-member vision ana",
        teams_add_member,
        ("team", "the team's name"),
        ("user", "the user's name"),
    )
    command(
        teams,
        "remove-member",
        "remove a user from a team",
        "trackwire teams remove-member vision ana",
        teams_remove_member,
        ("team", "the team's name"),
        ("user", "the user's name"),
    )

    permissions = add_group(
        subparsers,
        "permissions",
        "grant, revoke and list access to experiments and models",
        "Who may do what with an experiment or registered model. Levels: NONE, READ, USE, "
        "EDIT, MANAGE\n(each includes the ones below). Needs MANAGE on the resource.",
        example="trackwire permissions grant --experiment 3 --user ana EDIT",
    )
    p = command(
        permissions,
        "grant",
        "grant a user or team a level on an experiment or model",
        "trackwire permissions grant EDIT --experiment 3 --team vision",
        permissions_grant,
    )
    p.add_argument(
        "level",
        type=str.upper,
        choices=("NONE", "READ", "USE", "EDIT", "MANAGE"),
        help="the level (replaces their earlier grant there)",
    )
    add_resource(p)
    add_principal(p)
    p = command(
        permissions,
        "revoke",
        "remove a user's or team's grant on an experiment or model",
        "trackwire permissions revoke --model churn --user ana",
        permissions_revoke,
    )
    add_resource(p)
    add_principal(p)
    p = command(
        permissions,
        "list",
        "list the grants on an experiment or model",
        "trackwire permissions list --experiment 3",
        permissions_list,
    )
    add_resource(p)
