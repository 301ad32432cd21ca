"""Reads on a PostgreSQL streaming replica (issue #15, item 7): `--db-read-url`.

One throw-away primary and a real streaming replica of it (`pg_basebackup -R`,
tests/support/db_servers.PostgresReplica) for the module; a server process with
`--db-read-url`. Which database answered is seen from what a read returns: with the
replica's WAL replay paused (`pg_wal_replay_pause()`), the replica shows the data as it
was, the primary as it is.
"""

from __future__ import annotations

import os
import time

import pytest

import trackwire
from tests.support.db_servers import (
    DatabaseServerError,
    PostgresReplica,
    PostgresServer,
    skip_or_fail,
    unavailable_reason,
)
from tests.support.server_process import ServerProcess, ServerStartError
from trackwire import Metric


@pytest.fixture(scope="module")
def replicated():
    """(primary, replica): a throw-away PostgreSQL and its streaming replica."""
    reason = unavailable_reason("postgresql")
    if reason:
        skip_or_fail(f"throw-away postgresql server unavailable: {reason}")
    primary = PostgresServer()
    replica = None
    try:
        primary.setup()
        if not os.access(os.path.join(primary.bindir, "pg_basebackup"), os.X_OK):
            skip_or_fail(f"pg_basebackup not found in {primary.bindir}")
        replica = PostgresReplica(primary)
        replica.setup()
        yield primary, replica
    finally:
        if replica is not None:
            replica.close()
        primary.close()


@pytest.fixture(scope="module")
def server(replicated, tmp_path_factory):
    primary, replica = replicated
    process = ServerProcess(
        primary.app_url,
        tmp_path_factory.mktemp("artifacts"),
        extra_args=("--db-read-url", replica.app_url),
    ).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def replica(replicated, server):
    """The replica, caught up and replaying; replaying and running again afterwards."""
    _, replica = replicated
    replica.wait_replayed()
    yield replica
    if not replica.running:
        replica.start()
    replica.resume_replay()


def run_names(client: trackwire.TrackwireClient, experiment_id: str) -> set[str]:
    return {r.info.run_name for r in client.search_runs([experiment_id])}


def test_a_client_without_a_position_reads_the_replica(server, replica):
    writer = trackwire.TrackwireClient(server.uri)
    experiment_id = writer.create_experiment("replica-seen")
    writer.create_run(experiment_id, run_name="before")
    replica.wait_replayed()
    replica.pause_replay()

    writer.create_run(experiment_id, run_name="during")
    reader = trackwire.TrackwireClient(server.uri)  # has written nothing: no position
    # The replica answers, as it was when its replay paused.
    assert run_names(reader, experiment_id) == {"before"}
    # The writer reads its own write (from the primary).
    assert run_names(writer, experiment_id) == {"before", "during"}

    replica.resume_replay()
    replica.wait_replayed()
    assert run_names(reader, experiment_id) == {"before", "during"}
    writer.close()
    reader.close()


def test_the_writer_reads_its_writes_while_the_replica_lags(server, replica):
    writer = trackwire.TrackwireClient(server.uri)
    experiment_id = writer.create_experiment("read-your-writes")
    replica.wait_replayed()
    replica.pause_replay()

    run = writer.create_run(experiment_id, run_name="fresh", params={"lr": "0.1"})
    run_id = run.info.run_id
    writer.log_batch(run_id, metrics=[Metric("loss", 1.0 / s, 1000 + s, s) for s in range(1, 51)])
    # Each read right after the write, each served where the write is.
    assert writer.get_run(run_id).data.params == {"lr": "0.1"}
    assert writer.get_experiment(experiment_id).name == "read-your-writes"
    assert [r.info.run_id for r in writer.search_runs([experiment_id])] == [run_id]
    assert writer.read_metric_history(run_id, "loss").steps == list(range(1, 51))
    histories = writer.get_metric_histories([run_id], "loss")
    assert len(histories[run_id].values) == 50
    writer.create_registered_model("routed-model")
    version = writer.create_model_version("routed-model", f"runs:/{run_id}/model", run_id)
    assert writer.get_model_version("routed-model", version.version).run_id == run_id
    assert [m.name for m in writer.search_registered_models()] == ["routed-model"]

    # Another client sees none of it: the replica has not replayed it.
    other = trackwire.TrackwireClient(server.uri)
    assert other.search_runs([experiment_id]) == []
    assert other.search_registered_models() == []

    replica.resume_replay()
    replica.wait_replayed()
    assert [r.info.run_id for r in other.search_runs([experiment_id])] == [run_id]
    writer.close()
    other.close()


def test_the_writer_reads_its_streamed_points(server, replica):
    writer = trackwire.TrackwireClient(server.uri)
    run_id = writer.create_run(writer.create_experiment("streamed")).info.run_id
    replica.wait_replayed()  # past the writer's position so far
    replica.pause_replay()

    for step in range(1, 101):
        writer.log_metric_async(run_id, "loss", 1.0 / step, step=step, timestamp=1000 + step)
    writer.flush_metrics()
    # The points are committed, but the stream is still open: their position comes only
    # with its end, so reads meanwhile say `primary`.
    assert writer.read_metric_history(run_id, "loss").steps == list(range(1, 101))
    assert writer.get_run(run_id).data.metrics == {"loss": 0.01}
    writer.close_metric_writer()  # the stream ends, with its position
    assert writer.read_metric_history(run_id, "loss").steps == list(range(1, 101))
    # Another client reads the replica: the run, without its points yet.
    with trackwire.TrackwireClient(server.uri) as other:
        assert other.read_metric_history(run_id, "loss").steps == []
    writer.close()


def test_reads_return_to_the_replica_once_it_has_replayed_the_write(server, replica):
    writer = trackwire.TrackwireClient(server.uri)
    experiment_id = writer.create_experiment("back-to-the-replica")
    writer.create_run(experiment_id, run_name="mine")
    replica.wait_replayed()  # past the writer's position
    replica.pause_replay()
    # Someone else writes; the writer's position is older than this write.
    other = trackwire.TrackwireClient(server.uri)
    other.create_run(experiment_id, run_name="theirs")
    # The replica has replayed the writer's position: its reads go there again, and do
    # not see the other client's run yet.
    assert run_names(writer, experiment_id) == {"mine"}
    assert run_names(other, experiment_id) == {"mine", "theirs"}
    writer.close()
    other.close()


def test_reads_go_to_the_primary_while_the_replica_is_down(server, replica):
    client = trackwire.TrackwireClient(server.uri)
    experiment_id = client.create_experiment("replica-down")
    client.create_run(experiment_id, run_name="one")
    replica.wait_replayed()
    replica.stop("fast")

    reader = trackwire.TrackwireClient(server.uri)
    started = time.monotonic()
    assert run_names(reader, experiment_id) == {"one"}
    client.create_run(experiment_id, run_name="two")
    assert run_names(reader, experiment_id) == {"one", "two"}
    assert run_names(client, experiment_id) == {"one", "two"}
    assert time.monotonic() - started < 10

    replica.start()
    replica.wait_replayed()
    # Back: once the server tries the replica again, a paused replay shows it is read.
    replica.pause_replay()
    client.create_run(experiment_id, run_name="three")
    deadline = time.monotonic() + 30
    while run_names(reader, experiment_id) != {"one", "two"}:
        assert time.monotonic() < deadline, "reads never went back to the replica"
        time.sleep(0.2)
    reader.close()
    client.close()


@pytest.mark.parametrize("db", ["sqlite", "mysql"])
def test_a_read_url_needs_postgresql(db, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'x.db'}" if db == "sqlite" else "mysql://root@127.0.0.1:3306/x"
    process = ServerProcess(
        db_url,
        tmp_path / "artifacts",
        extra_args=("--db-read-url", "postgresql://postgres@127.0.0.1:5432/replica"),
    )
    with pytest.raises(ServerStartError) as refused:
        process.start()
    assert refused.value.returncode == 2
    assert "--db-read-url" in refused.value.output
    assert "need PostgreSQL" in refused.value.output


def test_the_replica_helper_replays_and_pauses(replicated):
    """The harness itself: a paused replica does not show new rows, a resumed one does."""
    primary, replica = replicated
    replica.wait_replayed()
    replica.pause_replay()
    try:
        primary.sql("CREATE TABLE IF NOT EXISTS probe (x int)", dbname="test")
        with pytest.raises(DatabaseServerError):
            replica.wait_replayed(timeout=0.5)
    finally:
        replica.resume_replay()
    replica.wait_replayed()
    assert replica.sql("SELECT count(*) FROM probe", dbname="test") == [(0,)]
    primary.sql("DROP TABLE probe", dbname="test")
