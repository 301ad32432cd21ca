"""`trackwire.search_runs` and `trackwire.search_experiments`: every page, as a DataFrame or a list."""

from __future__ import annotations

from collections.abc import Sequence

from trackwire import errors
from trackwire.client import TrackwireClient
from trackwire.entities import STATUS_NAMES, Experiment, ViewType, runs_from_table
from trackwire.v1 import tracking_service_pb2

# Pages as large as the server allows: fewer round trips for big result sets.
_PAGE_SIZE = 50_000


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
    pages = []
    count = 0
    token = None
    while count < max_results:
        page = client.search_runs_page(
            experiment_ids or (),
            filter_string,
            run_view_type,
            min(_PAGE_SIZE, max_results - count),
            order_by,
            token,
            experiment_names=experiment_names or (),
            select=select,
        )
        pages.append(page)
        count += len(page.runs.run_ids)
        token = page.next_page_token
        if not token:
            break
    if output_format == "list":
        return [run for page in pages for run in runs_from_table(page.runs)]
    return _data_frame([page.runs for page in pages])


def _data_frame(tables: list[tracking_service_pb2.RunTable]):
    """MLflow's layout: run_id, experiment_id, status, artifact_uri, start_time, end_time,
    then metrics.*, params.*, tags.* (each sorted), one row per run in search order."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            "search_runs(output_format='pandas') needs pandas: pip install 'trackwire[pandas]'"
        ) from None
    info = {
        "run_id": [],
        "experiment_id": [],
        "status": [],
        "artifact_uri": [],
        "start_time": [],
        "end_time": [],
    }
    metrics: dict[str, list] = {}
    texts: dict[str, list] = {}
    rows = 0
    for table in tables:
        n = len(table.run_ids)
        info["run_id"] += table.run_ids
        info["experiment_id"] += table.experiment_ids
        info["status"] += [STATUS_NAMES.get(s, "UNKNOWN") for s in table.statuses]
        info["artifact_uri"] += table.artifact_uris
        info["start_time"] += table.start_times_ms
        info["end_time"] += [t or None for t in table.end_times_ms]
        for column in table.columns:
            full = all(column.present)
            if column.name.startswith("metrics."):
                cells = metrics.setdefault(column.name, [float("nan")] * rows)
                if full:
                    cells += column.numbers
                else:
                    cells += [
                        v if p else float("nan")
                        for v, p in zip(column.numbers, column.present, strict=True)
                    ]
            else:
                cells = texts.setdefault(column.name, [None] * rows)
                if full:
                    cells += column.strings
                else:
                    cells += [
                        v if p else None
                        for v, p in zip(column.strings, column.present, strict=True)
                    ]
        rows += n
        # Keys this page lacked: pad them.
        for columns, missing in ((metrics, float("nan")), (texts, None)):
            for cells in columns.values():
                cells += [missing] * (rows - len(cells))
    frame = pd.DataFrame(info)
    for name in ("start_time", "end_time"):
        frame[name] = pd.to_datetime(frame[name], unit="ms", utc=True)
    parts = [frame]
    # Metrics are floats (NaN where missing); params and tags objects (None where
    # missing, as in MLflow, rather than pandas' string dtype with NaN).
    if metrics:
        parts.append(
            pd.DataFrame(dict(sorted(metrics.items())), index=frame.index, dtype="float64")
        )
    for prefix in ("params.", "tags."):
        columns = {k: v for k, v in sorted(texts.items()) if k.startswith(prefix)}
        if columns:
            parts.append(pd.DataFrame(columns, index=frame.index, dtype=object))
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
