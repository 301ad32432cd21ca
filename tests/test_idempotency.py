"""Every write applied once: client request ids, deadlines, and metric streams in order.

Findings 5 and 7 of the hardening issue, and `Metric.value`'s presence: on every database,
through the real server.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid

import grpc
import pytest

import trackwire
from trackwire import Metric
from trackwire.v1 import model_registry_service_pb2 as registry_pb
from trackwire.v1 import model_registry_service_pb2_grpc, run_pb2, tracking_service_pb2_grpc
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire_server.store import open_database


@pytest.fixture
def channel(server):
    channel = grpc.insecure_channel(server.uri[len("grpc://") :])
    yield channel
    channel.close()


@pytest.fixture
def stub(channel):
    return tracking_service_pb2_grpc.TrackingServiceStub(channel)


@pytest.fixture
def run_id(stub):
    return stub.CreateRun(pb.CreateRunRequest(experiment_id="0")).run.info.run_id


def thousand_points(run_id: str, request_id: str = "") -> pb.LogBatchRequest:
    request = pb.LogBatchRequest(run_id=run_id, request_id=request_id)
    request.metrics.keys.append("loss")
    request.metrics.values.extend(float(i) for i in range(1000))
    request.metrics.steps.extend(range(1000))
    return request


def stored_points(server, run_id: str) -> int:
    return len(trackwire.TrackwireClient(server.uri).read_metric_history(run_id, "loss").values)


class RunLockedFromOutside:
    """Holds the write lock a LogBatch to `run_id` needs, from another connection: SQLite's
    database lock (BEGIN IMMEDIATE), or the run's row (SELECT ... FOR UPDATE) elsewhere."""

    def __init__(self, db_url: str, run_id: str):
        self.db_url, self.run_id = db_url, run_id
        self.locked, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        if self.db_url.startswith("sqlite:"):
            connection = sqlite3.connect(self.db_url[len("sqlite:///") :], isolation_level=None)
            connection.execute("BEGIN IMMEDIATE")
            self.locked.set()
            self.release.wait(30)
            connection.execute("ROLLBACK")
            connection.close()
            return
        db = open_database(self.db_url)
        with db.atomic():
            db.execute_sql(
                f"SELECT run_id FROM runs WHERE run_id = {db.param} FOR UPDATE", (self.run_id,)
            )
            self.locked.set()
            self.release.wait(30)
        db.close()

    def __enter__(self) -> RunLockedFromOutside:
        self.thread.start()
        assert self.locked.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.thread.join(30)


@pytest.mark.parametrize("with_request_id", [True, False], ids=["request_id", "no_request_id"])
def test_a_write_past_its_deadline_is_rolled_back_not_committed_later(
    backend, server, stub, run_id, with_request_id
):
    """Finding 5: with the run locked from outside, a 1.5 s deadline expires; the points
    must not be committed once the lock frees, and the client's retry stores them once."""
    request = thousand_points(run_id, uuid.uuid4().hex if with_request_id else "")
    with RunLockedFromOutside(backend, run_id), pytest.raises(grpc.RpcError) as caught:
        stub.LogBatch(request, timeout=1.5)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(2.0)  # the server's call got the lock when it freed: it must have rolled back
    assert stored_points(server, run_id) == 0
    stub.LogBatch(request, timeout=30)  # the retry
    assert stored_points(server, run_id) == 1000


def test_a_resent_log_batch_is_stored_once(server, stub, run_id):
    """Finding 5: a plain resend (the same request, the same request_id) doubled the points."""
    request = thousand_points(run_id, uuid.uuid4().hex)
    for _ in range(3):
        stub.LogBatch(request)
    assert stored_points(server, run_id) == 1000
    stub.LogBatch(thousand_points(run_id, uuid.uuid4().hex))  # a new id is a new request
    assert stored_points(server, run_id) == 2000


def test_concurrent_copies_of_one_request_apply_once(server, channel, run_id):
    """Eight copies of one request at once (a client retrying while the first is still
    running): one applies, every copy gets the same answer."""
    request = thousand_points(run_id, uuid.uuid4().hex)
    barrier = threading.Barrier(8)
    outcomes = []

    def send():
        stub = tracking_service_pb2_grpc.TrackingServiceStub(channel)
        barrier.wait()
        try:
            stub.LogBatch(request, timeout=60)
            outcomes.append("ok")
        except grpc.RpcError as e:
            outcomes.append(e.code())

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == ["ok"] * 8
    assert stored_points(server, run_id) == 1000


def test_a_retried_create_answers_with_what_the_first_created(server, stub):
    request_id = uuid.uuid4().hex
    experiment = pb.CreateExperimentRequest(name="retried", request_id=request_id)
    first = stub.CreateExperiment(experiment).experiment
    assert stub.CreateExperiment(experiment).experiment == first  # not ALREADY_EXISTS

    create = pb.CreateRunRequest(
        experiment_id=first.experiment_id,
        request_id=uuid.uuid4().hex,
        metrics=run_pb2.MetricPoints(keys=["m"], values=[1.5], steps=[3]),
    )
    run = stub.CreateRun(create).run
    assert stub.CreateRun(create).run == run
    runs = stub.SearchRuns(pb.SearchRunsRequest(experiment_ids=[first.experiment_id])).runs
    assert list(runs.run_ids) == [run.info.run_id]

    batch = pb.BatchCreateRunsRequest(
        experiment_id=first.experiment_id,
        request_id=uuid.uuid4().hex,
        requests=[pb.CreateRunRequest(run_name=f"r{i}") for i in range(50)],
    )
    created = stub.BatchCreateRuns(batch).runs
    assert list(stub.BatchCreateRuns(batch).runs) == list(created)  # a large, compressed answer
    assert (
        stub.SearchRuns(
            pb.SearchRunsRequest(experiment_ids=[first.experiment_id], include_total_count=True)
        ).total_count
        == 51
    )


def test_a_retried_model_version_is_registered_once(server, channel, stub, run_id):
    registry = model_registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
    registry.CreateRegisteredModel(registry_pb.CreateRegisteredModelRequest(name="m"))
    request = registry_pb.CreateModelVersionRequest(
        name="m", source=f"runs:/{run_id}/model", run_id=run_id, request_id=uuid.uuid4().hex
    )
    first = registry.CreateModelVersion(request).model_version
    assert registry.CreateModelVersion(request).model_version == first
    versions = registry.SearchModelVersions(
        registry_pb.SearchModelVersionsRequest(filter="name = 'm'")
    ).model_versions
    assert [v.version for v in versions] == ["1"]


def test_a_request_id_reused_for_another_request_is_invalid_argument(server, stub, run_id):
    request_id = uuid.uuid4().hex
    stub.SetRunTag(
        pb.SetRunTagRequest(
            run_id=run_id, tag=run_pb2.RunTag(key="a", value="1"), request_id=request_id
        )
    )
    for other in (
        pb.SetRunTagRequest(
            run_id=run_id, tag=run_pb2.RunTag(key="a", value="2"), request_id=request_id
        ),
        pb.DeleteRunTagRequest(run_id=run_id, key="a", request_id=request_id),
    ):
        method = stub.SetRunTag if isinstance(other, pb.SetRunTagRequest) else stub.DeleteRunTag
        with pytest.raises(grpc.RpcError) as caught:
            method(other)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "request_id" in caught.value.details()
    tags = stub.GetRun(pb.GetRunRequest(run_id=run_id)).run.data.tags
    assert {t.key: t.value for t in tags}["a"] == "1"
    with pytest.raises(grpc.RpcError) as caught:
        stub.SetRunTag(
            pb.SetRunTagRequest(run_id=run_id, tag=run_pb2.RunTag(key="b"), request_id="x" * 65)
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in caught.value.details()


class LoseFirstReply(grpc.UnaryUnaryClientInterceptor):
    """A network that loses the reply of the first call to `method` after the server
    answered it: the client sees UNAVAILABLE although the call was applied."""

    def __init__(self, method: str):
        self.method, self.lost = method, 0

    def intercept_unary_unary(self, continuation, details, request):
        outcome = continuation(details, request)
        if details.method.endswith(self.method) and not self.lost:
            outcome.result()  # the server applied it and answered
            self.lost += 1
            raise LostReply()
        return outcome


class LostReply(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.UNAVAILABLE

    def details(self):
        return "connection reset (simulated)"

    def trailing_metadata(self):
        return ()


def test_the_client_retries_a_lost_reply_without_applying_twice(server):
    client = trackwire.TrackwireClient(server.uri)
    run_id = client.create_run("0").info.run_id
    lose = LoseFirstReply("/LogBatch")
    channel = grpc.intercept_channel(client._connection.channel, lose)
    client._tracking = tracking_service_pb2_grpc.TrackingServiceStub(channel)
    client.log_batch(run_id, metrics=[Metric("loss", float(i), 0, i) for i in range(1000)])
    assert lose.lost == 1
    assert stored_points(server, run_id) == 1000

    lose = LoseFirstReply("/CreateRun")
    client._tracking = tracking_service_pb2_grpc.TrackingServiceStub(
        grpc.intercept_channel(client._connection.channel, lose)
    )
    experiment_id = client.create_experiment("lost-replies")
    run = client.create_run(experiment_id)
    assert lose.lost == 1
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == [run.info.run_id]


def raw_stream(server, requests) -> list[pb.WriteMetricsResponse]:
    with grpc.insecure_channel(server.uri[len("grpc://") :]) as channel:
        stub = tracking_service_pb2_grpc.TrackingServiceStub(channel)
        return list(stub.WriteMetrics(iter(requests), timeout=30))


def batch(run_id: str, sequence_number: int, value: float, writer_id: str = "w"):
    return pb.WriteMetricsRequest(
        writer_id=writer_id,
        sequence_number=sequence_number,
        run_id=run_id,
        points=run_pb2.MetricPoints(keys=["loss"], values=[value], steps=[sequence_number]),
    )


def test_a_gap_in_a_writers_sequence_is_refused_naming_the_next_number(server, run_id):
    """Finding 7: 1, 5, then 3 acknowledged 3 as a duplicate and never stored it."""
    acks = raw_stream(
        server,
        [batch(run_id, n, float(n)) for n in (1, 5, 3, 2, 3, 1)],
    )
    answers = [
        (a.sequence_number, a.error_code, a.duplicate, a.expected_sequence_number) for a in acks
    ]
    gap = grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert answers == [
        (1, 0, False, 2),
        (5, gap, False, 2),
        (3, gap, False, 2),
        (2, 0, False, 3),
        (3, 0, False, 4),
        (1, 0, True, 4),
    ]
    assert "2" in acks[1].error_message and "sequence_number" in acks[1].error_message
    history = trackwire.TrackwireClient(server.uri).read_metric_history(run_id, "loss")
    assert history.values == [1.0, 2.0, 3.0]


def test_a_new_writer_starts_at_one(server, run_id):
    (ack,) = raw_stream(server, [batch(run_id, 4, 4.0, writer_id="fresh")])
    assert ack.error_code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert ack.expected_sequence_number == 1
    assert stored_points(server, run_id) == 0


def test_the_metric_writer_goes_on_after_a_refused_batch(tracking):
    """A refused batch (a point for a deleted run) surfaces at flush; the batches sent
    behind it on the same stream are renumbered and stored, once."""
    client = trackwire.TrackwireClient(tracking.uri)
    alive = client.create_run("0").info.run_id
    gone = client.create_run("0").info.run_id
    client.delete_run(gone)
    writer = client.metric_writer
    for step in range(5):
        client.log_metric_async(alive, "loss", float(step), step=step)
        writer.flush()
    client.log_metric_async(gone, "loss", 1.0, step=0)
    for step in range(5, 10):
        client.log_metric_async(alive, "loss", float(step), step=step)
    with pytest.raises(trackwire.errors.FailedPreconditionError, match="deleted"):
        writer.flush()
    for step in range(10, 15):
        client.log_metric_async(alive, "loss", float(step), step=step)
    writer.flush()
    assert client.read_metric_history(alive, "loss").steps == list(range(15))


def test_a_metric_without_a_value_is_invalid_argument(server, stub, run_id):
    """Finding 9: proto3 could not tell an unset value from 0.0, which was stored. In
    columns, a point without a value is a key, step or key index without its value."""
    no_value = run_pb2.MetricPoints(keys=["a"])
    for method, request, field in (
        (
            stub.LogBatch,
            pb.LogBatchRequest(
                run_id=run_id,
                metrics=run_pb2.MetricPoints(
                    keys=["a", "b"], key_index=[0, 1], values=[0.0], steps=[0, 2]
                ),
            ),
            "metrics.steps has 2 entries; values has 1",
        ),
        (
            stub.CreateRun,
            pb.CreateRunRequest(experiment_id="0", metrics=no_value),
            "metrics.keys has 1 entries but values is empty",
        ),
        (
            stub.BatchCreateRuns,
            pb.BatchCreateRunsRequest(
                experiment_id="0",
                requests=[pb.CreateRunRequest(), pb.CreateRunRequest(metrics=no_value)],
            ),
            "requests[1].metrics.keys has 1 entries but values is empty",
        ),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            method(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in caught.value.details()
    run = stub.GetRun(pb.GetRunRequest(run_id=run_id)).run
    assert list(run.data.metrics) == []
    # An explicit 0.0 is a value like any other.
    stub.LogBatch(
        pb.LogBatchRequest(run_id=run_id, metrics=run_pb2.MetricPoints(keys=["a"], values=[0.0]))
    )
    (metric,) = stub.GetRun(pb.GetRunRequest(run_id=run_id)).run.data.metrics
    assert metric.HasField("value") and metric.value == 0.0
