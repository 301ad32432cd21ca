"""The access matrix of tests/test_auth_table.py: for every RPC, a request built from the
fixtures (`AuthFixtures`), what kind of rule guards it and the level it needs.

Kinds: "open" (no token), "signed_in" (any token), "filtered" (any token; lists only what
the caller may read), "admin", "self" (the user the request names, or an admin),
"token_owner", "team_member", "resource" (a level on the experiment or registered model
the request names, directly or through a run or a model version).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from tests.support.auth_calls import (
    EDIT,
    MANAGE,
    READ,
    USE,
    AuthServer,
    bearer,
    principal,
    resource,
    unique,
)
from trackwire.v1 import artifact_service_pb2 as art
from trackwire.v1 import auth_service_pb2 as auth
from trackwire.v1 import experiment_pb2, identity_pb2, registered_model_pb2, run_pb2
from trackwire.v1 import model_registry_service_pb2 as reg
from trackwire.v1 import tracking_service_pb2 as tr

# The users of the matrix: one per level on E and M, one without any grant.
LEVEL_USERS = {READ: "reader", USE: "user", EDIT: "editor", MANAGE: "manager"}
PASSWORD = "a-long-enough-password"


class AuthFixtures:
    """Experiment E with run R (params, metrics, artifacts), registered model M with
    version 1 from R (alias "champion"), team T (member: reader); the users of
    LEVEL_USERS with their level on E and M, "nogrant" without grants, "signer" with a
    password, and each user's token in `tokens`."""

    def __init__(self, server: AuthServer):
        self.s = server
        self.admin_md = bearer(server.admin)
        self.tokens = {"admin": server.admin, "nogrant": server.user("nogrant")}
        for name in LEVEL_USERS.values():
            self.tokens[name] = server.user(name)
        server.user("signer", password=PASSWORD)
        server.user("bystander")
        self.experiment_name = unique("E")
        self.experiment_id = self.fresh_experiment(self.experiment_name)
        self.run_id = self.fresh_run()
        server.tracking.LogBatch(
            tr.LogBatchRequest(
                run_id=self.run_id,
                params=[run_pb2.Param(key="lr", value="0.1")],
                metrics=run_pb2.MetricPoints(keys=["loss"], values=[0.5], steps=[1]),
            ),
            metadata=self.admin_md,
        )
        for path in ("data/a.txt", "model/MLmodel"):
            self.upload(self.run_id, path, b"bytes of " + path.encode())
        self.model = self.fresh_model()
        self.team = unique("T")
        server.auth.CreateTeam(auth.CreateTeamRequest(name=self.team), metadata=self.admin_md)
        server.auth.AddTeamMember(
            auth.AddTeamMemberRequest(team_name=self.team, user_name="reader"),
            metadata=self.admin_md,
        )

    # -- resources made by the admin, with the level users' grants ---------------------

    def fresh_experiment(self, name: str | None = None) -> str:
        eid = self.s.tracking.CreateExperiment(
            tr.CreateExperimentRequest(name=name or unique("exp")), metadata=self.admin_md
        ).experiment.experiment_id
        for level, user in LEVEL_USERS.items():
            self.s.grant(level, experiment_id=eid, user=user)
        return eid

    def fresh_run(self) -> str:
        return self.s.tracking.CreateRun(
            tr.CreateRunRequest(experiment_id=self.experiment_id), metadata=self.admin_md
        ).run.info.run_id

    def fresh_model(self) -> str:
        name = unique("M")
        self.s.registry.CreateRegisteredModel(
            reg.CreateRegisteredModelRequest(name=name), metadata=self.admin_md
        )
        for level, user in LEVEL_USERS.items():
            self.s.grant(level, model=name, user=user)
        self.fresh_version(name)
        self.s.registry.SetRegisteredModelAlias(
            reg.SetRegisteredModelAliasRequest(name=name, alias="champion", version="1"),
            metadata=self.admin_md,
        )
        return name

    def fresh_version(self, model: str) -> str:
        return self.s.registry.CreateModelVersion(
            reg.CreateModelVersionRequest(
                name=model, source=f"runs:/{self.run_id}/model", run_id=self.run_id
            ),
            metadata=self.admin_md,
        ).model_version.version

    def upload(self, run_id: str, path: str, data: bytes, md=None):
        return self.s.artifacts.UploadArtifact(
            iter(upload_messages(run_id, path, data)), metadata=md or self.admin_md
        )

    def fresh_token_id(self, user: str) -> int:
        return self.s.auth.CreateApiToken(
            auth.CreateApiTokenRequest(user_name=user), metadata=self.admin_md
        ).token.token_id

    def fresh_team(self, member: str | None = None) -> str:
        name = unique("team")
        self.s.auth.CreateTeam(auth.CreateTeamRequest(name=name), metadata=self.admin_md)
        if member:
            self.s.auth.AddTeamMember(
                auth.AddTeamMemberRequest(team_name=name, user_name=member),
                metadata=self.admin_md,
            )
        return name

    def bystander_grant(self) -> identity_pb2.PermissionGrant:
        """A grant on E of a user outside the matrix, set by the admin."""
        self.s.grant(READ, experiment_id=self.experiment_id, user="bystander")
        return identity_pb2.PermissionGrant(
            resource=resource(self.experiment_id),
            principal=principal("bystander"),
            level=READ,
        )


def upload_messages(run_id: str, path: str, data: bytes) -> list:
    return [
        art.UploadArtifactRequest(header=art.UploadArtifactHeader(run_id=run_id, path=path)),
        art.UploadArtifactRequest(data=data),
    ]


@dataclass(frozen=True)
class Case:
    method: str  # "TrackingService/GetRun"
    kind: str
    make: Callable  # (fixtures, actor user name) -> request (a list for a client stream)
    level: int = 0
    # For "filtered": whether an answer shows E, R or M (given the fixtures).
    shows: Callable | None = None
    # For "resource": the status a caller with `level` gets (OK unless the call cannot
    # succeed on the matrix's server, e.g. completing a direct upload on a local root).
    allowed: str = "OK"

    @property
    def full_name(self) -> str:
        service = self.method.split("/")[0]
        prefix = "trackwire.v1" if "." not in service else ""
        return f"/{prefix}.{self.method}" if prefix else f"/{self.method}"


def _deleted_experiment(f):
    eid = f.fresh_experiment()
    f.s.tracking.DeleteExperiment(
        tr.DeleteExperimentRequest(experiment_id=eid), metadata=f.admin_md
    )
    return eid


def _deleted_run(f):
    rid = f.fresh_run()
    f.s.tracking.DeleteRun(tr.DeleteRunRequest(run_id=rid), metadata=f.admin_md)
    return rid


def _run_tagged(f):
    f.s.tracking.SetRunTag(
        tr.SetRunTagRequest(run_id=f.run_id, tag=run_pb2.RunTag(key="gone", value="v")),
        metadata=f.admin_md,
    )
    return tr.DeleteRunTagRequest(run_id=f.run_id, key="gone")


def _model_tagged(f):
    f.s.registry.SetRegisteredModelTag(
        reg.SetRegisteredModelTagRequest(
            name=f.model, tag=registered_model_pb2.RegisteredModelTag(key="gone", value="v")
        ),
        metadata=f.admin_md,
    )
    return reg.DeleteRegisteredModelTagRequest(name=f.model, key="gone")


def _version_tagged(f):
    f.s.registry.SetModelVersionTag(
        reg.SetModelVersionTagRequest(
            name=f.model,
            version="1",
            tag=registered_model_pb2.ModelVersionTag(key="gone", value="v"),
        ),
        metadata=f.admin_md,
    )
    return reg.DeleteModelVersionTagRequest(name=f.model, version="1", key="gone")


def _aliased(f):
    f.s.registry.SetRegisteredModelAlias(
        reg.SetRegisteredModelAliasRequest(name=f.model, alias="gone", version="1"),
        metadata=f.admin_md,
    )
    return reg.DeleteRegisteredModelAliasRequest(name=f.model, alias="gone")


def _permission_to_delete(f):
    grant = f.bystander_grant()
    return auth.DeletePermissionRequest(resource=grant.resource, principal=grant.principal)


def _shows_experiment(f, response) -> bool:
    return any(e.experiment_id == f.experiment_id for e in response.experiments)


def _shows_run(f, response) -> bool:
    return f.run_id in response.runs.run_ids


def _shows_model(f, response) -> bool:
    return any(m.name == f.model for m in response.registered_models)


def _shows_version(f, response) -> bool:
    return any(v.name == f.model for v in response.model_versions)


def _shows_team(f, response) -> bool:
    return any(t.name == f.team for t in response.teams)


T, A, R, H = "TrackingService", "ArtifactService", "ModelRegistryService", "AuthService"
E = "experiment_id"

CASES = [
    # -- tracking ---------------------------------------------------------------------
    Case(f"{T}/CreateExperiment", "signed_in", lambda f, a: tr.CreateExperimentRequest(name=unique("new"))),
    Case(f"{T}/GetExperiment", "resource", lambda f, a: tr.GetExperimentRequest(experiment_id=f.experiment_id), READ),
    Case(f"{T}/GetExperimentByName", "resource", lambda f, a: tr.GetExperimentByNameRequest(name=f.experiment_name), READ),
    Case(f"{T}/SearchExperiments", "filtered", lambda f, a: tr.SearchExperimentsRequest(), shows=_shows_experiment),
    Case(f"{T}/UpdateExperiment", "resource", lambda f, a: tr.UpdateExperimentRequest(experiment_id=f.fresh_experiment(), name=unique("renamed")), EDIT),
    Case(f"{T}/DeleteExperiment", "resource", lambda f, a: tr.DeleteExperimentRequest(experiment_id=f.fresh_experiment()), MANAGE),
    Case(f"{T}/RestoreExperiment", "resource", lambda f, a: tr.RestoreExperimentRequest(experiment_id=_deleted_experiment(f)), MANAGE),
    Case(f"{T}/SetExperimentTag", "resource", lambda f, a: tr.SetExperimentTagRequest(experiment_id=f.experiment_id, tag=experiment_pb2.ExperimentTag(key="k", value="v")), EDIT),
    Case(f"{T}/CreateRun", "resource", lambda f, a: tr.CreateRunRequest(experiment_id=f.experiment_id, parent_run_id=f.run_id), USE),
    Case(f"{T}/BatchCreateRuns", "resource", lambda f, a: tr.BatchCreateRunsRequest(experiment_id=f.experiment_id, requests=[tr.CreateRunRequest(run_name="b")]), USE),
    Case(f"{T}/GetRun", "resource", lambda f, a: tr.GetRunRequest(run_id=f.run_id), READ),
    Case(f"{T}/UpdateRun", "resource", lambda f, a: tr.UpdateRunRequest(run_id=f.run_id, run_name="renamed"), USE),
    Case(f"{T}/DeleteRun", "resource", lambda f, a: tr.DeleteRunRequest(run_id=f.fresh_run()), EDIT),
    Case(f"{T}/RestoreRun", "resource", lambda f, a: tr.RestoreRunRequest(run_id=_deleted_run(f)), EDIT),
    Case(f"{T}/SetRunTag", "resource", lambda f, a: tr.SetRunTagRequest(run_id=f.run_id, tag=run_pb2.RunTag(key="k", value="v")), USE),
    Case(f"{T}/DeleteRunTag", "resource", lambda f, a: _run_tagged(f), USE),
    Case(f"{T}/LogBatch", "resource", lambda f, a: tr.LogBatchRequest(run_id=f.run_id, metrics=run_pb2.MetricPoints(keys=["loss"], values=[0.4], steps=[2])), USE),
    Case(f"{T}/WriteMetrics", "resource", lambda f, a: [tr.WriteMetricsRequest(writer_id=unique("w"), sequence_number=1, run_id=f.run_id, points=run_pb2.MetricPoints(keys=["loss"], values=[0.3], steps=[3]))], USE),
    Case(f"{T}/ReadMetricHistory", "resource", lambda f, a: tr.ReadMetricHistoryRequest(run_id=f.run_id, metric_key="loss"), READ),
    Case(f"{T}/BatchReadMetricHistory", "resource", lambda f, a: tr.BatchReadMetricHistoryRequest(run_ids=[f.run_id], metric_key="loss"), READ),
    Case(f"{T}/WatchMetrics", "resource", lambda f, a: tr.WatchMetricsRequest(run_ids=[f.run_id]), READ),
    Case(f"{T}/SearchRuns", "filtered", lambda f, a: tr.SearchRunsRequest(experiment_ids=[f.experiment_id]), shows=_shows_run),
    Case(f"{T}/GetServerInfo", "signed_in", lambda f, a: tr.GetServerInfoRequest()),
    # -- artifacts --------------------------------------------------------------------
    Case(f"{A}/UploadArtifact", "resource", lambda f, a: upload_messages(f.run_id, "up/x.txt", b"x"), USE),
    Case(f"{A}/DownloadArtifact", "resource", lambda f, a: art.DownloadArtifactRequest(run_id=f.run_id, path="data/a.txt"), READ),
    Case(f"{A}/ListArtifacts", "resource", lambda f, a: art.ListArtifactsRequest(run_id=f.run_id), READ),
    # The matrix's root is a folder: uploads are told to stream; there is nothing to complete.
    Case(f"{A}/StartArtifactUpload", "resource", lambda f, a: art.StartArtifactUploadRequest(run_id=f.run_id, path="up/d.txt", size_bytes=1), USE),
    Case(f"{A}/CompleteArtifactUpload", "resource", lambda f, a: art.CompleteArtifactUploadRequest(run_id=f.run_id, path="up/d.txt", upload_id="u", size_bytes=1, parts=[art.CompletedPart(part_number=1, etag="e")]), USE, allowed="FAILED_PRECONDITION"),
    Case(f"{A}/AbortArtifactUpload", "resource", lambda f, a: art.AbortArtifactUploadRequest(run_id=f.run_id, path="up/d.txt", upload_id="u"), USE, allowed="FAILED_PRECONDITION"),
    Case(f"{A}/GetArtifactDownloadUrl", "resource", lambda f, a: art.GetArtifactDownloadUrlRequest(run_id=f.run_id, path="data/a.txt"), READ),
    # -- registry ---------------------------------------------------------------------
    Case(f"{R}/CreateRegisteredModel", "signed_in", lambda f, a: reg.CreateRegisteredModelRequest(name=unique("newmodel"))),
    Case(f"{R}/GetRegisteredModel", "resource", lambda f, a: reg.GetRegisteredModelRequest(name=f.model), READ),
    Case(f"{R}/RenameRegisteredModel", "resource", lambda f, a: reg.RenameRegisteredModelRequest(name=f.fresh_model(), new_name=unique("renamed")), MANAGE),
    Case(f"{R}/UpdateRegisteredModel", "resource", lambda f, a: reg.UpdateRegisteredModelRequest(name=f.model, description="d"), EDIT),
    Case(f"{R}/DeleteRegisteredModel", "resource", lambda f, a: reg.DeleteRegisteredModelRequest(name=f.fresh_model()), MANAGE),
    Case(f"{R}/SearchRegisteredModels", "filtered", lambda f, a: reg.SearchRegisteredModelsRequest(), shows=_shows_model),
    Case(f"{R}/SetRegisteredModelTag", "resource", lambda f, a: reg.SetRegisteredModelTagRequest(name=f.model, tag=registered_model_pb2.RegisteredModelTag(key="k", value="v")), EDIT),
    Case(f"{R}/DeleteRegisteredModelTag", "resource", lambda f, a: _model_tagged(f), EDIT),
    Case(f"{R}/CreateModelVersion", "resource", lambda f, a: reg.CreateModelVersionRequest(name=f.model, source=f"runs:/{f.run_id}/model"), EDIT),
    Case(f"{R}/GetModelVersion", "resource", lambda f, a: reg.GetModelVersionRequest(name=f.model, version="1"), READ),
    Case(f"{R}/UpdateModelVersion", "resource", lambda f, a: reg.UpdateModelVersionRequest(name=f.model, version="1", description="d"), EDIT),
    Case(f"{R}/DeleteModelVersion", "resource", lambda f, a: reg.DeleteModelVersionRequest(name=f.model, version=f.fresh_version(f.model)), EDIT),
    Case(f"{R}/SearchModelVersions", "filtered", lambda f, a: reg.SearchModelVersionsRequest(), shows=_shows_version),
    Case(f"{R}/GetLatestModelVersions", "resource", lambda f, a: reg.GetLatestModelVersionsRequest(name=f.model), READ),
    Case(f"{R}/TransitionModelVersionStage", "resource", lambda f, a: reg.TransitionModelVersionStageRequest(name=f.model, version="1", new_stage=registered_model_pb2.MODEL_VERSION_STAGE_STAGING), EDIT),
    Case(f"{R}/SetModelVersionTag", "resource", lambda f, a: reg.SetModelVersionTagRequest(name=f.model, version="1", tag=registered_model_pb2.ModelVersionTag(key="k", value="v")), USE),
    Case(f"{R}/DeleteModelVersionTag", "resource", lambda f, a: _version_tagged(f), USE),
    Case(f"{R}/SetRegisteredModelAlias", "resource", lambda f, a: reg.SetRegisteredModelAliasRequest(name=f.model, alias="prod", version="1"), EDIT),
    Case(f"{R}/DeleteRegisteredModelAlias", "resource", lambda f, a: _aliased(f), EDIT),
    Case(f"{R}/GetModelVersionByAlias", "resource", lambda f, a: reg.GetModelVersionByAliasRequest(name=f.model, alias="champion"), READ),
    Case(f"{R}/GetModelVersionDownloadUri", "resource", lambda f, a: reg.GetModelVersionDownloadUriRequest(name=f.model, version="1"), READ),
    # -- auth -------------------------------------------------------------------------
    Case(f"{H}/WhoAmI", "signed_in", lambda f, a: auth.WhoAmIRequest()),
    Case(f"{H}/SignIn", "open", lambda f, a: auth.SignInRequest(user_name="signer", password=PASSWORD)),
    Case(f"{H}/CreateUser", "admin", lambda f, a: auth.CreateUserRequest(name=unique("u"), service_account=True)),
    Case(f"{H}/GetUser", "self", lambda f, a: auth.GetUserRequest(name=a)),
    Case(f"{H}/ListUsers", "admin", lambda f, a: auth.ListUsersRequest()),
    Case(f"{H}/UpdateUser", "self", lambda f, a: auth.UpdateUserRequest(name=a)),
    Case(f"{H}/DeleteUser", "admin", lambda f, a: auth.DeleteUserRequest(name=_fresh_user(f))),
    Case(f"{H}/CreateApiToken", "self", lambda f, a: auth.CreateApiTokenRequest(user_name=a)),
    Case(f"{H}/ListApiTokens", "self", lambda f, a: auth.ListApiTokensRequest(user_name=a)),
    Case(f"{H}/RevokeApiToken", "token_owner", lambda f, a: auth.RevokeApiTokenRequest(token_id=f.fresh_token_id(a))),
    Case(f"{H}/CreateTeam", "admin", lambda f, a: auth.CreateTeamRequest(name=unique("t"))),
    Case(f"{H}/GetTeam", "team_member", lambda f, a: auth.GetTeamRequest(name=f.team)),
    Case(f"{H}/ListTeams", "filtered", lambda f, a: auth.ListTeamsRequest(), shows=_shows_team),
    Case(f"{H}/DeleteTeam", "admin", lambda f, a: auth.DeleteTeamRequest(name=f.fresh_team())),
    Case(f"{H}/AddTeamMember", "admin", lambda f, a: auth.AddTeamMemberRequest(team_name=f.fresh_team(), user_name="bystander")),
    Case(f"{H}/RemoveTeamMember", "admin", lambda f, a: auth.RemoveTeamMemberRequest(team_name=f.fresh_team("bystander"), user_name="bystander")),
    Case(f"{H}/SetPermission", "resource", lambda f, a: auth.SetPermissionRequest(grant=identity_pb2.PermissionGrant(resource=resource(f.experiment_id), principal=principal("bystander"), level=READ)), MANAGE),
    Case(f"{H}/DeletePermission", "resource", lambda f, a: _permission_to_delete(f), MANAGE),
    Case(f"{H}/ListPermissions", "resource", lambda f, a: auth.ListPermissionsRequest(resource=resource(f.experiment_id)), MANAGE),
    Case(f"{H}/GetEffectivePermission", "resource", lambda f, a: auth.GetEffectivePermissionRequest(resource=resource(f.experiment_id)), READ),
    # -- infrastructure ---------------------------------------------------------------
    Case("grpc.health.v1.Health/Check", "open", lambda f, a: health_pb2.HealthCheckRequest()),
    Case("grpc.health.v1.Health/List", "open", lambda f, a: health_pb2.HealthListRequest()),
    Case("grpc.health.v1.Health/Watch", "open", lambda f, a: health_pb2.HealthCheckRequest()),
    Case("grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "open", lambda f, a: [reflection_pb2.ServerReflectionRequest(list_services="")]),
    Case("grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", "open", lambda f, a: [reflection_pb2.ServerReflectionRequest(list_services="")]),
]  # fmt: skip


def _fresh_user(f) -> str:
    name = unique("gone")
    f.s.user(name)
    return name


def wait_past(expire_ms: int) -> None:
    delay = expire_ms / 1000 - time.time() + 0.05
    if delay > 0:
        time.sleep(delay)


# PurgeRun and PurgeExperiment (`trackwire gc`) are on main since its merge of h16-cli;
# they join the matrix once this branch is merged with it.
if hasattr(tr, "PurgeRunRequest"):
    CASES += [
        Case(f"{T}/PurgeRun", "resource", lambda f, a: tr.PurgeRunRequest(run_id=_deleted_run(f)), MANAGE),
        Case(f"{T}/PurgeExperiment", "resource", lambda f, a: tr.PurgeExperimentRequest(experiment_id=_deleted_experiment(f)), MANAGE),
    ]  # fmt: skip
