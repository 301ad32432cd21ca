"""Packing metric points into chunks: the on-disk layout of metric history.

A chunk holds the points of one (run, key) written in one batch, as columns:
steps and timestamps delta-encoded and zlib-compressed (training steps and
clocks advance regularly, so they shrink to almost nothing), values as raw
little-endian float64 (bit-exact, NaN and the infinities included). A point
costs about 8 bytes on disk instead of a row per point.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

_FORMAT_VERSION = 1
_HEADER = struct.Struct("<BII")  # version, point count, compressed index length


def encode(steps: np.ndarray, timestamps: np.ndarray, values: np.ndarray) -> bytes:
    """Packs equal-length int64 steps, int64 timestamps (ms) and float64 values."""
    n = len(values)
    if n == 1:  # common (a run created with its final metrics); numpy costs more than it saves
        index = zlib.compress(struct.pack("<2q", int(steps[0]), int(timestamps[0])), 1)
    else:
        deltas = np.empty(2 * n, dtype="<i8")
        deltas[:n] = np.diff(steps, prepend=0)
        deltas[n:] = np.diff(timestamps, prepend=0)
        index = zlib.compress(deltas.tobytes(), 1)
    return b"".join(
        (_HEADER.pack(_FORMAT_VERSION, n, len(index)), index, values.astype("<f8").tobytes())
    )


def decode(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The inverse of `encode`: (steps, timestamps, values)."""
    version, n, index_len = _HEADER.unpack_from(data)
    if version != _FORMAT_VERSION:
        raise ValueError(f"unknown metric chunk format {version}")
    start = _HEADER.size
    deltas = np.frombuffer(zlib.decompress(data[start : start + index_len]), dtype="<i8")
    cumulative = np.cumsum(deltas.reshape(2, n), axis=1)
    values = np.frombuffer(data, dtype="<f8", count=n, offset=start + index_len)
    return cumulative[0], cumulative[1], values
