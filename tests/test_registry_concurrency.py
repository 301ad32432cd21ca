"""The registry under concurrent writers, on every configured database: version numbers
stay dense and unique, no caller sees a lock error, and racing promotions with
archive_existing_versions leave exactly one Production version."""

from __future__ import annotations

import multiprocessing
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest

import trackwire
from tests.conftest import RunningServer
from trackwire_server.store import open_database

MODEL = "Concurrent"


def _model_run(client) -> str:
    experiment_id = client.create_experiment("concurrency")
    run = client.create_run(experiment_id)
    client.log_bytes(run.info.run_id, b"w", "model/model.pkl")
    return run.info.run_id


def _register_many(uri: str, run_id: str, count: int, start: threading.Barrier | None = None):
    """register_model `count` times (the first call of each caller races to create the
    registered model); returns the version numbers it got."""
    trackwire.set_tracking_uri(uri)
    if start is not None:
        start.wait()
    return [
        int(trackwire.register_model(f"runs:/{run_id}/model", MODEL).version) for _ in range(count)
    ]


def _register_in_process(uri: str, run_id: str, count: int, queue) -> None:
    try:
        queue.put(("ok", _register_many(uri, run_id, count)))
    except BaseException as e:  # reported to the parent, which fails the test
        queue.put(("error", f"{type(e).__name__}: {e}"))


def _versions(client) -> list[int]:
    return sorted(int(v.version) for v in client.search_model_versions(f"name = '{MODEL}'"))


def test_16_threads_register_160_versions(tracking, client):
    run_id = _model_run(client)
    threads, each = 16, 10
    start = threading.Barrier(threads)
    with ThreadPoolExecutor(threads) as pool:
        futures = [
            pool.submit(_register_many, tracking.uri, run_id, each, start) for _ in range(threads)
        ]
        got = [f.result() for f in futures]  # re-raises any caller-visible error
    numbers = sorted(n for part in got for n in part)
    assert numbers == list(range(1, threads * each + 1))
    assert all(part == sorted(part) for part in got)  # each caller sees its numbers grow
    assert _versions(client) == numbers
    model = client.get_registered_model(MODEL)
    assert [v.version for v in model.latest_versions] == [str(threads * each)]


def test_4_processes_register_40_versions(tracking, client):
    run_id = _model_run(client)
    processes, each = 4, 10
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=_register_in_process, args=(tracking.uri, run_id, each, queue))
        for _ in range(processes)
    ]
    for w in workers:
        w.start()
    results = [queue.get(timeout=240) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    assert [status for status, _ in results] == ["ok"] * processes, results
    numbers = sorted(n for _, part in results for n in part)
    assert numbers == list(range(1, processes * each + 1))
    assert _versions(client) == numbers


def test_racing_promotions_leave_one_production_version(tracking, client):
    run_id = _model_run(client)
    client.create_registered_model(MODEL)
    racers = 8
    for _ in range(racers + 1):
        client.create_model_version(MODEL, f"runs:/{run_id}/model")
    client.transition_model_version_stage(MODEL, racers + 1, "Production")
    start = threading.Barrier(racers)

    def promote(version: int) -> str:
        start.wait()
        return client.transition_model_version_stage(
            MODEL, version, "Production", archive_existing_versions=True
        ).current_stage

    for _ in range(3):
        with ThreadPoolExecutor(racers) as pool:
            stages = list(pool.map(promote, range(1, racers + 1)))
        assert stages == ["Production"] * racers
        versions = client.search_model_versions(f"name = '{MODEL}'")
        production = [v.version for v in versions if v.current_stage == "Production"]
        assert len(production) == 1, production
        assert {v.current_stage for v in versions} == {"Production", "Archived"}
        assert [v.version for v in client.get_latest_versions(MODEL, ["Production"])] == production


def _with_query(url: str, **params: str) -> str:
    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode(params)


def test_lock_timeouts_are_retried_inside_the_server(backend, tmp_path):
    """While another session holds the model's row lock longer than the database's lock
    timeout, registrations time out waiting: the server retries them, and the caller only
    sees its version, late."""
    if backend.startswith("sqlite"):
        pytest.skip("SQLite waits for its lock (busy_timeout) instead of timing out")
    if backend.startswith("postgres"):
        url, hold = _with_query(backend, options="-c lock_timeout=200"), 1.5
    else:
        url, hold = _with_query(backend, init_command="SET innodb_lock_wait_timeout=1"), 3.0
    server = RunningServer(url, tmp_path / "artifacts")
    try:
        client = trackwire.TrackwireClient(server.uri)
        run_id = _model_run(client)
        client.create_registered_model(MODEL)
        client.create_model_version(MODEL, f"runs:/{run_id}/model")
        holder = open_database(backend)
        with ThreadPoolExecutor(2) as pool:
            with holder.connection_context(), holder.atomic():
                holder.execute_sql(
                    "SELECT * FROM registered_models WHERE name = %s FOR UPDATE", (MODEL,)
                )
                futures = [
                    pool.submit(client.create_model_version, MODEL, f"runs:/{run_id}/model")
                    for _ in range(2)
                ]
                time.sleep(hold)
                assert not any(f.done() for f in futures)  # still waiting, retried
            versions = sorted(int(f.result(timeout=60).version) for f in futures)
        holder.close()
        assert versions == [2, 3]
        assert _versions(client) == [1, 2, 3]
    finally:
        server.stop()
