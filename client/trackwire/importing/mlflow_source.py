"""What an MLflow import reads, and reading it from a running MLflow tracking server.

A source gives plain records (the dataclasses below); the importer never sees MLflow's
own shapes. `MlflowRestSource` reads a tracking server through its REST API
(`/api/2.0/mlflow/...`, `/api/2.0/mlflow-artifacts/...`): plain HTTP and JSON, no
`mlflow` package needed. `mlflow_database.MlflowDatabaseSource` reads its database.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

# MLflow's own page limits: runs per SearchRuns page, points per get-history page.
RUNS_PAGE = 1000
HISTORY_PAGE = 25_000
MODELS_PAGE = 1000


class SourceError(Exception):
    """The MLflow source cannot be read (unreachable, refused, not MLflow)."""


@dataclass
class SourceExperiment:
    experiment_id: str
    name: str
    lifecycle_stage: str  # "active" | "deleted"
    tags: dict[str, str] = field(default_factory=dict)
    artifact_location: str = ""
    creation_time: int | None = None


@dataclass
class SourceRun:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str  # MLflow's: RUNNING, SCHEDULED, FINISHED, FAILED, KILLED
    start_time: int | None
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metric_keys: list[str] = field(default_factory=list)
    # The latest point of each metric, (step, timestamp, value), when the source has it.
    latest: dict[str, tuple[int, int, float]] = field(default_factory=dict)


@dataclass
class SourceHistory:
    """One metric's points, sorted by (step, timestamp, value): the order Trackwire reads
    them back in, so that a history copied in chunks is always a prefix of the source."""

    steps: list[int]
    timestamps: list[int]
    values: list[float]

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class SourceArtifact:
    path: str  # relative to the run's artifact root, "/"-separated
    size: int


@dataclass
class SourceModelVersion:
    name: str
    version: int
    source: str
    run_id: str
    description: str = ""
    user_id: str = ""
    stage: str = "None"  # MLflow's: None, Staging, Production, Archived
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None


@dataclass
class SourceRegisteredModel:
    name: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    versions: list[SourceModelVersion] = field(default_factory=list)
    creation_time: int | None = None


def sorted_history(points: list[tuple[int, int, float]]) -> SourceHistory:
    """(step, timestamp, value) tuples as a SourceHistory in a stable order (NaN last)."""
    points.sort(key=lambda p: (p[0], p[1], math.isnan(p[2]), 0.0 if math.isnan(p[2]) else p[2]))
    return SourceHistory(
        [p[0] for p in points], [p[1] for p in points], [float(p[2]) for p in points]
    )


def _number(value) -> float:
    """A JSON metric value: protobuf's JSON writes NaN and the infinities as strings."""
    return float(value)


def _ms(value) -> int | None:
    """A JSON time in milliseconds (int64 fields come as strings or numbers), or None."""
    return int(value) if value not in (None, "") else None


class MlflowRestSource:
    """A running MLflow tracking server, read through its REST API."""

    def __init__(self, url: str, timeout: float = 120.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.description = f"MLflow server {self.url}"

    def _get(self, path: str, params: dict | None = None) -> dict:
        query = "?" + urllib.parse.urlencode(params, doseq=True) if params else ""
        return json.loads(self._fetch(f"{self.url}{path}{query}"))

    def _post(self, path: str, body: dict) -> dict:
        return json.loads(self._fetch(f"{self.url}{path}", json.dumps(body).encode()))

    def _fetch(self, url: str, data: bytes | None = None) -> bytes:
        request = urllib.request.Request(url, data=data)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as e:
            detail = e.read()[:300].decode(errors="replace")
            raise SourceError(f"{url.split('?')[0]}: HTTP {e.code}: {detail}") from e
        except (urllib.error.URLError, OSError) as e:
            raise SourceError(f"{self.url} cannot be reached: {e}") from e

    def experiments(self) -> list[SourceExperiment]:
        found, token = [], None
        while True:
            body = {"max_results": 1000, "view_type": "ALL"}
            if token:
                body["page_token"] = token
            page = self._post("/api/2.0/mlflow/experiments/search", body)
            for e in page.get("experiments", []):
                found.append(
                    SourceExperiment(
                        e["experiment_id"],
                        e["name"],
                        e.get("lifecycle_stage", "active"),
                        {t["key"]: t.get("value", "") for t in e.get("tags", [])},
                        e.get("artifact_location", ""),
                        _ms(e.get("creation_time")),
                    )
                )
            token = page.get("next_page_token")
            if not token:
                return sorted(found, key=lambda e: int(e.experiment_id))

    def runs(self, experiment_id: str) -> Iterator[SourceRun]:
        token = None
        while True:
            body = {
                "experiment_ids": [experiment_id],
                "run_view_type": "ALL",
                "max_results": RUNS_PAGE,
                "order_by": ["attributes.start_time ASC"],
            }
            if token:
                body["page_token"] = token
            page = self._post("/api/2.0/mlflow/runs/search", body)
            for r in page.get("runs", []):
                yield _run_from_json(r)
            token = page.get("next_page_token")
            if not token:
                return

    def metric_history(self, run_id: str, key: str) -> SourceHistory:
        points, token = [], None
        while True:
            params = {"run_id": run_id, "metric_key": key, "max_results": HISTORY_PAGE}
            if token:
                params["page_token"] = token
            page = self._get("/api/2.0/mlflow/metrics/get-history", params)
            points.extend(
                (int(m.get("step", 0)), int(m.get("timestamp", 0)), _number(m["value"]))
                for m in page.get("metrics", [])
            )
            token = page.get("next_page_token")
            if not token:
                return sorted_history(points)

    def run_artifact_uri(self, run_id: str) -> str:
        try:
            run = self._get("/api/2.0/mlflow/runs/get", {"run_id": run_id})
        except SourceError:
            return ""
        return run.get("run", {}).get("info", {}).get("artifact_uri", "")

    def logged_model(self, model_id: str) -> SourceRun | None:
        """An MLflow 3 logged model's files, as a run without id whose artifact root is
        the model's; None when the server has no such model."""
        try:
            found = self._get(f"/api/2.0/mlflow/logged-models/{urllib.parse.quote(model_id)}")
        except SourceError:
            return None
        uri = found.get("model", {}).get("info", {}).get("artifact_uri", "")
        return SourceRun("", "", model_id, "", "", None, None, "active", uri) if uri else None

    def _proxied_files(self, run: SourceRun) -> list[SourceArtifact]:
        prefix = "mlflow-artifacts:/"
        if not run.artifact_uri.startswith(prefix):
            raise SourceError(f"{run.artifact_uri} is not served by the MLflow server")
        root = run.artifact_uri[len(prefix) :].strip("/")
        found, folders = [], [""]
        while folders:
            folder = folders.pop()
            location = f"{root}/{folder}".rstrip("/")
            page = self._get("/api/2.0/mlflow-artifacts/artifacts", {"path": location})
            for f in page.get("files", []):
                path = f"{folder}/{f['path']}".lstrip("/")
                if f.get("is_dir"):
                    folders.append(path)
                else:
                    found.append(SourceArtifact(path, int(f.get("file_size", 0))))
        return sorted(found, key=lambda a: a.path)

    def artifacts(self, run: SourceRun) -> list[SourceArtifact]:
        if not run.run_id:  # a logged model
            return self._proxied_files(run)
        found, folders = [], [""]
        while folders:
            folder = folders.pop()
            params = {"run_id": run.run_id}
            if folder:
                params["path"] = folder
            page = self._get("/api/2.0/mlflow/artifacts/list", params)
            for f in page.get("files", []):
                if f.get("is_dir"):
                    folders.append(f["path"])
                else:
                    found.append(SourceArtifact(f["path"], int(f.get("file_size", 0))))
        return sorted(found, key=lambda a: a.path)

    def read_artifact(self, run: SourceRun, path: str) -> bytes:
        prefix = "mlflow-artifacts:/"
        if run.artifact_uri.startswith(prefix):
            # Proxied artifacts: the server's artifact API, under the run's folder.
            location = run.artifact_uri[len(prefix) :].strip("/") + "/" + path
            quoted = urllib.parse.quote(location)
            return self._fetch(f"{self.url}/api/2.0/mlflow-artifacts/artifacts/{quoted}")
        query = urllib.parse.urlencode({"run_id": run.run_id, "path": path})
        return self._fetch(f"{self.url}/get-artifact?{query}")

    def registered_models(self) -> list[SourceRegisteredModel]:
        models, token = [], None
        while True:
            params = {"max_results": MODELS_PAGE}
            if token:
                params["page_token"] = token
            page = self._get("/api/2.0/mlflow/registered-models/search", params)
            for m in page.get("registered_models", []):
                models.append(
                    SourceRegisteredModel(
                        m["name"],
                        m.get("description", ""),
                        {t["key"]: t.get("value", "") for t in m.get("tags", [])},
                        {a["alias"]: int(a["version"]) for a in m.get("aliases", [])},
                        creation_time=_ms(m.get("creation_timestamp")),
                    )
                )
            token = page.get("next_page_token")
            if not token:
                break
        for model in models:
            model.versions = self._versions(model.name)
        return sorted(models, key=lambda m: m.name)

    def _versions(self, name: str) -> list[SourceModelVersion]:
        versions, token = [], None
        quoted = name.replace("'", "\\'")
        while True:
            params = {"filter": f"name = '{quoted}'", "max_results": 10_000}
            if token:
                params["page_token"] = token
            page = self._get("/api/2.0/mlflow/model-versions/search", params)
            for v in page.get("model_versions", []):
                versions.append(
                    SourceModelVersion(
                        v["name"],
                        int(v["version"]),
                        v.get("source", ""),
                        v.get("run_id", ""),
                        v.get("description", ""),
                        v.get("user_id", ""),
                        v.get("current_stage", "None"),
                        {t["key"]: t.get("value", "") for t in v.get("tags", [])},
                        _ms(v.get("creation_timestamp")),
                    )
                )
            token = page.get("next_page_token")
            if not token:
                return sorted(versions, key=lambda v: v.version)

    def close(self) -> None:
        pass


def _run_from_json(r: dict) -> SourceRun:
    info, data = r["info"], r.get("data", {})
    end_time = info.get("end_time")
    return SourceRun(
        run_id=info.get("run_id") or info["run_uuid"],
        experiment_id=info["experiment_id"],
        run_name=info.get("run_name", ""),
        user_id=info.get("user_id", ""),
        status=info.get("status", "RUNNING"),
        start_time=int(info["start_time"]) if info.get("start_time") is not None else None,
        end_time=int(end_time) if end_time is not None else None,
        lifecycle_stage=info.get("lifecycle_stage", "active"),
        artifact_uri=info.get("artifact_uri", ""),
        params={p["key"]: p.get("value", "") for p in data.get("params", [])},
        tags={t["key"]: t.get("value", "") for t in data.get("tags", [])},
        metric_keys=sorted({m["key"] for m in data.get("metrics", [])}),
        latest={
            m["key"]: (int(m.get("step", 0)), int(m.get("timestamp", 0)), _number(m["value"]))
            for m in data.get("metrics", [])
        },
    )
