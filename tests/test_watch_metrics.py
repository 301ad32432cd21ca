"""WatchMetrics through the real server: points committed by LogBatch, WriteMetrics and
CreateRun reach the runs' watchers, once, filtered by key; unknown runs are refused."""

from __future__ import annotations

import queue
import threading
import time

import grpc
import numpy as np
import pytest

from trackwire import Metric
from trackwire.client import close_metric_writers
from trackwire.errors import NotFoundError
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire.v1 import tracking_service_pb2_grpc as stubs
from trackwire_server.metric_feed import MAX_PENDING, MetricFeed


@pytest.fixture
def stub(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    yield stubs.TrackingServiceStub(channel)
    channel.close()


class Watch:
    """A WatchMetrics stream read by a thread into a queue."""

    def __init__(self, stub, run_ids, keys=()):
        self.call = stub.WatchMetrics(pb.WatchMetricsRequest(run_ids=run_ids, metric_keys=keys))
        self.received: queue.Queue = queue.Queue()
        self.error: list = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for message in self.call:
                self.received.put(message)
        except grpc.RpcError as e:
            self.error.append(e)
        finally:
            self.received.put(None)  # the stream ended

    def next(self, timeout=10.0):
        return self.received.get(timeout=timeout)

    def cancel(self):
        self.call.cancel()
        self.thread.join(5)


def wait_until_watching(server, n=1):
    """The server subscribed `n` watchers (the RPC is asynchronous)."""
    feed = server.server.metric_feed
    for _ in range(500):
        with feed._lock:
            if sum(len(w) for w in feed._by_run.values()) >= n:
                return
        threading.Event().wait(0.01)
    raise AssertionError("the watcher never subscribed")


def test_points_reach_watchers_of_their_run_only(server, client, stub):
    experiment_id = client.create_experiment("watch")
    run_a = client.create_run(experiment_id).info.run_id
    run_b = client.create_run(experiment_id).info.run_id
    watch = Watch(stub, [run_a])
    wait_until_watching(server)
    client.log_metric(run_b, "loss", 9.0, step=1)
    client.log_batch(run_a, metrics=[Metric("loss", 0.5, 1_700_000_000_000, 3)])
    message = watch.next()
    assert (message.run_id, list(message.points.keys)) == (run_a, ["loss"])
    assert list(message.points.key_index) == []
    assert list(message.points.values) == [0.5]
    assert list(message.points.steps) == [3]
    assert list(message.points.timestamps_ms) == [1_700_000_000_000]
    assert watch.received.empty()
    watch.cancel()


def test_streamed_points_are_announced_after_commit_and_filtered_by_key(server, client, stub):
    experiment_id = client.create_experiment("watch-stream")
    run_id = client.create_run(experiment_id).info.run_id
    watch = Watch(stub, [run_id], keys=["acc"])
    wait_until_watching(server)
    for step in range(5):
        client.log_metric_async(run_id, "loss", float(step), step=step)
        client.log_metric_async(run_id, "acc", step / 10, step=step)
    client.flush_metrics()
    close_metric_writers()
    steps = []
    while len(steps) < 5:
        message = watch.next()
        assert list(message.points.keys) == ["acc"]
        steps += list(message.points.steps)
    assert steps == [0, 1, 2, 3, 4]
    watch.cancel()


def test_unknown_run_is_not_found_and_empty_request_is_invalid(client, stub):
    with pytest.raises(grpc.RpcError) as e:
        list(stub.WatchMetrics(pb.WatchMetricsRequest(run_ids=["f" * 32])))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        list(stub.WatchMetrics(pb.WatchMetricsRequest()))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "run_ids" in e.value.details()


def test_server_stop_ends_open_watches(backend, tmp_path):
    import trackwire
    from tests.conftest import RunningServer

    running = RunningServer(backend, tmp_path / "artifacts")
    client = trackwire.TrackwireClient(running.uri)
    run_id = client.create_run(client.create_experiment("stop")).info.run_id
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    watch = Watch(stubs.TrackingServiceStub(channel), [run_id])
    wait_until_watching(running)
    started = time.monotonic()
    running.stop(grace=5)
    assert watch.next() is None
    assert time.monotonic() - started < 4  # ended, not cut off at the grace period
    watch.thread.join(5)
    assert not watch.thread.is_alive()
    channel.close()


def test_resuming_a_run_with_metrics_announces_them(server, client, stub):
    experiment_id = client.create_experiment("watch-resume")
    run_id = client.create_run(experiment_id).info.run_id
    watch = Watch(stub, [run_id])
    wait_until_watching(server)
    client.create_run(experiment_id, run_id=run_id, metrics=[Metric("acc", 0.9, 1, 7)])
    message = watch.next()
    points = message.points
    assert (list(points.keys), list(points.values), list(points.steps)) == (["acc"], [0.9], [7])
    watch.cancel()


def test_client_watch_metrics_yields_histories_until_cancelled(server, client):
    experiment_id = client.create_experiment("watch-client")
    run_id = client.create_run(experiment_id).info.run_id
    received = []
    with client.watch_metrics([run_id]) as watch:
        reader = threading.Thread(target=lambda: received.extend(watch), daemon=True)
        reader.start()
        wait_until_watching(server)
        client.log_metric(run_id, "loss", 0.25, timestamp=5, step=2)
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.01)
    reader.join(5)
    assert not reader.is_alive()  # cancel ends the iteration quietly
    (got_run, key, history), *_ = received
    assert (got_run, key) == (run_id, "loss")
    assert (history.steps, history.values, history.timestamps) == ([2], [0.25], [5])


def test_client_watch_of_an_unknown_run_raises_not_found(client):
    with pytest.raises(NotFoundError):
        list(client.watch_metrics(["e" * 32]))


def test_a_watcher_that_falls_behind_is_told_once_and_not_held_up():
    feed = MetricFeed()
    subscription = feed.subscribe(["r"])
    point = (np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1))
    for _ in range(MAX_PENDING + 50):
        feed.publish({"r": {"loss": point}})  # never blocks
    first = subscription.get(0.1)
    assert first.overflowed
    assert subscription.get(0.01) is None  # the backlog was dropped
    feed.publish({"r": {"loss": point}})
    assert subscription.get(0.1).key == "loss"  # and it goes on
    subscription.close()
    assert feed._by_run == {}
