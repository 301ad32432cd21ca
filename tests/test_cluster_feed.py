"""The live feed across servers (database_feed.py): a WatchMetrics stream on one server
gets the points written through another on the same PostgreSQL (LISTEN/NOTIFY) or
MariaDB (the commit log, polled), exactly once, within the issue's bounds; it survives
its database connection being killed; MariaDB's commit log stays small, and a row that
becomes visible after a later one is still delivered.

Three real server processes (tests/support/cluster.py) on the shared test databases.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time

import grpc
import pytest

import trackwire
from tests.conftest import MYSQL_ENV, database_url, reset_database
from tests.support.cluster import Cluster, cluster_database  # noqa: F401
from trackwire.v1 import run_pb2
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire.v1 import tracking_service_pb2_grpc as stubs
from trackwire_server.store import open_database

# The acceptance bounds, from the write's acknowledgement to the watcher's receipt.
BOUND_SECONDS = {"postgresql": 1.0, "mysql": 1.5}
SESSION = re.compile(r"live feed: .*\((?:PostgreSQL backend pid|MySQL connection id) (\d+)\)")


def kind_of(url: str) -> str:
    return "postgresql" if url.startswith("postgres") else "mysql"


class Watch:
    """A WatchMetrics stream on one server, read by a thread: (receipt time, message)."""

    def __init__(self, target: str, run_ids: list[str]):
        self.channel = grpc.insecure_channel(target)
        stub = stubs.TrackingServiceStub(self.channel)
        self.call = stub.WatchMetrics(pb.WatchMetricsRequest(run_ids=run_ids))
        # The header says the watch is registered: every later commit is sent.
        assert ("trackwire-watch-live", "1") in tuple(self.call.initial_metadata())
        self.received: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for message in self.call:
                self.received.put((time.monotonic(), message))
        except grpc.RpcError:
            pass
        finally:
            self.received.put((time.monotonic(), None))

    def points(self, n: int, timeout: float = 15.0) -> tuple[float, list[tuple]]:
        """The next `n` points, as (key, step, timestamp, value), and when the last came."""
        got: list[tuple] = []
        deadline = time.monotonic() + timeout
        at = 0.0
        while len(got) < n:
            try:
                at, message = self.received.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{len(got)} of {n} points came in {timeout}s") from None
            assert message is not None, "the watch ended"
            assert not message.overflowed, "unexpected overflow notice"
            got += unpack(message)
        return at, got

    def next_message(self, timeout: float = 15.0):
        return self.received.get(timeout=timeout)[1]

    def assert_quiet(self, seconds: float) -> None:
        try:
            _, message = self.received.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError(f"a message nobody wrote: {message}")

    def close(self) -> None:
        self.call.cancel()
        self.thread.join(5)
        self.channel.close()


def unpack(message) -> list[tuple]:
    p = message.points
    keys = [p.keys[i] for i in p.key_index] if p.key_index else [p.keys[0]] * len(p.values)
    return list(zip(keys, p.steps, p.timestamps_ms, p.values, strict=True))


class StreamWriter:
    """A WriteMetrics stream on one server: `write` returns once the batch is acknowledged."""

    def __init__(self, target: str, writer_id: str):
        self.channel = grpc.insecure_channel(target)
        self.requests: queue.Queue = queue.Queue()
        stub = stubs.TrackingServiceStub(self.channel)
        self.responses = stub.WriteMetrics(iter(self.requests.get, None))
        self.writer_id = writer_id
        self.sequence = 0

    def write(self, run_id: str, points: list[tuple]) -> float:
        """Writes (key, step, timestamp, value) points; returns when the ack came."""
        keys = list(dict.fromkeys(p[0] for p in points))
        self.sequence += 1
        self.requests.put(
            pb.WriteMetricsRequest(
                writer_id=self.writer_id,
                sequence_number=self.sequence,
                run_id=run_id,
                points=run_pb2.MetricPoints(
                    keys=keys,
                    key_index=[keys.index(p[0]) for p in points] if len(keys) > 1 else [],
                    steps=[p[1] for p in points],
                    timestamps_ms=[p[2] for p in points],
                    values=[p[3] for p in points],
                ),
            )
        )
        ack = next(self.responses)
        assert (ack.sequence_number, ack.duplicate, ack.error_code) == (self.sequence, False, 0)
        return time.monotonic()

    def close(self) -> None:
        self.requests.put(None)
        self.channel.close()


def log_batch(client: trackwire.TrackwireClient, run_id: str, points: list[tuple]) -> float:
    client.log_batch(run_id, metrics=[trackwire.Metric(k, v, ts, s) for k, s, ts, v in points])
    return time.monotonic()


def session_of(server) -> int:
    """The database session of the server's feed, as its log last named it."""
    found = SESSION.findall(server.output())
    assert found, server.output_tail()
    return int(found[-1])


def kill_session(url: str, session: int) -> None:
    db = open_database(url)
    try:
        if kind_of(url) == "postgresql":
            name = db.execute_sql(
                "SELECT application_name FROM pg_stat_activity WHERE pid = %s", (session,)
            ).fetchone()
            assert name == ("trackwire-feed",), name
            assert db.execute_sql("SELECT pg_terminate_backend(%s)", (session,)).fetchone()[0]
        else:
            db.execute_sql(f"KILL {int(session)}")
    finally:
        db.close()


def new_run(client: trackwire.TrackwireClient) -> str:
    return client.create_run(client.create_experiment("feed")).info.run_id


def test_a_watch_on_one_server_gets_what_another_stored(cluster_database, tmp_path):  # noqa: F811
    """Points written through server B, by WriteMetrics and by LogBatch, reach a watcher
    on server A within the bound, exactly; a watcher on B (which publishes its own in
    process) gets them once too; server C, watching nothing, changes nothing."""
    url = cluster_database
    bound = BOUND_SECONDS[kind_of(url)]
    with Cluster(url, tmp_path, size=3) as cluster:
        a, b, _ = cluster.targets
        client_b = trackwire.TrackwireClient(f"grpc://{b}")
        run_id = new_run(client_b)
        remote, local = Watch(a, [run_id]), Watch(b, [run_id])
        writer = StreamWriter(b, "feed-writer")
        latencies = []
        try:
            step = 0
            # Small batches (appended to their key's last chunk), then larger ones (chunks
            # of their own), several keys at once; and LogBatch calls between them.
            for i, size in enumerate([1, 3, 1, 50, 300, 2, 1000, 1, 5, 400]):
                points = [
                    (key, step + j, 1_700_000_000_000 + step + j, float(step + j) / 7)
                    for key in (("loss", "acc") if i % 2 else ("loss",))
                    for j in range(size)
                ]
                step += size
                acked = writer.write(run_id, points)
                arrived, got = remote.points(len(points))
                assert got == points
                latencies.append(arrived - acked)
                assert local.points(len(points))[1] == points
                batch = [("lr", step, 1_700_000_000_000 + step, 0.1 * i), ("epoch", step, 1, i)]
                acked = log_batch(client_b, run_id, batch)
                arrived, got = remote.points(len(batch))
                assert got == batch
                latencies.append(arrived - acked)
                assert local.points(len(batch))[1] == batch
            # As many keys as LogBatch takes: PostgreSQL gets several notifications.
            wide = [(f"k{i:04}", step + 1, 1, float(i)) for i in range(1000)]
            log_batch(client_b, run_id, wide)
            assert remote.points(len(wide))[1] == wide
            assert local.points(len(wide))[1] == wide
            remote.assert_quiet(0.5)  # no point twice
            local.assert_quiet(0.01)
        finally:
            writer.close()
            remote.close()
            local.close()
        assert max(latencies) < bound, (sorted(latencies)[-3:], cluster.outputs())


def test_the_feed_comes_back_after_its_connection_is_killed(
    cluster_database,  # noqa: F811
    tmp_path,
):
    """The feed's own database session is killed (pg_terminate_backend / KILL): the
    server opens another. On PostgreSQL, notifications sent meanwhile are gone, so the
    watcher is told (`overflowed`) before later points; MariaDB's commit log still holds
    what was written meanwhile, which arrives with nothing missed nor told."""
    url = cluster_database
    with Cluster(url, tmp_path, size=2) as cluster:
        a, b = cluster.targets
        client_b = trackwire.TrackwireClient(f"grpc://{b}")
        run_id = new_run(client_b)
        watch = Watch(a, [run_id])
        try:
            first = [("loss", 1, 1, 1.0)]
            log_batch(client_b, run_id, first)
            assert watch.points(1)[1] == first
            before = session_of(cluster.servers[0])
            kill_session(url, before)
            meanwhile = [("loss", 2, 2, 2.0)]
            log_batch(client_b, run_id, meanwhile)
            deadline = time.monotonic() + 20
            while session_of(cluster.servers[0]) == before:
                assert time.monotonic() < deadline, cluster.outputs()
                time.sleep(0.05)
            later = [("loss", 3, 3, 3.0), ("acc", 3, 3, 0.5)]
            if kind_of(url) == "postgresql":
                # The point written meanwhile comes if its notification was sent before
                # the connection broke or after the new one listened, else not at all;
                # the notice comes either way, then later points.
                before_notice = []
                message = watch.next_message()
                while message is not None and not message.overflowed:
                    before_notice += unpack(message)
                    message = watch.next_message()
                assert message is not None and message.overflowed, message
                log_batch(client_b, run_id, later)
                after_notice = watch.points(len(later))[1]
                if after_notice[0] == meanwhile[0]:
                    after_notice = after_notice[1:] + watch.points(1)[1]
                    assert not before_notice
                else:
                    assert before_notice in ([], meanwhile)
                assert after_notice == later
            else:
                assert watch.points(1)[1] == meanwhile
                log_batch(client_b, run_id, later)
                assert watch.points(2)[1] == later
            watch.assert_quiet(0.3)
        finally:
            watch.close()
        assert "reconnecting" in cluster.servers[0].output()
    # SIGTERM: each server stops its feed with the rest, and exits cleanly.
    assert [s.returncode for s in cluster.servers] == [0, 0], cluster.outputs()
    assert "Traceback" not in cluster.outputs()


@pytest.fixture
def mariadb_url() -> str:
    url = database_url(MYSQL_ENV)
    if not url:
        pytest.skip(f"the commit log tests need ${MYSQL_ENV} or a local MariaDB")
    reset_database(url)
    return url


def log_rows(url: str) -> tuple[int, int]:
    """(rows in the commit log, highest commit id)."""
    db = open_database(url)
    try:
        n, high = db.execute_sql(
            "SELECT COUNT(*), MAX(commit_id) FROM metric_commit_log"
        ).fetchone()
        return n, high or 0
    finally:
        db.close()


def test_the_commit_log_is_trimmed_as_it_goes(mariadb_url, tmp_path):
    """With a 1 s retention, the log holds about a second of writes while they go on,
    and nothing once they stopped; the feed keeps working throughout."""
    retention = ("--feed-log-retention", "1")
    with Cluster(mariadb_url, tmp_path, size=2, extra_args=retention) as cluster:
        a, b = cluster.targets
        client_b = trackwire.TrackwireClient(f"grpc://{b}")
        run_id = new_run(client_b)
        watch = Watch(a, [run_id])
        largest = 0
        try:
            started = time.monotonic()
            step = 0
            while time.monotonic() - started < 3.5:
                step += 1
                points = [("loss", step, step, float(step))]
                log_batch(client_b, run_id, points)
                assert watch.points(1)[1] == points
                if step % 20 == 0:
                    largest = max(largest, log_rows(mariadb_url)[0])
        finally:
            watch.close()
        rows, high = log_rows(mariadb_url)
        rate = step / (time.monotonic() - started)
        assert high >= step
        # Kept: about retention + 1 s (marks are taken once a second) of writes.
        assert largest <= 3 * rate + 10, (largest, rate, step)
        deadline = time.monotonic() + 10
        while rows:
            assert time.monotonic() < deadline, (rows, cluster.outputs())
            time.sleep(0.2)
            rows, _ = log_rows(mariadb_url)


def test_a_log_row_visible_after_a_later_one_is_still_delivered(mariadb_url, tmp_path):
    """AUTO_INCREMENT ids commit out of order: a row (id N) whose transaction commits a
    second after the row N + 1 was read is still delivered (the skipped id is looked for
    again)."""
    with Cluster(mariadb_url, tmp_path, size=2) as cluster:
        a, b = cluster.targets
        client_b = trackwire.TrackwireClient(f"grpc://{b}")
        run_id = new_run(client_b)
        watch = Watch(a, [run_id])
        slow = open_database(mariadb_url)
        try:
            first = [("loss", 1, 1, 1.0)]
            log_batch(client_b, run_id, first)
            assert watch.points(1)[1] == first
            (chunk_id,) = slow.execute_sql(
                "SELECT chunk_id FROM metric_chunks WHERE run_id = %s", (run_id,)
            ).fetchone()
            # Another writer's announcement of that chunk's point, held uncommitted.
            payload = json.dumps({"o": "slow-writer", "r": {run_id: [[chunk_id, 0, 1]]}})
            slow.execute_sql("BEGIN")
            slow.execute_sql(
                "INSERT INTO metric_commit_log (origin, payload) VALUES (%s, %s)",
                ("slow-writer", payload),
            )
            later = [("acc", 2, 2, 0.5)]
            log_batch(client_b, run_id, later)  # id N + 1, committed and read first
            assert watch.points(1)[1] == later
            time.sleep(1.0)
            slow.execute_sql("COMMIT")
            assert watch.points(1, timeout=5)[1] == first
            watch.assert_quiet(0.3)
        finally:
            slow.close()
            watch.close()
