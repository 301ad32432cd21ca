"""`trackwire artifacts`: list, download and upload a run's files (a progress bar on
transfers over a few MiB)."""

from __future__ import annotations

import os

from trackwire.commands.output import (
    CommandError,
    add_progress_options,
    command,
    group,
    print_json,
    print_table,
    progress_bar,
    size_text,
)


def list_tree(client, run_id: str, path: str, recursive: bool):
    """The entries under `path`, and with `recursive` those of every folder below."""
    entries, folders = [], [path]
    while folders:
        for entry in client.list_artifacts(run_id, folders.pop() or None):
            entries.append(entry)
            if recursive and entry.is_dir:
                folders.append(entry.path)
    return sorted(entries, key=lambda e: e.path)


def register(subparsers):
    commands = group(
        subparsers,
        "artifacts",
        help="list, download and upload the files of a run",
        description="Artifacts: the files of a run (models, plots, data), kept in the "
        "server's artifact storage.",
        example="trackwire artifacts download 0f3c9a2e6b5d4c1e8f7a6b5c4d3e2f1a model -d ./out",
    )
    p = command(
        commands,
        "list",
        "list a run's files and folders",
        "trackwire artifacts list 0f3c9a2e6b5d4c1e8f7a6b5c4d3e2f1a model --recursive",
        _list,
    )
    p.add_argument("run_id")
    p.add_argument("path", nargs="?", default="", help="a folder of the run (default: its root)")
    p.add_argument("-r", "--recursive", action="store_true", help="list every folder below too")

    p = command(
        commands,
        "download",
        "download a run's file or folder (the whole run by default)",
        "trackwire artifacts download 0f3c9a2e6b5d4c1e8f7a6b5c4d3e2f1a model -d ./out",
        _download,
    )
    p.add_argument("run_id")
    p.add_argument("path", nargs="?", default="", help="a file or folder (default: all)")
    p.add_argument("-d", "--dst", default=".", help="the local folder to write into (default: .)")
    add_progress_options(p)

    p = command(
        commands,
        "upload",
        "upload a local file or folder to a run",
        "trackwire artifacts upload 0f3c9a2e6b5d4c1e8f7a6b5c4d3e2f1a ./plots --artifact-path eval",
        _upload,
    )
    p.add_argument("run_id")
    p.add_argument("local_path", help="a file, or a folder uploaded with what it holds")
    p.add_argument("--artifact-path", default=None, help="the run's folder to put it in")
    add_progress_options(p)
    return commands


def _list(args, client):
    entries = list_tree(client, args.run_id, args.path, args.recursive)
    if args.json:
        print_json(entries)
        return
    print_table(
        ("PATH", "SIZE"),
        [
            (e.path + ("/" if e.is_dir else ""), "" if e.is_dir else size_text(e.file_size))
            for e in entries
        ],  # fmt: skip
        "No artifacts.",
    )


def _download(args, client):
    path = args.path.strip("/")
    # The total, for the bar: the file's size, or every file's below the folder.
    parent = path.rpartition("/")[0]
    match = [e for e in client.list_artifacts(args.run_id, parent or None) if e.path == path]
    if path and match and not match[0].is_dir:
        total = match[0].file_size
    else:
        total = sum(e.file_size for e in list_tree(client, args.run_id, path, True))
    os.makedirs(args.dst, exist_ok=True)
    with progress_bar(args, total, "download") as progress:
        local = client.download_artifacts(args.run_id, path, args.dst, progress=progress)
    if args.json:
        print_json({"run_id": args.run_id, "path": path, "local_path": local, "bytes": total})
    else:
        print(f"Downloaded {size_text(total)} to {local}")


def _upload(args, client):
    source = args.local_path
    if os.path.isdir(source):
        total = sum(
            os.path.getsize(os.path.join(root, name))
            for root, _dirs, files in os.walk(source)
            for name in files
        )
    elif os.path.isfile(source):
        total = os.path.getsize(source)
    else:
        raise CommandError(f"local path '{source}' is neither a file nor a folder")
    with progress_bar(args, total, "upload") as progress:
        if os.path.isdir(source):
            client.log_artifacts(args.run_id, source, args.artifact_path, progress=progress)
        else:
            client.log_artifact(args.run_id, source, args.artifact_path, progress=progress)
    where = args.artifact_path or "(root)"
    if args.json:
        print_json({"run_id": args.run_id, "artifact_path": args.artifact_path, "bytes": total})
    else:
        print(f"Uploaded {size_text(total)} to run {args.run_id} {where}")
