"""Client-side balancing and failover across a fleet of servers (issue #15, item 3).

Three server processes on one PostgreSQL (then MariaDB) database and one SeaweedFS
bucket (tests/support/cluster.py); clients hold the fleet's address list
(`grpc://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`). While four metric writers stream,
each in a process of its own, one server is SIGKILLed and restarted on the same port.
Afterwards every run's stored history is exactly the points sent, none doubled (through
the API and by SQL on the chunks), and unary calls made on raw stubs during the kill
(no retry loop of ours: only gRPC's retry policy from the service config) saw no error
and went to all three servers, the restarted one included.
"""

from __future__ import annotations

import collections
import threading
import time
import uuid

import grpc
import pytest
from peewee import fn

import trackwire
from tests.support.channelz import calls_by_port, served_between
from tests.support.cluster import Cluster, cluster_database  # noqa: F401
from tests.support.metric_writer_process import WriterProcess, timestamp_of, value_of
from tests.support.seaweedfs import seaweedfs_s3_server  # noqa: F401
from tests.support.server_process import sqlite_server
from trackwire.connection import connect
from trackwire.v1 import run_pb2
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire_server.store import open_database, schema

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

WRITERS = 4
KEY = "loss"
# Streaming before the kill, while the server is down, and after it is back.
LEAD_IN = 1.5
DOWN_FOR = 2.0
# How long the caller's channel may take to reach all three servers (connections made
# on its first calls; a loaded machine can be slow).
SPREAD_WITHIN = 15.0
# How long the restarted server may take to get calls again (reconnect backoff <= 2 s).
BACK_IN_USE = 15.0
FLUSH_TIMEOUT = 30.0
CALL_TIMEOUT = 20.0


class Caller:
    """Unary calls in a loop on raw stubs of one connection to the fleet (so only gRPC's
    retry policy stands between a dead server and an error): SearchRuns, GetRun and
    SetRunTag (with a request id), noting which server answered each and every error."""

    def __init__(self, uri: str, experiment_id: str, run_id: str):
        self.connection, _ = connect(uri)
        self.experiment_id, self.run_id = experiment_id, run_id
        self.calls = 0
        self.errors: list[str] = []
        self.tags_set = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Caller:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._call_in_a_loop()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append(f"the caller broke: {e!r}")

    def _call_in_a_loop(self) -> None:
        tracking = self.connection.tracking
        i = 0
        while not self._stop.is_set():
            calls = [
                (
                    tracking.SearchRuns,
                    pb.SearchRunsRequest(experiment_ids=[self.experiment_id], page_size=10),
                ),
                (tracking.GetRun, pb.GetRunRequest(run_id=self.run_id)),
                (
                    tracking.SetRunTag,
                    pb.SetRunTagRequest(
                        run_id=self.run_id,
                        tag=run_pb2.RunTag(key="progress", value=str(i)),
                        request_id=uuid.uuid4().hex,
                    ),
                ),
            ]
            for method, request in calls:
                try:
                    method(request, timeout=CALL_TIMEOUT)
                except grpc.RpcError as e:
                    self.errors.append(f"{type(request).__name__}: {e.code().name}: {e.details()}")
                    continue
                self.calls += 1
            self.tags_set += 1
            i += 1
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(CALL_TIMEOUT * 3 + 10)
        self.connection.close()


def stored_chunks(db_url: str, run_id: str) -> tuple[int, int, int]:
    """(points, chunks, distinct chunk start steps) stored for the run's KEY, by SQL."""
    db = open_database(db_url)
    try:
        with db.connection_context():
            chunk = schema.bind_tables(db).MetricChunk
            row = (
                chunk.select(
                    fn.COALESCE(fn.SUM(chunk.point_count), 0),
                    fn.COUNT(chunk.chunk_id),
                    fn.COUNT(chunk.min_step.distinct()),
                )
                .where((chunk.run_id == run_id) & (chunk.key == KEY))
                .tuples()
                .get()
            )
    finally:
        db.close()
    return int(row[0]), int(row[1]), int(row[2])


def test_writers_lose_and_double_nothing_while_a_server_is_killed_and_restarted(
    cluster_database,  # noqa: F811
    seaweedfs_s3_server,  # noqa: F811
    tmp_path,
):
    prefix = f"failover-{uuid.uuid4().hex[:8]}"
    with Cluster(
        cluster_database, tmp_path, size=3, s3=seaweedfs_s3_server, s3_prefix=prefix
    ) as cluster:
        ports = {server.port for server in cluster.servers}
        client = trackwire.TrackwireClient(cluster.uri)
        experiment_id = client.create_experiment(prefix)
        run_ids = [client.create_run(experiment_id).info.run_id for _ in range(WRITERS)]
        writers = [
            WriterProcess(cluster.uri, run_id, KEY, flush_timeout=FLUSH_TIMEOUT)
            for run_id in run_ids
        ]
        caller = None
        try:
            for writer in writers:
                writer.start()
            for writer in writers:
                writer.wait_ready()
            start = calls_by_port()
            caller = Caller(cluster.uri, experiment_id, run_ids[0]).start()
            time.sleep(LEAD_IN)
            deadline = time.monotonic() + SPREAD_WITHIN
            while served_between(start, calls_by_port()) != ports and time.monotonic() < deadline:
                time.sleep(0.1)
            before_kill = served_between(start, calls_by_port())
            # The server with the most metric streams dies (round_robin spread them; at
            # least one writer is on it).
            streams_on = collections.Counter(writer.where() for writer in writers)
            victim_port, victim_streams = streams_on.most_common(1)[0]
            victim = [server.port for server in cluster.servers].index(victim_port)
            cluster.kill(victim)
            time.sleep(DOWN_FOR)
            restarted = cluster.restart(victim)
            back = calls_by_port()
            deadline = time.monotonic() + BACK_IN_USE
            while (
                restarted.port not in served_between(back, calls_by_port())
                and time.monotonic() < deadline
            ):
                time.sleep(0.1)
            after_restart = served_between(back, calls_by_port())
            back_in_use = time.monotonic() - (deadline - BACK_IN_USE)
            time.sleep(0.5)  # a little streaming with the whole fleet back
        finally:
            if caller is not None:
                caller.stop()
            summaries = [writer.finish() for writer in writers]

        print(
            f"streams by server port: {dict(streams_on)}; killed {victim_port}; "
            f"in use again {back_in_use:.2f}s after its restart; writers: {summaries}"
        )
        # What the clients saw.
        assert not caller.errors, (
            f"{len(caller.errors)} unary calls failed around the kill:\n"
            + "\n".join(caller.errors[:10])
        )
        assert before_kill == ports, f"calls before the kill went to {before_kill}, not {ports}"
        assert victim_streams >= 1 and set(streams_on) <= ports, streams_on
        assert restarted.port in after_restart, (
            f"the restarted server (port {restarted.port}) got no call in {BACK_IN_USE}s; "
            f"calls since went to {after_restart}"
        )
        assert caller.calls > 0
        for run_id, summary in zip(run_ids, summaries, strict=True):
            assert summary["error"] is None, f"writer of run {run_id}: {summary}"
            assert summary["points"] and summary["points"] > 0, summary

        # What was stored: every point sent, once.
        for run_id, summary in zip(run_ids, summaries, strict=True):
            sent = summary["points"]
            history = client.read_metric_history(run_id, KEY)
            assert len(history.steps) == sent, (
                f"run {run_id}: {len(history.steps)} points stored, {sent} sent"
            )
            assert list(history.steps) == list(range(sent)), f"run {run_id}: steps differ"
            assert list(history.values) == [value_of(s) for s in range(sent)]
            assert list(history.timestamps) == [timestamp_of(s) for s in range(sent)]
            points, chunks, distinct = stored_chunks(cluster_database, run_id)
            assert points == sent, f"run {run_id}: SQL counts {points} points, {sent} sent"
            assert chunks == distinct, f"run {run_id}: {chunks - distinct} chunks stored twice"
        # The tag written on every round: the last value set is what the run has.
        tags = client.get_run(run_ids[0]).data.tags
        assert tags["progress"] == str(caller.tags_set - 1)
        client.close()


def test_dns_target_reaches_the_server(tmp_path):
    """`dns:///localhost:PORT`: gRPC's DNS resolver finds the server (the name has
    ::1 too, where nothing listens: round_robin skips that address)."""
    server = sqlite_server(tmp_path / "server")
    try:
        client = trackwire.TrackwireClient(f"dns:///localhost:{server.port}")
        experiment_id = client.create_experiment("over-dns")
        run = client.create_run(experiment_id)
        client.set_tag(run.info.run_id, "via", "dns")
        assert client.get_run(run.info.run_id).data.tags["via"] == "dns"
        assert client.get_experiment(experiment_id).name == "over-dns"
        client.close()
    finally:
        server.stop()
