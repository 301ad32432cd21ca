"""`trackwire experiments`: create, list, describe, rename, delete and restore experiments."""

from __future__ import annotations

from trackwire import errors
from trackwire.commands.output import (
    command,
    group,
    key_values,
    print_fields,
    print_json,
    print_mapping,
    print_table,
    time_text,
)
from trackwire.entities import ViewType

VIEWS = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}
PAGE = 1000


def experiment_id(client, text: str) -> str:
    """The id of the experiment `text` names: an id (digits) or a name."""
    if text.isdigit():
        return text
    found = client.get_experiment_by_name(text)
    if found is None:
        raise errors.NotFoundError(f"no experiment is named '{text}'")
    return found.experiment_id


def search_all(client, view: int, filter_string: str | None, order_by, limit: int | None):
    """Every experiment matching, page after page, up to `limit`."""
    found, token = [], None
    while limit is None or len(found) < limit:
        size = PAGE if limit is None else min(PAGE, limit - len(found))
        page = client.search_experiments(view, size, filter_string, order_by, token)
        found += page
        token = page.token
        if not token:
            break
    return found


def register(subparsers):
    commands = group(
        subparsers,
        "experiments",
        help="create, list, describe, rename, delete and restore experiments",
        description="Experiments: named groups of runs. EXPERIMENT is an id or a name.",
        example="trackwire experiments list --filter \"name LIKE 'churn%'\"",
    )
    p = command(
        commands,
        "create",
        "create an experiment and print its id",
        "trackwire experiments create churn --tag team=growth",
        _create,
    )
    p.add_argument("name", help="the experiment's name (unique)")
    p.add_argument(
        "--artifact-location", help="where its runs' artifacts go (default: the server's)"
    )
    p.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="a tag (repeat)")

    p = command(
        commands,
        "list",
        "list experiments, newest first",
        "trackwire experiments list --filter \"tags.team = 'growth'\" --view all",
        _list,
    )
    p.add_argument("--filter", help="a filter on name, tags and times (MLflow's grammar)")
    p.add_argument("--order-by", action="append", default=[], help="e.g. 'name ASC' (repeat)")
    p.add_argument("--view", choices=sorted(VIEWS), default="active", help="lifecycle stage")
    p.add_argument("--max", type=int, default=None, help="at most this many (default: all)")

    p = command(
        commands,
        "describe",
        "show an experiment: id, name, stage, times, artifact location and tags",
        "trackwire experiments describe churn",
        _describe,
    )
    p.add_argument("experiment", help="id or name")

    p = command(
        commands,
        "rename",
        "rename an experiment",
        "trackwire experiments rename churn churn-2026",
        _rename,
    )
    p.add_argument("experiment", help="id or name")
    p.add_argument("new_name")

    p = command(
        commands,
        "delete",
        "delete an experiment and its runs (restorable until `trackwire gc` purges them)",
        "trackwire experiments delete churn",
        _delete,
    )
    p.add_argument("experiment", help="id or name")

    p = command(
        commands,
        "restore",
        "restore a deleted experiment and the runs deleted with it",
        "trackwire experiments restore 3",
        _restore,
    )
    p.add_argument("experiment", help="id or name")
    return commands


def _create(args, client):
    eid = client.create_experiment(args.name, args.artifact_location, key_values(args.tag, "--tag"))
    if args.json:
        print_json({"experiment_id": eid, "name": args.name})
    else:
        print(f"Created experiment '{args.name}' with id {eid}")


def _list(args, client):
    found = search_all(client, VIEWS[args.view], args.filter, args.order_by, args.max)
    if args.json:
        print_json(found)
        return
    print_table(
        ("ID", "NAME", "STAGE", "CREATED (UTC)", "ARTIFACT LOCATION"),
        [
            (
                e.experiment_id,
                e.name,
                e.lifecycle_stage,
                time_text(e.creation_time),
                e.artifact_location,
            )
            for e in found
        ],  # fmt: skip
        "No experiments.",
    )


def _describe(args, client):
    experiment = client.get_experiment(experiment_id(client, args.experiment))
    if args.json:
        print_json(experiment)
        return
    print_fields(
        [
            ("ID", experiment.experiment_id),
            ("Name", experiment.name),
            ("Stage", experiment.lifecycle_stage),
            ("Created (UTC)", time_text(experiment.creation_time)),
            ("Updated (UTC)", time_text(experiment.last_update_time)),
            ("Artifact location", experiment.artifact_location),
        ]
    )
    print_mapping("Tags", experiment.tags)


def _done(args, message: str, **fields) -> None:
    if args.json:
        print_json(fields)
    else:
        print(message)


def _rename(args, client):
    eid = experiment_id(client, args.experiment)
    client.rename_experiment(eid, args.new_name)
    _done(args, f"Renamed experiment {eid} to '{args.new_name}'", experiment_id=eid,
          name=args.new_name)  # fmt: skip


def _delete(args, client):
    eid = experiment_id(client, args.experiment)
    client.delete_experiment(eid)
    _done(args, f"Deleted experiment {eid}", experiment_id=eid, lifecycle_stage="deleted")


def _restore(args, client):
    eid = experiment_id(client, args.experiment)
    client.restore_experiment(eid)
    _done(args, f"Restored experiment {eid}", experiment_id=eid, lifecycle_stage="active")
