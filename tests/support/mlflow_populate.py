"""Fills an MLflow tracking server through MLflow's own client (run in MLflow's venv).

Usage: python mlflow_populate.py TRACKING_URI RUNS POINTS
Writes 3 experiments, RUNS runs with params, tags and a POINTS-point history each,
artifacts, and 2 registered models with versions, stages, aliases, tags and
descriptions. Prints a JSON summary (the run ids) on stdout.
"""

import json
import math
import os
import sys
import tempfile
import warnings

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

warnings.filterwarnings("ignore")


def main() -> None:
    uri, runs, points = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    base = 1_700_000_000_000
    experiment_ids = [
        client.create_experiment(name, tags={"team": f"t{i}", "purpose": "import test"})
        for i, name in enumerate(["imp-alpha", "imp-beta", "imp-gamma"])
    ]
    statuses = ["FINISHED", "FINISHED", "FAILED", "KILLED", "FINISHED"]
    run_ids = []
    for i in range(runs):
        experiment_id = experiment_ids[i % 3]
        run = client.create_run(
            experiment_id,
            start_time=base + i * 1000,
            tags={"mlflow.user": f"user{i % 4}", "owner": f"o{i}", "kind": "sweep"},
            run_name=f"run-{i:02d}",
        )
        run_id = run.info.run_id
        run_ids.append(run_id)
        params = [Param(f"p{k}", f"value-{i}-{k}") for k in range(5)]
        tags = [RunTag("mlflow.note.content", f"# Run {i}\nnotes"), RunTag("index", str(i))]
        client.log_batch(run_id, params=params, tags=tags)
        for start in range(0, points, 1000):
            metrics = [
                Metric("loss", 1.0 / (s + 1) + i, base + i * 1000 + s, s)
                for s in range(start, min(points, start + 1000))
            ]
            client.log_batch(run_id, metrics=metrics)
        special = [math.nan, math.inf, -math.inf, 0.5]
        client.log_batch(
            run_id,
            metrics=[Metric("acc", v, base + k, k) for k, v in enumerate(special)]
            + [Metric("acc", 0.25, base + 9, 2)],  # a second point at step 2
        )
        client.log_text(run_id, f"run {i}\n", "notes/readme.txt")
        if i < 4:
            with tempfile.TemporaryDirectory() as tmp:
                with open(f"{tmp}/MLmodel", "w") as f:
                    f.write(f"flavors:\n  python_function:\n    run: {run_id}\n")
                with open(f"{tmp}/model.bin", "wb") as f:
                    f.write(bytes(range(256)) * (i + 1))
                client.log_artifacts(run_id, tmp, "model")
        if i % 7 != 6:  # a few runs are left RUNNING
            client.set_terminated(run_id, statuses[i % 5], end_time=base + i * 1000 + points)
    client.delete_run(run_ids[5])

    client.create_registered_model(
        "imp-model-a", tags={"domain": "churn"}, description="The churn model."
    )
    client.create_registered_model("imp-model-b", description="")
    client.set_registered_model_tag("imp-model-b", "domain", "fraud")
    versions = []
    for model, run_index, description in [
        ("imp-model-a", 0, "first"),
        ("imp-model-a", 1, "second"),
        ("imp-model-a", 2, ""),
        ("imp-model-b", 3, "b1"),
        ("imp-model-b", 0, "b2, deleted"),
        ("imp-model-b", 1, "b3"),
    ]:
        run_id = run_ids[run_index]
        version = client.create_model_version(
            model,
            f"runs:/{run_id}/model",
            run_id=run_id,
            tags={"validated": str(run_index % 2 == 0)},
            description=description,
        )
        versions.append((model, version.version))
    # An MLflow 3 logged model of a run, registered as version 4 of imp-model-a.
    logged = client.create_logged_model(
        experiment_id=experiment_ids[2 % 3], name="logged", source_run_id=run_ids[2]
    )
    with tempfile.TemporaryDirectory() as tmp:
        with open(f"{tmp}/MLmodel", "w") as f:
            f.write(f"model_id: {logged.model_id}\n")
        os.makedirs(f"{tmp}/data")
        with open(f"{tmp}/data/weights.bin", "wb") as f:
            f.write(bytes(range(200)))
        client.log_model_artifacts(logged.model_id, tmp)
    client.finalize_logged_model(logged.model_id, "READY")
    client.create_model_version(
        "imp-model-a",
        f"models:/{logged.model_id}",
        run_id=run_ids[2],
        tags={"kind": "logged model"},
        description="a logged model",
        model_id=logged.model_id,
    )
    client.transition_model_version_stage("imp-model-a", "1", "Archived")
    client.transition_model_version_stage("imp-model-a", "2", "Production")
    client.transition_model_version_stage("imp-model-a", "3", "Staging")
    client.transition_model_version_stage("imp-model-b", "3", "Production")
    client.delete_model_version("imp-model-b", "2")
    client.set_registered_model_alias("imp-model-a", "champion", "2")
    client.set_registered_model_alias("imp-model-a", "challenger", "3")
    client.set_registered_model_alias("imp-model-b", "live", "3")
    client.set_model_version_tag("imp-model-a", "2", "approved_by", "alice")
    print(json.dumps({"experiment_ids": experiment_ids, "run_ids": run_ids}))


if __name__ == "__main__":
    main()
