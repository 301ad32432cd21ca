"""Reading an MLflow tracking database (SQLite, PostgreSQL, MySQL) and its artifact root.

Read-only SQL over MLflow's schema (mlflow/store/tracking/dbmodels/models.py and
mlflow/store/model_registry/dbmodels/models.py): experiments, runs, params, tags,
metrics, registered models, versions, their tags and aliases. Artifacts are files under
the runs' artifact URIs: `mlflow-artifacts:/<path>` (a server that proxied them) is
`<path>` under the artifact root given; any other URI is opened with fsspec as it is.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterator

import fsspec
import peewee
from peewee import SqliteDatabase
from playhouse.db_url import connect

from trackwire.importing.mlflow_source import (
    SourceArtifact,
    SourceError,
    SourceExperiment,
    SourceHistory,
    SourceModelVersion,
    SourceRegisteredModel,
    SourceRun,
    sorted_history,
)

# MLflow marks a deleted model version with this stage and keeps the row.
DELETED_VERSION_STAGE = "Deleted_Internal"
# Queries that only MLflow's schema answers (a Trackwire database has `experiments` too).
PROBES = [
    "SELECT experiment_id, lifecycle_stage FROM experiments WHERE 1 = 0",
    "SELECT run_uuid, artifact_uri FROM runs WHERE 1 = 0",
    "SELECT run_uuid, is_nan FROM metrics WHERE 1 = 0",
    "SELECT run_uuid, is_nan FROM latest_metrics WHERE 1 = 0",
]


def _open(url: str):
    """A peewee database for an SQLAlchemy-style URL (`postgresql+psycopg2://` too);
    SQLite is opened read-only."""
    url = re.sub(r"^([a-z]+)\+[a-z0-9_]+://", r"\1://", url)
    if url.startswith("sqlite:///"):
        return SqliteDatabase(f"file:{url[len('sqlite:///') :]}?mode=ro", uri=True)
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    return connect(url)


class MlflowDatabaseSource:
    """An MLflow tracking database plus the artifact root its server wrote to."""

    def __init__(self, db_url: str, artifact_root: str | None):
        self.db = _open(db_url)
        self.artifact_root = (artifact_root or "").rstrip("/")
        self._key = self.db.quote[0] + "key" + self.db.quote[1]
        self.description = f"MLflow database {re.sub(r'//[^@/]*@', '//***@', db_url)}"
        try:
            self.db.connect(reuse_if_open=True)
            for probe in PROBES:
                self._query(probe)
        except SourceError as e:
            raise SourceError(f"{self.description} cannot be read as MLflow's: {e}") from e
        except Exception as e:  # a driver's connection errors
            raise SourceError(f"{self.description} cannot be read as MLflow's: {e}") from e

    def _query(self, sql: str, params=()) -> list[tuple]:
        try:
            return list(self.db.execute_sql(sql, params).fetchall())
        except peewee.DatabaseError as e:
            raise SourceError(f"{self.description}: {e}") from e

    def _placeholder(self) -> str:
        return self.db.param

    def experiments(self) -> list[SourceExperiment]:
        tags = defaultdict(dict)
        for key, value, experiment_id in self._query(
            f"SELECT {self._key}, value, experiment_id FROM experiment_tags"
        ):
            tags[str(experiment_id)][key] = value or ""
        return [
            SourceExperiment(str(i), name, stage or "active", tags[str(i)], location or "", created)
            for i, name, stage, location, created in self._query(
                "SELECT experiment_id, name, lifecycle_stage, artifact_location, creation_time "
                "FROM experiments ORDER BY experiment_id"
            )
        ]

    def runs(self, experiment_id: str) -> Iterator[SourceRun]:
        p = self._placeholder()
        rows = self._query(
            "SELECT run_uuid, name, user_id, status, start_time, end_time, lifecycle_stage,"
            f" artifact_uri FROM runs WHERE experiment_id = {p} ORDER BY start_time, run_uuid",
            (int(experiment_id),),
        )
        for run_id, name, user, status, start, end, stage, uri in rows:
            run = SourceRun(
                run_id, experiment_id, name or "", user or "", status or "RUNNING",
                start, end, stage or "active", uri or "",
            )  # fmt: skip
            for table, target in (("params", run.params), ("tags", run.tags)):
                for key, value in self._query(
                    f"SELECT {self._key}, value FROM {table} WHERE run_uuid = {p}", (run_id,)
                ):
                    target[key] = value or ""
            for key, step, timestamp, value, nan in self._query(
                f"SELECT {self._key}, step, timestamp, value, is_nan FROM latest_metrics"
                f" WHERE run_uuid = {p}",
                (run_id,),
            ):
                run.latest[key] = (int(step), int(timestamp), math.nan if nan else float(value))
            run.metric_keys = [
                k
                for (k,) in self._query(
                    f"SELECT DISTINCT {self._key} FROM metrics WHERE run_uuid = {p} ORDER BY 1",
                    (run_id,),
                )
            ]
            yield run

    def metric_history(self, run_id: str, key: str) -> SourceHistory:
        p = self._placeholder()
        rows = self._query(
            "SELECT step, timestamp, value, is_nan FROM metrics"
            f" WHERE run_uuid = {p} AND {self._key} = {p}",
            (run_id, key),
        )
        return sorted_history(
            [(int(s), int(t), float("nan") if nan else float(v)) for s, t, v, nan in rows]
        )

    def _location(self, run: SourceRun) -> str:
        uri = run.artifact_uri
        prefix = "mlflow-artifacts:"
        if uri.startswith(prefix):
            if not self.artifact_root:
                raise SourceError(
                    f"run {run.run_id} keeps its artifacts on the MLflow server ({uri}): "
                    "give the server's artifact root with --artifact-root"
                )
            return self.artifact_root + "/" + uri[len(prefix) :].lstrip("/")
        return uri

    def run_artifact_uri(self, run_id: str) -> str:
        rows = self._query(
            f"SELECT artifact_uri FROM runs WHERE run_uuid = {self._placeholder()}", (run_id,)
        )
        return (rows[0][0] or "") if rows else ""

    def logged_model(self, model_id: str) -> SourceRun | None:
        """An MLflow 3 logged model's files, as a run without id whose artifact root is
        the model's; None when there is no such model (or no logged_models table)."""
        try:
            rows = self._query(
                "SELECT artifact_location FROM logged_models"
                f" WHERE model_id = {self._placeholder()}",
                (model_id,),
            )
        except SourceError:
            return None
        if not rows or not rows[0][0]:
            return None
        return SourceRun("", "", model_id, "", "", None, None, "active", rows[0][0])

    def artifacts(self, run: SourceRun) -> list[SourceArtifact]:
        location = self._location(run)
        fs, root = fsspec.core.url_to_fs(location)
        if not fs.exists(root):
            return []
        found = []
        for path, info in fs.find(root, detail=True).items():
            relative = path[len(root.rstrip("/")) + 1 :] if path != root else ""
            if relative:
                found.append(SourceArtifact(relative, int(info.get("size") or 0)))
        return sorted(found, key=lambda a: a.path)

    def read_artifact(self, run: SourceRun, path: str) -> bytes:
        with fsspec.open(self._location(run).rstrip("/") + "/" + path, "rb") as f:
            return f.read()

    def registered_models(self) -> list[SourceRegisteredModel]:
        models = {
            name: SourceRegisteredModel(name, description or "", creation_time=created)
            for name, description, created in self._query(
                "SELECT name, description, creation_time FROM registered_models ORDER BY name"
            )
        }
        for key, value, name in self._query(
            f"SELECT {self._key}, value, name FROM registered_model_tags"
        ):
            models[name].tags[key] = value or ""
        for alias, version, name in self._query(
            "SELECT alias, version, name FROM registered_model_aliases"
        ):
            models[name].aliases[alias] = int(version)
        version_tags = defaultdict(dict)
        for key, value, name, version in self._query(
            f"SELECT {self._key}, value, name, version FROM model_version_tags"
        ):
            version_tags[(name, int(version))][key] = value or ""
        p = self._placeholder()
        for name, version, description, user, stage, source, run_id, created in self._query(
            "SELECT name, version, description, user_id, current_stage, source, run_id,"
            " creation_time "
            f"FROM model_versions WHERE current_stage IS NULL OR current_stage != {p} "
            "ORDER BY name, version",
            (DELETED_VERSION_STAGE,),
        ):
            models[name].versions.append(
                SourceModelVersion(
                    name, int(version), source or "", run_id or "", description or "",
                    user or "", stage or "None", version_tags[(name, int(version))], created,
                )
            )  # fmt: skip
        return list(models.values())

    def close(self) -> None:
        self.db.close()
