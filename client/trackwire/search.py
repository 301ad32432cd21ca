"""`trackwire.search_runs` and `trackwire.search_experiments`: every page, as a DataFrame or a list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trackwire import errors
from trackwire.client import TrackwireClient
from trackwire.entities import Experiment, Run, ViewType
from trackwire.v1 import run_pb2

# Pages as large as the server allows: fewer round trips for big result sets.
_PAGE_SIZE = 50_000
_STATUS_NAMES = {
    run_pb2.RUN_STATUS_RUNNING: "RUNNING",
    run_pb2.RUN_STATUS_SCHEDULED: "SCHEDULED",
    run_pb2.RUN_STATUS_FINISHED: "FINISHED",
    run_pb2.RUN_STATUS_FAILED: "FAILED",
    run_pb2.RUN_STATUS_KILLED: "KILLED",
}


def search_runs(
    client: TrackwireClient,
    experiment_ids: Sequence[str] | None,
    experiment_names: Sequence[str] | None,
    filter_string: str,
    run_view_type: int,
    max_results: int,
    order_by: Sequence[str] | None,
    output_format: str,
    select: Sequence[str] = (),
):
    if output_format not in ("pandas", "list"):
        raise errors.InvalidArgumentError(
            f"output_format must be 'pandas' or 'list', not {output_format!r}"
        )
    runs = []
    token = None
    while len(runs) < max_results:
        page = client._search_runs_page(
            experiment_ids or (),
            filter_string,
            run_view_type,
            min(_PAGE_SIZE, max_results - len(runs)),
            order_by,
            token,
            experiment_names or (),
            select,
        )
        runs.extend(page.runs)
        token = page.next_page_token
        if not token:
            break
    if output_format == "list":
        return [Run.from_proto(r) for r in runs]
    return _data_frame(runs)


def _data_frame(runs: list[run_pb2.Run]):
    """MLflow's layout: run_id, experiment_id, status, artifact_uri, start_time, end_time,
    then metrics.*, params.*, tags.* (sorted), one row per run in search order."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            "search_runs(output_format='pandas') needs pandas: pip install 'trackwire[pandas]'"
        ) from None
    info: dict[str, list[Any]] = {
        name: []
        for name in ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time")
    }
    data: dict[str, dict[int, Any]] = {}
    for row, run in enumerate(runs):
        i = run.info
        info["run_id"].append(i.run_id)
        info["experiment_id"].append(i.experiment_id)
        info["status"].append(_STATUS_NAMES.get(i.status, "UNKNOWN"))
        info["artifact_uri"].append(i.artifact_uri)
        info["start_time"].append(
            i.start_time.ToMilliseconds() if i.HasField("start_time") else None
        )
        info["end_time"].append(i.end_time.ToMilliseconds() if i.HasField("end_time") else None)
        for m in run.data.metrics:
            data.setdefault(f"metrics.{m.key}", {})[row] = m.value
        for p in run.data.params:
            data.setdefault(f"params.{p.key}", {})[row] = p.value
        for t in run.data.tags:
            data.setdefault(f"tags.{t.key}", {})[row] = t.value
    frame = pd.DataFrame(info)
    for name in ("start_time", "end_time"):
        frame[name] = pd.to_datetime(frame[name], unit="ms", utc=True)
    parts = [frame]
    # Metrics are floats (NaN where missing); params and tags objects (None where
    # missing, as in MLflow, rather than pandas' string dtype with NaN).
    for prefix, missing, dtype in (
        ("metrics.", float("nan"), "float64"),
        ("params.", None, object),
        ("tags.", None, object),
    ):
        columns = {
            name: [data[name].get(row, missing) for row in range(len(runs))]
            for name in sorted(c for c in data if c.startswith(prefix))
        }
        if columns:
            parts.append(pd.DataFrame(columns, index=frame.index, dtype=dtype))
    return pd.concat(parts, axis=1) if len(parts) > 1 else frame


def search_experiments(
    client: TrackwireClient,
    view_type: int,
    max_results: int | None,
    filter_string: str | None,
    order_by: Sequence[str] | None,
) -> list[Experiment]:
    experiments: list[Experiment] = []
    token = None
    limit = max_results if max_results is not None else float("inf")
    while len(experiments) < limit:
        page = client.search_experiments(
            view_type,
            int(min(_PAGE_SIZE, limit - len(experiments))),
            filter_string,
            order_by,
            token,
        )
        experiments.extend(page)
        token = page.token
        if not token:
            break
    return experiments


__all__ = ["ViewType", "search_experiments", "search_runs"]
