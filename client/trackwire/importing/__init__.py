"""Importing other trackers' data into Trackwire (`trackwire import ...`).

- `mlflow_source`: the records an importer reads (experiments, runs, histories, models),
  and the reader of a running MLflow tracking server (its REST API);
- `mlflow_database`: the reader of an MLflow database plus its artifact root (SQL);
- `importer` / `registry_import`: writing them to Trackwire through its gRPC API,
  idempotently and resumably;
- `commands`: the `trackwire import` command line.
"""
