"""Concurrent LogBatch calls (W6's shape): each stored exactly once, each all or nothing,
whatever the others do at the same time."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

import trackwire
from trackwire import Metric
from trackwire.errors import InvalidArgumentError

WRITERS = 8
BATCHES = 10
BATCH = 200


def run_together(work, n: int) -> list:
    """Runs work(i) for i < n on n threads released together; their results or errors."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def target(i):
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as e:  # kept for the assertions
            results[i] = e

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def log_steps(client, run_id, steps, key="loss"):
    client.log_batch(run_id, metrics=[Metric(key, float(s), 1000 + s, s) for s in steps])


def test_writers_to_their_own_runs_store_every_point_once(server):
    client = trackwire.TrackwireClient(server.uri)
    run_ids = [client.create_run("0").info.run_id for _ in range(WRITERS)]

    def writer(i):
        for b in range(BATCHES):
            log_steps(client, run_ids[i], range(b * BATCH, (b + 1) * BATCH))

    assert run_together(writer, WRITERS) == [None] * WRITERS
    for run_id in run_ids:
        history = client.read_metric_history(run_id, "loss")
        assert history.steps == list(range(BATCHES * BATCH))
        assert history.values == [float(s) for s in range(BATCHES * BATCH)]
        assert client.get_run(run_id).data.metrics == {"loss": float(BATCHES * BATCH - 1)}


def test_writers_to_one_run_store_every_point_once(server):
    client = trackwire.TrackwireClient(server.uri)
    run_id = client.create_run("0").info.run_id

    def writer(i):
        for b in range(BATCHES):
            start = (b * WRITERS + i) * BATCH
            log_steps(client, run_id, range(start, start + BATCH))

    assert run_together(writer, WRITERS) == [None] * WRITERS
    history = client.read_metric_history(run_id, "loss")
    assert history.steps == list(range(WRITERS * BATCHES * BATCH))
    assert client.get_run(run_id).data.metrics["loss"] == float(WRITERS * BATCHES * BATCH - 1)


def test_a_refused_batch_among_concurrent_ones_writes_nothing_and_harms_none(server):
    """Odd writers send batches that are refused whole (a param logged again with another
    value); the even writers' batches, interleaved with them, are all stored."""
    client = trackwire.TrackwireClient(server.uri)
    run_ids = [client.create_run("0").info.run_id for _ in range(WRITERS)]
    for run_id in run_ids:
        client.log_batch(run_id, params={"lr": "0.1"})

    def writer(i):
        refused = 0
        for b in range(BATCHES):
            steps = range(b * BATCH, (b + 1) * BATCH)
            metrics = [Metric("loss", float(s), 1000 + s, s) for s in steps]
            if i % 2:
                try:
                    client.log_batch(
                        run_ids[i], metrics=metrics, params={"lr": "0.2"}, tags={"t": "x"}
                    )
                except InvalidArgumentError:
                    refused += 1
            else:
                client.log_batch(run_ids[i], metrics=metrics, tags={"t": str(b)})
        return refused

    results = run_together(writer, WRITERS)
    for i, run_id in enumerate(run_ids):
        data = client.get_run(run_id).data
        history = client.read_metric_history(run_id, "loss")
        assert data.params == {"lr": "0.1"}
        if i % 2:
            assert results[i] == BATCHES
            assert history.steps == []
            assert "t" not in data.tags and "loss" not in data.metrics
        else:
            assert results[i] == 0
            assert history.steps == list(range(BATCHES * BATCH))
            assert data.tags["t"] == str(BATCHES - 1)


def _process_writer(uri: str, run_id: str, index: int) -> None:
    client = trackwire.TrackwireClient(uri)
    for b in range(BATCHES):
        start = (b * 4 + index) * BATCH
        log_steps(client, run_id, range(start, start + BATCH))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_writer_processes_to_one_run_store_every_point_once(server):
    client = trackwire.TrackwireClient(server.uri)
    run_id = client.create_run("0").info.run_id
    ctx = multiprocessing.get_context("spawn")
    processes = [
        ctx.Process(target=_process_writer, args=(server.uri, run_id, i)) for i in range(4)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(120)
    assert [p.exitcode for p in processes] == [0] * 4
    assert client.read_metric_history(run_id, "loss").steps == list(range(4 * BATCHES * BATCH))
