"""`trackwire gc` and the RPCs under it (PurgeRun, PurgeExperiment) on every database:
deleted runs and experiments go for good, with their metrics and artifacts, one
transaction per run; a live run, even one being written to meanwhile, is never touched."""

from __future__ import annotations

import argparse
import json
import pathlib
import threading
import time

import grpc
import pytest

import trackwire
from tests.support.cli import trackwire as tw
from tests.support.cli import trackwire_process
from tests.support.seaweedfs import seaweedfs_s3, unavailable_reason
from trackwire import errors
from trackwire.commands.gc import duration_ms
from trackwire.entities import Metric
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire.v1 import tracking_service_pb2_grpc
from trackwire_server.app import create_server
from trackwire_server.config import ServerConfig
from trackwire_server.store import open_database, schema

S3_UNAVAILABLE = unavailable_reason()


def _rows_of(db_url: str, run_id: str) -> dict[str, int]:
    """How many rows each table holds for the run (read straight from the database)."""
    db = open_database(db_url)
    try:
        with db.connection_context():
            t = schema.bind_tables(db)
            return {
                table.__name__: table.select().where(table.run_id == run_id).count()
                for table in (t.Run, t.Param, t.RunTag, t.LatestMetric, t.MetricChunk)
            }
    finally:
        db.close()


def _run_folder(uri: str) -> pathlib.Path:
    return pathlib.Path(uri.removeprefix("file://"))


def _deleted_run_with_everything(client, experiment_id: str, name: str):
    run = client.create_run(experiment_id, run_name=name, params={"lr": 0.1}, tags={"t": "x"})
    run_id = run.info.run_id
    client.log_batch(
        run_id, metrics=[Metric("loss", 1.0 / (s + 1), 1000 + s, s) for s in range(500)]
    )
    client.log_text(run_id, "weights", "model/weights.txt")
    client.delete_run(run_id)
    return run_id, _run_folder(run.info.artifact_uri)


def test_gc_removes_deleted_runs_and_experiments_never_a_live_run_being_written(server, client):
    live_experiment = client.create_experiment("live")
    live = client.create_run(live_experiment, run_name="training")
    live_id = live.info.run_id
    client.log_text(live_id, "keep me", "notes.txt")
    deleted_id, deleted_folder = _deleted_run_with_everything(client, live_experiment, "old")
    doomed_experiment = client.create_experiment("doomed")
    inner_id, inner_folder = _deleted_run_with_everything(client, doomed_experiment, "inner")
    client.restore_run(inner_id)
    client.delete_experiment(doomed_experiment)  # deletes its run again, with it
    assert deleted_folder.joinpath("model", "weights.txt").is_file()
    assert _rows_of(server.db_url, deleted_id)["MetricChunk"] > 0

    # A dry run lists what would go and changes nothing.
    dry = tw("gc", "--dry-run", "--json", uri=server.uri).json()
    assert dry["dry_run"] and dry["skipped"] == []
    assert {(p["kind"], p["id"]) for p in dry["purged"]} == {
        ("run", deleted_id), ("run", inner_id), ("experiment", doomed_experiment),
    }  # fmt: skip
    assert client.get_run(deleted_id).info.lifecycle_stage == "deleted"
    assert client.get_experiment(doomed_experiment).lifecycle_stage == "deleted"
    assert deleted_folder.joinpath("model", "weights.txt").is_file()
    table = tw("gc", "--dry-run", uri=server.uri).out
    assert "Would remove 2 run(s) and 1 experiment(s)." in table and deleted_id in table

    # The live run is written to (a metric stream and LogBatch calls) while gc runs.
    written, stop, failures = [0], threading.Event(), []

    def write():
        with trackwire.TrackwireClient(server.uri) as writer:
            try:
                while not stop.is_set():
                    step = written[0]
                    writer.log_metric_async(live_id, "loss", 1.0 / (step + 1), step=step)
                    if step % 50 == 0:
                        writer.log_batch(live_id, tags={"step": step})
                        writer.flush_metrics()
                    written[0] += 1
                writer.flush_metrics()
            except Exception as e:  # reported by the test below
                failures.append(e)

    writer_thread = threading.Thread(target=write)
    writer_thread.start()
    try:
        while written[0] < 100:
            time.sleep(0.01)
        done = tw("gc", "--json", uri=server.uri)
        points_during_gc = written[0]
    finally:
        stop.set()
        writer_thread.join(60)
    assert failures == []
    assert points_during_gc > 100  # the writer went on while gc ran
    result = done.json()
    assert result["skipped"] == [] and not result["dry_run"]
    assert {(p["kind"], p["id"]) for p in result["purged"]} == {
        ("run", deleted_id), ("run", inner_id), ("experiment", doomed_experiment),
    }  # fmt: skip

    # The live run: untouched, every point there.
    assert client.get_run(live_id).info.lifecycle_stage == "active"
    history = client.get_metric_history(live_id, "loss")
    assert len(history) == written[0]
    assert [f.path for f in client.list_artifacts(live_id)] == ["notes.txt"]
    # The deleted ones: gone, rows, metrics and files.
    for run_id, folder in ((deleted_id, deleted_folder), (inner_id, inner_folder)):
        with pytest.raises(errors.NotFoundError):
            client.get_run(run_id)
        assert _rows_of(server.db_url, run_id) == dict.fromkeys(
            ("Run", "Param", "RunTag", "LatestMetric", "MetricChunk"), 0
        )
        assert not folder.exists() and not folder.parent.exists()
    with pytest.raises(errors.NotFoundError):
        client.get_experiment(doomed_experiment)
    assert client.create_experiment("doomed")  # the name is free again
    # Nothing left to do.
    again = tw("gc", uri=server.uri)
    assert again.code == 0 and "Nothing to remove." in again.out


def test_gc_older_than_and_experiment_scope(server, client):
    first = client.create_experiment("first")
    second = client.create_experiment("second")
    a, _ = _deleted_run_with_everything(client, first, "a")
    b, _ = _deleted_run_with_everything(client, second, "b")

    # As its own process, as a cron job runs it.
    kept = trackwire_process(
        "gc", "--older-than", "1h", "--json", env={"TRACKWIRE_TRACKING_URI": server.uri}
    ).json()
    assert kept["purged"] == [] and kept["deleted_too_recently"] == 2
    assert "Kept 2 deleted more recently" in tw("gc", "--older-than", "12h", uri=server.uri).out
    client.restore_run(a)  # still restorable
    client.delete_run(a)

    time.sleep(0.05)
    scoped = tw("gc", "--older-than", "10ms", "--experiment", "first", "--json", uri=server.uri)
    assert scoped.code == 2  # no such unit
    scoped = tw("gc", "--older-than", "0s", "--experiment", "first", "--json", uri=server.uri)
    assert [p["id"] for p in scoped.json()["purged"]] == [a]
    assert client.get_run(b).info.lifecycle_stage == "deleted"
    assert tw("gc", "--experiment", "nowhere", uri=server.uri).code == 1


def test_purge_refuses_live_runs_and_experiments_with_runs(server, client):
    eid = client.create_experiment("e")
    run_id = client.create_run(eid).info.run_id
    with pytest.raises(errors.FailedPreconditionError, match="not deleted") as live:
        client.purge_run(run_id)
    assert live.value.reason == "RUN_NOT_DELETED"
    with pytest.raises(errors.NotFoundError):
        client.purge_run("a" * 32)
    with pytest.raises(errors.FailedPreconditionError):
        client.purge_experiment(eid)
    with pytest.raises(errors.FailedPreconditionError):
        client.purge_experiment("0")
    client.delete_experiment(eid)
    with pytest.raises(errors.FailedPreconditionError, match="still holds 1 run") as holding:
        client.purge_experiment(eid)
    assert holding.value.reason == "EXPERIMENT_HAS_RUNS"
    past = int(time.time() * 1000) - 60_000
    with pytest.raises(errors.FailedPreconditionError) as recent:
        client.purge_run(run_id, deleted_before=past)
    assert recent.value.reason == "DELETED_TOO_RECENTLY"
    checked = client.purge_run(run_id, validate_only=True)
    assert checked.run_id == run_id and checked.experiment_id == eid
    assert checked.delete_time is not None and checked.delete_time > past
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"

    # Straight through the stub, the same purge, files included
    # (put there by hand: a deleted run takes no uploads).
    folder = _run_folder(checked.artifact_uri)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "f.txt").write_text("x")
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = tracking_service_pb2_grpc.TrackingServiceStub(channel)
        response = stub.PurgeRun(pb.PurgeRunRequest(run_id=run_id))
        assert response.run_id == run_id and response.artifact_uri == checked.artifact_uri
        with pytest.raises(grpc.RpcError) as gone:
            stub.PurgeRun(pb.PurgeRunRequest(run_id=run_id))
        assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    assert not folder.exists()
    purged = client.purge_experiment(eid, deleted_before=int(time.time() * 1000) + 1000)
    assert purged.experiment_id == eid
    with pytest.raises(errors.NotFoundError):
        client.get_experiment(eid)


@pytest.mark.parametrize(
    ("text", "ms"),
    [("30d", 30 * 86_400_000), ("12h", 43_200_000), ("1d12h", 129_600_000), ("90m", 5_400_000),
     ("45s", 45_000), ("2w", 14 * 86_400_000), ("1.5h", 5_400_000), ("0s", 0)],
)  # fmt: skip
def test_older_than_parses_durations(text, ms):
    assert duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "30", "d", "30x", "-1d", "30d junk", "1e3s"])
def test_older_than_refuses_what_is_not_a_duration(text):
    with pytest.raises(argparse.ArgumentTypeError):
        duration_ms(text)
    result = tw("gc", f"--older-than={text}")
    assert result.code == 2 and "duration" in result.err


@pytest.mark.skipif(S3_UNAVAILABLE is not None, reason=S3_UNAVAILABLE or "")
def test_gc_removes_a_purged_runs_objects_on_s3(tmp_path):
    with seaweedfs_s3() as s3:
        server, port = create_server(
            ServerConfig(
                db_url=f"sqlite:///{tmp_path}/t.db",
                artifacts=f"s3://{s3.bucket}/trackwire",
                host="127.0.0.1",
                port=0,
                storage_options=s3.storage_options,
            )
        )
        server.start()
        try:
            with trackwire.TrackwireClient(f"grpc://127.0.0.1:{port}") as client:
                eid = client.create_experiment("s3")
                runs = [client.create_run(eid) for _ in range(2)]
                for run in runs:
                    client.log_text(run.info.run_id, "w", "model/weights.txt")
                    client.log_text(run.info.run_id, "n", "notes.txt")
                doomed, kept = runs
                client.delete_run(doomed.info.run_id)
                result = tw("gc", "--json", uri=f"grpc://127.0.0.1:{port}").json()
                assert [p["id"] for p in result["purged"]] == [doomed.info.run_id]

            def objects(uri: str) -> list[str]:
                # SeaweedFS keeps emptied folders; S3 objects are what matters.
                prefix = uri.removeprefix("s3://")
                found = s3.filesystem().find(prefix, detail=True)
                return sorted(
                    name.removeprefix(prefix + "/")
                    for name, info in found.items()
                    if info["type"] == "file"
                )

            assert objects(doomed.info.artifact_uri) == []
            assert objects(kept.info.artifact_uri) == ["model/weights.txt", "notes.txt"]
        finally:
            server.stop(0.5)


def test_a_run_purged_whose_files_cannot_be_removed_is_reported(server, client, tmp_path):
    """The files are removed after the commit; when that fails (here: the experiment's
    folder became a symbolic link, which the server never follows), the run is gone, the
    files stay, and gc says so and exits with 1."""
    eid = client.create_experiment("linked")
    run = client.create_run(eid)
    client.log_text(run.info.run_id, "w", "model/weights.txt")
    experiment_folder = _run_folder(run.info.artifact_uri).parent.parent
    moved = tmp_path / "elsewhere"
    experiment_folder.rename(moved)
    experiment_folder.symlink_to(moved)
    client.delete_run(run.info.run_id)

    result = tw("gc", "--json", uri=server.uri)
    assert result.code == 1
    assert "ARTIFACTS_NOT_REMOVED" not in result.err  # the message, not the reason
    assert f"run {run.info.run_id} was purged, but removing its artifacts" in result.err
    assert "symbolic link" in result.err
    purged = json.loads(result.out)["purged"]
    assert [(p["id"], "error" in p) for p in purged] == [(run.info.run_id, True)]
    with pytest.raises(errors.NotFoundError):
        client.get_run(run.info.run_id)
    assert (moved / run.info.run_id / "artifacts" / "model" / "weights.txt").is_file()
    # Through the client: FAILED_PRECONDITION with its own reason, never retried.
    second = client.create_run(eid).info.run_id
    client.delete_run(second)
    with pytest.raises(errors.FailedPreconditionError) as caught:
        client.purge_run(second)
    assert caught.value.reason == "ARTIFACTS_NOT_REMOVED"
    with pytest.raises(errors.NotFoundError):
        client.get_run(second)
