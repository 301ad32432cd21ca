"""Metric points as the store keeps them: chunks, latest values, downsampling."""

from __future__ import annotations

import math

import numpy as np

from trackwire_server.store import metric_codec

_FINITE, _NAN, _POS_INF, _NEG_INF, _NEG_ZERO = 0, 1, 2, 3, 4
_DBL_MAX = 1.7976931348623157e308

# A key's points from a batch of fewer than MERGE_BATCHES_BELOW are appended to the key's
# last chunk while that holds fewer than MERGE_BELOW_POINTS: slow loggers don't cost a
# row per point. Larger batches make chunks of their own (re-encoding a growing chunk
# per batch cost more than the row saves).
MERGE_BATCHES_BELOW = 256
MERGE_BELOW_POINTS = 4096


def stored_value(value: float) -> tuple[float | None, int]:
    if math.isnan(value):
        return None, _NAN
    if math.isinf(value):
        return (_DBL_MAX, _POS_INF) if value > 0 else (-_DBL_MAX, _NEG_INF)
    if value == 0.0 and math.copysign(1.0, value) < 0:
        return 0.0, _NEG_ZERO  # SQLite and MySQL drop the sign of zero
    return value, _FINITE


def loaded_value(value: float | None, special: int) -> float:
    if special == _NAN:
        return math.nan
    if special == _POS_INF:
        return math.inf
    if special == _NEG_INF:
        return -math.inf
    if special == _NEG_ZERO:
        return -0.0
    return value


def downsample(
    steps: np.ndarray, timestamps: np.ndarray, values: np.ndarray, max_points: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keeps the first, last, lowest and highest point of each of max_points // 4 buckets
    of consecutive points, in their original order (NaN points count as neither)."""
    n = len(values)
    buckets = max(1, max_points // 4)
    bounds = np.linspace(0, n, buckets + 1).astype(np.int64)
    keep = np.zeros(n, dtype=bool)
    keep[bounds[:-1]] = True
    keep[bounds[1:] - 1] = True
    finite = np.where(np.isnan(values), np.inf, values)
    lowest = np.minimum.reduceat(finite, bounds[:-1])
    highest = np.maximum.reduceat(np.where(np.isnan(values), -np.inf, values), bounds[:-1])
    bucket_of = np.repeat(np.arange(buckets), np.diff(bounds))
    for extreme, column in (
        (lowest, finite),
        (highest, np.where(np.isnan(values), -np.inf, values)),
    ):
        hits = np.flatnonzero(column == extreme[bucket_of])
        # The first hit in each bucket.
        first = hits[np.unique(bucket_of[hits], return_index=True)[1]]
        keep[first] = True
    return steps[keep], timestamps[keep], values[keep]


def latest_point(steps: np.ndarray, timestamps: np.ndarray, values: np.ndarray) -> tuple:
    """(step, timestamp, value) of the latest point: highest step, then highest
    timestamp, then the last logged."""
    if len(steps) == 1:
        return int(steps[0]), int(timestamps[0]), float(values[0])
    at_max = np.flatnonzero(steps == steps.max())
    sub = timestamps[at_max]
    i = at_max[len(sub) - 1 - int(np.argmax(sub[::-1]))]
    return int(steps[i]), int(timestamps[i]), float(values[i])


def chunk_fields(steps: np.ndarray, timestamps: np.ndarray, values: np.ndarray) -> dict:
    return {
        "min_step": int(steps.min()),
        "max_step": int(steps.max()),
        "point_count": len(values),
        "data": metric_codec.encode(steps, timestamps, values),
    }


def latest_row(experiment_id: int, run_id: str, key: str, point: tuple) -> dict:
    step, ts, value = point
    stored, special = stored_value(value)
    return {
        "run_id": run_id,
        "key": key,
        "value": stored,
        "special": special,
        "step": step,
        "timestamp": ts,
        "experiment_id": experiment_id,
    }
