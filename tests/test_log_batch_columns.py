"""LogBatch's metric points in columns (LogBatchRequest.metric_columns), on the wire and
through the client, and the client's fallback to Metric messages."""

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


def test_server_lists_the_feature(stub):
    info = stub.GetServerInfo(pb.GetServerInfoRequest())
    assert "log_batch.metric_columns" in info.features


def test_columns_of_several_keys_stored_after_the_metric_messages(stub, client, run_id):
    stub.LogBatch(
        pb.LogBatchRequest(
            run_id=run_id,
            metrics=[run_pb2.Metric(key="acc", value=0.1, timestamp_ms=5, step=7)],
            metric_columns=pb.MetricPointColumns(
                keys=["loss", "acc"],
                key_index=[0, 1, 0, 1, 0],
                values=[3.0, 0.2, 2.0, math.nan, -0.0],
                steps=[0, 7, 1, 8, 2],
                timestamps_ms=[10, 5, 11, 12, 13],
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
            run_id=run_id,
            metric_columns=pb.MetricPointColumns(keys=["loss"], values=[1.0, 2.0]),
        )
    )
    stub.LogBatch(
        pb.LogBatchRequest(
            run_id=run_id,
            metric_columns=pb.MetricPointColumns(
                keys=["lr"], values=[0.5], steps=[4], timestamps_ms=[0]
            ),
        )
    )
    points = history(client, run_id, "loss")
    assert [(s, v) for s, _, v in points] == [(0, 1.0), (0, 2.0)]
    assert all(ts > 1_600_000_000_000 for _, ts, _ in points)
    ((step, ts, value),) = history(client, run_id, "lr")
    assert (step, value) == (4, 0.5) and ts > 1_600_000_000_000


@pytest.mark.parametrize(
    ("columns", "field"),
    [
        ({"keys": ["a"], "values": [1.0, 2.0], "steps": [1]}, "metric_columns.steps"),
        ({"keys": ["a"], "values": [1.0], "timestamps_ms": [1, 2]}, "metric_columns.timestamps_ms"),
        ({"keys": ["a", "b"], "values": [1.0, 2.0]}, "metric_columns.key_index"),
        ({"keys": ["a", "b"], "values": [1.0, 2.0], "key_index": [0]}, "metric_columns.key_index"),
        (
            {"keys": ["a", "b"], "values": [1.0, 2.0], "key_index": [0, 2]},
            "metric_columns.key_index",
        ),
        ({"keys": ["a", "a"], "values": [1.0, 2.0], "key_index": [0, 1]}, "metric_columns.keys[1]"),
        ({"keys": [], "values": [1.0]}, "metric_columns.keys"),
        ({"keys": ["a"], "values": []}, "metric_columns.keys"),
        (
            {"keys": ["a", "b", "c"], "values": [1.0, 2.0], "key_index": [0, 1]},
            "metric_columns.keys",
        ),
        ({"keys": ["k" * 251], "values": [1.0]}, "metric_columns.keys[0]"),
        ({"keys": ["a", ""], "values": [1.0, 2.0], "key_index": [0, 1]}, "metric_columns.keys[1]"),
        ({"keys": ["a"], "values": [0.0] * 1001}, "metric_columns.values"),
    ],
)
def test_bad_columns_are_invalid_argument_naming_the_field(stub, client, run_id, columns, field):
    with pytest.raises(grpc.RpcError) as caught:
        stub.LogBatch(
            pb.LogBatchRequest(
                run_id=run_id,
                params=[run_pb2.Param(key="p", value="v")],
                metric_columns=pb.MetricPointColumns(**columns),
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in caught.value.details()
    assert client.get_run(run_id).data.params == {}  # all or nothing


def test_messages_and_columns_count_together_against_the_limit(stub, client, run_id):
    with pytest.raises(grpc.RpcError) as caught:
        stub.LogBatch(
            pb.LogBatchRequest(
                run_id=run_id,
                metrics=[run_pb2.Metric(key="a", value=1.0)] * 500,
                metric_columns=pb.MetricPointColumns(keys=["a"], values=[1.0] * 501),
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "metrics has 500 entries and metric_columns.values has 501" in caught.value.details()
    assert client.read_metric_history(run_id, "a").values == []


def test_metric_messages_still_name_their_field(stub, run_id):
    with pytest.raises(grpc.RpcError) as caught:
        stub.LogBatch(
            pb.LogBatchRequest(
                run_id=run_id,
                metrics=[run_pb2.Metric(key="a", value=1.0), run_pb2.Metric(key="", value=2.0)],
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "metrics[1].key" in caught.value.details()


class RecordLogBatch(grpc.ServerInterceptor):
    """Keeps every LogBatchRequest; with `hide_features`, answers GetServerInfo without
    features, as a server older than them does."""

    def __init__(self, hide_features: bool = False):
        self.requests: list[pb.LogBatchRequest] = []
        self.hide_features = hide_features

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        inner = handler.unary_unary if handler is not None else None
        if details.method.endswith("/LogBatch"):

            def log_batch(request, context):
                self.requests.append(request)
                return inner(request, context)

            return handler._replace(unary_unary=log_batch)
        if details.method.endswith("/GetServerInfo") and self.hide_features:

            def server_info(request, context):
                response = inner(request, context)
                del response.features[:]
                return response

            return handler._replace(unary_unary=server_info)
        return handler


@pytest.mark.parametrize("hide_features", [False, True], ids=["columns", "older-server"])
def test_client_sends_columns_only_to_a_server_that_lists_them(backend, tmp_path, hide_features):
    recorder = RecordLogBatch(hide_features)
    server = RunningServer(backend, tmp_path / "artifacts", interceptors=(recorder,))
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run("0").info.run_id
        client.log_batch(run_id, metrics=[Metric("loss", 1.0, 1, 0), Metric("acc", 0.5, 1, 0)])
        (request,) = recorder.requests
        if hide_features:
            assert [m.key for m in request.metrics] == ["loss", "acc"]
            assert not request.HasField("metric_columns")
        else:
            assert len(request.metrics) == 0
            assert list(request.metric_columns.keys) == ["loss", "acc"]
            assert list(request.metric_columns.key_index) == [0, 1]
        assert client.get_run(run_id).data.metrics == {"loss": 1.0, "acc": 0.5}
    finally:
        server.stop()


def test_client_converts_values_and_steps_as_float_and_int_do(client, run_id):
    client.log_batch(
        run_id,
        metrics=[Metric("m", "0.5", 1, 3.0), Metric("m", 2, None, None), Metric("m", 1.5, 2, 4)],
    )
    points = history(client, run_id, "m")
    assert [(s, v) for s, _, v in points] == [(0, 2.0), (3, 0.5), (4, 1.5)]
