"""Rows the store upserts (INSERT ... ON CONFLICT / ON DUPLICATE KEY UPDATE), on every
database: a run's latest metric values move forward only, tags are overwritten."""

from __future__ import annotations

import math

import pytest

from trackwire import Metric


@pytest.fixture
def run_id(client):
    return client.create_run(client.create_experiment("upserts")).info.run_id


def test_the_latest_value_moves_forward_only(client, run_id):
    def latest():
        return client.get_run(run_id).data.metrics["m"]

    client.log_metric(run_id, "m", 1.0, timestamp=2000, step=5)
    client.log_metric(run_id, "m", 2.0, timestamp=1000, step=5)  # same step, older: kept
    assert latest() == 1.0
    client.log_metric(run_id, "m", math.nan, timestamp=2000, step=5)  # same step and time
    assert math.isnan(latest())
    client.log_metric(run_id, "m", 3.0, timestamp=9000, step=4)  # lower step, newer: kept
    assert math.isnan(latest())
    client.log_metric(run_id, "m", -0.0, timestamp=10, step=6)  # higher step, older: moves
    assert latest() == 0.0 and math.copysign(1.0, latest()) < 0
    client.log_metric(run_id, "m", math.inf, timestamp=11, step=6)  # same step, newer
    assert latest() == math.inf
    client.log_metric(run_id, "m", 4.0, timestamp=11, step=5)  # the step alone decides
    assert latest() == math.inf
    client.log_batch(  # several keys at once, some new, some stale, some newer
        run_id,
        metrics=[
            *[Metric(f"k{i}", float(i), 100, 1) for i in range(3)],
            Metric("m", 5.0, 12, 6),
        ],
    )
    client.log_batch(
        run_id,
        metrics=[
            Metric("k0", 10.0, 100, 0),
            Metric("k1", 11.0, 100, 2),
            Metric("k3", 13.0, 100, 0),
        ],
    )
    metrics = client.get_run(run_id).data.metrics
    assert metrics == {"m": 5.0, "k0": 0.0, "k1": 11.0, "k2": 2.0, "k3": 13.0}


def test_tags_are_overwritten(client, run_id):
    client.set_tag(run_id, "t", "a")
    client.log_batch(run_id, tags={"t": "b", "u": "c"})
    client.set_tag(run_id, "u", "d")
    tags = client.get_run(run_id).data.tags
    assert (tags["t"], tags["u"]) == ("b", "d")
