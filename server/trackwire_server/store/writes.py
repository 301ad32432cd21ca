"""What a write carries, checked against the limits before any transaction starts."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from trackwire_server.errors import InvalidArgument
from trackwire_server.limits import LIMITS
from trackwire_server.store.records import MetricRecord
from trackwire_server.store.validation import RUN_ID_PATTERN, check_key, check_length


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Batch:
    """Params, tags and metric points for one run, checked against the limits."""

    metrics: list[MetricRecord]
    params: dict[str, str]
    tags: dict[str, str]

    @classmethod
    def checked(
        cls,
        metrics: list[MetricRecord],
        params: dict[str, str] | list[tuple[str, str]],
        tags: dict[str, str] | list[tuple[str, str]],
        prefix: str = "",
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
        return cls(list(metrics), unique_params, dict(tags))

    def series(self) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The metric points as {key: (steps, timestamps, values)}; no timestamp means now."""
        ts = now_ms()
        by_key: dict[str, list[MetricRecord]] = {}
        for m in self.metrics:
            points = by_key.get(m.key)
            if points is None:
                points = by_key[m.key] = []
            points.append(m)
        series = {}
        for key, points in by_key.items():
            n = len(points)
            series[key] = (
                np.fromiter((m.step for m in points), dtype=np.int64, count=n),
                np.fromiter((m.timestamp or ts for m in points), dtype=np.int64, count=n),
                np.fromiter((m.value for m in points), dtype=np.float64, count=n),
            )
        return series


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
        check_length(f"{prefix}run_name", self.run_name, LIMITS.max_run_name_length)
        check_length(f"{prefix}user_id", self.user_id, LIMITS.max_key_length)
        if self.run_id and not RUN_ID_PATTERN.match(self.run_id):
            raise InvalidArgument(
                f"{prefix}run_id '{self.run_id[:64]}' is not 32 lowercase hex characters"
            )
        return self, Batch.checked(list(self.metrics), self.params, self.tags or {}, prefix)
