"""The UI's HTTP API: JSON views of the gRPC services, artifact bytes, and live metrics
as server-sent events. Every call goes through the public gRPC API of the server."""

from __future__ import annotations

import asyncio
import json
import math
import mimetypes
import pathlib
import posixpath
import threading
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from trackwire.v1 import artifact_service_pb2 as apb
from trackwire.v1 import run_pb2
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire_protocol.channel import Connection
from trackwire_protocol.enums import LIFECYCLE_STAGES, RUN_STATUSES
from trackwire_protocol.errors import TrackwireException
from trackwire_protocol.watch import WATCH_OVERFLOWED
from trackwire_server.ui.admin_routes import admin_routes
from trackwire_server.ui.auth_routes import auth_routes
from trackwire_server.ui.backend import (
    ApiError,
    Backend,
    json_endpoint,
    millis,
    same_origin_json,
)
from trackwire_server.ui.registry_routes import registry_routes
from trackwire_server.ui.sessions import SessionMiddleware, Sessions

STATIC = pathlib.Path(__file__).parent / "static"
NOTE_TAG = "trackwire.note.content"
# Points per run and metric a chart asks the server for (downsampled above it).
DEFAULT_CHART_POINTS = 2000
MAX_CHART_POINTS = 20_000
# Metric keys /api/metrics-logged-once looks at in one call; the lowest step there is.
MAX_COUNTED_KEYS = 100
MIN_STEP = -(2**63)
# Bytes of an artifact a preview reads.
MAX_PREVIEW_BYTES = 2 * 1024 * 1024
# Seconds between keep-alive comments on an idle event stream.
SSE_KEEPALIVE_SECONDS = 15.0
# Types a browser may render inline from an artifact; all others are text or a download.
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/svg+xml"}
TEXT_SUFFIXES = {".txt", ".log", ".csv", ".tsv", ".json", ".yaml", ".yml", ".md", ".py", ""}

# The pages load scripts from this origin only; an artifact can never run script.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
ARTIFACT_CSP = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"

NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def number(value: float) -> float | str:
    """A metric value for JSON: NaN and infinities as strings (JSON has none)."""
    return value if math.isfinite(value) else NON_FINITE[str(value)]


def chart_numbers(values) -> list[float | None]:
    """Values for a chart: non-finite points become gaps."""
    return [v if math.isfinite(v) else None for v in values]


def status_name(status: int) -> str:
    return RUN_STATUSES.get(status, "UNKNOWN")


def stage_name(stage: int) -> str:
    return LIFECYCLE_STAGES.get(stage, "active")


# -- JSON shapes ---------------------------------------------------------------


def experiment_json(e, run_count: int | None = None) -> dict:
    return {
        "experiment_id": e.experiment_id,
        "name": e.name,
        "artifact_location": e.artifact_location,
        "lifecycle_stage": stage_name(e.lifecycle_stage),
        "tags": {t.key: t.value for t in e.tags},
        "create_time": millis(e.create_time),
        "update_time": millis(e.update_time),
        "run_count": run_count,
    }


def run_json(r) -> dict:
    info = r.info
    return {
        "run_id": info.run_id,
        "experiment_id": info.experiment_id,
        "run_name": info.run_name,
        "status": status_name(info.status),
        "start_time": millis(info.start_time),
        "end_time": millis(info.end_time),
        "artifact_uri": info.artifact_uri,
        "lifecycle_stage": stage_name(info.lifecycle_stage),
        "parent_run_id": info.parent_run_id,
        "user_id": info.user_id,
        "params": {p.key: p.value for p in r.data.params},
        "tags": {t.key: t.value for t in r.data.tags},
        "metrics": {
            m.key: {"value": number(m.value), "step": m.step, "timestamp": m.timestamp_ms}
            for m in r.data.metrics
        },
    }


def table_json(table) -> dict:
    columns = {}
    for c in table.columns:
        if c.name.startswith("metrics."):
            cells = [number(v) if p else None for v, p in zip(c.numbers, c.present, strict=True)]
        else:
            cells = [v if p else None for v, p in zip(c.strings, c.present, strict=True)]
        columns[c.name] = cells
    return {
        "run_ids": list(table.run_ids),
        "run_names": list(table.run_names),
        "statuses": [status_name(s) for s in table.statuses],
        "start_times": list(table.start_times_ms),
        "end_times": [t or None for t in table.end_times_ms],
        "columns": columns,
    }


# -- handlers ------------------------------------------------------------------


def _query_list(request: Request, name: str) -> list[str]:
    values = []
    for raw in request.query_params.getlist(name):
        values += [v for v in raw.split(",") if v]
    return values


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ApiError(400, f"{name} must be between {lo} and {hi}")
    return value


def create_app(connection: Connection, https: bool = False) -> Starlette:
    """The UI's app, calling the services on `connection` (it closes it on `state.close`);
    `https`: it is served over HTTPS (the session cookie is then Secure)."""
    backend = Backend(connection)
    sessions = Sessions(connection, https)

    def search_experiments(request: Request) -> dict:
        text = request.query_params.get("q", "").strip()
        escaped = text.replace("\\", "\\\\").replace("'", "\\'")
        filter_ = f"name ILIKE '%{escaped}%'" if text else ""
        response = backend.call(
            backend.tracking.SearchExperiments,
            pb.SearchExperimentsRequest(
                filter=filter_, page_size=200, order_by=["last_update_time DESC"]
            ),
        )
        result = []
        for e in response.experiments:
            counted = backend.call(
                backend.tracking.SearchRuns,
                pb.SearchRunsRequest(
                    experiment_ids=[e.experiment_id],
                    page_size=1,
                    select=["tags.trackwire.runName"],
                    include_total_count=True,
                ),
            )
            result.append(experiment_json(e, counted.total_count))
        return {"experiments": result, "more": bool(response.next_page_token)}

    def get_experiment(request: Request) -> dict:
        response = backend.call(
            backend.tracking.GetExperiment,
            pb.GetExperimentRequest(experiment_id=request.path_params["experiment_id"]),
        )
        return {"experiment": experiment_json(response.experiment)}

    def search_runs(request: Request) -> dict:
        response = backend.call(
            backend.tracking.SearchRuns,
            pb.SearchRunsRequest(
                experiment_ids=_query_list(request, "experiment_ids"),
                filter=request.query_params.get("filter", ""),
                order_by=[o for o in request.query_params.getlist("order_by") if o],
                page_size=_int_param(request, "page_size", 100, 1, 50_000),
                page_token=request.query_params.get("page_token", ""),
                select=_query_list(request, "select"),
                include_total_count=True,
            ),
        )
        return {
            "table": table_json(response.runs),
            "next_page_token": response.next_page_token,
            "total_count": response.total_count,
        }

    def get_runs(request: Request) -> dict:
        run_ids = _query_list(request, "run_ids")
        if not 1 <= len(run_ids) <= 100:
            raise ApiError(400, "run_ids must name 1 to 100 runs")
        runs = [
            run_json(backend.call(backend.tracking.GetRun, pb.GetRunRequest(run_id=r)).run)
            for r in run_ids
        ]
        return {"runs": runs}

    def get_run(request: Request) -> dict:
        response = backend.call(
            backend.tracking.GetRun, pb.GetRunRequest(run_id=request.path_params["run_id"])
        )
        return {"run": run_json(response.run)}

    def metric_histories(request: Request) -> dict:
        run_ids = _query_list(request, "run_ids")
        key = request.query_params.get("key", "")
        max_points = _int_param(request, "max_points", DEFAULT_CHART_POINTS, 4, MAX_CHART_POINTS)
        histories: dict[str, dict] = {
            r: {"steps": [], "timestamps": [], "values": [], "total_points": 0} for r in run_ids
        }
        for message in backend.stream(
            backend.tracking.BatchReadMetricHistory,
            pb.BatchReadMetricHistoryRequest(
                run_ids=run_ids, metric_key=key, max_points=max_points
            ),
        ):
            h = histories[message.run_id]
            h["steps"] += message.points.steps
            h["timestamps"] += message.points.timestamps_ms
            h["values"] += chart_numbers(message.points.values)
            h["total_points"] = max(h["total_points"], message.total_points)
        return {"key": key, "histories": [{"run_id": r, **h} for r, h in histories.items()]}

    def probe(run_ids: list[str], key: str, start: int | None, end: int) -> dict[str, int]:
        """Points of `key` per run with steps in [start, end]: read chunks of that range only."""
        counted = dict.fromkeys(run_ids, 0)
        request = pb.BatchReadMetricHistoryRequest(
            run_ids=run_ids, metric_key=key, start_step=start, end_step=end, max_points=4
        )
        for message in backend.stream(backend.tracking.BatchReadMetricHistory, request):
            counted[message.run_id] = max(counted[message.run_id], message.total_points)
        return counted

    def metrics_logged_once(request: Request) -> dict:
        """For each key and each run that has it, whether the run logged it once: the pages
        draw a metric with a history as a curve and a metric logged once as a value or bar.
        The latest point has the highest step L, so a run logged `key` once when it has one
        point in [L-1, L] and none before: two reads of few chunks, never a whole history
        (a history logged at every step is known from its last chunk)."""
        run_ids = _query_list(request, "run_ids")
        keys = set(_query_list(request, "keys"))
        if not 1 <= len(run_ids) <= 100:
            raise ApiError(400, "run_ids must name 1 to 100 runs")
        if len(keys) > MAX_COUNTED_KEYS:
            raise ApiError(400, f"keys must name at most {MAX_COUNTED_KEYS} metric keys")
        latest_steps: dict[str, dict[int, list[str]]] = {k: {} for k in keys}
        for run_id in run_ids:
            run = backend.call(backend.tracking.GetRun, pb.GetRunRequest(run_id=run_id)).run
            for m in run.data.metrics:
                if m.key in keys:
                    latest_steps[m.key].setdefault(m.step, []).append(run_id)
        result: dict[str, dict[str, bool]] = {}
        for key in sorted(keys):
            once = result[key] = {}
            for step, runs in latest_steps[key].items():
                at_end = probe(runs, key, max(step - 1, MIN_STEP), step)
                single = [r for r in runs if at_end[r] <= 1]
                before = (
                    probe(single, key, None, step - 2) if single and step - 2 >= MIN_STEP else {}
                )
                for r in runs:
                    once[r] = at_end[r] <= 1 and not before.get(r, 0)
        return {"logged_once": result}

    def list_artifacts(request: Request) -> dict:
        response = backend.call(
            backend.artifacts.ListArtifacts,
            apb.ListArtifactsRequest(
                run_id=request.path_params["run_id"], path=request.query_params.get("path", "")
            ),
        )
        return {
            "files": [
                {"path": f.path, "is_dir": f.is_dir, "file_size": f.file_size}
                for f in response.files
            ]
        }

    def set_note(request: Request, body: dict) -> dict:
        content = body.get("content")
        if not isinstance(content, str):
            raise ApiError(400, "content must be a string")
        run_id = request.path_params["run_id"]
        backend.call(
            backend.tracking.SetRunTag,
            pb.SetRunTagRequest(run_id=run_id, tag=run_pb2.RunTag(key=NOTE_TAG, value=content)),
        )
        return {"content": content}

    async def note_endpoint(request: Request) -> Response:
        body = await same_origin_json(request)
        if isinstance(body, Response):
            return body
        try:
            return JSONResponse(await run_in_threadpool(set_note, request, body))
        except ApiError as e:
            return JSONResponse({"error": e.message}, status_code=e.status)

    async def artifact(request: Request) -> Response:
        """One artifact's bytes, read through DownloadArtifact (which keeps paths inside the
        run's artifact root). `preview=1` reads at most MAX_PREVIEW_BYTES."""
        run_id = request.path_params["run_id"]
        path = request.query_params.get("path", "")
        preview = request.query_params.get("preview") == "1"
        messages = backend.stream(
            backend.artifacts.DownloadArtifact,
            apb.DownloadArtifactRequest(run_id=run_id, path=path),
        )

        def first():
            return next(messages, None)

        try:  # the first message (or the error) before the response starts
            head = await run_in_threadpool(first)
        except ApiError as e:
            return JSONResponse({"error": e.message}, status_code=e.status)
        name = posixpath.basename(path)
        guessed = mimetypes.guess_type(name)[0] or ""
        suffix = posixpath.splitext(name)[1].lower()
        if guessed in INLINE_TYPES:
            media_type = guessed
        elif guessed.startswith("text/") or suffix in TEXT_SUFFIXES or name == "MLmodel":
            media_type = "text/plain; charset=utf-8"
        else:
            media_type = "application/octet-stream"
        headers = {
            "Content-Security-Policy": ARTIFACT_CSP,
            "X-Content-Type-Options": "nosniff",
        }
        if request.query_params.get("download") == "1" or media_type == "application/octet-stream":
            quoted = name.replace('"', "").replace("\\", "")
            headers["Content-Disposition"] = f'attachment; filename="{quoted}"'

        async def body() -> AsyncIterator[bytes]:
            sent = 0
            message = head
            try:
                while message is not None:
                    data = message.data
                    if preview and sent + len(data) > MAX_PREVIEW_BYTES:
                        yield data[: MAX_PREVIEW_BYTES - sent]
                        return
                    sent += len(data)
                    yield data
                    message = await run_in_threadpool(first)
            finally:
                close = getattr(messages, "close", None)
                if close is not None:
                    close()

        return StreamingResponse(body(), media_type=media_type, headers=headers)

    async def live(request: Request) -> Response:
        """New metric points of some runs as server-sent events, relayed from WatchMetrics."""
        run_ids = _query_list(request, "run_ids")
        keys = _query_list(request, "keys")
        if not 1 <= len(run_ids) <= 100:
            return JSONResponse({"error": "run_ids must name 1 to 100 runs"}, status_code=400)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        watch = backend.watch(pb.WatchMetricsRequest(run_ids=run_ids, metric_keys=keys))

        def relay():
            try:
                for run_id, key, history in watch:
                    event = {
                        "run_id": run_id,
                        "key": key,
                        "steps": history.steps,
                        "timestamps": history.timestamps,
                        "values": chart_numbers(history.values),
                    }
                    loop.call_soon_threadsafe(queue.put_nowait, event)
            except TrackwireException as e:
                event = (
                    {"overflowed": True} if e.reason == WATCH_OVERFLOWED else {"error": e.message}
                )
                loop.call_soon_threadsafe(queue.put_nowait, event)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        # Answer only once the watch is live: a point committed after the page's event
        # stream opened is then always relayed.
        await run_in_threadpool(watch.wait_live, 10.0)
        threading.Thread(target=relay, name="trackwire-ui-live", daemon=True).start()

        async def events() -> AsyncIterator[str]:
            try:
                yield ": watching\n\n"
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), SSE_KEEPALIVE_SECONDS)
                    except asyncio.TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if event is None:
                        yield "event: end\ndata: {}\n\n"
                        return
                    yield f"data: {json.dumps(event)}\n\n"
            finally:
                backend.forget(watch)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_CSP})

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/favicon.ico", lambda request: Response(status_code=204)),
            Route("/api/experiments", json_endpoint(search_experiments)),
            Route("/api/experiments/{experiment_id}", json_endpoint(get_experiment)),
            Route("/api/runs", json_endpoint(get_runs)),
            Route("/api/search-runs", json_endpoint(search_runs)),
            Route("/api/runs/{run_id}", json_endpoint(get_run)),
            Route("/api/runs/{run_id}/note", note_endpoint, methods=["PUT"]),
            Route("/api/runs/{run_id}/artifacts", json_endpoint(list_artifacts)),
            Route("/api/runs/{run_id}/artifact", artifact),
            Route("/api/metric-histories", json_endpoint(metric_histories)),
            Route("/api/metrics-logged-once", json_endpoint(metrics_logged_once)),
            Route("/api/live", live),
            *registry_routes(backend),
            *auth_routes(backend, sessions),
            *admin_routes(backend, sessions),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(SessionMiddleware, sessions=sessions)],
    )
    app.state.close = backend.close
    return app
