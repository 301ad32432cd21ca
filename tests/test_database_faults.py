"""Database faults (issue #12, findings 3, 6 and 8): what clients see, and what is stored,
when the database restarts, drops connections, deadlocks, turns read-only or fills up.

PostgreSQL and MariaDB are throw-away servers this suite starts itself on free loopback
ports (tests/support/db_servers.py), never the machine's shared ones; the Trackwire
server runs as a process of its own (tests/support/server_process.py) over them, as
the app user `trackwire`; metric streams come from separate writer processes using the
public client (tests/support/metric_writer_process.py). What was stored is always read
back through a fresh Trackwire server over the same database, so that the state of the
server under test cannot hide or fake it.

The expected behaviour (issue #12, "What to build"):
- a broken connection is replaced before it is used again;
- while the database is away, a call gets UNAVAILABLE (at most once per call: the
  client retries UNAVAILABLE/DEADLINE_EXCEEDED with a request id, never applying a
  call twice), and health says NOT_SERVING; SERVING once it is back;
- deadlocks and lock timeouts are retried inside the server, on every database;
- a read-only database: writes FAILED_PRECONDITION saying so, reads served;
- a full disk: RESOURCE_EXHAUSTED (a WriteMetrics batch is answered with that code and
  the stream goes on), nothing half-written, writes work again once there is space.

Each test collects everything that differs from that and fails once, listing it all
(status codes and counts, the health timeline, what was lost or doubled, the end of
the server's log), so that one run shows the whole picture.

MariaDB and a full disk: MariaDB 10.11 aborts (signal 6, "[FATAL] InnoDB: Error (Out of
disk space) in rollback") when an INSERT of a value stored off-page (a metric chunk
over about 8 KB) runs out of space, and then it is a database that went away, not a
full one. The disk-full writes here are therefore made of small rows only (short
params and tags, 100-point chunks), which InnoDB refuses cleanly with error 1114.
"""

from __future__ import annotations

import collections
import itertools
import os
import queue
import random
import re
import threading
import time
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import trackwire
from tests.support import db_servers
from tests.support.db_servers import DatabaseServer, read_only_bind
from tests.support.metric_writer_process import WriterProcess, timestamp_of, value_of
from tests.support.server_process import ServerProcess, ServerStartError
from trackwire import Metric
from trackwire.errors import TrackwireException
from trackwire.v1 import run_pb2, tracking_service_pb2_grpc
from trackwire.v1 import tracking_service_pb2 as pb

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

# The restart under load: load before the database stops, how long it stays down,
# load after it is back.
LEAD_IN = 1.0
DOWN_FOR = 2.0
TAIL = 3.0
WRITERS = 4
CALLERS = 4
# How long health may take to notice the database going away / coming back.
HEALTH_NOTICE = 10.0
HEALTH_RECOVERY = 10.0
# How late health may notice an outage (a restart's) and still count.
HEALTH_LAG = 2.0
# A metric stream must have flushed everything by then once the database is back.
FLUSH_TIMEOUT = 20.0
# Statuses that mean "try again" (the client retries them; at most one may surface).
RETRYABLE = {"UNAVAILABLE", "DEADLINE_EXCEEDED"}
READ_ONLY_MESSAGE = re.compile(r"read[- ]?only", re.IGNORECASE)


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture(params=["postgresql", "mysql"])
def db(request, database_servers) -> DatabaseServer:
    """A throw-away PostgreSQL or MariaDB server: running, writable, empty database `test`."""
    return database_servers.fresh(request.param)


class Servers:
    """Starts Trackwire server processes (`servers(db_url)`) and stops them all."""

    def __init__(self, folder):
        self.folder = folder
        self.started: list[ServerProcess] = []

    def __call__(self, db_url: str) -> ServerProcess:
        server = ServerProcess(db_url, self.folder / "artifacts", log_dir=self.folder)
        self.started.append(server)
        return server.start()

    def stop_all(self) -> None:
        for server in self.started:
            server.stop(grace=5)


@pytest.fixture
def servers(tmp_path):
    servers = Servers(tmp_path)
    yield servers
    servers.stop_all()


@pytest.fixture
def writers():
    """Starts metric writer processes (`writers(uri, run_id)`); kills leftovers afterwards."""
    started: list[WriterProcess] = []

    def start(uri: str, run_id: str) -> WriterProcess:
        writer = WriterProcess(uri, run_id, flush_timeout=FLUSH_TIMEOUT)
        started.append(writer)
        return writer.start()

    yield start
    for writer in started:
        writer.kill()


# -- observing ---------------------------------------------------------------------------


def code_of(error: BaseException) -> str:
    if isinstance(error, TrackwireException):
        return error.code.name
    if isinstance(error, grpc.RpcError):
        return error.code().name
    return type(error).__name__


def message_of(error: BaseException) -> str:
    if isinstance(error, TrackwireException):
        return error.message
    if isinstance(error, grpc.RpcError):
        return error.details() or ""
    return str(error)


def server_errors(server: ServerProcess, limit: int = 8) -> str:
    """The distinct exception lines the server logged, most frequent first, with counts."""
    found = re.findall(
        r"^(?:peewee|psycopg2|pymysql|sqlite3)\.\S+: .*$|^\S*(?:Error|Exception): .*$",
        server.output(),
        re.MULTILINE,
    )
    counts = collections.Counter(line[:200] for line in found)
    lines = [f"    {n:5d} x {line}" for line, n in counts.most_common(limit)]
    return "\n".join(lines) or "    (none)"


def report(title: str, problems: list[str], server: ServerProcess | None, *details: str) -> str:
    """The failure message: the problems (repeats counted, in order of first appearance),
    the details, and the errors the server logged."""
    counts = collections.Counter(problems)
    listed = [f"  - {p}" + (f" (x{counts[p]})" if counts[p] > 1 else "") for p in counts]
    parts = [f"{title}: {len(problems)} problem(s)", *listed[:30], *details]
    if len(listed) > 30:
        parts.insert(31, f"  - ... and {len(listed) - 30} more kinds")
    if server is not None:
        parts.append(f"  server's logged errors:\n{server_errors(server)}")
        if not server.alive:
            parts.append(f"  server exited with status {server.returncode}")
    return "\n".join(parts)


class HealthWatcher:
    """Polls grpc.health.v1.Health/Check (the server as a whole) every `interval` seconds
    on a channel of its own and records (monotonic time, status or error code)."""

    def __init__(self, target: str, interval: float = 0.05):
        self.channel = grpc.insecure_channel(target)
        self.stub = health_pb2_grpc.HealthStub(self.channel)
        self.interval = interval
        self.samples: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-watcher", daemon=True)

    def check(self) -> str:
        try:
            response = self.stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2.0)
            return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        except grpc.RpcError as e:
            return f"error {e.code().name}"

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self.check()))
            self._stop.wait(self.interval)

    def start(self) -> HealthWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.channel.close()

    def wait_for(self, status: str, timeout: float) -> float | None:
        """Polls until Check answers `status`; the monotonic time it did, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.check() == status:
                return time.monotonic()
            time.sleep(self.interval)
        return None

    def between(self, start: float, end: float) -> list[str]:
        return [s for t, s in self.samples if start <= t <= end]

    def timeline(self, origin: float) -> str:
        """The status changes, with times relative to `origin`."""
        changes, last = [], None
        for t, status in self.samples:
            if status != last:
                changes.append(f"{t - origin:+.2f}s {status}")
                last = status
        return ", ".join(changes) or "(no samples)"


class RawMetricStream:
    """One WriteMetrics call driven by hand, to see each batch's answer and whether the
    stream itself ends (the public MetricWriter hides both: it resends). It numbers its
    batches as the contract says: the next batch takes the number the last answer expects
    (a refused batch's number is reused)."""

    def __init__(self, target: str):
        self.channel = grpc.insecure_channel(target)
        self.writer_id = uuid.uuid4().hex
        self._next = 1
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._answers: queue.SimpleQueue = queue.SimpleQueue()
        stub = tracking_service_pb2_grpc.TrackingServiceStub(self.channel)
        self.call = stub.WriteMetrics(iter(self._requests.get, None))
        self.ended: str | None = None  # "CODE: details" once the stream ended
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for answer in self.call:
                self._answers.put(answer)
            self._answers.put("stream ended with OK")
        except grpc.RpcError as e:
            self._answers.put(f"stream ended with {e.code().name}: {e.details()}")

    def send(
        self, run_id: str, keys: list[str], points: int, sequence: int | None = None
    ) -> pb.WriteMetricsResponse | str:
        """Sends `points` points for each key (steps 0..points-1) as one batch; its answer,
        or a string saying how the stream ended (or that no answer came in 30 s)."""
        if self.ended:
            return self.ended
        request = pb.WriteMetricsRequest(
            writer_id=self.writer_id,
            sequence_number=sequence if sequence is not None else self._next,
            run_id=run_id,
        )
        columns = request.points
        columns.keys.extend(keys)
        for i in range(len(keys)):
            columns.key_index.extend([i] * points)
            columns.steps.extend(range(points))
            columns.values.extend(value_of(s) for s in range(points))
            columns.timestamps_ms.extend(timestamp_of(s) for s in range(points))
        self._requests.put(request)
        try:
            answer = self._answers.get(timeout=30)
        except queue.Empty:
            return "no answer within 30 s"
        if isinstance(answer, str):
            self.ended = answer
        else:
            self._next = answer.expected_sequence_number or request.sequence_number + 1
        return answer

    def close(self) -> None:
        self._requests.put(None)
        self.channel.close()


def describe(answer: pb.WriteMetricsResponse | str) -> str:
    if isinstance(answer, str):
        return answer
    if answer.error_code:
        return f"batch answered {grpc_code_name(answer.error_code)}: {answer.error_message}"
    return "batch answered OK" + (" (duplicate)" if answer.duplicate else "")


def grpc_code_name(number: int) -> str:
    return next((c.name for c in grpc.StatusCode if c.value[0] == number), str(number))


def call_counting_unavailable(fn, problems: list[str], what: str) -> str:
    """Calls `fn`, and once more after an UNAVAILABLE. Anything else, or a second
    UNAVAILABLE, goes into `problems`. Returns "OK", "OK after UNAVAILABLE", or the code
    of the error that was kept."""
    for attempt in (1, 2):
        try:
            fn()
            return "OK" if attempt == 1 else "OK after UNAVAILABLE"
        except Exception as e:
            code = code_of(e)
            if code == "UNAVAILABLE" and attempt == 1:
                continue
            problems.append(f"{what}: {code} {message_of(e)[:160]!r} (attempt {attempt})")
            return code if attempt == 1 else f"UNAVAILABLE, then {code}"
    raise AssertionError("unreachable")


def tracking_stub(server: ServerProcess):
    return tracking_service_pb2_grpc.TrackingServiceStub(grpc.insecure_channel(server.target))


# -- the restart under load ------------------------------------------------------------------


class UnaryCaller(threading.Thread):
    """A loop of mutating and reading unary calls through the public client, each
    outcome recorded: CreateRun (not idempotent: a run named c<i>-<j>), LogBatch (not
    idempotent: the point at step j of metric "calls"), SetRunTag ("last" = j), GetRun."""

    def __init__(self, uri: str, index: int, experiment_id: str, run_id: str):
        super().__init__(name=f"caller-{index}", daemon=True)
        self.client = trackwire.TrackwireClient(uri)
        self.index, self.experiment_id, self.run_id = index, experiment_id, run_id
        self.stopping = threading.Event()
        # (operation, iteration, outcome "OK" or status code, message, start, seconds)
        self.outcomes: list[tuple[str, int, str, str, float, float]] = []
        self.current: tuple[str, int, float] | None = None

    def _call(self, op: str, j: int, fn) -> None:
        start = time.monotonic()
        self.current = (op, j, start)
        try:
            fn()
            outcome, message = "OK", ""
        except Exception as e:
            outcome, message = code_of(e), message_of(e)
        self.current = None
        self.outcomes.append((op, j, outcome, message, start, time.monotonic() - start))

    def run(self) -> None:
        c, run_id = self.client, self.run_id
        for j in itertools.count():
            if self.stopping.is_set():
                return
            self._call(
                "create_run",
                j,
                lambda j=j: c.create_run(self.experiment_id, run_name=f"c{self.index}-{j}"),
            )
            self._call(
                "log_batch",
                j,
                lambda j=j: c.log_batch(run_id, metrics=[Metric("calls", float(j), 1000 + j, j)]),
            )
            self._call("set_tag", j, lambda j=j: c.set_tag(run_id, "last", j))
            self._call("get_run", j, lambda: c.get_run(run_id))
            self.stopping.wait(0.05)

    def errors(self) -> collections.Counter:
        return collections.Counter(o[2] for o in self.outcomes if o[2] != "OK")

    def summary(self) -> str:
        counts = collections.Counter(o[2] for o in self.outcomes)
        first = {}
        for op, _, outcome, message, _, _ in self.outcomes:
            if outcome != "OK":
                first.setdefault(outcome, f"{op}: {message[:120]}")
        examples = "; ".join(f"{k} e.g. {v!r}" for k, v in first.items())
        return f"caller {self.index}: {dict(counts)}" + (f" [{examples}]" if examples else "")


def check_callers_stored_once(reader: trackwire.TrackwireClient, callers, problems) -> None:
    """Every call a caller saw succeed is stored exactly once; one that failed at most once."""
    for caller in callers:
        runs = reader.search_runs([caller.experiment_id], max_results=50_000)
        names = collections.Counter(r.info.run_name for r in runs)
        steps = collections.Counter(reader.read_metric_history(caller.run_id, "calls").steps)
        tag = reader.get_run(caller.run_id).data.tags.get("last")
        lost, doubled = [], []
        for op, j, outcome, *_ in caller.outcomes:
            if op == "create_run":
                n = names[f"c{caller.index}-{j}"]
            elif op == "log_batch":
                n = steps[j]
            else:
                continue
            if outcome == "OK" and n == 0:
                lost.append(f"{op} {j}")
            if n > 1:
                doubled.append(f"{op} {j} x{n}")
        if lost:
            problems.append(
                f"caller {caller.index}: succeeded but not stored: {lost[:10]} ({len(lost)})"
            )
        if doubled:
            problems.append(f"caller {caller.index}: stored twice: {doubled[:10]} ({len(doubled)})")
        ok_tags = [
            j for op, j, outcome, *_ in caller.outcomes if op == "set_tag" and outcome == "OK"
        ]
        if ok_tags and (tag is None or int(tag) < max(ok_tags)):
            problems.append(
                f"caller {caller.index}: tag 'last' is {tag!r}, but set_tag({max(ok_tags)}) succeeded"
            )


def check_writers_stored_once(reader, writer_runs, summaries, problems) -> None:
    """Each writer's points 0..n-1 are stored exactly once, with their values, and its
    flush succeeded."""
    for i, (run_id, summary) in enumerate(zip(writer_runs, summaries, strict=True)):
        if summary.get("error"):
            problems.append(f"writer {i}: {summary['error'][:300]}")
        n = summary.get("points")
        if n is None:
            continue
        history = reader.read_metric_history(run_id, "loss")
        counts = collections.Counter(history.steps)
        missing = [s for s in range(n) if counts[s] == 0]
        doubled = [s for s, k in counts.items() if k > 1]
        extra = [s for s in counts if not 0 <= s < n]
        if missing:
            problems.append(
                f"writer {i}: {len(missing)} of {n} points not stored "
                f"(steps {missing[0]}..{missing[-1]})"
            )
        if doubled:
            problems.append(f"writer {i}: {len(doubled)} points stored more than once")
        if extra:
            problems.append(f"writer {i}: {len(extra)} points stored that it never sent")
        wrong = [
            s
            for s, v in zip(history.steps, history.values, strict=True)
            if 0 <= s < n and v != value_of(s)
        ]
        if wrong:
            problems.append(f"writer {i}: {len(wrong)} points stored with a wrong value")


def test_database_restart_under_load(db, servers, writers):
    """The acceptance test of issue #12: the database restarts (fast shutdown, down
    DOWN_FOR seconds, started again on the same port and data) under 4 streaming
    writers (processes, public client) and 4 unary callers (threads, public client).

    Asserts: no point lost or doubled; every call a caller saw succeed stored exactly
    once, none stored twice; each caller sees at most one UNAVAILABLE (or
    DEADLINE_EXCEEDED) and nothing else; no caller hangs; health goes NOT_SERVING while
    the database is down and SERVING within HEALTH_RECOVERY seconds after it is back."""
    server = servers(db.app_url)
    client = trackwire.TrackwireClient(server.uri)
    writer_runs = [client.create_run("0", run_name=f"writer-{i}").info.run_id for i in range(4)]
    caller_setup = []
    for i in range(CALLERS):
        experiment_id = client.create_experiment(f"caller-{i}")
        caller_setup.append((experiment_id, client.create_run(experiment_id).info.run_id))
    streams = [writers(server.uri, run_id) for run_id in writer_runs]
    for stream in streams:
        stream.wait_ready()
    health = HealthWatcher(server.target).start()
    callers = [UnaryCaller(server.uri, i, *caller_setup[i]) for i in range(CALLERS)]
    for caller in callers:
        caller.start()

    time.sleep(LEAD_IN)
    restart = db.restart(down_for=DOWN_FOR, mode="fast")
    time.sleep(TAIL)

    for caller in callers:
        caller.stopping.set()
    hung = []
    for caller in callers:
        caller.join(30)
        if caller.is_alive() and caller.current:
            op, j, start = caller.current
            hung.append(
                f"caller {caller.index} hung in {op} {j} for {time.monotonic() - start:.0f}s"
            )
    for stream in streams:
        stream.stop()
    summaries = [stream.finish() for stream in streams]
    health.stop()

    problems = list(hung)
    for caller in callers:
        errors = caller.errors()
        retryable = sum(n for code, n in errors.items() if code in RETRYABLE)
        if retryable > 1:
            problems.append(f"caller {caller.index} saw {retryable} UNAVAILABLE/DEADLINE_EXCEEDED")
        others = {code: n for code, n in errors.items() if code not in RETRYABLE}
        if others:
            problems.append(f"caller {caller.index} saw {others}")
    before = health.between(0, restart.stopping)
    if not before or set(before) != {"SERVING"}:
        problems.append(f"health before the restart: {sorted(set(before))}")
    # NOT_SERVING while the database is away (or noticed up to HEALTH_LAG seconds late)
    if "NOT_SERVING" not in health.between(restart.stopping, restart.started + HEALTH_LAG):
        problems.append("health never said NOT_SERVING while the database was down")
    after = [(t, s) for t, s in health.samples if t >= restart.started]
    serving_again = next((t for t, s in after if s == "SERVING"), None)
    if serving_again is None or serving_again - restart.started > HEALTH_RECOVERY:
        problems.append(
            f"health not SERVING within {HEALTH_RECOVERY:.0f}s of the database's return"
        )
    elif after and after[-1][1] != "SERVING":
        problems.append(f"health ended as {after[-1][1]}")

    reader = trackwire.TrackwireClient(servers(db.app_url).uri)
    check_writers_stored_once(reader, writer_runs, summaries, problems)
    check_callers_stored_once(reader, callers, problems)

    assert not problems, report(
        f"{db.kind}: restart under load (down {restart.started - restart.stopping:.1f}s)",
        problems,
        server,
        *(f"  {c.summary()}" for c in callers),
        *(f"  writer {i}: {s}" for i, s in enumerate(summaries)),
        f"  health (t=0: database stopping; back at "
        f"{restart.started - restart.stopping:+.2f}s): {health.timeline(restart.stopping)}",
    )


# -- connections ended by the database ---------------------------------------------------


def test_killed_connections_are_replaced(db, servers, writers):
    """Every session of the server's database user is ended from the database side
    (pg_terminate_backend / KILL CONNECTION) while a metric stream runs and after calls
    from 8 threads gave the server several connections.

    Asserts: each of the following 80 calls (8 threads: SetRunTag, LogBatch of
    params/tags, GetRun, SearchRuns) succeeds, or fails once with UNAVAILABLE and then
    succeeds (never INTERNAL); the stream loses and doubles nothing; a second kill
    changes nothing either."""
    server = servers(db.app_url)
    client = trackwire.TrackwireClient(server.uri)
    run_ids = [client.create_run("0", run_name=f"t{i}").info.run_id for i in range(8)]
    stream_run = client.create_run("0", run_name="stream").info.run_id
    stream = writers(server.uri, stream_run)
    stream.wait_ready()
    problems: list[str] = []
    outcomes: collections.Counter = collections.Counter()
    lock = threading.Lock()

    def calls(i: int, round_: int, n: int) -> None:
        local: list[str] = []
        run_id = run_ids[i]
        for j in range(n):
            what = f"after kill {round_}" if round_ else "before the kill"
            for name, fn in (
                ("SetRunTag", lambda j=j: client.set_tag(run_id, "k", j)),
                (
                    "LogBatch",
                    lambda j=j: client.log_batch(
                        run_id, params={f"p{round_}-{j}": "v"}, tags={"t": j}
                    ),
                ),
                ("GetRun", lambda: client.get_run(run_id)),
                ("SearchRuns", lambda: client.search_runs(["0"], max_results=5)),
            ):
                outcome = call_counting_unavailable(fn, local, f"{what} {name}")
                with lock:
                    outcomes[outcome] += 1
        with lock:
            problems.extend(local)

    def together(round_: int, n: int) -> None:
        threads = [threading.Thread(target=calls, args=(i, round_, n)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
            if t.is_alive():
                problems.append(f"round {round_}: a thread hung for 120 s")

    together(0, 3)  # several server threads, each with its connection
    killed = []
    for round_ in (1, 2):
        killed.append(db.terminate_connections())
        together(round_, 10 if round_ == 1 else 3)
    summary = stream.finish()
    assert killed[0] >= 2, f"harness: expected several sessions of the app user, found {killed}"

    reader = trackwire.TrackwireClient(servers(db.app_url).uri)
    check_writers_stored_once(reader, [stream_run], [summary], problems)
    assert not problems, report(
        f"{db.kind}: killed connections ({killed} sessions killed)",
        problems,
        server,
        f"  call outcomes: {dict(outcomes)}",
        f"  writer: {summary}",
    )


# -- health ------------------------------------------------------------------------------------


def test_health_follows_the_database(db, servers):
    """The database crashes (immediate shutdown) and comes back.

    Asserts: health NOT_SERVING within HEALTH_NOTICE seconds of the crash; GetRun and
    LogBatch meanwhile answer UNAVAILABLE (raw stub, one attempt, 10 s deadline: the
    server's own answer), not INTERNAL and not hanging; health SERVING within
    HEALTH_RECOVERY seconds of the database taking connections again; then calls from
    8 threads succeed (at most one UNAVAILABLE each)."""
    server = servers(db.app_url)
    client = trackwire.TrackwireClient(server.uri)
    run_id = client.create_run("0").info.run_id
    client.set_tag(run_id, "before", "yes")
    health = HealthWatcher(server.target)
    problems: list[str] = []
    assert health.check() == "SERVING"

    down_at = time.monotonic()
    db.stop("immediate")
    noticed = health.wait_for("NOT_SERVING", HEALTH_NOTICE)
    if noticed is None:
        problems.append(
            f"health not NOT_SERVING within {HEALTH_NOTICE:.0f}s of the crash "
            f"(it says {health.check()})"
        )
    stub = tracking_stub(server)
    during = []
    for name, call in (
        ("GetRun", lambda: stub.GetRun(pb.GetRunRequest(run_id=run_id), timeout=10)),
        (
            "LogBatch",
            lambda: stub.LogBatch(
                pb.LogBatchRequest(run_id=run_id, tags=[run_pb2.RunTag(key="during", value="x")]),
                timeout=10,
            ),
        ),
    ):
        start = time.monotonic()
        try:
            call()
            outcome = "OK"
        except grpc.RpcError as e:
            outcome = f"{e.code().name}: {e.details()[:120]}"
        during.append(f"{name} -> {outcome} in {time.monotonic() - start:.1f}s")
        if not outcome.startswith("UNAVAILABLE"):
            problems.append(f"{name} while the database is down: {outcome}")

    db.start()
    up_at = time.monotonic()
    back = health.wait_for("SERVING", HEALTH_RECOVERY)
    if back is None:
        problems.append(
            f"health not SERVING within {HEALTH_RECOVERY:.0f}s of the database's return "
            f"(it says {health.check()})"
        )
    after: list[str] = []

    def work(i):
        call_counting_unavailable(
            lambda: client.set_tag(run_id, f"after{i}", i), after, "SetRunTag"
        )
        call_counting_unavailable(lambda: client.get_run(run_id), after, "GetRun")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    problems += [f"after the database is back: {p}" for p in after]
    assert not problems, report(
        f"{db.kind}: health",
        problems,
        server,
        "  calls while down: " + "; ".join(during),
        f"  NOT_SERVING after {noticed - down_at:.2f}s" if noticed else "  never NOT_SERVING",
        f"  SERVING again {back - up_at:.2f}s after the database" if back else "",
    )


# -- deadlocks -------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def any_db_url(request, database_servers, tmp_path) -> tuple[str, DatabaseServer | None]:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'trackwire.db'}", None
    server = database_servers.fresh(request.param)
    return server.app_url, server


def test_deadlocks_are_retried_inside_the_server(any_db_url, servers):
    """8 threads send 200 LogBatch calls to two runs, each call setting 12 new tags (6
    keys sorting after all of a run's tags, 6 before) and 2 shared ones, in shuffled
    order. On MariaDB the tag upsert (DELETE, then INSERT, of (run_id, key) rows) takes
    gap locks between the two runs' rows, so the calls of one run and of the other
    deadlock (InnoDB error 1213) whenever both DELETEs come before either INSERT: a
    dozen or more times here.

    Asserts: no call fails; each call's tags are stored all (it succeeded) and with
    its values; the shared tags of a run agree (both from one call)."""
    url, database = any_db_url
    server = servers(url)
    client = trackwire.TrackwireClient(server.uri)
    run_ids = [client.create_run("0", run_name=f"r{i}").info.run_id for i in range(2)]
    counter = itertools.count()
    deadlocks_before = database.deadlock_count() if database and database.kind == "mysql" else 0
    results: list[tuple[str, dict, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def work(i: int) -> None:
        rnd = random.Random(i)
        barrier.wait()
        for j in range(25):
            run_id = run_ids[(i + j) % 2]
            n = next(counter)
            keys = [f"a{999_999 - n:06d}-{x}" for x in range(6)]  # before every key so far
            keys += [f"z{n:06d}-{x}" for x in range(6)]  # after every key so far
            keys += ["shared-1", "shared-2"]
            rnd.shuffle(keys)
            tags = {k: f"{i}-{j}" for k in keys}
            try:
                client.log_batch(run_id, tags=tags)
                outcome = "OK"
            except Exception as e:
                outcome = f"{code_of(e)}: {message_of(e)[:150]}"
            with lock:
                results.append((run_id, tags, outcome))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    deadlocks = (
        database.deadlock_count() - deadlocks_before
        if database and database.kind == "mysql"
        else None
    )

    problems = []
    failed = collections.Counter(o for _, _, o in results if o != "OK")
    if failed:
        problems.append(
            f"{sum(failed.values())} of {len(results)} LogBatch calls failed: {dict(failed)}"
        )
    if len(results) != 200:
        problems.append(f"{200 - len(results)} calls did not return within 120 s")
    stored = {r: client.get_run(r).data.tags for r in run_ids}
    for run_id, tags, outcome in results:
        own = {k: v for k, v in tags.items() if not k.startswith("shared")}
        present = {k: stored[run_id].get(k) for k in own}
        if outcome == "OK" and present != own:
            problems.append(f"a call that succeeded is not stored whole: {present}")
        if outcome != "OK" and any(v is not None for v in present.values()):
            problems.append(f"a call that failed is stored in part: {present}")
    for run_id in run_ids:
        shared = {stored[run_id].get("shared-1"), stored[run_id].get("shared-2")}
        if len(shared) != 1:
            problems.append(f"run {run_id}: shared tags from different calls: {shared}")
    assert not problems, report(
        f"{url.split(':')[0]}: concurrent LogBatch tag upserts"
        + (f" (InnoDB counted {deadlocks} deadlocks)" if deadlocks is not None else ""),
        problems,
        server,
    )


LOCK_TIMEOUT = 1.0
LOCK_HELD = 2.5


def test_lock_timeouts_are_retried_inside_the_server(db, servers):
    """Another session holds a run's row lock (SELECT ... FOR UPDATE in an open
    transaction) for LOCK_HELD seconds, longer than the database's lock wait timeout
    (LOCK_TIMEOUT: PostgreSQL lock_timeout, SQLSTATE 55P03; MariaDB
    innodb_lock_wait_timeout, error 1205), while LogBatch, SetRunTag and UpdateRun
    write to that run.

    Asserts: each call waits and succeeds once the lock is released (the server
    retries the transaction), its data stored; none fails. (SQLite waits out its
    60-second busy timeout instead: not tested.)"""
    db.set_lock_timeout(LOCK_TIMEOUT)  # before the server connects: MariaDB copies it then
    server = servers(db.app_url)
    client = trackwire.TrackwireClient(server.uri)
    run_id = client.create_run("0", run_name="locked").info.run_id
    calls = {
        "LogBatch": lambda: client.log_batch(run_id, params={"p": "1"}, tags={"t": "1"}),
        "SetRunTag": lambda: client.set_tag(run_id, "s", "1"),
        "UpdateRun": lambda: client.update_run(run_id, name="renamed"),
    }
    outcomes: dict[str, str] = {}

    def call(name, fn):
        start = time.monotonic()
        try:
            fn()
            outcome = "OK"
        except Exception as e:
            outcome = f"{code_of(e)}: {message_of(e)[:150]}"
        outcomes[name] = f"{outcome} after {time.monotonic() - start:.1f}s"

    with db.holding_lock("SELECT run_id FROM runs WHERE run_id = %s FOR UPDATE", (run_id,)):
        threads = [threading.Thread(target=call, args=item) for item in calls.items()]
        for t in threads:
            t.start()
        time.sleep(LOCK_HELD)
    for t in threads:
        t.join(60)

    problems = [f"{name}: {o}" for name, o in outcomes.items() if not o.startswith("OK")]
    problems += [f"{name}: no answer within 60 s" for name in calls if name not in outcomes]
    run = client.get_run(run_id)
    stored = (run.data.params.get("p"), run.data.tags.get("t"), run.data.tags.get("s"))
    expected_stored = tuple("1" if outcomes.get(n, "").startswith("OK") else None for n in calls)
    if stored != expected_stored:
        problems.append(f"stored (p, t, s) = {stored}, expected {expected_stored}")
    assert not problems, report(
        f"{db.kind}: lock wait timeouts ({LOCK_TIMEOUT:g} s; lock held {LOCK_HELD:g} s)",
        problems,
        server,
        f"  outcomes: {outcomes}",
    )


# -- read-only database ----------------------------------------------------------------------


def write_attempts(client: trackwire.TrackwireClient, run_id: str, experiment_id: str) -> dict:
    """One attempt at each kind of write; {name: None (succeeded) or the exception}."""
    attempts = {
        "CreateExperiment": lambda: client.create_experiment(f"new-{uuid.uuid4().hex[:8]}"),
        "CreateRun": lambda: client.create_run(experiment_id),
        "LogBatch": lambda: client.log_batch(
            run_id, metrics=[Metric("m", 1.0, 1000, 99)], params={"p-new": "v"}
        ),
        "SetRunTag": lambda: client.set_tag(run_id, "t-new", "v"),
        "UpdateRun": lambda: client.update_run(run_id, name="renamed"),
        "SetExperimentTag": lambda: client.set_experiment_tag(experiment_id, "e-new", "v"),
    }
    outcomes = {}
    for name, fn in attempts.items():
        try:
            fn()
            outcomes[name] = None
        except Exception as e:
            outcomes[name] = e
    return outcomes


def check_read_only_answers(outcomes: dict, problems: list[str]) -> None:
    for name, error in outcomes.items():
        if error is None:
            problems.append(f"{name} succeeded on a read-only database")
        elif code_of(error) != "FAILED_PRECONDITION":
            problems.append(f"{name}: {code_of(error)} {message_of(error)[:150]!r}")
        elif (
            not READ_ONLY_MESSAGE.search(message_of(error))
            or "database" not in message_of(error).lower()
        ):
            problems.append(
                f"{name}: FAILED_PRECONDITION without saying the database is read-only: {message_of(error)!r}"
            )


def check_reads(client, run_id, experiment_id, problems: list[str]) -> None:
    """GetRun (with its data), SearchRuns, GetExperiment, ReadMetricHistory all served."""
    reads = {
        "GetRun": lambda: client.get_run(run_id).data.tags.get("t"),
        "SearchRuns": lambda: len(client.search_runs([experiment_id])),
        "GetExperiment": lambda: client.get_experiment(experiment_id).name,
        "ReadMetricHistory": lambda: client.read_metric_history(run_id, "m").steps,
    }
    expected = {"GetRun": "v", "SearchRuns": 1, "GetExperiment": "ro", "ReadMetricHistory": [0, 1]}
    for name, fn in reads.items():
        try:
            got = fn()
        except Exception as e:
            problems.append(f"read {name}: {code_of(e)} {message_of(e)[:150]!r}")
            continue
        if got != expected[name]:
            problems.append(f"read {name}: {got!r}, expected {expected[name]!r}")


def seed_read_only_data(client) -> tuple[str, str]:
    experiment_id = client.create_experiment("ro")
    run_id = client.create_run(
        experiment_id,
        tags={"t": "v"},
        params={"p": "1"},
        metrics=[Metric("m", 0.5, 1000, 0), Metric("m", 1.5, 1001, 1)],
    ).info.run_id
    return experiment_id, run_id


def test_read_only_database(db, servers):
    """The database turns read-only under a running server (PostgreSQL:
    default_transaction_read_only, as on a hot standby, SQLSTATE 25006; MariaDB:
    read_only=1 for the app user, error 1290), then writable again.

    Asserts: CreateExperiment, CreateRun, LogBatch, SetRunTag, UpdateRun,
    SetExperimentTag each answer FAILED_PRECONDITION with a message saying the
    database is read-only; a WriteMetrics batch is answered FAILED_PRECONDITION and
    the stream goes on; GetRun, SearchRuns, GetExperiment, ReadMetricHistory are
    served with the data; once writable, writes (and that same stream) work again."""
    server = servers(db.app_url)
    client = trackwire.TrackwireClient(server.uri)
    experiment_id, run_id = seed_read_only_data(client)
    stream = RawMetricStream(server.target)
    first = stream.send(run_id, ["streamed"], 10)
    assert describe(first) == "batch answered OK", describe(first)

    db.set_read_only(True)
    problems: list[str] = []
    check_read_only_answers(write_attempts(client, run_id, experiment_id), problems)
    answer = stream.send(run_id, ["streamed-ro"], 10)
    if isinstance(answer, str) or grpc_code_name(answer.error_code) != "FAILED_PRECONDITION":
        problems.append(f"WriteMetrics on a read-only database: {describe(answer)}")
    check_reads(client, run_id, experiment_id, problems)

    db.set_read_only(False)
    again = stream.send(run_id, ["streamed-after"], 10)
    if describe(again) != "batch answered OK":
        problems.append(f"WriteMetrics once writable again (same stream): {describe(again)}")
    call_counting_unavailable(
        lambda: client.set_tag(run_id, "after", "yes"), problems, "SetRunTag once writable"
    )
    stream.close()
    assert not problems, report(f"{db.kind}: read-only database", problems, server)


def test_sqlite_on_a_read_only_mount(tmp_path, servers):
    """A SQLite file, already created and migrated by an earlier server, on a read-only
    bind mount (the artifact folder stays writable).

    The choice made here: such a server must start and serve reads, as a server over a
    read-only PostgreSQL or MariaDB does; a file that cannot even be opened for reading,
    or one whose schema needs migrating, is another matter (one clear line, exit status
    not 0, no traceback) and not what this test sets up.

    Asserts: the server starts; GetRun, SearchRuns, GetExperiment, ReadMetricHistory are
    served; every write answers FAILED_PRECONDITION saying the database is read-only."""
    db_servers.require_mounts()
    folder = tmp_path / "db"
    folder.mkdir()
    url = f"sqlite:///{folder / 'trackwire.db'}"
    first = servers(url)
    client = trackwire.TrackwireClient(first.uri)
    experiment_id, run_id = seed_read_only_data(client)
    assert first.stop() == 0
    assert sorted(os.listdir(folder)) == ["trackwire.db"], os.listdir(folder)

    problems: list[str] = []
    with read_only_bind(str(folder), str(tmp_path / "ro")) as ro:
        try:
            server = servers(f"sqlite:///{ro}/trackwire.db")
        except ServerStartError as e:
            last = e.output.strip().splitlines()[-1:] or ["(no output)"]
            traceback = "Traceback" in e.output
            pytest.fail(
                f"sqlite on a read-only mount: the server did not start: {e} "
                f"({'with a traceback' if traceback else 'no traceback'}); its last line: "
                f"{last[0]!r}"
            )
        client = trackwire.TrackwireClient(server.uri)
        check_reads(client, run_id, experiment_id, problems)
        check_read_only_answers(write_attempts(client, run_id, experiment_id), problems)
        server.stop()
    assert not problems, report("sqlite: read-only mount", problems, server)


# -- disk full -------------------------------------------------------------------------------


def small_batch(n: int) -> dict:
    """A LogBatch of about 12 KB in rows of at most ~900 bytes (see the module's note)."""
    return {
        "params": {f"p{n}-{k}": "v" * 50 for k in range(50)},
        "tags": {f"t{n}-{k}": "v" * 50 for k in range(50)},
        "metrics": [Metric(f"m{n}", value_of(s), timestamp_of(s), s) for s in range(100)],
    }


def fill_and_check(url: str, volume, servers, title: str) -> None:
    """Runs the disk-full scenario on a server over `url`, whose data is on `volume`."""
    server = servers(url)
    client = trackwire.TrackwireClient(server.uri)
    run_id = client.create_run("0").info.run_id
    client.log_batch(run_id, **small_batch(0))
    stream = RawMetricStream(server.target)
    first = stream.send(run_id, ["s0-0"], 50)
    assert describe(first) == "batch answered OK", describe(first)

    volume.fill()
    problems: list[str] = []
    stored_batches = [0]
    refused = None
    for n in range(1, 60):
        try:
            client.log_batch(run_id, **small_batch(n))
            stored_batches.append(n)
        except Exception as e:
            refused = n
            if code_of(e) != "RESOURCE_EXHAUSTED":
                problems.append(f"LogBatch on a full disk: {code_of(e)} {message_of(e)[:200]!r}")
            break
    if refused is None:
        problems.append(f"harness: 59 LogBatch calls of ~12 KB fit on the full {title} volume")
    stream_refused = None
    for n in range(1, 60):
        keys = [f"s{n}-{k}" for k in range(20)]
        answer = stream.send(run_id, keys, 50)
        if isinstance(answer, str) or answer.error_code:
            stream_refused = keys
            if isinstance(answer, str) or grpc_code_name(answer.error_code) != "RESOURCE_EXHAUSTED":
                problems.append(f"WriteMetrics on a full disk: {describe(answer)}")
            break
    if stream_refused is None:
        problems.append("harness: 59 WriteMetrics batches fit on the full volume")

    # Nothing half-written: read while the disk is still full.
    try:
        data = client.get_run(run_id).data
        if refused is not None:
            leaked = [
                k
                for k in (*small_batch(refused)["params"], *small_batch(refused)["tags"])
                if k in data.params or k in data.tags
            ]
            if leaked or f"m{refused}" in data.metrics:
                problems.append(
                    f"the refused LogBatch is stored in part: {len(leaked)} params/tags"
                )
        if stream_refused:
            history = client.get_metric_histories([run_id], stream_refused[0])[run_id]
            if history.steps:
                problems.append(
                    f"the refused WriteMetrics batch is stored in part: {len(history.steps)} points"
                )
    except Exception as e:
        problems.append(f"reading on a full disk: {code_of(e)} {message_of(e)[:200]!r}")

    volume.free()
    if stream_refused and not stream.ended:
        again = stream.send(run_id, stream_refused, 50)
        if describe(again) != "batch answered OK":
            problems.append(f"WriteMetrics after freeing space (same stream): {describe(again)}")
    elif stream.ended:
        problems.append(f"the WriteMetrics stream did not survive the full disk: {stream.ended}")
    if refused is not None:
        call_counting_unavailable(
            lambda: client.log_batch(run_id, **small_batch(refused)),
            problems,
            "LogBatch after freeing space",
        )
        stored_batches.append(refused)
    stream.close()

    reader = trackwire.TrackwireClient(servers(url).uri)
    data = reader.get_run(run_id).data
    for n in stored_batches:
        batch = small_batch(n)
        if not set(batch["params"]) <= set(data.params) or not set(batch["tags"]) <= set(data.tags):
            problems.append(f"LogBatch {n} (acknowledged) is not stored whole")
        steps = reader.read_metric_history(run_id, f"m{n}").steps
        if steps != list(range(100)):
            problems.append(f"LogBatch {n}: metric m{n} has {len(steps)} points, not 100")
    if stream_refused:
        steps = reader.read_metric_history(run_id, stream_refused[0]).steps
        if stream.ended is None and steps != list(range(50)):
            problems.append(f"the resent WriteMetrics batch: {len(steps)} points, not 50")
    assert not problems, report(f"{title}: disk full", problems, server)


def test_database_disk_full(db, servers):
    """The disk holding database `test` fills up (a tablespace / database folder on a
    tmpfs, filled to the last byte) under a running server and an open metric stream,
    then space is freed.

    Asserts: LogBatch answers RESOURCE_EXHAUSTED; a WriteMetrics batch is answered
    RESOURCE_EXHAUSTED and the stream goes on; nothing of either is stored; once space
    is freed, the same stream stores the batch again and LogBatch works; every
    acknowledged write is stored whole."""
    db_servers.require_mounts()
    with db.database_on_tmpfs(32 if db.kind == "postgresql" else 16) as volume:
        try:
            fill_and_check(db.app_url, volume, servers, db.kind)
        finally:
            servers.stop_all()


def test_sqlite_disk_full(tmp_path, servers):
    """test_database_disk_full with the SQLite file (and its WAL) on an 8 MB tmpfs."""
    db_servers.require_mounts()
    with db_servers.Tmpfs(str(tmp_path / "volume"), 8) as volume:
        try:
            fill_and_check(f"sqlite:///{volume.path}/trackwire.db", volume, servers, "sqlite")
        finally:
            servers.stop_all()  # before the volume goes: they hold the file open
