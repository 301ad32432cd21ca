"""Floods (issue #12, finding 4): idle streams cannot freeze the server, idle streams are
reclaimed, the metric writer closes its idle stream and reopens it, and request messages
are bounded per method, in size and in the memory they take.

Servers whose memory or thread pools are measured run as processes of their own
(tests/support/server_process.py); the rest run in-process over every database."""

from __future__ import annotations

import http.client
import inspect
import pathlib
import queue
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

import trackwire
from tests.conftest import RunningServer
from tests.support.server_process import sqlite_server
from trackwire import fluent
from trackwire.client import close_metric_writers
from trackwire.errors import ResourceExhaustedError, TrackwireException
from trackwire.metric_writer import MetricWriter
from trackwire.v1 import artifact_service_pb2 as apb
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire.v1 import tracking_service_pb2_grpc as stubs
from trackwire_protocol import wire
from trackwire_server import config

MIB = 1024 * 1024
# Each channel its own TCP connection, as separate client processes would have.
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]
BIG_MESSAGES = [("grpc.max_send_message_length", 100 * MIB)]


def channel_to(target: str, options=()) -> grpc.Channel:
    return grpc.insecure_channel(target, options=[*OWN_CONNECTION, *options])


def probe_latencies(target: str, calls: int = 11) -> list[float]:
    """Seconds each health Check and GetServerInfo took, on a connection of their own
    (opened first, so that connecting is not counted)."""
    with channel_to(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        health = health_pb2_grpc.HealthStub(channel)
        tracking = stubs.TrackingServiceStub(channel)
        latencies = []
        for _ in range(calls):
            for call in (
                lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=5),
                lambda: tracking.GetServerInfo(pb.GetServerInfoRequest(), timeout=5),
            ):
                started = time.perf_counter()
                call()
                latencies.append(time.perf_counter() - started)
        return latencies


def assert_prompt(latencies: list[float]) -> None:
    """The issue's figure, 100 ms, for the median; a machine shared with other test runs
    may stall one call now and then, so single calls only have to stay under 2 s."""
    assert statistics.median(latencies) < 0.1, latencies
    assert max(latencies) < 2.0, latencies


def error_reason(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


def eventually(call, timeout: float = 10.0):
    """call(), retried while the server refuses it for want of a free slot: a slot is
    released just after its call ended, as the call's thread finishes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except ResourceExhaustedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def metric_batch(run_id: str, seq: int, values, writer: str = "w1") -> pb.WriteMetricsRequest:
    request = pb.WriteMetricsRequest(writer_id=writer, sequence_number=seq, run_id=run_id)
    request.points.keys.append("loss")
    request.points.values.extend(values)
    request.points.steps.extend(range(len(values)))
    return request


class WriteStream:
    """A WriteMetrics stream on a connection of its own, fed through a queue; a thread
    reads its answers (acknowledgements, then None or the stream's error)."""

    def __init__(self, target: str, options=()):
        self.channel = channel_to(target, options)
        self.requests: queue.SimpleQueue = queue.SimpleQueue()
        self.call = stubs.TrackingServiceStub(self.channel).WriteMetrics(
            iter(self.requests.get, None)
        )
        self.answers: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for ack in self.call:
                self.answers.put(ack)
            self.answers.put(None)
        except grpc.RpcError as e:
            self.answers.put(e)

    def next_answer(self, timeout: float = 30.0):
        """The next acknowledgement; None once the stream ended; raises its error."""
        try:
            answer = self.answers.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the stream got no answer in {timeout}s") from None
        if isinstance(answer, grpc.RpcError):
            raise answer
        return answer

    def write(self, request: pb.WriteMetricsRequest) -> pb.WriteMetricsResponse:
        """Sends a batch and returns its acknowledgement (raises the stream's error)."""
        self.requests.put(request)
        return self.next_answer()

    def end(self) -> None:
        """Half-closes the stream and waits for its end."""
        self.requests.put(None)
        while self.next_answer() is not None:
            pass

    def close(self) -> None:
        self.call.cancel()
        self.requests.put(None)
        self.channel.close()


def open_or_refused(target: str, run_id: str, n: int) -> tuple[list[WriteStream], list[float]]:
    """Opens `n` writer streams, each sending one batch; returns the admitted ones and the
    seconds each refused one took to be refused."""
    admitted, refusals = [], []
    for i in range(n):
        stream = WriteStream(target)
        started = time.perf_counter()
        try:
            stream.write(metric_batch(run_id, 1, [float(i)], writer=f"w{i}"))
            admitted.append(stream)
        except grpc.RpcError as e:
            refusals.append(time.perf_counter() - started)
            assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
            assert error_reason(e) == "TOO_MANY_STREAMS"
            stream.close()
    return admitted, refusals


# -- idle streams never starve unary calls ----------------------------------------------

CHILD = textwrap.dedent(
    """
    import functools, sys, time
    import trackwire
    from trackwire import metric_writer, metrics_client
    # Keep the stream open while idle, as a client from before idle streams were closed
    # does (or one between two epochs): it must still not starve anyone.
    if "idle_close" in __import__("inspect").signature(metric_writer.MetricWriter).parameters:
        metrics_client.MetricWriter = functools.partial(
            metric_writer.MetricWriter, idle_close=3600
        )
    trackwire.set_tracking_uri(sys.argv[1])
    trackwire.start_run()
    trackwire.log_metric("loss", 0.5)
    trackwire.flush()
    print("logged", flush=True)
    time.sleep(300)
    """
)


def test_idle_metric_writers_of_other_processes_leave_health_and_server_info_prompt(tmp_path):
    """The tester's finding: with --workers 4, four processes that once called log_metric
    made health checks and GetServerInfo time out. Here six do."""
    server = sqlite_server(tmp_path, "--workers", "4")
    children = []
    try:
        for _ in range(6):
            children.append(
                subprocess.Popen(
                    [sys.executable, "-c", CHILD, server.uri],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        lines: queue.SimpleQueue = queue.SimpleQueue()
        for child in children:
            threading.Thread(
                target=lambda out=child.stdout: [lines.put(line) for line in out], daemon=True
            ).start()

        def logged(n: int) -> None:
            for _ in range(n):
                try:
                    line = lines.get(timeout=120)
                except queue.Empty:
                    raise AssertionError("a process could not start a run and log") from None
                assert line.strip() == "logged", line

        logged(4)  # four idle writers: as many as --workers
        assert_prompt(probe_latencies(server.target))
        logged(2)  # and two more
        assert_prompt(probe_latencies(server.target))
        # And unary calls that use the database still run.
        client = trackwire.TrackwireClient(server.uri)
        assert client.create_experiment("after-the-writers")
    finally:
        for child in children:
            child.kill()
            child.wait()
        server.stop()


@pytest.mark.parametrize("max_streams", [None, 256], ids=["default-max-streams", "max-streams-256"])
def test_200_idle_streams_leave_the_server_prompt_and_small(tmp_path, max_streams):
    """200 idle streams, writers and watchers alternately, each on a connection of its
    own. With the default bound (64) the streams beyond it are refused at once; with 256
    all 200 are open. Either way health checks and GetServerInfo answer within 100 ms
    (median) and the server stays under bench-compare's W1-W6 peak (~123 MiB) + 50 MB."""
    args = () if max_streams is None else ("--max-streams", str(max_streams))
    server = sqlite_server(tmp_path, *args)
    writers, watches, channels = [], [], []
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run(client.create_experiment("idle")).info.run_id
        refusals = []
        for i in range(200):
            if i % 2 == 0:
                admitted, refused = open_or_refused(server.target, run_id, 1)
                writers += admitted
                refusals += refused
            else:
                channel = channel_to(server.target)
                channels.append(channel)
                call = stubs.TrackingServiceStub(channel).WatchMetrics(
                    pb.WatchMetricsRequest(run_ids=[run_id])
                )
                watches.append((time.perf_counter(), call))
        time.sleep(1.5)  # refusals come at once; this leaves time for a late one
        assert_prompt(probe_latencies(server.target))
        rss = server.memory()["VmRSS"]
        print(f"server RSS with the streams open: {rss / MIB:.1f} MiB")
        assert rss < 173 * MIB
        # A refused watch ended at once; an admitted one stays open, silent.
        open_watches = [c for _, c in watches if not c.done()]
        for _, call in watches:
            if call.done():
                assert call.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, call.details()
        bound = max_streams or config.DEFAULT_MAX_STREAMS
        assert len(writers) + len(open_watches) == min(bound, 200)
        if bound < 200:
            assert len(writers) + len(refusals) == 100
            assert refusals and max(refusals) < 1.0, refusals
            print(f"{bound} streams open, {200 - bound} refused at once")
        else:
            print("all 200 streams open")
    finally:
        for _, call in watches:
            call.cancel()
        for stream in writers:
            stream.close()
        for channel in channels:
            channel.close()
        server.stop()


# -- the stream bound -------------------------------------------------------------------


def test_stream_beyond_the_bound_is_refused_at_once_and_unary_calls_go_on(backend, tmp_path):
    server = RunningServer(backend, tmp_path / "artifacts", max_streams=3)
    streams = []
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run(client.create_experiment("bound")).info.run_id
        target = f"127.0.0.1:{server.port}"
        streams, refusals = open_or_refused(target, run_id, 5)
        assert len(streams) == 3 and len(refusals) == 2
        assert max(refusals) < 1.0, refusals
        # Watches count too; the client says why.
        with pytest.raises(ResourceExhaustedError, match="--max-streams") as refused:
            next(iter(client.watch_metrics([run_id])))
        assert refused.value.reason == "TOO_MANY_STREAMS"
        # Unary calls, health and GetServerInfo do not wait for a stream to end.
        assert_prompt(probe_latencies(target, calls=3))
        client.log_param(run_id, "p", "1")
        assert client.get_run(run_id).data.params == {"p": "1"}
        # Once a stream ends, its slot is free again.
        streams.pop().end()
        deadline = time.monotonic() + 10
        while True:
            admitted, _ = open_or_refused(target, run_id, 1)
            if admitted or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert admitted
        streams += admitted
    finally:
        for stream in streams:
            stream.close()
        server.stop()


class HoldCalls(grpc.ServerInterceptor):
    """Holds SetExperimentTag calls until `release` is set (a slow unary call)."""

    def __init__(self):
        self.release = threading.Event()
        self.held = threading.Semaphore(0)

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or not details.method.endswith("/SetExperimentTag"):
            return handler
        inner = handler.unary_unary

        def behavior(request, context):
            self.held.release()
            self.release.wait(30)
            return inner(request, context)

        return handler._replace(unary_unary=behavior)


def test_calls_beyond_the_bound_are_refused_at_once_but_health_still_answers(tmp_path):
    hold = HoldCalls()
    server = RunningServer(
        f"sqlite:///{tmp_path / 't.db'}",
        tmp_path / "artifacts",
        workers=1,
        max_streams=1,
        max_concurrent_rpcs=2,
        interceptors=(hold,),
    )
    target = f"127.0.0.1:{server.port}"
    stream = None
    try:
        client = trackwire.TrackwireClient(server.uri)
        experiment_id = client.create_experiment("calls")
        run_id = client.create_run(experiment_id).info.run_id
        stream = WriteStream(target)
        stream.write(metric_batch(run_id, 1, [1.0]))  # one stream: a slot of two
        slow = threading.Thread(
            target=client.set_experiment_tag, args=(experiment_id, "k", "v"), daemon=True
        )
        slow.start()
        assert hold.held.acquire(timeout=10)  # and a unary call: the other slot
        started = time.perf_counter()
        with pytest.raises(ResourceExhaustedError, match="--max-concurrent-rpcs") as refused:
            client.get_run(run_id)
        assert time.perf_counter() - started < 1.0
        assert refused.value.reason == "TOO_MANY_CALLS"
        assert_prompt(probe_latencies(target, calls=3))
        hold.release.set()
        slow.join(10)
        assert client.get_run(run_id).info.run_id == run_id
    finally:
        hold.release.set()
        if stream is not None:
            stream.close()
        server.stop()


# -- idle streams are reclaimed ---------------------------------------------------------


def test_idle_write_stream_is_cancelled_and_its_slot_freed(backend, tmp_path):
    server = RunningServer(backend, tmp_path / "artifacts", max_streams=1, stream_idle_timeout=1.0)
    streams = []
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run(client.create_experiment("idle")).info.run_id
        target = f"127.0.0.1:{server.port}"
        stream = WriteStream(target)
        streams.append(stream)
        assert stream.write(metric_batch(run_id, 1, [1.0])).error_code == 0
        idle_from = time.monotonic()
        with pytest.raises(grpc.RpcError) as ended:
            stream.next_answer()  # no batch: the server ends the stream
        waited = time.monotonic() - idle_from
        assert ended.value.code() == grpc.StatusCode.CANCELLED
        assert 0.9 < waited < 10, waited
        # The slot is free: a new stream is admitted (the bound is 1).
        deadline = time.monotonic() + 10
        while True:
            admitted, _ = open_or_refused(target, run_id, 1)
            if admitted or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert admitted
        streams += admitted
        assert admitted[0].write(metric_batch(run_id, 2, [2.0])).error_code == 0
        admitted[0].end()  # reading the history takes the stream slot too
        history = eventually(lambda: client.read_metric_history(run_id, "loss"))
        assert sorted(history.values) == [0.0, 1.0, 2.0]  # 0.0: open_or_refused's batch
    finally:
        for stream in streams:
            stream.close()
        server.stop()


def test_idle_upload_is_cancelled_and_nothing_is_stored(backend, tmp_path):
    server = RunningServer(backend, tmp_path / "artifacts", stream_idle_timeout=1.0)
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run(client.create_experiment("upload")).info.run_id
        writer = client.open_artifact(run_id, "slow.bin")
        writer.write(b"x" * 1000)
        time.sleep(3)  # no message for longer than the idle timeout
        with pytest.raises(TrackwireException):
            writer.write(b"y" * 1000)
            writer.close()
        assert client.list_artifacts(run_id) == []
        assert client.log_text(run_id, "fine", "after.txt").path == "after.txt"
    finally:
        server.stop()


def test_download_the_client_stops_reading_is_cancelled_and_its_slot_freed(tmp_path):
    server = RunningServer(
        f"sqlite:///{tmp_path / 't.db'}",
        tmp_path / "artifacts",
        max_streams=1,
        stream_idle_timeout=1.0,
    )
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run(client.create_experiment("download")).info.run_id
        client.log_bytes(run_id, bytes(96 * MIB), "big.bin")
        with channel_to(f"127.0.0.1:{server.port}") as channel:
            download = channel.unary_stream(
                wire.DOWNLOAD_METHOD,
                request_serializer=apb.DownloadArtifactRequest.SerializeToString,
                response_deserializer=wire.decode_download_response,
            )(apb.DownloadArtifactRequest(run_id=run_id, path="big.bin"))
            next(download)  # then stop reading: the server's sends stall
            time.sleep(4)
            with pytest.raises(grpc.RpcError) as ended:
                for _ in download:
                    pass
            assert ended.value.code() == grpc.StatusCode.CANCELLED
        assert server.server.admission.watchdog.cancelled == 1
        # Its slot (the only one) is free again.
        assert eventually(lambda: client.log_text(run_id, "x", "small.txt")).path == "small.txt"
    finally:
        server.stop()


# -- watches: ended when quiet, re-opened by their clients --------------------------------


def test_quiet_watch_ends_ok_and_the_client_watch_reopens_it(backend, tmp_path):
    server = RunningServer(backend, tmp_path / "artifacts", stream_idle_timeout=1.0)
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run(client.create_experiment("quiet")).info.run_id
        with channel_to(f"127.0.0.1:{server.port}") as channel:
            started = time.monotonic()
            call = stubs.TrackingServiceStub(channel).WatchMetrics(
                pb.WatchMetricsRequest(run_ids=[run_id])
            )
            assert list(call) == []  # ends, with OK
            assert call.code() == grpc.StatusCode.OK
            assert 0.9 < time.monotonic() - started < 10
        received = queue.SimpleQueue()
        with client.watch_metrics([run_id]) as watch:
            reader = threading.Thread(target=lambda: [received.put(w) for w in watch], daemon=True)
            reader.start()
            time.sleep(2.5)  # two quiet periods: re-opened twice
            client.log_metric(run_id, "loss", 0.25, step=3)
            got_run, key, history = received.get(timeout=10)
            assert (got_run, key, history.steps, history.values) == (run_id, "loss", [3], [0.25])
        reader.join(5)
        assert not reader.is_alive()
    finally:
        server.stop()


def test_client_watch_ends_quietly_when_the_server_stops(tmp_path):
    server = RunningServer(f"sqlite:///{tmp_path / 't.db'}", tmp_path / "artifacts")
    client = trackwire.TrackwireClient(server.uri)
    run_id = client.create_run(client.create_experiment("stop")).info.run_id
    outcome = queue.SimpleQueue()

    def read():
        try:
            outcome.put(list(client.watch_metrics([run_id])))
        except Exception as e:  # noqa: BLE001 (the test reports it)
            outcome.put(e)

    threading.Thread(target=read, daemon=True).start()
    time.sleep(0.5)
    server.stop(grace=5)
    assert outcome.get(timeout=10) == []


def test_ui_live_chart_stream_survives_the_server_ending_quiet_watches(tmp_path):
    from trackwire_server.ui import UiServer

    server = RunningServer(
        f"sqlite:///{tmp_path / 't.db'}", tmp_path / "artifacts", stream_idle_timeout=1.0
    )
    ui = UiServer("127.0.0.1", server.port, port=0).start()
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run(client.create_experiment("live")).info.run_id
        connection = http.client.HTTPConnection("127.0.0.1", ui.port, timeout=30)
        connection.request("GET", f"/api/live?run_ids={run_id}")
        response = connection.getresponse()
        lines = queue.SimpleQueue()

        def read():
            try:
                for line in response:
                    lines.put(line)
            except (OSError, ValueError, AttributeError):
                pass  # the test closed the connection

        threading.Thread(target=read, daemon=True).start()
        time.sleep(2.5)  # the server ends the quiet watch twice; the UI watches anew
        client.log_metric(run_id, "acc", 0.5, step=1)
        deadline = time.monotonic() + 10
        seen = []
        while time.monotonic() < deadline:
            line = lines.get(timeout=10).decode()
            seen.append(line)
            if line.startswith("data:") and run_id in line:
                break
            assert not line.startswith("event: end"), seen
        else:
            raise AssertionError(f"no live points: {seen}")
        connection.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader; close() would wait
        connection.close()
    finally:
        ui.stop()
        server.stop()


# -- the metric writer closes its idle stream -------------------------------------------


class CountWriteStreams(grpc.ServerInterceptor):
    """How many WriteMetrics streams are open, and how many were ever opened."""

    def __init__(self):
        self.open = 0
        self.opened = 0
        self._lock = threading.Lock()

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or not details.method.endswith("/WriteMetrics"):
            return handler
        inner = handler.stream_stream

        def behavior(requests, context):
            with self._lock:
                self.open += 1
                self.opened += 1
            try:
                yield from inner(requests, context)
            finally:
                with self._lock:
                    self.open -= 1

        return handler._replace(stream_stream=behavior)

    def wait_for(self, n: int, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.open != n:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


def test_metric_writer_closes_its_idle_stream_and_reopens_it_on_demand(backend, tmp_path):
    """The server's idle timeout is 4 s; the writer closes its stream after 2 s idle (half),
    before the server would, and logs on a new stream: every point stored once."""
    counter = CountWriteStreams()
    server = RunningServer(
        backend, tmp_path / "artifacts", stream_idle_timeout=4.0, interceptors=(counter,)
    )
    fluent.set_tracking_uri(server.uri)
    try:
        with trackwire.start_run() as run:
            for step in range(100):
                trackwire.log_metric("loss", step / 100, step=step)
            trackwire.flush()
            assert counter.open == 1
            assert counter.wait_for(0), "the writer kept its idle stream open"
            for step in range(100, 200):
                trackwire.log_metric("loss", step / 100, step=step)
            trackwire.flush()
            assert counter.open == 1 and counter.opened == 2
        assert server.server.admission.watchdog.cancelled == 0  # the client closed first
        history = trackwire.TrackwireClient(server.uri).read_metric_history(run.info.run_id, "loss")
        assert history.steps == list(range(200))
        assert history.values == [step / 100 for step in range(200)]
    finally:
        close_metric_writers()
        fluent.set_tracking_uri(None)
        server.stop()


def test_writer_whose_idle_stream_the_server_ended_reopens_it_without_a_loss(backend, tmp_path):
    """A writer that keeps its stream open longer than the server lets it (an older
    client, or a server that publishes no timeout) sees it cancelled, quietly, and sends
    the next points on a new stream."""
    counter = CountWriteStreams()
    server = RunningServer(
        backend, tmp_path / "artifacts", stream_idle_timeout=1.0, interceptors=(counter,)
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    stub = stubs.TrackingServiceStub(channel)
    limits = stub.GetServerInfo(pb.GetServerInfoRequest()).limits
    if "stream_idle_timeout" in limits.DESCRIPTOR.fields_by_name:
        limits.ClearField("stream_idle_timeout")  # as from a server that does not say
    parameters = inspect.signature(MetricWriter).parameters
    writer = MetricWriter(
        lambda: (stub, limits), **({"idle_close": 3600} if "idle_close" in parameters else {})
    )
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run(client.create_experiment("reclaimed")).info.run_id
        for step in range(50):
            writer.add(run_id, "loss", float(step), step, 1)
        writer.flush(timeout=60)
        assert counter.open == 1
        threads = threading.active_count()
        assert counter.wait_for(0), "the server never ended the idle stream"
        for step in range(50, 100):
            writer.add(run_id, "loss", float(step), step, 1)
        writer.flush(timeout=60)  # raises nothing
        assert counter.opened == 2
        # The ended stream's threads are gone (its request sender waited on the queue).
        assert threading.active_count() <= threads
        assert client.read_metric_history(run_id, "loss").steps == list(range(100))
    finally:
        writer.close(timeout=10)
        channel.close()
        server.stop()


# -- message limits -----------------------------------------------------------------------


def big_log_batch(run_id: str, megabytes: int) -> pb.LogBatchRequest:
    """A LogBatch of `megabytes` MB of parameters (far more than the 100 allowed)."""
    request = pb.LogBatchRequest(run_id=run_id)
    value = "v" * 6000
    for i in range(megabytes * 1_000_000 // 6010):
        request.params.add(key=f"p{i}", value=value)
    return request


def test_large_requests_are_refused_with_resource_exhausted(backend, tmp_path):
    server = RunningServer(backend, tmp_path / "artifacts")
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run(client.create_experiment("big")).info.run_id
        with channel_to(f"127.0.0.1:{server.port}", BIG_MESSAGES) as channel:
            stub = stubs.TrackingServiceStub(channel)
            # 60 MB: refused by gRPC as it arrives (above max_message_bytes, 16 MiB).
            for call, request in [
                (stub.LogBatch, big_log_batch(run_id, 60)),
                (
                    stub.SetRunTag,
                    pb.SetRunTagRequest(run_id=run_id, tag={"value": "t" * 60_000_000}),
                ),
            ]:
                with pytest.raises(grpc.RpcError) as refused:
                    call(request, timeout=60)
                assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "larger than max" in refused.value.details()
            # Under that but above the method's own limit: refused before it is parsed.
            for call, request, limit in [
                (stub.LogBatch, big_log_batch(run_id, 5), "4,194,304"),
                (stub.GetRun, pb.GetRunRequest(run_id="r" * 2_000_000), "1,048,576"),
            ]:
                with pytest.raises(grpc.RpcError) as refused:
                    call(request, timeout=60)
                assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert error_reason(refused.value) == "MESSAGE_TOO_LARGE"
                assert limit in refused.value.details()
        assert client.get_run(run_id).data.params == {}
        limits = client.get_server_info().limits
        assert limits["max_message_bytes"] == 16 * MIB
        assert limits["max_log_batch_bytes"] == 4 * MIB
        assert limits["max_request_bytes"] == 1 * MIB
        assert limits["max_upload_chunk_bytes"] == 4 * MIB
        assert limits["stream_idle_timeout"] == 300.0
    finally:
        server.stop()


def test_four_concurrent_60_mb_requests_barely_move_the_servers_memory(tmp_path):
    """Before: the server took each 60 MB LogBatch whole (~300 MiB more at its peak)."""
    server = sqlite_server(tmp_path)
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run(client.create_experiment("memory")).info.run_id
        encoded = big_log_batch(run_id, 60).SerializeToString()
        time.sleep(0.5)
        before = server.memory()["VmHWM"]
        codes = queue.SimpleQueue()

        def send():
            with channel_to(server.target, BIG_MESSAGES) as channel:
                log_batch = channel.unary_unary(
                    "/trackwire.v1.TrackingService/LogBatch",
                    request_serializer=lambda b: b,
                    response_deserializer=pb.LogBatchResponse.FromString,
                )
                try:
                    log_batch(encoded, timeout=120)
                    codes.put(grpc.StatusCode.OK)
                except grpc.RpcError as e:
                    codes.put(e.code())

        senders = [threading.Thread(target=send) for _ in range(4)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(180)
        grown = server.memory()["VmHWM"] - before
        print(f"peak RSS grew by {grown / MIB:.1f} MiB")
        assert [codes.get(timeout=1) for _ in range(4)] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 4
        assert grown < 50 * MIB
    finally:
        server.stop()


def test_uploads_are_chunked_and_an_oversized_chunk_is_refused(backend, tmp_path):
    server = RunningServer(backend, tmp_path / "artifacts")
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run(client.create_experiment("upload")).info.run_id
        data = bytes(range(256)) * (20 * MIB // 256)
        source = tmp_path / "model.bin"
        source.write_bytes(data)
        client.log_artifact(run_id, str(source))
        downloaded = client.download_artifacts(run_id, "model.bin", str(tmp_path / "out"))
        assert pathlib.Path(downloaded).read_bytes() == data
        header = apb.UploadArtifactHeader(run_id=run_id, path="too-big.bin")
        connection = client._connection
        for size in (5 * MIB, 4 * MIB + 1):  # above the message's limit; above the data's
            with pytest.raises(ResourceExhaustedError, match="bytes") as refused:
                client._transfer.upload(run_id, "too-big.bin", [b"x" * size])
            assert refused.value.reason == "MESSAGE_TOO_LARGE"
        # Exactly 4 MiB in one message is fine.
        message = wire.encode_upload_request(header, b"y" * (4 * MIB))
        assert connection.upload(iter([message])).file.file_size == 4 * MIB
        assert [f.path for f in client.list_artifacts(run_id)] == ["model.bin", "too-big.bin"]
    finally:
        server.stop()


# -- options --------------------------------------------------------------------------------


def test_help_lists_the_bounds_and_bad_bounds_are_refused(tmp_path):
    help_text = subprocess.run(
        [sys.executable, "-m", "trackwire_server", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in ("--workers", "--max-streams", "--max-concurrent-rpcs", "--stream-idle-timeout"):
        assert option in help_text
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "trackwire_server",
            "--no-ui",
            "--port",
            "0",
            "--db",
            f"sqlite:///{tmp_path / 't.db'}",
            "--workers",
            "8",
            "--max-streams",
            "8",
            "--max-concurrent-rpcs",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0
    assert "max_concurrent_rpcs (10) must be at least max_streams + workers (16)" in refused.stderr


def test_writer_refused_a_stream_keeps_its_points_and_retries(backend, tmp_path):
    """With every stream slot taken, the writer is refused at once, keeps its points and
    retries with backoff (without leaving a thread behind per attempt); once a slot is
    free it delivers them, once."""
    server = RunningServer(backend, tmp_path / "artifacts", max_streams=1)
    target = f"127.0.0.1:{server.port}"
    holder = WriteStream(target)
    channel = grpc.insecure_channel(target)
    stub = stubs.TrackingServiceStub(channel)
    writer = MetricWriter(lambda: (stub, stub.GetServerInfo(pb.GetServerInfoRequest()).limits))
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = client.create_run(client.create_experiment("refused")).info.run_id
        holder.write(metric_batch(run_id, 1, [0.0], writer="holder"))  # the only slot
        threads = threading.active_count()
        for step in range(1, 101):
            writer.add(run_id, "loss", float(step), step, 1)
        with pytest.raises(TrackwireException, match="not acknowledged"):
            writer.flush(timeout=4)  # refused (about 6 times), retried, not lost
        # The writer's sender, and one attempt's request and answer threads at most.
        assert threading.active_count() <= threads + 3, [t.name for t in threading.enumerate()]
        holder.end()
        writer.flush(timeout=60)
        writer.close(timeout=10)  # frees the only slot, for the read
        history = eventually(lambda: client.read_metric_history(run_id, "loss"))
        assert history.steps == list(range(101))
    finally:
        writer.close(timeout=10)
        holder.close()
        channel.close()
        server.stop()
