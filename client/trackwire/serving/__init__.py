"""Model serving: `trackwire models serve` and `trackwire models predict`.

- `served_model`: loads a model URI (a stage or alias resolved to its version) and,
  with --watch, follows it to a new version without dropping requests.
- `inputs` / `outputs`: MLflow's scoring protocol (request bodies in, predictions out).
- `scoring`: one prediction, with the signature enforced; refusals are 400s.
- `http_app`: the HTTP face (/invocations, /ping, /health, /version), an ASGI app.
- `grpc_service`: the gRPC face, trackwire.v1.PredictionService.
- `server`: runs both (uvicorn workers, graceful shutdown).
- `batch`: scoring a file.
- `commands`: the command line.
"""
