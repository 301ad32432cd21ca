"""`trackwire models`: the model registry: list models and versions, move versions
between stages, point aliases, download a model's files.

Other packages add commands to the same group: `register(subparsers)` returns the
group's subparsers, and each function of `extra` is called with it
(`register(subparsers, extra=[serving.register])` gives `trackwire models serve`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from trackwire import artifacts as artifact_uris
from trackwire import errors
from trackwire.commands.artifacts import list_tree
from trackwire.commands.output import (
    add_progress_options,
    command,
    group,
    print_json,
    print_table,
    progress_bar,
    size_text,
    time_text,
)

PAGE = 100


def _all_pages(search, limit: int | None):
    found, token = [], None
    while limit is None or len(found) < limit:
        size = PAGE if limit is None else min(PAGE, limit - len(found))
        page = search(size, token)
        found += page
        token = page.token
        if not token:
            break
    return found


def register(subparsers, extra: Sequence[Callable] = ()):
    commands = group(
        subparsers,
        "models",
        help="the model registry: models, versions, stages, aliases, downloads",
        description="Registered models and their versions.",
        example="trackwire models versions churn-classifier",
    )
    p = command(
        commands,
        "list",
        "list registered models with their aliases and latest versions",
        "trackwire models list --filter \"name LIKE 'churn%'\"",
        _list,
    )
    p.add_argument("--filter", help="a filter on name and tags, e.g. \"name LIKE 'churn%%'\"")
    p.add_argument("--max", type=int, default=None, help="at most this many (default: all)")

    p = command(
        commands,
        "versions",
        "list the versions of a registered model, newest first",
        "trackwire models versions churn-classifier",
        _versions,
    )
    p.add_argument("name")
    p.add_argument("--max", type=int, default=None, help="at most this many (default: all)")

    p = command(
        commands,
        "transition",
        "move a model version to a stage (None, Staging, Production, Archived)",
        "trackwire models transition churn-classifier 3 Production --archive-existing",
        _transition,
    )
    p.add_argument("name")
    p.add_argument("version")
    p.add_argument("stage", help="None, Staging, Production or Archived")
    p.add_argument(
        "--archive-existing",
        action="store_true",
        help="archive the versions already in that stage, in the same transaction",
    )

    p = command(
        commands,
        "alias",
        "point an alias of a registered model at a version (or remove it with --delete)",
        "trackwire models alias churn-classifier champion 3",
        _alias,
    )
    p.add_argument("name")
    p.add_argument("alias")
    p.add_argument("version", nargs="?", help="the version to point at (omit with --delete)")
    p.add_argument("--delete", action="store_true", help="remove the alias instead")

    p = command(
        commands,
        "download",
        "download a model's files: models:/NAME/VERSION, /STAGE, /latest or @ALIAS",
        "trackwire models download models:/churn-classifier@champion -d ./model",
        _download,
    )
    p.add_argument("uri", help="models:/NAME/VERSION, models:/NAME/STAGE or models:/NAME@ALIAS")
    p.add_argument("-d", "--dst", default=".", help="the local folder to write into (default: .)")
    add_progress_options(p)
    for registrar in extra:
        registrar(commands)
    return commands


def _list(args, client):
    models = _all_pages(
        lambda size, token: client.search_registered_models(args.filter, size, None, token),
        args.max,
    )
    if args.json:
        print_json(models)
        return
    print_table(
        ("NAME", "LATEST VERSIONS", "ALIASES", "UPDATED (UTC)"),
        [
            (
                m.name,
                ", ".join(f"{v.version} ({v.current_stage})" for v in m.latest_versions),
                ", ".join(f"{a}={v}" for a, v in sorted(m.aliases.items())),
                time_text(m.last_updated_timestamp),
            )
            for m in models
        ],
        "No registered models.",
    )


def _versions(args, client):
    quoted = args.name.replace("'", "\\'")
    versions = _all_pages(
        lambda size, token: client.search_model_versions(
            f"name = '{quoted}'", size, ["version_number DESC"], token
        ),
        args.max,
    )
    if args.json:
        print_json(versions)
        return
    print_table(
        ("VERSION", "STAGE", "ALIASES", "STATUS", "RUN ID", "CREATED (UTC)", "SOURCE"),
        [
            (
                v.version,
                v.current_stage,
                ", ".join(v.aliases),
                v.status,
                v.run_id,
                time_text(v.creation_timestamp),
                v.source,
            )
            for v in versions
        ],  # fmt: skip
        f"Registered model '{args.name}' has no versions.",
    )


def _transition(args, client):
    version = client.transition_model_version_stage(
        args.name, args.version, args.stage, archive_existing_versions=args.archive_existing
    )
    if args.json:
        print_json(version)
    else:
        print(f"Model '{version.name}' version {version.version} is now in {version.current_stage}")


def _alias(args, client):
    if args.delete:
        if args.version is not None:
            args.command_parser.error("alias --delete takes no VERSION")
        client.delete_registered_model_alias(args.name, args.alias)
        message = f"Removed alias '{args.alias}' of model '{args.name}'"
    else:
        if args.version is None:
            args.command_parser.error("alias needs a VERSION (or --delete)")
        client.set_registered_model_alias(args.name, args.alias, args.version)
        message = f"Alias '{args.alias}' of model '{args.name}' points at version {args.version}"
    if args.json:
        print_json({"name": args.name, "alias": args.alias, "version": args.version})
    else:
        print(message)


def _download(args, client):
    resolved = artifact_uris.resolve(args.uri, client=client)
    if resolved.run_id is None:
        raise errors.InvalidArgumentError(f"'{args.uri}' is not a models:/ URI")
    total = sum(e.file_size for e in list_tree(client, resolved.run_id, resolved.path, True))
    os.makedirs(args.dst, exist_ok=True)
    with progress_bar(args, total, "download") as progress:
        local = client.download_artifacts(resolved.run_id, resolved.path, args.dst, progress)
    if args.json:
        print_json(
            {
                "uri": args.uri,
                "name": resolved.model_name,
                "version": resolved.model_version,
                "local_path": local,
                "bytes": total,
            }
        )
    else:
        print(
            f"Downloaded model '{resolved.model_name}' version {resolved.model_version} "
            f"({size_text(total)}) to {local}"
        )
