"""Metric points in their one wire shape (MetricPoints: LogBatch, CreateRun,
BatchCreateRuns and WriteMetrics), on the wire and through the client."""

from __future__ import annotations

import math

import grpc
import pytest

import trackwire
from tests.conftest import RunningServer
from trackwire import Metric
from trackwire.v1 import run_pb2
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire.v1 import tracking_service_pb2_grpc as stubs


@pytest.fixture
def stub(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield stubs.TrackingServiceStub(channel)


@pytest.fixture
def run_id(client):
    return client.create_run("0").info.run_id


def history(client, run_id, key):
    h = client.read_metric_history(run_id, key)
    return list(zip(h.steps, h.timestamps, h.values, strict=True))


def test_several_keys_in_columns_are_stored_in_their_order(stub, client, run_id):
    stub.LogBatch(
        pb.LogBatchRequest(
            run_id=run_id,
            metrics=run_pb2.MetricPoints(
                keys=["acc", "loss"],
                key_index=[0, 1, 0, 1, 0, 1],
                values=[0.1, 3.0, 0.2, 2.0, math.nan, -0.0],
                steps=[7, 0, 7, 1, 8, 2],
                timestamps_ms=[5, 10, 5, 11, 12, 13],
            ),
        )
    )
    assert history(client, run_id, "loss") == [(0, 10, 3.0), (1, 11, 2.0), (2, 13, -0.0)]
    assert math.copysign(1.0, history(client, run_id, "loss")[2][2]) < 0
    acc = history(client, run_id, "acc")
    assert acc[:2] == [(7, 5, 0.1), (7, 5, 0.2)]
    assert acc[2][:2] == (8, 12) and math.isnan(acc[2][2])
    latest = client.get_run(run_id).data.metrics
    assert latest["loss"] == -0.0
    assert math.isnan(latest["acc"])


def test_one_key_needs_no_index_and_empty_steps_and_timestamps_mean_0_and_now(stub, client, run_id):
    stub.LogBatch(
        pb.LogBatchRequest(
            run_id=run_id, metrics=run_pb2.MetricPoints(keys=["loss"], values=[1.0, 2.0])
        )
    )
    stub.LogBatch(
        pb.LogBatchRequest(
            run_id=run_id,
            metrics=run_pb2.MetricPoints(keys=["lr"], values=[0.5], steps=[4], timestamps_ms=[0]),
        )
    )
    points = history(client, run_id, "loss")
    assert [(s, v) for s, _, v in points] == [(0, 1.0), (0, 2.0)]
    assert all(ts > 1_600_000_000_000 for _, ts, _ in points)
    ((step, ts, value),) = history(client, run_id, "lr")
    assert (step, value) == (4, 0.5) and ts > 1_600_000_000_000


def test_a_timestamp_0_in_a_stream_means_the_time_received(client, stub, run_id):
    """MetricPoints means the same in every message: a 0 timestamp is the time received
    in WriteMetrics too (it was stored as 0 there before the shapes were merged)."""
    request = pb.WriteMetricsRequest(
        writer_id="zero",
        sequence_number=1,
        run_id=run_id,
        points=run_pb2.MetricPoints(
            keys=["t"], values=[1.0, 2.0], steps=[0, 1], timestamps_ms=[0, 7]
        ),
    )
    (ack,) = stub.WriteMetrics(iter([request]))
    assert ack.error_code == 0, ack.error_message
    (first, second) = history(client, run_id, "t")
    assert first[1] > 1_600_000_000_000 and second[1] == 7


@pytest.mark.parametrize(
    ("columns", "field"),
    [
        ({"keys": ["a"], "values": [1.0, 2.0], "steps": [1]}, "metrics.steps"),
        ({"keys": ["a"], "values": [1.0], "timestamps_ms": [1, 2]}, "metrics.timestamps_ms"),
        ({"keys": ["a", "b"], "values": [1.0, 2.0]}, "metrics.key_index"),
        ({"keys": ["a", "b"], "values": [1.0, 2.0], "key_index": [0]}, "metrics.key_index"),
        (
            {"keys": ["a", "b"], "values": [1.0, 2.0], "key_index": [0, 2]},
            "metrics.key_index[1]",
        ),
        ({"keys": ["a", "a"], "values": [1.0, 2.0], "key_index": [0, 1]}, "metrics.keys[1]"),
        ({"keys": [], "values": [1.0]}, "metrics.keys"),
        ({"keys": ["a"], "values": []}, "metrics.keys"),
        (
            {"keys": ["a", "b", "c"], "values": [1.0, 2.0], "key_index": [0, 1]},
            "metrics.keys",
        ),
        ({"keys": ["k" * 251], "values": [1.0]}, "metrics.keys[0]"),
        ({"keys": ["a", ""], "values": [1.0, 2.0], "key_index": [0, 1]}, "metrics.keys[1]"),
        ({"keys": ["a"], "values": [0.0] * 1001}, "metrics.values"),
    ],
)
def test_bad_columns_are_invalid_argument_naming_the_field(stub, client, run_id, columns, field):
    with pytest.raises(grpc.RpcError) as caught:
        stub.LogBatch(
            pb.LogBatchRequest(
                run_id=run_id,
                params=[run_pb2.Param(key="p", value="v")],
                metrics=run_pb2.MetricPoints(**columns),
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in caught.value.details()
    assert client.get_run(run_id).data.params == {}  # all or nothing


@pytest.mark.parametrize(
    ("method", "field"),
    [("CreateRun", "metrics.keys[1]"), ("BatchCreateRuns", "requests[0].metrics.keys[1]")],
)
def test_bad_columns_of_a_new_run_name_the_field(stub, method, field):
    points = run_pb2.MetricPoints(keys=["a", ""], key_index=[0, 1], values=[1.0, 2.0])
    request = pb.CreateRunRequest(experiment_id="0", metrics=points)
    if method == "BatchCreateRuns":
        request = pb.BatchCreateRunsRequest(experiment_id="0", requests=[request])
    with pytest.raises(grpc.RpcError) as caught:
        getattr(stub, method)(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in caught.value.details()


def test_a_new_run_keeps_its_points_in_columns(stub, client):
    run = stub.CreateRun(
        pb.CreateRunRequest(
            experiment_id="0",
            metrics=run_pb2.MetricPoints(
                keys=["a", "b"], key_index=[1, 0, 1], values=[1.0, 2.0, 3.0], steps=[0, 5, 1]
            ),
        )
    ).run
    assert [(s, v) for s, _, v in history(client, run.info.run_id, "b")] == [(0, 1.0), (1, 3.0)]
    assert [(s, v) for s, _, v in history(client, run.info.run_id, "a")] == [(5, 2.0)]


class RecordLogBatch(grpc.ServerInterceptor):
    """Keeps every LogBatchRequest."""

    def __init__(self):
        self.requests: list[pb.LogBatchRequest] = []

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if details.method.endswith("/LogBatch"):
            inner = handler.unary_unary

            def log_batch(request, context):
                self.requests.append(request)
                return inner(request, context)

            return handler._replace(unary_unary=log_batch)
        return handler


def test_client_sends_points_in_columns(backend, tmp_path):
    recorder = RecordLogBatch()
    server = RunningServer(backend, tmp_path / "artifacts", interceptors=(recorder,))
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run("0").info.run_id
        client.log_batch(
            run_id,
            metrics=[
                Metric("loss", 1.0, 1, 0),
                Metric("acc", 0.5, 1, 0),
                Metric("loss", 0.5, 2, 1),
            ],
        )
        (request,) = recorder.requests
        assert list(request.metrics.keys) == ["loss", "acc"]
        assert list(request.metrics.key_index) == [0, 1, 0]
        assert list(request.metrics.values) == [1.0, 0.5, 0.5]
        assert list(request.metrics.steps) == [0, 0, 1]
        assert list(request.metrics.timestamps_ms) == [1, 1, 2]
        assert client.get_run(run_id).data.metrics == {"loss": 0.5, "acc": 0.5}
    finally:
        server.stop()


def test_client_converts_values_and_steps_as_float_and_int_do(client, run_id):
    client.log_batch(
        run_id,
        metrics=[Metric("m", "0.5", 1, 3.0), Metric("m", 2, None, None), Metric("m", 1.5, 2, 4)],
    )
    points = history(client, run_id, "m")
    assert [(s, v) for s, _, v in points] == [(0, 2.0), (3, 0.5), (4, 1.5)]
