"""BatchReadMetricHistory through the real server: one metric's history for many runs,
whole or downsampled for charts (`TrackwireClient.get_metric_histories`).

The downsampling rule (tracking_service.proto): the run's points in the step range, ordered
by step then timestamp, are cut into max_points // 4 buckets of consecutive points
(bounds numpy.linspace(0, n, buckets + 1).astype(int)); the first, last, lowest and highest
point of each bucket are kept, in their original order; NaN points count as neither lowest
nor highest. Histories of at most max_points points are returned whole.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from trackwire import MetricHistory
from trackwire.client import close_metric_writers
from trackwire.errors import InvalidArgumentError, NotFoundError
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire.v1 import tracking_service_pb2_grpc as stubs

KEY = "loss"
T0 = 1_700_000_000_000


@pytest.fixture(autouse=True)
def _close_writers():
    yield
    close_metric_writers()


@pytest.fixture
def experiment_id(client):
    return client.create_experiment("histories")


def new_run(client, experiment_id) -> str:
    return client.create_run(experiment_id).info.run_id


def write(client, run_id, steps, values, timestamps=None, key=KEY) -> None:
    """Streams the points (in the order given) and waits until they are committed."""
    if timestamps is None:
        timestamps = [T0 + int(s) for s in steps]
    add = client.metric_writer.add
    for s, v, t in zip(steps, values, timestamps, strict=True):
        add(run_id, key, float(v), int(s), int(t))
    client.flush_metrics()


def columns(history: MetricHistory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.asarray(history.steps, dtype=np.int64),
        np.asarray(history.timestamps, dtype=np.int64),
        np.asarray(history.values, dtype=np.float64),
    )


def assert_same(history: MetricHistory, expected: tuple[np.ndarray, np.ndarray, np.ndarray]):
    """Equal columns; NaN equals NaN."""
    assert len(history.steps) == len(history.timestamps) == len(history.values)
    steps, timestamps, values = columns(history)
    np.testing.assert_array_equal(steps, expected[0])
    np.testing.assert_array_equal(timestamps, expected[1])
    np.testing.assert_array_equal(values, expected[2])


def reference_keep(values: np.ndarray, max_points: int) -> np.ndarray:
    """Indices kept by the documented rule, written out loop by loop. Ties: the earliest."""
    n = len(values)
    if max_points == 0 or n <= max_points:
        return np.arange(n)
    buckets = max_points // 4
    bounds = np.linspace(0, n, buckets + 1).astype(int)
    keep: set[int] = set()
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        assert hi > lo, "a bucket is empty"
        bucket = values[lo:hi]
        keep |= {lo, hi - 1}
        if not np.isnan(bucket).all():
            keep |= {lo + int(np.nanargmin(bucket)), lo + int(np.nanargmax(bucket))}
    return np.array(sorted(keep), dtype=np.int64)


def reference(full: tuple[np.ndarray, np.ndarray, np.ndarray], max_points: int):
    keep = reference_keep(full[2], max_points)
    return tuple(c[keep] for c in full)


def raw_batch(server, **request) -> list[pb.BatchReadMetricHistoryResponse]:
    """The RPC's messages, as sent (the client merges them per run)."""
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = stubs.TrackingServiceStub(channel)
        return list(stub.BatchReadMetricHistory(pb.BatchReadMetricHistoryRequest(**request)))


# -- whole histories -----------------------------------------------------------------


def test_several_runs_in_requested_order(server, client, experiment_id):
    a, b, empty, c = (new_run(client, experiment_id) for _ in range(4))
    write(client, a, range(10), [1.0 / (s + 1) for s in range(10)])
    write(client, b, range(5, 8), [2.0, 3.0, 4.0])
    write(client, c, [0], [7.5], timestamps=[T0 + 99])
    write(client, empty, range(3), [1.0, 2.0, 3.0], key="accuracy")  # another key only

    order = [c, empty, a, b]
    histories = client.get_metric_histories(order, KEY)
    assert list(histories) == order
    assert histories[a] == MetricHistory(
        steps=list(range(10)),
        values=[1.0 / (s + 1) for s in range(10)],
        timestamps=[T0 + s for s in range(10)],
    )
    assert histories[b] == MetricHistory([5, 6, 7], [2.0, 3.0, 4.0], [T0 + 5, T0 + 6, T0 + 7])
    assert histories[c] == MetricHistory([0], [7.5], [T0 + 99])
    assert histories[empty] == MetricHistory([], [], [])
    # The same as one ReadMetricHistory per run.
    for run_id in order:
        assert histories[run_id] == client.read_metric_history(run_id, KEY)

    # On the wire: one message per run here, in request order, each with its total.
    messages = raw_batch(server, run_ids=order, metric_key=KEY)
    assert [m.run_id for m in messages] == order
    assert [m.total_points for m in messages] == [1, 0, 10, 3]
    assert list(messages[1].points.values) == [] and list(messages[1].points.keys) == []
    assert list(messages[0].points.keys) == [KEY] and list(messages[0].points.key_index) == []


def test_history_is_ordered_by_step_then_timestamp(client, experiment_id):
    run_id = new_run(client, experiment_id)
    rng = np.random.default_rng(1)
    steps = np.repeat(np.arange(200), 2)  # every step twice, at different times
    timestamps = T0 + np.arange(400)[::-1]  # later steps were logged earlier
    values = rng.normal(size=400)
    order = rng.permutation(400)
    write(client, run_id, steps[order], values[order], timestamps[order])

    by_step_time = np.lexsort((timestamps, steps))
    expected = (steps[by_step_time], timestamps[by_step_time], values[by_step_time])
    assert_same(client.get_metric_histories([run_id], KEY)[run_id], expected)
    # Downsampling keeps that order: the kept points are a subsequence of it.
    assert_same(
        client.get_metric_histories([run_id], KEY, max_points=40)[run_id], reference(expected, 40)
    )


def test_step_range(client, experiment_id):
    a, b = new_run(client, experiment_id), new_run(client, experiment_id)
    write(client, a, range(100), np.arange(100) * 0.5)
    write(client, b, range(0, 100, 10), np.arange(10.0))

    def steps(**kwargs):
        return {r: h.steps for r, h in client.get_metric_histories([a, b], KEY, **kwargs).items()}

    assert steps(start_step=95) == {a: [95, 96, 97, 98, 99], b: []}
    assert steps(end_step=10) == {a: list(range(11)), b: [0, 10]}
    assert steps(start_step=20, end_step=40) == {a: list(range(20, 41)), b: [20, 30, 40]}
    assert steps(start_step=41, end_step=49) == {a: list(range(41, 50)), b: []}
    assert steps(start_step=50, end_step=50) == {a: [50], b: [50]}
    assert steps(start_step=60, end_step=59) == {a: [], b: []}
    assert steps(start_step=0, end_step=10**12) == {a: list(range(100)), b: list(range(0, 100, 10))}
    ranged = client.get_metric_histories([a], KEY, start_step=20, end_step=40)[a]
    assert ranged.values == [s * 0.5 for s in range(20, 41)]
    assert ranged.timestamps == [T0 + s for s in range(20, 41)]


def test_long_history_comes_in_several_messages(server, client, experiment_id):
    long_run, short_run = new_run(client, experiment_id), new_run(client, experiment_id)
    n = 250_001  # over the default 100,000-point chunk
    steps = np.arange(n, dtype=np.int64)
    values = np.sin(steps / 1000.0) + steps * 1e-6
    timestamps = T0 + steps * 3
    write(client, long_run, steps, values, timestamps)
    write(client, short_run, [0, 1], [1.0, 2.0])

    histories = client.get_metric_histories([long_run, short_run], KEY)
    assert len(histories[long_run]) == n
    assert_same(histories[long_run], (steps, timestamps, values))
    assert histories[short_run] == MetricHistory([0, 1], [1.0, 2.0], [T0, T0 + 1])

    messages = raw_batch(server, run_ids=[long_run, short_run], metric_key=KEY)
    assert len(messages) > 2
    long_parts = [m for m in messages if m.run_id == long_run]
    assert messages[: len(long_parts)] == long_parts  # consecutive, before the next run
    assert len(long_parts) >= 3
    assert [m.total_points for m in long_parts] == [n] + [0] * (len(long_parts) - 1)
    assert sum(len(m.points.values) for m in long_parts) == n
    limit = client.get_server_info().limits["max_history_chunk_points"]
    assert all(0 < len(m.points.values) <= limit for m in long_parts)
    assert [m.run_id for m in messages[len(long_parts) :]] == [short_run]

    # Downsampled, the same history fits in one message of at most max_points points.
    small = client.get_metric_histories([long_run], KEY, max_points=1000)[long_run]
    assert 0 < len(small) <= 1000
    assert_same(small, reference((steps, timestamps, values), 1000))
    messages = raw_batch(server, run_ids=[long_run], metric_key=KEY, max_points=1000)
    assert len(messages) == 1 and messages[0].total_points == n


# -- downsampling ----------------------------------------------------------------------


def test_no_downsampling_at_or_under_max_points(client, experiment_id):
    run_id = new_run(client, experiment_id)
    values = np.random.default_rng(2).normal(size=64)
    write(client, run_id, range(64), values)
    for max_points in (0, 64, 65, 10_000):
        history = client.get_metric_histories([run_id], KEY, max_points=max_points)[run_id]
        assert history.steps == list(range(64)), max_points
        assert history.values == list(values)
    assert len(client.get_metric_histories([run_id], KEY, max_points=63)[run_id]) <= 63


def test_downsampling_keeps_spikes_ends_and_nan(client, experiment_id):
    run_id = new_run(client, experiment_id)
    n = 10_000
    steps = np.arange(n)
    values = 2.0 * np.exp(-steps / 2000.0) + 0.01 * np.sin(steps)  # a smooth loss curve
    values[4321] = 1e6  # a spike
    values[7777] = -50.0  # a dip
    values[[10, 11, 500, 9998]] = np.nan  # NaN points here and there
    values[8000:8100] = np.nan  # and a whole stretch (a whole bucket at max_points=400)
    timestamps = T0 + steps * 7
    write(client, run_id, steps, values, timestamps)
    full = (steps, timestamps, values)

    for max_points in (4, 5, 8, 17, 100, 400, 1000):
        history = client.get_metric_histories([run_id], KEY, max_points=max_points)[run_id]
        got_steps, _, got_values = columns(history)
        assert len(history) <= max_points, max_points
        assert got_steps[0] == 0 and got_steps[-1] == n - 1, "first and last point"
        assert np.all(np.diff(got_steps) > 0), "original order"
        assert 4321 in got_steps and 7777 in got_steps, f"spike and dip lost at {max_points}"
        assert np.nanmax(got_values) == 1e6 and np.nanmin(got_values) == -50.0
        assert_same(history, reference(full, max_points))

    # max_points=4: one bucket, so exactly first, lowest, highest, last.
    history = client.get_metric_histories([run_id], KEY, max_points=4)[run_id]
    assert history.steps == [0, 4321, 7777, n - 1]
    # the all-NaN bucket keeps its first and last point only
    history = client.get_metric_histories([run_id], KEY, max_points=400)[run_id]
    assert [s for s in history.steps if 8000 <= s < 8100] == [8000, 8099]


def test_downsampling_is_per_run(client, experiment_id):
    runs = [new_run(client, experiment_id) for _ in range(3)]
    sizes = [10, 1000, 50_000]
    rng = np.random.default_rng(3)
    full = {}
    for run_id, n in zip(runs, sizes, strict=True):
        steps = np.arange(n)
        values = np.cumsum(rng.normal(size=n))
        full[run_id] = (steps, T0 + steps, values)
        write(client, run_id, steps, values)
    histories = client.get_metric_histories(runs, KEY, max_points=100)
    assert [len(histories[r]) for r in runs][0] == 10  # under max_points: whole
    for run_id in runs:
        assert len(histories[run_id]) <= 100
        assert_same(histories[run_id], reference(full[run_id], 100))


def test_downsampling_applies_to_the_step_range(client, experiment_id):
    run_id = new_run(client, experiment_id)
    steps = np.arange(5000)
    values = np.random.default_rng(4).normal(size=5000)
    values[3000] = 99.0
    write(client, run_id, steps, values)
    inside = (steps >= 1000) & (steps <= 3999)
    history = client.get_metric_histories(
        [run_id], KEY, max_points=40, start_step=1000, end_step=3999
    )[run_id]
    assert history.steps[0] == 1000 and history.steps[-1] == 3999 and 3000 in history.steps
    assert_same(history, reference((steps[inside], T0 + steps[inside], values[inside]), 40))


DATA_KINDS = ("normal", "ties", "nan", "special")


def random_values(rng, kind: str, n: int) -> np.ndarray:
    if kind == "normal":
        return rng.normal(size=n)
    if kind == "ties":  # many equal lows and highs: the earliest is kept
        return rng.integers(0, 3, size=n).astype(float)
    if kind == "nan":
        values = rng.normal(size=n)
        values[rng.random(n) < 0.3] = np.nan
        return values
    return rng.choice([np.nan, np.inf, -np.inf, 0.0, 1.0, -1.0], size=n)


def test_downsampling_matches_reference_on_random_data(client, experiment_id):
    rng = np.random.default_rng(5)
    sizes = [1, 3, 4, 5, 9, 17, 100, 257, 1000, 4099, 10_007]
    full = {}
    for i, n in enumerate(sizes):
        run_id = new_run(client, experiment_id)
        steps = np.sort(rng.choice(10 * n, size=n, replace=False))  # gaps between steps
        values = random_values(rng, DATA_KINDS[i % len(DATA_KINDS)], n)
        full[run_id] = (steps, T0 + rng.integers(0, 10**6, size=n), values)
        add = client.metric_writer.add
        for s, t, v in zip(*full[run_id], strict=True):
            add(run_id, KEY, float(v), int(s), int(t))
    client.flush_metrics()
    run_ids = list(full)
    for max_points in (4, 5, 6, 7, 8, 11, 12, 50, 64, 99, 1000, 4096, 9999):
        histories = client.get_metric_histories(run_ids, KEY, max_points=max_points)
        assert list(histories) == run_ids
        for run_id, n in zip(run_ids, sizes, strict=True):
            history = histories[run_id]
            assert len(history) <= max_points, (n, max_points)
            expected = reference(full[run_id], max_points)
            try:
                assert_same(history, expected)
            except AssertionError as e:
                raise AssertionError(f"n={n} max_points={max_points}: {e}") from None


# -- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("max_points", [1, 2, 3, -1])
def test_max_points_under_four_is_invalid(client, experiment_id, max_points):
    run_id = new_run(client, experiment_id)
    with pytest.raises(InvalidArgumentError, match="max_points"):
        client.get_metric_histories([run_id], KEY, max_points=max_points)


def test_unknown_run_is_not_found(client, experiment_id):
    run_id = new_run(client, experiment_id)
    write(client, run_id, [0], [1.0])
    unknown = "0" * 32
    with pytest.raises(NotFoundError, match=unknown):
        client.get_metric_histories([run_id, unknown], KEY)
    with pytest.raises(NotFoundError):
        client.get_metric_histories([unknown], KEY, max_points=8)


def test_no_runs_is_invalid(client):
    with pytest.raises(InvalidArgumentError, match="run_ids"):
        client.get_metric_histories([], KEY)


def test_empty_key_is_invalid(client, experiment_id):
    with pytest.raises(InvalidArgumentError, match="metric_key"):
        client.get_metric_histories([new_run(client, experiment_id)], "")


def test_more_runs_than_the_server_limit_is_invalid(client, experiment_id):
    limit = client.get_server_info().limits["max_batch_history_runs"]
    assert limit > 0
    run_ids = [new_run(client, experiment_id) for _ in range(limit + 1)]
    write(client, run_ids[-1], [0], [1.0])
    histories = client.get_metric_histories(run_ids[:limit], KEY)  # at the limit: fine
    assert list(histories) == run_ids[:limit]
    assert all(len(h) == 0 for h in histories.values())
    with pytest.raises(InvalidArgumentError, match=str(limit)):
        client.get_metric_histories(run_ids, KEY)
    with pytest.raises(InvalidArgumentError, match=str(limit)):
        client.get_metric_histories(run_ids, KEY, max_points=100)


def test_repeated_run_id_is_rejected_or_read_once(client, experiment_id):
    run_id = new_run(client, experiment_id)
    write(client, run_id, range(3), [1.0, 2.0, 3.0])
    try:
        histories = client.get_metric_histories([run_id, run_id], KEY)
    except InvalidArgumentError:
        return
    assert histories == {run_id: MetricHistory([0, 1, 2], [1.0, 2.0, 3.0], [T0, T0 + 1, T0 + 2])}
