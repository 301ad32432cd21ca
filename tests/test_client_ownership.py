"""What a TrackwireClient owns: its channel, its metric writer and the embedded server a
database URI starts; two clients share nothing, `close()` stores then closes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import grpc
import pytest

import trackwire
from tests.conftest import RunningServer
from trackwire import fluent


@pytest.fixture
def sqlite_server(tmp_path):
    running = RunningServer(f"sqlite:///{tmp_path / 't.db'}", tmp_path / "artifacts")
    yield running
    running.stop()


def test_two_clients_of_one_uri_share_neither_channel_nor_writer(sqlite_server):
    with (
        trackwire.TrackwireClient(sqlite_server.uri) as a,
        trackwire.TrackwireClient(sqlite_server.uri) as b,
    ):
        assert a._connection.channel is not b._connection.channel
        assert a.metric_writer is not b.metric_writer


def test_the_fluent_api_keeps_one_default_client_per_uri(sqlite_server):
    fluent.set_tracking_uri(sqlite_server.uri)
    try:
        assert fluent._client() is fluent._client()
        assert trackwire.TrackwireClient() is not fluent._client()
    finally:
        fluent.set_tracking_uri(None)


def test_close_stores_the_queued_points_then_closes_the_channel(sqlite_server):
    with trackwire.TrackwireClient(sqlite_server.uri) as client:
        run_id = client.create_run(client.create_experiment("owned")).info.run_id
        for step in range(5000):
            client.log_metric_async(run_id, "loss", step / 10, step=step)
    with pytest.raises(ValueError, match="closed channel"):
        client.get_run(run_id)
    history = trackwire.TrackwireClient(sqlite_server.uri).read_metric_history(run_id, "loss")
    assert history.steps == list(range(5000))


def test_closing_an_embedded_client_stops_its_server(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKWIRE_ARTIFACTS", str(tmp_path / "artifacts"))
    client = trackwire.TrackwireClient(f"sqlite:///{tmp_path / 'embedded.db'}")
    assert client.create_experiment("embedded")
    target = client._connection.target
    client.close()
    with grpc.insecure_channel(target) as channel, pytest.raises(grpc.FutureTimeoutError):
        grpc.channel_ready_future(channel).result(timeout=1)


def test_search_runs_page_is_one_page_and_the_next_token(sqlite_server):
    client = trackwire.TrackwireClient(sqlite_server.uri)
    experiment_id = client.create_experiment("pages")
    made = {client.create_run(experiment_id).info.run_id for _ in range(5)}
    seen, token, pages = set(), None, 0
    while True:
        page = client.search_runs_page([experiment_id], max_results=2, page_token=token)
        seen |= set(page.runs.run_ids)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert (seen, pages) == (made, 3)


DROPPED_CLIENT = textwrap.dedent(
    """
    import sys
    import trackwire
    client = trackwire.TrackwireClient(sys.argv[1])
    run_id = client.create_run(client.create_experiment("dropped")).info.run_id
    for step in range(20_000):
        client.log_metric_async(run_id, "loss", float(step), step=step)
    del client
    print(run_id)
    # No flush, no close: interpreter exit stores every queued point.
    """
)


def test_the_points_of_a_dropped_client_are_stored_at_exit(sqlite_server):
    done = subprocess.run(
        [sys.executable, "-c", DROPPED_CLIENT, sqlite_server.uri],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[-1]
    history = trackwire.TrackwireClient(sqlite_server.uri).read_metric_history(run_id, "loss")
    assert history.steps == list(range(20_000))
