"""Reads everything an MLflow tracking server holds through MLflow's own client (run in
MLflow's venv) and writes it as JSON, for comparing with what an import copied.

Usage: python mlflow_dump.py TRACKING_URI OUT.json [THREADS]
`history_seconds` in the output is the time MlflowClient.get_metric_history took for
every history (the benchmark's reference rate, when THREADS is 1, the default; more
threads read the runs' histories in parallel, to be quick).
"""

import hashlib
import json
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

warnings.filterwarnings("ignore")


def files(client, run_id, path=None):
    for f in client.list_artifacts(run_id, path):
        if f.is_dir:
            yield from files(client, run_id, f.path)
        else:
            yield f.path


def main() -> None:
    uri, out = sys.argv[1], sys.argv[2]
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    dump = {"experiments": [], "runs": [], "models": [], "history_seconds": 0.0, "points": 0}
    experiments = client.search_experiments(view_type=ViewType.ALL, max_results=1000)
    for e in experiments:
        dump["experiments"].append(
            {
                "id": e.experiment_id,
                "name": e.name,
                "stage": e.lifecycle_stage,
                "tags": e.tags,
                "creation_time": e.creation_time,
            }
        )
        runs = client.search_runs([e.experiment_id], run_view_type=ViewType.ALL, max_results=1000)

        def read(r, e=e):
            info = r.info
            histories, seconds, count = {}, 0.0, 0
            for key in sorted(r.data.metrics):
                started = time.perf_counter()
                points = client.get_metric_history(info.run_id, key)
                seconds += time.perf_counter() - started
                count += len(points)
                histories[key] = [(m.step, m.timestamp, m.value) for m in points]
            artifacts = {}
            with tempfile_dir() as tmp:
                for path in files(client, info.run_id):
                    local = client.download_artifacts(info.run_id, path, tmp)
                    with open(local, "rb") as f:
                        artifacts[path] = hashlib.sha256(f.read()).hexdigest()
            return (
                seconds,
                count,
                {
                    "run_id": info.run_id,
                    "experiment": e.name,
                    "run_name": info.run_name,
                    "user_id": info.user_id,
                    "status": info.status,
                    "start_time": info.start_time,
                    "end_time": info.end_time,
                    "stage": info.lifecycle_stage,
                    "params": r.data.params,
                    "tags": r.data.tags,
                    "latest": {k: list(v) for k, v in latest(r).items()},
                    "histories": histories,
                    "artifacts": artifacts,
                },
            )

        with ThreadPoolExecutor(threads) as pool:
            for seconds, count, run in pool.map(read, runs):
                dump["history_seconds"] += seconds
                dump["points"] += count
                dump["runs"].append(run)
    for m in client.search_registered_models(max_results=1000):
        versions = client.search_model_versions(f"name = '{m.name}'", max_results=1000)
        dump["models"].append(
            {
                "name": m.name,
                "description": m.description or "",
                "tags": m.tags,
                "aliases": {a: str(v) for a, v in m.aliases.items()},
                "creation_time": m.creation_timestamp,
                "versions": [
                    {
                        "version": str(v.version),
                        "description": v.description or "",
                        "tags": v.tags,
                        "stage": v.current_stage,
                        "run_id": v.run_id,
                        "source": v.source,
                        "status": v.status,
                        "user_id": v.user_id or "",
                        "creation_time": v.creation_timestamp,
                        "logged_model_files": logged_model_files(client, uri, v.source),
                    }
                    for v in versions
                ],
            }
        )
    with open(out, "w") as f:
        json.dump(dump, f)


def logged_model_files(client, uri, source):
    """{path: sha256} of an MLflow 3 logged model's files (a `models:/m-...` source)."""
    if not source.startswith("models:/"):
        return {}
    import os

    import mlflow.artifacts

    location = client.get_logged_model(source[len("models:/") :]).artifact_location
    digests = {}
    with tempfile_dir() as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=location, dst_path=tmp, tracking_uri=uri
        )
        for folder, _, names in os.walk(local):
            for name in names:
                path = os.path.join(folder, name)
                with open(path, "rb") as f:
                    key = os.path.relpath(path, local).replace(os.sep, "/")
                    digests[key] = hashlib.sha256(f.read()).hexdigest()
    return digests


def latest(run):
    # The latest point of each metric: MLflow's RunData.metrics holds only values.
    client_metrics = getattr(run.data, "_metric_objs", None) or []
    return {m.key: (m.step, m.timestamp, m.value) for m in client_metrics}


class tempfile_dir:
    def __enter__(self):
        import tempfile

        self._tmp = tempfile.TemporaryDirectory()
        return self._tmp.name

    def __exit__(self, *exc):
        self._tmp.cleanup()


if __name__ == "__main__":
    main()
