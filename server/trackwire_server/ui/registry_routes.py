"""The UI's registry API: models, their versions and stage changes, as JSON, through the
public ModelRegistryService."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trackwire.v1 import model_registry_service_pb2 as rpb
from trackwire.v1 import registered_model_pb2
from trackwire_server.ui.backend import ApiError, json_endpoint, millis, same_origin_json

STATUS_NAMES = {v: k for k, v in registered_model_pb2.ModelVersionStatus.items()}
# Stages as the UI shows them: MLflow's names ("Staging"), from the enum's.
STAGE_NAMES = {
    number: name.removeprefix("MODEL_VERSION_STAGE_").capitalize()
    for name, number in registered_model_pb2.ModelVersionStage.items()
    if number
}


def _stage_number(stage: str) -> int:
    """MLflow's stage name ("Staging", any case) as a ModelVersionStage."""
    for number, name in STAGE_NAMES.items():
        if stage.lower() == name.lower():
            return number
    raise ApiError(400, f"stage '{stage[:40]}' is not one of {', '.join(STAGE_NAMES.values())}")


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def version_json(v) -> dict:
    return {
        "name": v.name,
        "version": v.version,
        "current_stage": STAGE_NAMES.get(v.stage, ""),
        "description": v.description,
        "source": v.source,
        "run_id": v.run_id,
        "status": STATUS_NAMES.get(v.status, "").removeprefix("MODEL_VERSION_STATUS_"),
        "tags": {t.key: t.value for t in v.tags},
        "aliases": list(v.aliases),
        "user_id": v.user_id,
        "create_time": millis(v.create_time),
        "update_time": millis(v.update_time),
    }


def model_json(m) -> dict:
    return {
        "name": m.name,
        "description": m.description,
        "create_time": millis(m.create_time),
        "update_time": millis(m.update_time),
        "tags": {t.key: t.value for t in m.tags},
        "aliases": [{"alias": a.alias, "version": a.version} for a in m.aliases],
        "latest_versions": [version_json(v) for v in m.latest_versions],
    }


def registry_routes(backend) -> list[Route]:
    stub = backend.registry

    def search_models(request: Request) -> dict:
        text = request.query_params.get("q", "").strip()
        response = backend.call(
            stub.SearchRegisteredModels,
            rpb.SearchRegisteredModelsRequest(
                filter=f"name ILIKE {_quoted('%' + text + '%')}" if text else "",
                order_by=["last_updated_timestamp DESC"],
                page_size=500,
            ),
        )
        return {
            "models": [model_json(m) for m in response.registered_models],
            "more": bool(response.next_page_token),
        }

    def get_model(request: Request) -> dict:
        name = request.path_params["name"]
        model = backend.call(
            stub.GetRegisteredModel, rpb.GetRegisteredModelRequest(name=name)
        ).registered_model
        versions = backend.call(
            stub.SearchModelVersions,
            rpb.SearchModelVersionsRequest(
                filter=f"name = {_quoted(name)}",
                order_by=["version_number DESC"],
                page_size=1000,
            ),
        )
        return {
            "model": model_json(model),
            "versions": [version_json(v) for v in versions.model_versions],
        }

    def transition(request: Request, body: dict) -> dict:
        stage = body.get("stage")
        archive = body.get("archive_existing_versions", False)
        if not isinstance(stage, str) or not isinstance(archive, bool):
            raise ApiError(400, "stage must be a string and archive_existing_versions a boolean")
        response = backend.call(
            stub.TransitionModelVersionStage,
            rpb.TransitionModelVersionStageRequest(
                name=request.path_params["name"],
                version=request.path_params["version"],
                new_stage=_stage_number(stage),
                archive_existing_versions=archive,
            ),
        )
        return {"version": version_json(response.model_version)}

    async def stage_endpoint(request: Request) -> Response:
        body = await same_origin_json(request)
        if isinstance(body, Response):
            return body
        try:
            return JSONResponse(await run_in_threadpool(transition, request, body))
        except ApiError as e:
            return JSONResponse({"error": e.message}, status_code=e.status)

    return [
        Route("/api/models", json_endpoint(search_models)),
        Route("/api/models/{name}", json_endpoint(get_model)),
        Route("/api/models/{name}/versions/{version}/stage", stage_endpoint, methods=["PUT"]),
    ]
