"""The connection pool (issue #15, item 4): a server opens at most --db-pool-size
connections to PostgreSQL or MariaDB however many callers it has, and every call
succeeds meanwhile; a call that cannot get a connection in time gets UNAVAILABLE.

Sessions are counted from the database's side (pg_stat_activity /
information_schema.processlist, for the test's database), sampled throughout."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

import trackwire
from tests.conftest import MYSQL_ENV, POSTGRES_ENV, RunningServer, database_url, reset_database
from trackwire import Metric
from trackwire_server.store import open_database

POOL = 4
CALLERS = 16
CALLS_EACH = 12


@pytest.fixture(params=["postgresql", "mysql"])
def networked_backend(request):
    """An empty shared PostgreSQL or MariaDB database (SQLite has no pool)."""
    env = POSTGRES_ENV if request.param == "postgresql" else MYSQL_ENV
    url = database_url(env)
    if not url:
        pytest.skip(f"{request.param} tests need ${env} or a server answering locally")
    reset_database(url)
    return url


class SessionCounter(threading.Thread):
    """Counts, every few milliseconds, the sessions on the test's database other than
    its own and those of `exclude` (session ids); `peak` is the most seen at once."""

    def __init__(self, url: str, exclude: tuple[int, ...] = ()):
        super().__init__(daemon=True)
        self.db = open_database(url)
        self.postgres = url.startswith("postgres")
        self.exclude = "".join(f" AND {{id}} <> {int(i)}" for i in exclude)
        self.peak = 0
        self.samples = 0
        self.stopping = threading.Event()

    def count(self) -> int:
        if self.postgres:
            sql = (
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ) + self.exclude.format(id="pid")
        else:
            sql = (
                "SELECT count(*) FROM information_schema.processlist "
                "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
            ) + self.exclude.format(id="id")
        return self.db.execute_sql(sql).fetchone()[0]

    def run(self) -> None:
        with self.db.connection_context():
            while not self.stopping.is_set():
                self.peak = max(self.peak, self.count())
                self.samples += 1
                time.sleep(0.005)

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)
        self.db.close()


def test_pool_bounds_the_servers_connections(networked_backend, tmp_path):
    server = RunningServer(
        networked_backend, tmp_path / "artifacts", workers=CALLERS, db_pool_size=POOL
    )
    # The live feed's own session (database_feed.py) is outside the pool.
    counter = SessionCounter(networked_backend, exclude=(server.server.database_feed.session_id,))
    failures: list[str] = []
    done = []
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_ids = [client.create_run("0", run_name=f"r{i}").info.run_id for i in range(CALLERS)]
        counter.start()
        barrier = threading.Barrier(CALLERS)

        def caller(i: int) -> None:
            c = trackwire.TrackwireClient(server.uri)
            barrier.wait()
            for j in range(CALLS_EACH):
                try:
                    c.log_batch(
                        run_ids[i],
                        metrics=[Metric("m", float(j), 1000 + j, j)],
                        params={f"p{j}": "v"},
                        tags={"t": str(j)},
                    )
                    c.create_run("0", run_name=f"c{i}-{j}")
                    c.get_run(run_ids[i])
                    c.search_runs(["0"], filter_string="params.p0 = 'v'", max_results=20)
                    done.append(1)
                except Exception as e:  # every call must succeed
                    failures.append(f"caller {i} call {j}: {e}")

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(CALLERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        counter.stop()
        server.stop()
    assert not failures, failures[:5]
    assert len(done) == CALLERS * CALLS_EACH
    assert counter.samples > 10
    assert counter.peak <= POOL, f"the database saw {counter.peak} sessions from the server"
    print(f"peak sessions: {counter.peak} over {counter.samples} samples")
    assert counter.peak >= 2, f"harness: only {counter.peak} session(s) seen: no concurrency"


def test_a_busy_pool_answers_unavailable(networked_backend, tmp_path, monkeypatch):
    """Pool of 1, its connection held by a long unit of work: another call waits for it
    POOL_WAIT_SECONDS (1 s here), then gets UNAVAILABLE saying why; once the connection
    is back, calls succeed."""
    from trackwire.v1 import tracking_service_pb2 as pb
    from trackwire.v1 import tracking_service_pb2_grpc
    from trackwire_server.store import unit_of_work

    monkeypatch.setattr(unit_of_work, "POOL_WAIT_SECONDS", 1.0)
    server = RunningServer(networked_backend, tmp_path / "artifacts", db_pool_size=1)
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        def work():
            held.set()
            release.wait(20)

        unit_of_work.run(server.server.store.db, work, write=False)

    holder = threading.Thread(target=hold)
    try:
        holder.start()
        assert held.wait(10)
        stub = tracking_service_pb2_grpc.TrackingServiceStub(channel)
        start = time.monotonic()
        with pytest.raises(grpc.RpcError) as error:
            stub.GetExperiment(pb.GetExperimentRequest(experiment_id="0"), timeout=10)
        waited = time.monotonic() - start
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE, error.value
        assert "--db-pool-size" in error.value.details()
        assert 0.9 <= waited < 5, waited
        release.set()
        holder.join(10)
        answer = stub.GetExperiment(pb.GetExperimentRequest(experiment_id="0"), timeout=10)
        assert answer.experiment.name == "Default"
    finally:
        release.set()
        channel.close()
        server.stop()
