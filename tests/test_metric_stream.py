"""The metric stream: columnar batches, acknowledgements, exactly-once resends, reconnects."""

from __future__ import annotations

import math
import threading
import time

import grpc
import pytest

import trackwire
from tests.conftest import RunningServer
from trackwire.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from trackwire.metric_writer import MetricWriter
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire.v1 import tracking_service_pb2_grpc as stubs


@pytest.fixture
def run_id(client):
    return client.create_run(client.create_experiment("stream")).info.run_id


def writer_for(server, **kwargs) -> MetricWriter:
    """A writer of its own (not the process-wide one), with its own channel."""
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    stub = stubs.TrackingServiceStub(channel)

    def provider():
        return stub, stub.GetServerInfo(pb.GetServerInfoRequest()).limits

    return MetricWriter(provider, **kwargs)


def raw_stream(server, requests):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        return list(stubs.TrackingServiceStub(channel).WriteMetrics(iter(requests)))


def batch(run_id, seq, values, steps=None, writer="w1", key="loss", **kwargs):
    request = pb.WriteMetricsRequest(writer_id=writer, sequence_number=seq, run_id=run_id, **kwargs)
    request.points.keys.append(key)
    request.points.values.extend(values)
    request.points.steps.extend(steps if steps is not None else range(len(values)))
    return request


def test_fluent_log_metric_streams_and_end_run_waits(tracking):
    with trackwire.start_run() as run:
        for step in range(5000):
            trackwire.log_metric("loss", 1.0 / (step + 1), step=step)
        trackwire.log_metrics({"a": 1.0, "b": 2.0}, step=7)
    client = trackwire.TrackwireClient(tracking.uri)
    history = client.read_metric_history(run.info.run_id, "loss")
    assert history.steps == list(range(5000))
    assert history.values == [1.0 / (s + 1) for s in range(5000)]
    data = client.get_run(run.info.run_id).data
    assert data.metrics == {"loss": 1.0 / 5000, "a": 1.0, "b": 2.0}
    assert data.latest_metrics["a"].step == 7


def test_special_values_round_trip_exactly(tracking):
    specials = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308]
    with trackwire.start_run() as run:
        for step, value in enumerate(specials):
            trackwire.log_metric("odd", value, step=step)
            trackwire.log_metric(f"last{step}", value)
    client = trackwire.TrackwireClient(tracking.uri)
    values = client.read_metric_history(run.info.run_id, "odd").values
    assert [repr(v) for v in values] == [repr(v) for v in specials]
    metrics = client.get_run(run.info.run_id).data.metrics
    assert [repr(metrics[f"last{i}"]) for i in range(len(specials))] == [repr(v) for v in specials]


def test_defaults_step_zero_and_timestamp_now(tracking):
    before = int(time.time() * 1000)
    with trackwire.start_run() as run:
        trackwire.log_metric("m", 3.0)
        trackwire.log_metric("t", 4.0, step=2, timestamp=1234)
    after = int(time.time() * 1000)
    client = trackwire.TrackwireClient(tracking.uri)
    (point,) = client.get_metric_history(run.info.run_id, "m")
    assert point.step == 0 and before <= point.timestamp <= after
    (point,) = client.get_metric_history(run.info.run_id, "t")
    assert (point.step, point.timestamp) == (2, 1234)


def test_history_step_range_and_chunks(client, run_id):
    client.log_metric_async(run_id, "x", 0.0, step=0)
    writer = client.metric_writer
    for step in range(1, 250_001):
        writer.add(run_id, "x", float(step), step, 1000 + step)
    client.flush_metrics()
    history = client.read_metric_history(run_id, "x")
    assert len(history) == 250_001 and history.steps[-1] == 250_000  # spans several response chunks
    window = client.read_metric_history(run_id, "x", start_step=10, end_step=19)
    assert window.steps == list(range(10, 20))
    assert window.values == [float(s) for s in range(10, 20)]
    assert client.read_metric_history(run_id, "missing").values == []


def test_history_is_ordered_by_step_across_batches(client, run_id):
    client.log_batch(run_id, metrics=[trackwire.Metric("o", float(s), 1, s) for s in (5, 6, 7)])
    client.log_batch(run_id, metrics=[trackwire.Metric("o", float(s), 2, s) for s in (0, 1, 6)])
    history = client.read_metric_history(run_id, "o")
    assert history.steps == [0, 1, 5, 6, 6, 7]
    assert history.timestamps[3:5] == [1, 2]


def test_several_runs_and_keys_in_one_stream(client):
    experiment_id = client.create_experiment("multi")
    runs = [client.create_run(experiment_id).info.run_id for _ in range(3)]
    for step in range(300):
        for i, run_id in enumerate(runs):
            for key in ("a", "b"):
                client.log_metric_async(run_id, key, step * 10 + i, step=step)
    client.flush_metrics()
    for i, run_id in enumerate(runs):
        for key in ("a", "b"):
            history = client.read_metric_history(run_id, key)
            assert history.values == [float(step * 10 + i) for step in range(300)]


def test_refused_batch_surfaces_at_flush_and_end_run(tracking, client):
    with trackwire.start_run() as run:
        trackwire.log_metric("ok", 1.0)
    client.delete_run(run.info.run_id)
    writer = client.metric_writer
    writer.add(run.info.run_id, "late", 1.0, 0, 0)
    with pytest.raises(FailedPreconditionError, match="deleted"):
        client.flush_metrics()
    client.flush_metrics()  # the error is raised once
    missing = "0" * 32
    with pytest.raises(NotFoundError, match=missing), trackwire.start_run():
        trackwire.log_metric("x", 1.0, run_id=missing)


def test_bad_keys_and_values_fail_at_the_call(tracking):
    with trackwire.start_run():
        with pytest.raises(InvalidArgumentError, match="250"):
            trackwire.log_metric("k" * 251, 1.0)
        with pytest.raises(InvalidArgumentError, match="non-empty"):
            trackwire.log_metric("", 1.0)
        with pytest.raises(InvalidArgumentError, match="'m'"):
            trackwire.log_metric("m", "not a number")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.points.steps.append(1), "points.steps has 4 entries; values has 3"),
        (lambda r: r.points.timestamps_ms.extend([1, 2]), "points.timestamps_ms has 2 entries"),
        (
            lambda r: (r.points.keys.append("b"), r.points.key_index.extend([0, 1])),
            "points.key_index has 2 entries",
        ),
        (
            lambda r: (r.points.keys.append("b"), r.points.key_index.extend([0, 1, 7])),
            "points.key_index[2] is 7",
        ),
        (lambda r: r.points.keys.append("b"), "points.key_index must have 3 entries"),
        (
            lambda r: (r.points.keys.append("loss"), r.points.key_index.extend([0, 1, 0])),
            "points.keys[1] repeats 'loss'",
        ),
        (
            lambda r: (r.points.ClearField("values"), r.points.ClearField("steps")),
            "points.keys has 1 entries but values is empty",
        ),
        (lambda r: r.ClearField("points"), "points.values must not be empty"),
        (lambda r: r.points.keys.__setitem__(0, ""), "points.keys[0]"),
        (lambda r: setattr(r, "run_id", "x"), "run_id"),
        (lambda r: setattr(r, "writer_id", ""), "writer_id"),
        (lambda r: setattr(r, "sequence_number", 0), "sequence_number"),
    ],
)
def test_malformed_batches_are_invalid_argument(server, run_id, client, mutate, message):
    request = batch(run_id, 1, [1.0, 2.0, 3.0])
    mutate(request)
    # A refused batch is not recorded: the next batch takes its number.
    good = batch(run_id, 1, [9.0])
    acks = raw_stream(server, [request, good])
    assert acks[0].error_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert message in acks[0].error_message
    # The stream goes on after a refused batch, and nothing of the refused one was stored.
    assert acks[1].error_code == 0
    assert client.read_metric_history(run_id, "loss").values == [9.0]


def test_oversized_batch_is_resource_exhausted(server, run_id):
    limit = (
        trackwire.TrackwireClient(server.uri).get_server_info().limits["max_stream_batch_points"]
    )
    (ack,) = raw_stream(server, [batch(run_id, 1, [0.0] * (limit + 1))])
    assert ack.error_code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]


def test_resent_sequence_number_is_stored_once(server, run_id, client):
    first = batch(run_id, 1, [1.0, 2.0])
    acks = raw_stream(server, [first, batch(run_id, 2, [3.0], steps=[2])])
    assert [(a.sequence_number, a.duplicate, a.error_code) for a in acks] == [
        (1, False, 0),
        (2, False, 0),
    ]
    # A new connection resends batch 1 (and 2): acknowledged as duplicates, not stored.
    acks = raw_stream(
        server, [first, batch(run_id, 2, [3.0], steps=[2]), batch(run_id, 3, [4.0], steps=[3])]
    )
    assert [(a.sequence_number, a.duplicate) for a in acks] == [(1, True), (2, True), (3, False)]
    assert client.read_metric_history(run_id, "loss").values == [1.0, 2.0, 3.0, 4.0]
    # Another writer's sequence numbers are its own.
    (ack,) = raw_stream(server, [batch(run_id, 1, [5.0], steps=[4], writer="w2")])
    assert not ack.duplicate


class DropAckAfterCommit(grpc.ServerInterceptor):
    """Breaks the stream after the server committed a batch but before its ack is sent."""

    def __init__(self, sequence_number: int):
        self.sequence_number = sequence_number
        self.dropped = 0

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if not details.method.endswith("/WriteMetrics"):
            return handler
        inner = handler.stream_stream

        def behavior(requests, context):
            for ack in inner(requests, context):
                if (
                    ack.sequence_number == self.sequence_number
                    and not ack.duplicate
                    and not self.dropped
                ):
                    self.dropped += 1
                    context.abort(grpc.StatusCode.UNAVAILABLE, "connection lost (test)")
                yield ack

        return handler._replace(stream_stream=behavior)


def test_writer_resends_unacknowledged_batch_and_server_stores_it_once(backend, tmp_path):
    fault = DropAckAfterCommit(sequence_number=2)
    server = RunningServer(backend, tmp_path / "artifacts", interceptors=(fault,))
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run("0").info.run_id
        writer = writer_for(server, batch_points=1000, max_inflight_batches=1)
        for step in range(5000):
            writer.add(run_id, "loss", float(step), step, 1)
        writer.close()
        assert fault.dropped == 1
        assert writer.duplicates_acknowledged >= 1
        history = client.read_metric_history(run_id, "loss")
        assert history.steps == list(range(5000))
    finally:
        server.stop()


def test_writer_survives_server_restart(backend, tmp_path):
    """Points logged while the server is down are kept and delivered once it is back."""
    server = RunningServer(backend, tmp_path / "artifacts")
    port = server.port
    client = trackwire.TrackwireClient(server.uri)
    run_id = client.create_run("0").info.run_id
    writer = writer_for(server, batch_points=500, flush_interval=0.05, max_backoff=0.2)
    for step in range(1000):
        writer.add(run_id, "loss", float(step), step, 1)
    writer.flush()
    server.stop(grace=0.1)
    for step in range(1000, 3000):
        writer.add(run_id, "loss", float(step), step, 1)
    time.sleep(0.5)  # the writer fails to reach the server and backs off
    restarted = restart(backend, tmp_path, port)
    try:
        writer.close(timeout=60)
        history = trackwire.TrackwireClient(f"127.0.0.1:{port}").read_metric_history(run_id, "loss")
        assert history.steps == list(range(3000))
    finally:
        restarted.stop(0.5)


def restart(backend, tmp_path, port):
    from trackwire_server.app import create_server
    from trackwire_server.config import ServerConfig

    server, _ = create_server(
        ServerConfig(
            db_url=backend, artifacts=str(tmp_path / "artifacts"), host="127.0.0.1", port=port
        )
    )
    return server.start()


def test_producer_is_slowed_not_dropped_when_buffer_is_full(backend, tmp_path):
    server = RunningServer(backend, tmp_path / "artifacts")
    port = server.port
    run_id = trackwire.TrackwireClient(server.uri).create_run("0").info.run_id
    writer = writer_for(
        server, batch_points=100, max_buffered_points=1000, max_inflight_batches=1, max_backoff=0.2
    )
    writer.add(run_id, "loss", 0.0, 0, 1)
    writer.flush()
    server.stop(grace=0.1)  # nobody takes the points: the buffer fills up
    reached = threading.Event()
    done = threading.Event()

    def produce():
        for step in range(1, 1500):
            if step == 1200:
                reached.set()
            writer.add(run_id, "loss", float(step), step, 1)
        done.set()

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    assert not reached.wait(1.0), "add() should block once 1000 points are buffered"
    assert len(writer._points) <= 1000
    restarted = restart(backend, tmp_path, port)
    try:
        assert done.wait(30), "the producer should resume once the server is back"
        writer.close(timeout=60)
        history = trackwire.TrackwireClient(f"127.0.0.1:{port}").read_metric_history(run_id, "loss")
        assert history.steps == list(range(1500))
    finally:
        restarted.stop(0.5)


def test_small_batches_share_chunks(server, client, run_id):
    """A slow logger (one point per batch) does not cost a database row per point."""
    from trackwire_server.store import open_database, schema
    from trackwire_server.store.metric_points import MERGE_BELOW_POINTS

    for step in range(300):
        client.log_metric(run_id, "slow", step * 0.5, step=step, timestamp=1000 + step)
    writer = writer_for(server)
    for step in range(300, 600):
        writer.add(run_id, "slow", step * 0.5, step, 1000 + step)
        if step % 50 == 0:
            writer.flush()
    writer.close()
    history = client.read_metric_history(run_id, "slow")
    assert history.steps == list(range(600))
    assert history.values == [s * 0.5 for s in range(600)]
    assert history.timestamps == [1000 + s for s in range(600)]
    assert client.read_metric_history(run_id, "slow", start_step=295, end_step=304).steps == list(
        range(295, 305)
    )
    db = open_database(server.db_url)
    with db.connection_context():
        chunks = schema.bind_tables(db).MetricChunk
        rows = chunks.select().where(chunks.run_id == run_id).count()
    assert rows <= 600 // MERGE_BELOW_POINTS + 1


def test_log_metric_with_run_id_needs_no_active_run(tracking, client):
    run_id = client.create_run("0").info.run_id
    trackwire.log_metric("m", 2.5, step=3, run_id=run_id, synchronous=True)
    assert trackwire.active_run() is None
    assert client.get_run(run_id).data.metrics == {"m": 2.5}


def test_points_are_sent_by_time_without_a_flush(tracking, client):
    with trackwire.start_run() as run:
        trackwire.log_metric("heartbeat", 1.0)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if client.get_run(run.info.run_id).data.metrics.get("heartbeat") == 1.0:
                break
            time.sleep(0.05)
        else:
            pytest.fail("a lone point was not sent within 5 s (flush interval 0.5 s)")
