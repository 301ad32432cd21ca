"""Users, grants and data for the web UI's authentication tests, made through the public
AuthService, TrackingService and ModelRegistryService with each user's own token."""

from __future__ import annotations

import grpc

from trackwire.v1 import auth_service_pb2 as apb
from trackwire.v1 import auth_service_pb2_grpc, identity_pb2, run_pb2
from trackwire.v1 import model_registry_service_pb2 as rpb
from trackwire.v1 import tracking_service_pb2 as tpb
from trackwire_protocol.channel import Connection


class As:
    """Calls of one user: `auth`, `tracking` and `registry` stubs sending their token."""

    def __init__(self, target: str, token: str):
        self.token = token
        self._channel = grpc.insecure_channel(target)
        channel = grpc.intercept_channel(self._channel, _Interceptor(token))
        self.connection = Connection(target, channel)
        self.auth = auth_service_pb2_grpc.AuthServiceStub(channel)
        self.tracking = self.connection.tracking
        self.registry = self.connection.registry

    def close(self) -> None:
        self._channel.close()

    # -- users -------------------------------------------------------------------------

    def create_user(self, name: str, password: str | None, admin: bool = False) -> str:
        """Creates a user (a person with `password`, else a service account); returns an
        API token of theirs."""
        self.auth.CreateUser(
            apb.CreateUserRequest(
                name=name, password=password or "", admin=admin, service_account=not password
            )
        )
        return self.auth.CreateApiToken(apb.CreateApiTokenRequest(user_name=name)).secret

    def grant(self, level: int, user: str, *, experiment_id=None, model=None) -> None:
        resource = (
            identity_pb2.ResourceRef(experiment_id=experiment_id)
            if experiment_id is not None
            else identity_pb2.ResourceRef(registered_model_name=model)
        )
        self.auth.SetPermission(
            apb.SetPermissionRequest(
                grant=identity_pb2.PermissionGrant(
                    resource=resource,
                    principal=identity_pb2.PrincipalRef(user_name=user),
                    level=level,
                )
            )
        )

    # -- data --------------------------------------------------------------------------

    def experiment_with_run(self, name: str, note: str = "") -> tuple[str, str]:
        """A new experiment with one finished run (with `note`); (experiment id, run id)."""
        experiment_id = self.tracking.CreateExperiment(
            tpb.CreateExperimentRequest(name=name)
        ).experiment.experiment_id
        run = self.tracking.CreateRun(
            tpb.CreateRunRequest(experiment_id=experiment_id, run_name=f"{name}-run")
        ).run
        if note:
            self.tracking.SetRunTag(
                tpb.SetRunTagRequest(
                    run_id=run.info.run_id,
                    tag=run_pb2.RunTag(key="trackwire.note.content", value=note),
                )
            )
        self.tracking.UpdateRun(
            tpb.UpdateRunRequest(run_id=run.info.run_id, status=run_pb2.RUN_STATUS_FINISHED)
        )
        return experiment_id, run.info.run_id

    def model_with_version(self, name: str, run_id: str) -> None:
        self.registry.CreateRegisteredModel(rpb.CreateRegisteredModelRequest(name=name))
        self.registry.CreateModelVersion(
            rpb.CreateModelVersionRequest(name=name, source=f"runs:/{run_id}/model", run_id=run_id)
        )

    def note(self, run_id: str) -> str:
        run = self.tracking.GetRun(tpb.GetRunRequest(run_id=run_id)).run
        return {t.key: t.value for t in run.data.tags}.get("trackwire.note.content", "")

    def stage(self, name: str, version: str = "1") -> int:
        return self.registry.GetModelVersion(
            rpb.GetModelVersionRequest(name=name, version=version)
        ).model_version.stage


class _Interceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` to every call."""

    def __init__(self, token: str):
        self.metadata = (("authorization", f"Bearer {token}"),)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(_with(details, self.metadata), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(_with(details, self.metadata), request)


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, method, timeout, metadata, credentials, wait_for_ready, compression):
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


def _with(details, metadata) -> grpc.ClientCallDetails:
    return _CallDetails(
        details.method,
        details.timeout,
        tuple(details.metadata or ()) + metadata,
        details.credentials,
        details.wait_for_ready,
        details.compression,
    )
