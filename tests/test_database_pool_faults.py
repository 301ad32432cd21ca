"""A database restart under load with a small connection pool (issue #15, item 4): each
call, made on the wire (raw stubs, a request id, retried once only after UNAVAILABLE),
fails at most once and then succeeds; health goes NOT_SERVING and back to SERVING.

The database is a throw-away PostgreSQL or MariaDB this suite starts on a free port
(tests/support/db_servers.py); the Trackwire server is a process of its own with
--db-pool-size 4 and more callers than connections. What was stored is read back
through a fresh server. Marked `faults`, as tests/test_database_faults.py."""

from __future__ import annotations

import collections
import itertools
import threading
import time

import grpc
import pytest

import trackwire
from tests.support.db_servers import DatabaseServer
from tests.support.server_process import ServerProcess
from tests.test_database_faults import HEALTH_LAG, HEALTH_RECOVERY, HealthWatcher
from trackwire.v1 import run_pb2, tracking_service_pb2_grpc
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire_protocol.calls import with_request_id

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

POOL = 4
CALLERS = 10
LEAD_IN = 1.0
DOWN_FOR = 2.0
TAIL = 4.0


@pytest.fixture(params=["postgresql", "mysql"])
def db(request, database_servers) -> DatabaseServer:
    return database_servers.fresh(request.param)


class WireCaller(threading.Thread):
    """Loops CreateRun (a run named c<i>-<j>), LogBatch (metric "calls" at step j),
    SetRunTag and GetRun on a raw stub. Each call has its request id and is sent again,
    once, after UNAVAILABLE; `calls` records (op, j, [failure codes], succeeded)."""

    def __init__(self, target: str, index: int, experiment_id: str, run_id: str):
        super().__init__(name=f"wire-caller-{index}", daemon=True)
        self.channel = grpc.insecure_channel(target)
        self.stub = tracking_service_pb2_grpc.TrackingServiceStub(self.channel)
        self.index, self.experiment_id, self.run_id = index, experiment_id, run_id
        self.stopping = threading.Event()
        # (op, j, failure codes, succeeded, start, end): monotonic times
        self.calls: list[tuple[str, int, list[str], bool, float, float]] = []

    def _call(self, op: str, j: int, method, request) -> None:
        with_request_id(request)
        failures: list[str] = []
        start = time.monotonic()
        for _ in range(2):
            try:
                method(request, timeout=30)
                self.calls.append((op, j, failures, True, start, time.monotonic()))
                return
            except grpc.RpcError as e:
                failures.append(f"{e.code().name}: {(e.details() or '')[:120]}")
                if e.code() != grpc.StatusCode.UNAVAILABLE:
                    break
        self.calls.append((op, j, failures, False, start, time.monotonic()))

    def run(self) -> None:
        s, run_id = self.stub, self.run_id
        for j in itertools.count():
            if self.stopping.is_set():
                break
            self._call(
                "CreateRun",
                j,
                s.CreateRun,
                pb.CreateRunRequest(
                    experiment_id=self.experiment_id, run_name=f"c{self.index}-{j}"
                ),
            )
            points = run_pb2.MetricPoints(
                keys=["calls"],
                key_index=[0],
                values=[float(j)],
                steps=[j],
                timestamps_ms=[1000 + j],
            )
            self._call("LogBatch", j, s.LogBatch, pb.LogBatchRequest(run_id=run_id, metrics=points))
            tag = run_pb2.RunTag(key="last", value=str(j))
            self._call("SetRunTag", j, s.SetRunTag, pb.SetRunTagRequest(run_id=run_id, tag=tag))
            self._call("GetRun", j, s.GetRun, pb.GetRunRequest(run_id=run_id))
            self.stopping.wait(0.02)
        self.channel.close()


def test_restart_under_load_with_a_small_pool(db, tmp_path):
    server = ServerProcess(
        db.app_url,
        tmp_path / "artifacts",
        workers=CALLERS,
        extra_args=("--db-pool-size", str(POOL)),
        log_dir=tmp_path,
    ).start()
    reader_server = None
    try:
        client = trackwire.TrackwireClient(server.uri)
        setup = []
        for i in range(CALLERS):
            experiment_id = client.create_experiment(f"caller-{i}")
            setup.append((experiment_id, client.create_run(experiment_id).info.run_id))
        health = HealthWatcher(server.target).start()
        callers = [WireCaller(server.target, i, *setup[i]) for i in range(CALLERS)]
        for caller in callers:
            caller.start()
        time.sleep(LEAD_IN)
        sessions_under_load = len(db.app_sessions())
        restart = db.restart(down_for=DOWN_FOR, mode="fast")
        time.sleep(TAIL)
        for caller in callers:
            caller.stopping.set()
        for caller in callers:
            caller.join(60)
        health.stop()

        problems = [f"caller {c.index} hung" for c in callers if c.is_alive()]
        if sessions_under_load > POOL + 1:  # the pool, and the live feed's own session
            problems.append(f"{sessions_under_load} sessions under load, pool of {POOL} + 1")
        outcomes: collections.Counter = collections.Counter()
        for caller in callers:
            for op, j, failures, ok, _, _ in caller.calls:
                outcomes[
                    "OK" if not failures else f"OK after {len(failures)}" if ok else "failed"
                ] += 1
                if (
                    not ok
                    or len(failures) > 1
                    or failures
                    and not failures[0].startswith("UNAVAILABLE")
                ):
                    problems.append(f"caller {caller.index} {op} {j}: {failures}")
        # calls in flight while the database was down (answered after it was back)
        met = sum(
            1
            for c in callers
            for *_, start, end in c.calls
            if start < restart.stopped and end > restart.started
        )
        if met == 0:
            problems.append("harness: no call was in flight during the restart")
        if "NOT_SERVING" not in health.between(restart.stopping, restart.started + HEALTH_LAG):
            problems.append("health never said NOT_SERVING while the database was down")
        after = [(t, s) for t, s in health.samples if t >= restart.started]
        serving = next((t for t, s in after if s == "SERVING"), None)
        if serving is None or serving - restart.started > HEALTH_RECOVERY:
            problems.append(f"health not SERVING within {HEALTH_RECOVERY}s of the return")
        elif after[-1][1] != "SERVING":
            problems.append(f"health ended as {after[-1][1]}")

        reader_server = ServerProcess(db.app_url, tmp_path / "artifacts", log_dir=tmp_path).start()
        reader = trackwire.TrackwireClient(reader_server.uri)
        for caller in callers:
            names = collections.Counter(
                r.info.run_name
                for r in reader.search_runs([caller.experiment_id], max_results=50_000)
            )
            steps = collections.Counter(reader.read_metric_history(caller.run_id, "calls").steps)
            for op, j, _, ok, _, _ in caller.calls:
                n = names[f"c{caller.index}-{j}"] if op == "CreateRun" else steps[j]
                if op in ("CreateRun", "LogBatch") and ((ok and n != 1) or n > 1):
                    problems.append(f"caller {caller.index} {op} {j} stored {n} times")
        assert not problems, (
            f"{db.kind}: {len(problems)} problem(s): {problems[:20]}\n"
            f"outcomes {dict(outcomes)}; health {health.timeline(restart.stopping)}\n"
            f"{server.output_tail(30)}"
        )
        print(
            f"{db.kind}: outcomes {dict(outcomes)}; {met} calls in flight during the "
            f"restart; sessions under load {sessions_under_load}"
        )
    finally:
        server.stop(grace=5)
        if reader_server is not None:
            reader_server.stop(grace=5)
