"""What a write carries, checked against the limits before any transaction starts."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from trackwire_server.errors import InvalidArgument
from trackwire_server.limits import LIMITS
from trackwire_server.store.records import MetricPointColumns, MetricRecord
from trackwire_server.store.validation import (
    check_key,
    check_length,
    check_printable,
    check_run_id,
)


def now_ms() -> int:
    return int(time.time() * 1000)


def slices(items: list, size: int) -> list[list]:
    """`items` in lists of at most `size` (peewee.chunked pads each group to `size` and pops
    the padding back off: 500 steps for a batch's one key)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


class WritableRun(NamedTuple):
    """What a write needs of the run it writes to (the run is locked and active)."""

    run_id: str
    experiment_id: int


@dataclass
class Batch:
    """Params, tags and metric points for one run, checked against the limits.

    The points come as records (`metrics`) and, after them, as checked columns
    (`column_series`: {key: (steps, timestamps, values)}, a timestamp 0 meaning now).
    """

    metrics: list[MetricRecord]
    params: dict[str, str]
    tags: dict[str, str]
    column_series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None

    @classmethod
    def checked(
        cls,
        metrics: list[MetricRecord],
        params: dict[str, str] | list[tuple[str, str]],
        tags: dict[str, str] | list[tuple[str, str]],
        prefix: str = "",
        columns: MetricPointColumns | None = None,
    ) -> Batch:
        """The batch, or InvalidArgument naming the field (after `prefix`, e.g. "requests[2].")."""
        params = list(params.items()) if isinstance(params, dict) else list(params)
        tags = list(tags.items()) if isinstance(tags, dict) else list(tags)
        for field, items, limit in (
            ("metrics", metrics, LIMITS.max_batch_metrics),
            ("params", params, LIMITS.max_batch_params),
            ("tags", tags, LIMITS.max_batch_tags),
        ):
            if len(items) > limit:
                raise InvalidArgument(
                    f"{prefix}{field} has {len(items)} entries; the limit is {limit}"
                )
        column_series = None
        if columns is not None:
            n = len(columns.values)
            if len(metrics) + n > LIMITS.max_batch_metrics:
                both = f"{prefix}metrics has {len(metrics)} entries and " if metrics else ""
                raise InvalidArgument(
                    f"{both}{prefix}metrics.values has {n}; the limit is "
                    f"{LIMITS.max_batch_metrics} points in all"
                )
            column_series = columns_series(columns, f"{prefix}metrics.") or None
        checked_keys = set()
        for i, m in enumerate(metrics):  # a batch repeats a few keys: check each once
            if m.key not in checked_keys:
                check_key(f"{prefix}metrics[{i}].key", m.key)
                checked_keys.add(m.key)
        unique_params: dict[str, str] = {}
        for i, (key, value) in enumerate(params):
            check_key(f"{prefix}params[{i}].key", key)
            check_length(f"{prefix}params[{i}].value", value, LIMITS.max_param_value_length)
            if unique_params.get(key, value) != value:
                raise InvalidArgument(
                    f"{prefix}params[{i}]: key '{key}' appears twice with different values"
                )
            unique_params[key] = value
        for i, (key, value) in enumerate(tags):
            check_key(f"{prefix}tags[{i}].key", key)
            check_length(f"{prefix}tags[{i}].value", value, LIMITS.max_tag_value_length)
        return cls(list(metrics), unique_params, dict(tags), column_series)

    @property
    def has_metrics(self) -> bool:
        return bool(self.metrics or self.column_series)

    def series(self) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The metric points as {key: (steps, timestamps, values)}, the records' points of
        a key before its columns' points; no timestamp (0) means now."""
        ts = now_ms()
        series = {}
        if self.metrics:
            n = len(self.metrics)
            key_numbers: dict[str, int] = {}
            index = np.fromiter(
                (key_numbers.setdefault(m.key, len(key_numbers)) for m in self.metrics),
                dtype=np.int64,
                count=n,
            )
            columns = (
                np.fromiter((m.step for m in self.metrics), dtype=np.int64, count=n),
                np.fromiter((m.timestamp or ts for m in self.metrics), dtype=np.int64, count=n),
                np.fromiter((m.value for m in self.metrics), dtype=np.float64, count=n),
            )
            parts = split_by_series(index, len(key_numbers), columns)
            series = dict(zip(key_numbers, parts, strict=True))
        for key, (steps, timestamps, values) in (self.column_series or {}).items():
            if not timestamps.all():
                timestamps = np.where(timestamps == 0, ts, timestamps)
            if key in series:
                steps, timestamps, values = (
                    np.concatenate((a, b))
                    for a, b in zip(series[key], (steps, timestamps, values), strict=True)
                )
            series[key] = (steps, timestamps, values)
        return series


Columns = tuple[np.ndarray, np.ndarray, np.ndarray]


def split_by_series(index: np.ndarray | None, count: int, columns: Columns) -> list[Columns | None]:
    """The one routine that splits metric point columns by series: part i holds the
    points whose `index` entry is i, in their order (None when there are none). `index`
    None (or `count` 1) puts every point in the one series. Entries of `index` must lie
    in [0, count)."""
    if index is None or count == 1:
        return [columns]
    order = np.argsort(index, kind="stable")
    bounds = np.searchsorted(index[order], np.arange(count + 1))
    parts: list[Columns | None] = []
    for i in range(count):
        part = order[bounds[i] : bounds[i + 1]]
        parts.append(tuple(column[part] for column in columns) if len(part) else None)
    return parts


def columns_series(
    columns: MetricPointColumns, prefix: str
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Checks columns of points and splits them by key: {key: (steps, timestamps, values)},
    each key's points in their order; InvalidArgument naming the field (after `prefix`)."""
    n = len(columns.values)
    keys = list(columns.keys)
    for name, column in (
        ("steps", columns.steps),
        ("timestamps_ms", columns.timestamps),
        ("key_index", columns.key_index),
    ):
        if len(column) not in (0, n):
            raise InvalidArgument(f"{prefix}{name} has {len(column)} entries; values has {n}")
    if n == 0:
        if keys:
            raise InvalidArgument(f"{prefix}keys has {len(keys)} entries but values is empty")
        return {}
    if not keys:
        raise InvalidArgument(f"{prefix}keys must name at least one key")
    if len(keys) > n:
        raise InvalidArgument(f"{prefix}keys has {len(keys)} entries; values has {n}")
    if len(columns.key_index) == 0 and len(keys) > 1:
        raise InvalidArgument(f"{prefix}key_index must have {n} entries: keys has {len(keys)}")
    seen = set()
    for i, key in enumerate(keys):
        check_key(f"{prefix}keys[{i}]", key)
        if key in seen:
            raise InvalidArgument(f"{prefix}keys[{i}] repeats '{key}'")
        seen.add(key)
    values = np.asarray(columns.values, dtype=np.float64)
    steps = (
        np.asarray(columns.steps, dtype=np.int64) if len(columns.steps) else np.zeros(n, np.int64)
    )
    timestamps = (
        np.asarray(columns.timestamps, dtype=np.int64)
        if len(columns.timestamps)
        else np.zeros(n, np.int64)
    )
    index = np.asarray(columns.key_index, dtype=np.int64) if len(columns.key_index) else None
    if index is not None and int(index.max()) >= len(keys):
        raise InvalidArgument(
            f"{prefix}key_index holds {int(index.max())}; keys has {len(keys)} entries"
        )
    parts = split_by_series(index, len(keys), (steps, timestamps, values))
    return {key: part for key, part in zip(keys, parts, strict=True) if part is not None}


@dataclass
class NewRun:
    """What a run is created with."""

    run_name: str = ""
    start_time: int | None = None
    tags: dict[str, str] | None = None
    parent_run_id: str = ""
    run_id: str = ""
    user_id: str = ""
    params: dict[str, str] | list[tuple[str, str]] = ()
    metrics: list[MetricRecord] = ()

    def checked(self, prefix: str = "") -> tuple[NewRun, Batch]:
        check_printable(f"{prefix}run_name", self.run_name, LIMITS.max_run_name_length)
        check_printable(f"{prefix}user_id", self.user_id, LIMITS.max_key_length)
        if self.run_id:
            check_run_id(f"{prefix}run_id", self.run_id)
        if self.parent_run_id:
            check_run_id(f"{prefix}parent_run_id", self.parent_run_id)
        return self, Batch.checked(list(self.metrics), self.params, self.tags or {}, prefix)
