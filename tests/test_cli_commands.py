"""The `trackwire` commands (trackwire.commands) against a real server: in-process through
`trackwire.cli.main`, and a few as real `python -m trackwire` processes.

Their output is plain text for people and JSON with --json; exit codes are 0 (done), 1 (an
error the server returned, "error: CODE: message" on stderr) and 2 (usage)."""

from __future__ import annotations

import argparse
import csv
import fcntl
import io
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import time

import pytest

import trackwire
from tests.conftest import RunningServer
from tests.support.cli import REPO, trackwire_process
from tests.support.cli import trackwire as tw
from trackwire.cli import build_parser
from trackwire.entities import Metric


@pytest.fixture
def sqlite_server(tmp_path):
    """The commands are clients: one database is enough for most of them (gc, which
    purges rows, runs on all three in test_gc.py)."""
    running = RunningServer(f"sqlite:///{tmp_path / 'cli.db'}", tmp_path / "artifacts")
    yield running
    running.stop()


@pytest.fixture
def uri(sqlite_server, monkeypatch):
    """The server, also as $TRACKWIRE_TRACKING_URI for commands run without --tracking-uri."""
    monkeypatch.setenv("TRACKWIRE_TRACKING_URI", sqlite_server.uri)
    return sqlite_server.uri


@pytest.fixture
def api(uri):
    with trackwire.TrackwireClient(uri) as client:
        yield client


def _leaf_commands(parser: argparse.ArgumentParser, prefix=()):
    """Every command path under `parser` ((), ("runs",), ("runs", "list"), ...)."""
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _leaf_commands(sub, (*prefix, name))


def test_every_help_says_what_the_command_does_and_shows_an_example():
    paths = list(_leaf_commands(build_parser()))
    assert ("runs", "export") in paths and ("gc",) in paths and ("models", "alias") in paths
    for path in paths:
        result = tw(*path, "--help")
        assert result.code == 0, (path, result.err)
        assert "Example" in result.out, path
        usage, _, rest = result.out.partition("\n\n")
        assert rest.strip().split("\n")[0].strip(), f"{path}: --help has no description"


def test_exit_codes_zero_one_and_two(uri):
    ok = tw("experiments", "list")
    assert ok.code == 0 and "Default" in ok.out
    missing = tw("experiments", "describe", "4242")
    assert missing.code == 1
    assert missing.err.startswith("error: NOT_FOUND: ") and "4242" in missing.err
    assert missing.out == ""
    unknown_option = tw("experiments", "list", "--no-such-option")
    assert unknown_option.code == 2 and "unrecognized arguments" in unknown_option.err
    assert tw("runs", "list").code == 2  # --experiment is required
    assert tw("runs").code == 2  # a group without its command
    assert tw().code == 2
    bad_filter = tw("experiments", "list", "--filter", "name ~~ 'x'")
    assert bad_filter.code == 1 and bad_filter.err.startswith("error: INVALID_ARGUMENT: ")


def test_experiments_create_list_describe_rename_delete_restore(uri):
    created = tw("experiments", "create", "churn", "--tag", "team=growth")
    assert created.code == 0 and created.out.startswith("Created experiment 'churn' with id ")
    eid = created.out.split()[-1]
    as_json = tw("experiments", "create", "fraud", "--json").json()
    assert as_json["name"] == "fraud" and as_json["experiment_id"].isdigit()
    assert tw("experiments", "create", "churn").err.startswith("error: ALREADY_EXISTS: ")

    table = tw("experiments", "list").out.splitlines()
    assert table[0].split()[:3] == ["ID", "NAME", "STAGE"]
    assert any(line.split()[:3] == [eid, "churn", "active"] for line in table[1:])
    filtered = tw("experiments", "list", "--filter", "tags.team = 'growth'", "--json").json()
    assert [e["name"] for e in filtered] == ["churn"]
    assert len(tw("experiments", "list", "--max", "1", "--json").json()) == 1

    described = tw("experiments", "describe", "churn").out
    assert "ID:" in described and "churn" in described and "team: growth" in described
    assert tw("experiments", "describe", eid, "--json").json()["tags"] == {"team": "growth"}

    assert tw("experiments", "rename", "churn", "churn-2026").code == 0
    assert tw("experiments", "describe", eid, "--json").json()["name"] == "churn-2026"
    assert tw("experiments", "delete", "churn-2026").out == f"Deleted experiment {eid}\n"
    deleted = tw("experiments", "list", "--view", "deleted", "--json").json()
    assert [e["experiment_id"] for e in deleted] == [eid]
    assert tw("experiments", "restore", eid, "--json").json()["lifecycle_stage"] == "active"
    assert tw("experiments", "list", "--view", "deleted", "--json").json() == []


def test_the_tracking_uri_option_wins_over_the_environment(sqlite_server, monkeypatch):
    monkeypatch.setenv("TRACKWIRE_TRACKING_URI", "grpc://127.0.0.1:1")
    monkeypatch.setenv("TRACKWIRE_RETRY_SECONDS", "0")
    assert tw("experiments", "list", "--json", uri=sqlite_server.uri).code == 0
    unreachable = tw("experiments", "list")
    assert unreachable.code == 1 and unreachable.err.startswith("error: UNAVAILABLE: ")
    bad_uri = tw("experiments", "list", uri="http://example.com")
    assert bad_uri.code == 1 and "neither grpc://" in bad_uri.err


def _runs(api):
    eid = api.create_experiment("sweep")
    ids = []
    for i, (lr, rmse) in enumerate([(0.1, 0.9), (0.01, 0.7), (0.001, 0.8)]):
        run = api.create_run(
            eid,
            run_name=f"r{i}",
            params={"lr": lr},
            tags={"team": "growth"},
            metrics=[Metric("rmse", rmse, 1_700_000_000_000 + i, 0)],
            start_time=1_700_000_000_000 + i * 1000,
        )
        ids.append(run.info.run_id)
    api.set_terminated(ids[0])
    return eid, ids


def test_runs_list_describe_delete_restore(api):
    eid, ids = _runs(api)
    table = tw("runs", "list", "--experiment", "sweep", "--columns", "metrics.rmse,params.lr")
    lines = table.out.splitlines()
    assert lines[0].split() == ["RUN", "ID", "NAME", "STATUS", "STARTED", "(UTC)", "EXPERIMENT",
                                "metrics.rmse", "params.lr"]  # fmt: skip
    assert [line.split()[0] for line in lines[1:]] == ids[::-1]  # newest first
    best = tw(
        "runs", "list", "--experiment", eid, "--order-by", "metrics.rmse ASC", "--max", "2",
        "--json",
    ).json()  # fmt: skip
    assert [r["info"]["run_id"] for r in best] == [ids[1], ids[2]]
    assert best[0]["data"]["params"] == {"lr": "0.01"}
    filtered = tw("runs", "list", "--experiment", eid, "--filter", "metrics.rmse > 0.75", "--json")
    assert {r["info"]["run_id"] for r in filtered.json()} == {ids[0], ids[2]}
    assert tw("runs", "list", "--experiment", eid, "--columns", "rmse").code == 1

    described = tw("runs", "describe", ids[0]).out
    assert "Status:" in described and "FINISHED" in described and "rmse: 0.9" in described
    assert tw("runs", "describe", ids[1], "--json").json()["data"]["metrics"] == {"rmse": 0.7}
    assert tw("runs", "describe", "f" * 32).err.startswith("error: NOT_FOUND: ")

    assert tw("runs", "delete", ids[0], ids[1]).out.count("Deleted run") == 2
    active = tw("runs", "list", "--experiment", eid, "--json").json()
    assert [r["info"]["run_id"] for r in active] == [ids[2]]
    deleted = tw("runs", "list", "--experiment", eid, "--view", "deleted", "--json").json()
    assert {r["info"]["run_id"] for r in deleted} == {ids[0], ids[1]}
    again = tw("runs", "delete", ids[0])
    assert again.code == 1 and again.err.startswith("error: FAILED_PRECONDITION: ")
    assert tw("runs", "restore", ids[0], ids[1], "--json").code == 0
    assert len(tw("runs", "list", "--experiment", eid, "--json").json()) == 3


def test_runs_export_csv_and_parquet_with_mlflows_columns(api, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    eid, ids = _runs(api)
    exported = tw("runs", "export", "--experiment", "sweep", "--order-by", "metrics.rmse ASC")
    assert exported.code == 0, exported.err
    rows = list(csv.DictReader(io.StringIO(exported.out)))
    assert [r["run_id"] for r in rows] == [ids[1], ids[2], ids[0]]
    header = exported.out.splitlines()[0].split(",")
    assert header[:7] == ["run_id", "experiment_id", "run_name", "status", "artifact_uri",
                          "start_time", "end_time"]  # fmt: skip
    assert {"metrics.rmse", "params.lr", "tags.team"} <= set(header)
    assert rows[0]["metrics.rmse"] == "0.7" and rows[0]["params.lr"] == "0.01"
    assert rows[0]["start_time"].startswith("2023-11-14T22:13:21") and rows[0]["end_time"] == ""

    target = tmp_path / "runs.parquet"
    done = tw("runs", "export", "--experiment", eid, "--format", "parquet", "-o", str(target))
    assert done.code == 0 and done.out == f"Exported 3 runs to {target} (parquet)\n"
    table = pq.read_table(target)
    assert table.num_rows == 3
    assert str(table.schema.field("metrics.rmse").type) == "double"
    assert str(table.schema.field("start_time").type) == "timestamp[ms, tz=UTC]"
    assert str(table.schema.field("params.lr").type) == "string"
    by_id = dict(zip(table.column("run_id").to_pylist(), table.to_pylist(), strict=True))
    assert by_id[ids[0]]["metrics.rmse"] == 0.9 and by_id[ids[0]]["end_time"] is not None
    assert by_id[ids[1]]["end_time"] is None

    csv_file = tmp_path / "runs.csv"
    assert tw("runs", "export", "--experiment", eid, "-o", str(csv_file), "--json").json() == {
        "path": str(csv_file), "format": "csv", "runs": 3,
    }  # fmt: skip
    assert csv_file.read_text().splitlines()[0] == exported.out.splitlines()[0]
    no_file = tw("runs", "export", "--experiment", eid, "--format", "parquet")
    assert no_file.code == 1 and "--output" in no_file.err


def test_artifacts_upload_list_download(api, tmp_path):
    eid = api.create_experiment("files")
    run_id = api.create_run(eid).info.run_id
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "sub" / "b.txt").write_text("beta!")
    single = tmp_path / "notes.md"
    single.write_text("# notes")

    assert tw("artifacts", "upload", run_id, str(folder), "--artifact-path", "eval").code == 0
    up = tw("artifacts", "upload", run_id, str(single), "--json").json()
    assert up == {"run_id": run_id, "artifact_path": None, "bytes": 7}
    assert tw("artifacts", "upload", run_id, str(tmp_path / "nope")).code == 1

    top = tw("artifacts", "list", run_id).out.splitlines()
    assert top[0].split() == ["PATH", "SIZE"]
    assert [line.split()[0] for line in top[1:]] == ["eval/", "notes.md"]
    tree = tw("artifacts", "list", run_id, "--recursive", "--json").json()
    assert [(e["path"], e["is_dir"], e["file_size"]) for e in tree] == [
        ("eval", True, 0), ("eval/a.txt", False, 5), ("eval/sub", True, 0),
        ("eval/sub/b.txt", False, 5), ("notes.md", False, 7),
    ]  # fmt: skip
    assert [e["path"] for e in tw("artifacts", "list", run_id, "eval/sub", "--json").json()] == [
        "eval/sub/b.txt"
    ]

    out = tmp_path / "out"
    got = tw("artifacts", "download", run_id, "eval", "-d", str(out), "--json").json()
    assert got["bytes"] == 10 and got["local_path"] == str(out / "eval")
    assert (out / "eval" / "sub" / "b.txt").read_text() == "beta!"
    one = tw("artifacts", "download", run_id, "notes.md", "-d", str(out))
    assert one.code == 0 and (out / "notes.md").read_text() == "# notes"
    missing = tw("artifacts", "download", run_id, "nothing.bin", "-d", str(out))
    assert missing.code == 1 and missing.err.startswith("error: NOT_FOUND: ")


def test_large_transfers_show_a_progress_bar_only_when_asked_or_on_a_terminal(api, tmp_path):
    run_id = api.create_run("0").info.run_id
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    small = tmp_path / "small.txt"
    small.write_text("x")
    # Not a terminal here: no bar unless --progress.
    quiet = tw("artifacts", "upload", run_id, str(big))
    assert quiet.code == 0 and quiet.err == ""
    forced = tw("artifacts", "upload", run_id, str(big), "--artifact-path", "b", "--progress")
    assert forced.code == 0 and "upload" in forced.err and "100%" in forced.err
    assert "6.00M" in forced.err  # tqdm's binary-scaled total
    assert tw("artifacts", "upload", run_id, str(small), "--progress").err == ""  # too small
    down = tw("artifacts", "download", run_id, "b", "-d", str(tmp_path / "d"), "--progress")
    assert down.code == 0 and "download" in down.err and "100%" in down.err
    assert (tmp_path / "d" / "b" / "weights.bin").read_bytes() == big.read_bytes()
    as_json = tw("artifacts", "download", run_id, "weights.bin", "-d", str(tmp_path / "j"),
                 "--json")  # fmt: skip
    assert as_json.err == "" and as_json.json()["bytes"] == big.stat().st_size


def test_models_list_versions_transition_alias_download(api, tmp_path):
    run_id = api.create_run("0").info.run_id
    api.log_text(run_id, "weights", "model/weights.txt")
    api.create_registered_model("churn-classifier")
    for _ in range(3):
        api.create_model_version("churn-classifier", f"runs:/{run_id}/model", run_id)

    moved = tw("models", "transition", "churn-classifier", "2", "Production")
    assert moved.out == "Model 'churn-classifier' version 2 is now in Production\n"
    archived = tw(
        "models", "transition", "churn-classifier", "3", "Production", "--archive-existing",
        "--json",
    ).json()  # fmt: skip
    assert archived["current_stage"] == "Production"
    assert tw("models", "transition", "churn-classifier", "3", "Live").code == 1
    assert tw("models", "alias", "churn-classifier", "champion", "3").code == 0
    assert tw("models", "alias", "churn-classifier", "old", "1").code == 0
    assert tw("models", "alias", "churn-classifier", "old", "--delete").code == 0
    assert tw("models", "alias", "churn-classifier", "champion").code == 2  # no VERSION

    versions = tw("models", "versions", "churn-classifier").out.splitlines()
    assert versions[0].split()[:3] == ["VERSION", "STAGE", "ALIASES"]
    assert [line.split()[:3] for line in versions[1:]] == [
        ["3", "Production", "champion"], ["2", "Archived", "READY"], ["1", "None", "READY"],
    ]  # fmt: skip
    as_json = tw("models", "versions", "churn-classifier", "--json").json()
    assert [v["version"] for v in as_json] == ["3", "2", "1"]
    assert tw("models", "versions", "nobody").out == "Registered model 'nobody' has no versions.\n"

    listed = tw("models", "list", "--json").json()
    assert [m["name"] for m in listed] == ["churn-classifier"]
    assert listed[0]["aliases"] == {"champion": "3"}
    assert "champion=3" in tw("models", "list").out

    got = tw("models", "download", "models:/churn-classifier@champion", "-d", str(tmp_path))
    assert got.code == 0, got.err
    assert (tmp_path / "model" / "weights.txt").read_text() == "weights"
    assert "version 3" in got.out
    nothing = tw("models", "download", "models:/churn-classifier/Staging", "-d", str(tmp_path))
    assert nothing.code == 1 and nothing.err.startswith("error: NOT_FOUND: ")


def test_completion_scripts_know_every_command():
    for shell in ("bash", "zsh"):
        script = tw("completion", shell)
        assert script.code == 0
        for word in ("experiments", "runs", "artifacts", "models", "gc", "server", "export",
                     "--tracking-uri", "--older-than"):  # fmt: skip
            assert word in script.out, (shell, word)
    assert tw("completion", "fish").code == 2


def test_commands_as_real_processes(sqlite_server, tmp_path):
    env = {"TRACKWIRE_TRACKING_URI": sqlite_server.uri}
    created = trackwire_process("experiments", "create", "proc", "--json", env=env)
    assert created.code == 0, created.err
    eid = created.json()["experiment_id"]
    listed = trackwire_process("experiments", "list", env=env)
    assert listed.code == 0 and "proc" in listed.out
    missing = trackwire_process("runs", "describe", "0" * 32, env=env)
    assert missing.code == 1 and missing.err.startswith("error: NOT_FOUND: ")
    usage = trackwire_process("runs", "list", env=env)
    assert usage.code == 2 and "--experiment" in usage.err
    help_text = trackwire_process("--help")
    assert help_text.code == 0 and "server" in help_text.out and "gc" in help_text.out
    exported = trackwire_process(
        "runs", "export", "--experiment", eid, "--tracking-uri", sqlite_server.uri
    )
    assert exported.code == 0 and exported.out.startswith("run_id,experiment_id,")
    started = time.monotonic()
    assert trackwire_process("gc", "--dry-run", env=env).code == 0
    assert time.monotonic() - started < 60


def test_a_terminal_gets_a_progress_bar_by_default_and_json_none(sqlite_server, tmp_path):
    """stderr on a pseudo-terminal, stdout a pipe: the bar is drawn on the terminal, and
    with --json it is not drawn at all (unless --progress)."""
    run_id = trackwire.TrackwireClient(sqlite_server.uri).create_run("0").info.run_id
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(5 * 1024 * 1024))

    def on_a_terminal(*argv: str, sized: bool = True) -> tuple[str, str]:
        primary, secondary = pty.openpty()
        if sized:
            fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        env = dict(
            os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "client"), str(REPO / "server")])
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "trackwire", *argv, "--tracking-uri", sqlite_server.uri],
            stdout=subprocess.PIPE,
            stderr=secondary,
            env=env,
        )
        os.close(secondary)
        terminal = b""
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:  # the process closed its side
                break
            if not data:
                break
            terminal += data
        out = process.stdout.read().decode()
        assert process.wait(60) == 0, terminal
        os.close(primary)
        return out, terminal.decode(errors="replace")

    out, terminal = on_a_terminal("artifacts", "upload", run_id, str(big))
    assert "upload" in terminal and "100%" in terminal and out.startswith("Uploaded 5.0 MiB")
    # A pseudo-terminal never given a size (0 columns) gets a bar 80 wide.
    out, terminal = on_a_terminal("artifacts", "upload", run_id, str(big), sized=False)
    assert "100%" in terminal
    out, terminal = on_a_terminal("artifacts", "upload", run_id, str(big), "--json")
    assert terminal == "" and json.loads(out)["bytes"] == big.stat().st_size
