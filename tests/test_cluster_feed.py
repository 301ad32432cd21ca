"""The live feed across servers (database_feed.py): a WatchMetrics stream on one server
gets the points written through another on the same PostgreSQL (LISTEN/NOTIFY) or
MariaDB (the commit log, polled), exactly once, within the issue's bounds; it survives
its database connection being killed; MariaDB's commit log stays small, and a row that
becomes visible after a later one is still delivered. Writes announce only runs that a
server watches (`feed_watches`): nothing while nobody watches, nothing once a killed
server's registrations lapsed, and a watch opened while writes race gets every point
committed after it went live.

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
from trackwire_server.store.feed_announcements import FeedAnnouncements, decode

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


def test_a_watcher_leaving_while_its_row_is_locked_holds_up_no_other_call(
    cluster_database,  # noqa: F811
    tmp_path,
):
    """A watcher that leaves has its run's row deleted from `feed_watches`, and that
    DELETE may wait (a lock held elsewhere, a database slow or away). It waits on the
    stream's own worker: gRPC's thread that handles every call's events goes on, so the
    server answers other calls meanwhile (they used to wait with it, here for as long as
    the test held the lock), and the row goes once the lock does."""
    url = cluster_database
    with Cluster(url, tmp_path, size=1) as cluster:
        (target,) = cluster.targets
        client = trackwire.TrackwireClient(f"grpc://{target}")
        run_id = new_run(client)
        watch = Watch(target, [run_id])
        held = open_database(url)
        count = "SELECT COUNT(*) FROM feed_watches WHERE run_id = %s"
        try:
            with grpc.insecure_channel(target) as channel:
                stub = stubs.TrackingServiceStub(channel)
                with held.atomic():
                    locked = held.execute_sql(
                        "SELECT run_id FROM feed_watches WHERE run_id = %s FOR UPDATE", (run_id,)
                    ).fetchall()
                    assert [tuple(row) for row in locked] == [(run_id,)]
                    watch.close()  # the server's DELETE of that row waits for this lock
                    time.sleep(0.5)
                    for _ in range(3):
                        got = stub.GetRun(pb.GetRunRequest(run_id=run_id), timeout=5)
                        assert got.run.info.run_id == run_id
                    still = held.execute_sql(count, (run_id,)).fetchone()[0]
                    assert still == 1  # the DELETE is still waiting
            deadline = time.monotonic() + 10
            while held.execute_sql(count, (run_id,)).fetchone()[0]:
                assert time.monotonic() < deadline, "the row outlived the lock"
                time.sleep(0.05)
        finally:
            held.close()
    assert cluster.servers[0].returncode == 0, cluster.outputs()
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


class Announcements:
    """The feed's announcements on the database, counted by the test itself: a LISTEN
    session of its own (PostgreSQL), the commit log's ids (MariaDB)."""

    def __init__(self, url: str):
        self.kind = kind_of(url)
        self.db = open_database(url)
        self.listener = FeedAnnouncements(self.db).listen() if self.kind == "postgresql" else None
        self.seen = self._high()

    def _high(self) -> int:
        if self.kind == "postgresql":
            return 0
        return self.db.execute_sql(
            "SELECT COALESCE(MAX(commit_id), 0) FROM metric_commit_log"
        ).fetchone()[0]

    def runs(self, wait: float = 0.5) -> list[str]:
        """The runs announced since the last call (after `wait` seconds, on PostgreSQL,
        for notifications still on their way)."""
        if self.kind == "postgresql":
            payloads = []
            deadline = time.monotonic() + wait
            while (left := deadline - time.monotonic()) > 0:
                payloads += self.listener.receive(left)
        else:
            rows = self.db.execute_sql(
                "SELECT payload FROM metric_commit_log WHERE commit_id > %s ORDER BY commit_id",
                (self.seen,),
            ).fetchall()
            payloads = [bytes(row[0]) for row in rows]
            self.seen = max(self.seen, self._high())
        return [run_id for payload in payloads for run_id in decode(payload).slices]

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
        self.db.close()


def watch_rows(url: str) -> list[tuple[str, bool]]:
    """(run_id, unexpired) of each row of feed_watches."""
    db = open_database(url)
    try:
        now = (
            "CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)"
            if kind_of(url) == "postgresql"
            else "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)"
        )
        rows = db.execute_sql(f"SELECT run_id, expires_ms > {now} FROM feed_watches").fetchall()
        return sorted((run_id, bool(live)) for run_id, live in rows)
    finally:
        db.close()


def test_writes_nobody_watches_are_not_announced(cluster_database, tmp_path):  # noqa: F811
    """While no server watches a run, its writes (LogBatch, WriteMetrics) announce nothing:
    no notification reaches a LISTEN session, no row enters the commit log. A watch opened
    on A then gets every point written through B (announced), and once it closed, the
    writes announce nothing again; a watch on B itself (in process) announces nothing."""
    url = cluster_database
    with Cluster(url, tmp_path, size=2) as cluster:
        a, b = cluster.targets
        client_b = trackwire.TrackwireClient(f"grpc://{b}")
        experiment_id = client_b.create_experiment("feed")
        run_id, other = (client_b.create_run(experiment_id).info.run_id for _ in range(2))
        announced = Announcements(url)
        writer = StreamWriter(b, "quiet-writer")
        try:
            log_batch(client_b, run_id, [("loss", 0, 0, 0.0)])
            writer.write(run_id, [("acc", 0, 0, 0.5)])
            assert announced.runs() == []
            local = Watch(b, [run_id])
            log_batch(client_b, run_id, [("loss", 1, 1, 1.0)])
            assert local.points(1)[1] == [("loss", 1, 1, 1.0)]
            assert announced.runs() == []
            local.close()

            remote = Watch(a, [run_id])
            try:
                for step in range(2, 12):
                    log_batch(client_b, run_id, [("loss", step, step, float(step))])
                    writer.write(run_id, [("acc", step, step, step / 10)])
                    log_batch(client_b, other, [("loss", step, step, 0.0)])  # not watched
                    assert remote.points(2)[1] == [
                        ("loss", step, step, float(step)),
                        ("acc", step, step, step / 10),
                    ]
                assert announced.runs() == [run_id] * 20
                remote.assert_quiet(0.3)
            finally:
                remote.close()
            deadline = time.monotonic() + 10
            while watch_rows(url):
                assert time.monotonic() < deadline, watch_rows(url)
                time.sleep(0.05)
            log_batch(client_b, run_id, [("loss", 12, 12, 12.0)])
            writer.write(run_id, [("acc", 12, 12, 1.2)])
            assert announced.runs() == []
        finally:
            writer.close()
            announced.close()


def test_a_killed_servers_watches_lapse(cluster_database, tmp_path):  # noqa: F811
    """A server SIGKILLed while it had watchers leaves its registrations behind; they lapse
    after --feed-watch-ttl, and writes stop announcing the run. Meanwhile a live server's
    registration is refreshed (its watcher goes on getting every point, past several
    lifetimes), and is gone once its watcher left."""
    url = cluster_database
    ttl = 2.0
    with Cluster(url, tmp_path, size=3, extra_args=("--feed-watch-ttl", str(ttl))) as cluster:
        a, b, c = cluster.targets
        client_b = trackwire.TrackwireClient(f"grpc://{b}")
        run_id = new_run(client_b)
        announced = Announcements(url)
        watch_a, watch_c = Watch(a, [run_id]), Watch(c, [run_id])
        try:
            assert watch_rows(url) == [(run_id, True), (run_id, True)]
            cluster.kill(0)
            started = time.monotonic()
            step = 0
            # Three lifetimes: A's row lapses; C's is refreshed throughout.
            while time.monotonic() - started < 3 * ttl:
                step += 1
                log_batch(client_b, run_id, [("loss", step, step, float(step))])
                assert watch_c.points(1)[1] == [("loss", step, step, float(step))]
                time.sleep(0.05)
            assert watch_rows(url) in ([(run_id, False), (run_id, True)], [(run_id, True)])
            watch_c.close()
            deadline = time.monotonic() + 10
            while any(live for _, live in watch_rows(url)):
                assert time.monotonic() < deadline, watch_rows(url)
                time.sleep(0.05)
            announced.runs()
            log_batch(client_b, run_id, [("loss", step + 1, 1, 1.0)])
            assert announced.runs() == []
            # Pruned by a live server's heartbeat once lapsed for a lifetime.
            deadline = time.monotonic() + 6 * ttl
            while watch_rows(url):
                assert time.monotonic() < deadline, watch_rows(url)
                time.sleep(0.2)
        finally:
            watch_a.close()
            watch_c.close()
            announced.close()


def test_a_watch_does_not_go_live_while_a_write_holds_its_run(
    cluster_database,  # noqa: F811
    tmp_path,
):
    """A transaction holding the run's row lock (as a write storing points does, from
    its first statement to its commit) keeps a watch on another server from going live
    until it ends: the write then either committed before the header, or comes after the
    registration and sees it."""
    url = cluster_database
    with Cluster(url, tmp_path, size=2) as cluster:
        a, b = cluster.targets
        client_b = trackwire.TrackwireClient(f"grpc://{b}")
        run_id = new_run(client_b)
        holder = open_database(url)
        opened: queue.Queue = queue.Queue()
        try:
            holder.execute_sql("BEGIN")
            holder.execute_sql("SELECT run_id FROM runs WHERE run_id = %s FOR UPDATE", (run_id,))
            thread = threading.Thread(target=lambda: opened.put(Watch(a, [run_id])), daemon=True)
            thread.start()
            with pytest.raises(queue.Empty):
                opened.get(timeout=1.5)
            holder.execute_sql("COMMIT")
            watch = opened.get(timeout=15)
        finally:
            holder.close()
        try:
            log_batch(client_b, run_id, [("loss", 1, 1, 1.0)])
            assert watch.points(1)[1] == [("loss", 1, 1, 1.0)]
        finally:
            watch.close()


def test_watches_opened_and_closed_while_writes_race_miss_nothing(
    cluster_database,  # noqa: F811
    tmp_path,
):
    """Two writers through B store points without pause while two watchers on A open and
    close their watches again and again (so A registers and removes the run over and
    over). Each watch gets every point whose write began after its header came, each
    once, as stored."""
    url = cluster_database
    with Cluster(url, tmp_path, size=2) as cluster:
        a, b = cluster.targets
        client_b = trackwire.TrackwireClient(f"grpc://{b}")
        run_id = new_run(client_b)
        # (key, step) -> (when the write began, when it was acknowledged)
        written: dict[tuple[str, int], tuple[float, float]] = {}
        stop = threading.Event()
        errors: list[BaseException] = []

        def write(key: str) -> None:
            client = trackwire.TrackwireClient(f"grpc://{b}")
            step = 0
            try:
                while not stop.is_set():
                    step += 1
                    began = time.monotonic()
                    acked = log_batch(client, run_id, [(key, step, step, float(step))])
                    written[(key, step)] = (began, acked)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        # (header time, watch end, points received)
        watches: list[tuple[float, float, list[tuple]]] = []

        def watch(seed: int) -> None:
            try:
                for i in range(12):
                    opened = Watch(a, [run_id])
                    live = time.monotonic()
                    time.sleep(0.05 + ((seed * 7 + i * 3) % 10) / 25)
                    end = time.monotonic()
                    due = {k for k, (began, _) in list(written.items()) if live < began}
                    due = {k for k in due if written[k][1] < end}
                    got: list[tuple] = []
                    deadline = time.monotonic() + 15
                    while not due <= {(p[0], p[1]) for p in got}:
                        assert time.monotonic() < deadline, (due, got)
                        try:
                            _, message = opened.received.get(timeout=0.1)
                        except queue.Empty:
                            continue
                        assert message is not None and not message.overflowed, message
                        got += unpack(message)
                    opened.close()
                    while not opened.received.empty():
                        message = opened.received.get()[1]
                        if message is not None:
                            got += unpack(message)
                    watches.append((live, end, got))
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        writers = [threading.Thread(target=write, args=(k,)) for k in ("loss", "acc")]
        watchers = [threading.Thread(target=watch, args=(i,)) for i in range(2)]
        for thread in writers + watchers:
            thread.start()
        for thread in watchers:
            thread.join(120)
        stop.set()
        for thread in writers:
            thread.join(30)
        assert not errors, errors
        assert len(watches) == 24
        stored = {
            (key, m.step): (m.timestamp, m.value)
            for key in ("loss", "acc")
            for m in client_b.get_metric_history(run_id, key)
        }
        assert set(stored) == set(written)
        for live, end, got in watches:
            keys = [(p[0], p[1]) for p in got]
            assert len(keys) == len(set(keys)), "a point twice"
            assert all(stored[(k, s)] == (ts, v) for k, s, ts, v in got)
            due = {k for k, (began, acked) in written.items() if live < began and acked < end}
            assert due <= set(keys)
