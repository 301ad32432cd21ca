"""The access table: every RPC the server serves, by full method name, and its rule
(see `rules`). An RPC that is not here is refused."""

from __future__ import annotations

from trackwire_server.auth.rules import (
    Admin,
    Filtered,
    OnExperiment,
    OnExperimentNamed,
    OnModel,
    OnResource,
    OnRun,
    OnVersionSource,
    Open,
    Rule,
    SelfOrAdmin,
    SignedIn,
    StampUser,
    TeamMemberOrAdmin,
    TokenOwnerOrAdmin,
    all_of,
)
from trackwire_server.store.grants import EDIT, MANAGE, READ, USE

_TRACKING = {
    "CreateExperiment": SignedIn(),  # the creator gets MANAGE on it
    "GetExperiment": OnExperiment("experiment_id", READ),
    "GetExperimentByName": OnExperimentNamed("name", READ),
    "SearchExperiments": Filtered(),
    "UpdateExperiment": OnExperiment("experiment_id", EDIT),
    "DeleteExperiment": OnExperiment("experiment_id", MANAGE),
    "RestoreExperiment": OnExperiment("experiment_id", MANAGE),
    "SetExperimentTag": OnExperiment("experiment_id", EDIT),
    "CreateRun": all_of(
        OnExperiment("experiment_id", USE),
        OnRun("parent_run_id", READ, optional=True),
        StampUser(("user_id",)),
    ),
    "BatchCreateRuns": all_of(
        OnExperiment("experiment_id", USE),
        OnExperiment("requests[].experiment_id", USE, optional=True),
        OnRun("requests[].parent_run_id", READ, optional=True),
        StampUser(("requests[].user_id",)),
    ),
    "GetRun": OnRun("run_id", READ),
    "UpdateRun": OnRun("run_id", USE),
    "DeleteRun": OnRun("run_id", EDIT),
    "RestoreRun": OnRun("run_id", EDIT),
    "SetRunTag": OnRun("run_id", USE),
    "DeleteRunTag": OnRun("run_id", USE),
    "LogBatch": OnRun("run_id", USE),
    "WriteMetrics": OnRun("run_id", USE, per_message=True),
    "ReadMetricHistory": OnRun("run_id", READ),
    "BatchReadMetricHistory": OnRun("run_ids[]", READ),
    "WatchMetrics": OnRun("run_ids[]", READ),
    "SearchRuns": Filtered(),
    # Removing deleted runs and experiments for good (`trackwire gc`).
    "PurgeRun": OnRun("run_id", MANAGE),
    "PurgeExperiment": OnExperiment("experiment_id", MANAGE),
    "GetServerInfo": SignedIn(),
}

_ARTIFACTS = {
    "UploadArtifact": OnRun("header.run_id", USE, per_message=True),
    "DownloadArtifact": OnRun("run_id", READ),
    "ListArtifacts": OnRun("run_id", READ),
    # Direct transfers: the level of the streamed equivalent, checked before any URL is made.
    "StartArtifactUpload": OnRun("run_id", USE),
    "CompleteArtifactUpload": OnRun("run_id", USE),
    "AbortArtifactUpload": OnRun("run_id", USE),
    "GetArtifactDownloadUrl": OnRun("run_id", READ),
}

_REGISTRY = {
    "CreateRegisteredModel": SignedIn(),  # the creator gets MANAGE on it
    "GetRegisteredModel": OnModel("name", READ),
    "RenameRegisteredModel": OnModel("name", MANAGE),
    "UpdateRegisteredModel": OnModel("name", EDIT),
    "DeleteRegisteredModel": OnModel("name", MANAGE),
    "SearchRegisteredModels": Filtered(),
    "SetRegisteredModelTag": OnModel("name", EDIT),
    "DeleteRegisteredModelTag": OnModel("name", EDIT),
    "CreateModelVersion": all_of(OnModel("name", EDIT), OnVersionSource(), StampUser(("user_id",))),
    "GetModelVersion": OnModel("name", READ),
    "UpdateModelVersion": OnModel("name", EDIT),
    "DeleteModelVersion": OnModel("name", EDIT),
    "SearchModelVersions": Filtered(),
    "GetLatestModelVersions": OnModel("name", READ),
    "TransitionModelVersionStage": OnModel("name", EDIT),
    "SetModelVersionTag": OnModel("name", USE),
    "DeleteModelVersionTag": OnModel("name", USE),
    "SetRegisteredModelAlias": OnModel("name", EDIT),
    "DeleteRegisteredModelAlias": OnModel("name", EDIT),
    "GetModelVersionByAlias": OnModel("name", READ),
    "GetModelVersionDownloadUri": OnModel("name", READ),
}

_AUTH = {
    "WhoAmI": SignedIn(),
    "SignIn": Open(),  # rate-limited per address (servicers/auth.py)
    "CreateUser": Admin(),
    "GetUser": SelfOrAdmin("name"),
    "ListUsers": Admin(),
    "UpdateUser": SelfOrAdmin("name", admin_fields=("admin", "disabled")),
    "DeleteUser": Admin(),
    "CreateApiToken": SelfOrAdmin("user_name"),
    "ListApiTokens": SelfOrAdmin("user_name"),
    "RevokeApiToken": TokenOwnerOrAdmin("token_id"),
    "CreateTeam": Admin(),
    "GetTeam": TeamMemberOrAdmin("name"),
    "ListTeams": Filtered(),
    "DeleteTeam": Admin(),
    "AddTeamMember": Admin(),
    "RemoveTeamMember": Admin(),
    "SetPermission": OnResource("grant.resource", MANAGE),
    "DeletePermission": OnResource("resource", MANAGE),
    "ListPermissions": OnResource("resource", MANAGE),
    "GetEffectivePermission": OnResource("resource", READ),
}

# Load balancers and tools ask these without credentials; they reveal no data.
_INFRASTRUCTURE = {
    "/grpc.health.v1.Health/Check": Open(),
    "/grpc.health.v1.Health/Watch": Open(),
    "/grpc.health.v1.Health/List": Open(),  # the statuses Check answers, all at once
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": Open(),
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": Open(),
}


def _service(name: str, methods: dict[str, Rule]) -> dict[str, Rule]:
    return {f"/trackwire.v1.{name}/{method}": rule for method, rule in methods.items()}


RULES: dict[str, Rule] = {
    **_service("TrackingService", _TRACKING),
    **_service("ArtifactService", _ARTIFACTS),
    **_service("ModelRegistryService", _REGISTRY),
    **_service("AuthService", _AUTH),
    **_INFRASTRUCTURE,
}
