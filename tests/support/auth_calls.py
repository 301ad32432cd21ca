"""Calling a server with authentication on through the generated stubs, as the wire sees it.

`served_methods()` lists every RPC the server serves, from the generated descriptors
(Trackwire's services, gRPC health, both reflection versions); `invoke()` calls one by its
full name with `authorization` metadata and returns its status, details and answers,
whatever its streaming shape; `AuthServer` is a server with `--auth` over a database, with
helpers for the admin to make users, tokens and grants.
"""

from __future__ import annotations

import pathlib
import uuid
from dataclasses import dataclass, field

import grpc
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha_reflection_pb2
from grpc_reflection.v1alpha import reflection_pb2_grpc as v1alpha_reflection_grpc

from trackwire.v1 import (
    artifact_service_pb2,
    artifact_service_pb2_grpc,
    auth_service_pb2,
    auth_service_pb2_grpc,
    identity_pb2,
    model_registry_service_pb2,
    model_registry_service_pb2_grpc,
    tracking_service_pb2,
    tracking_service_pb2_grpc,
)
from trackwire_server.app import TrackwireServer
from trackwire_server.auth.table import RULES
from trackwire_server.config import ServerConfig
from trackwire_server.generated import reflection_pb2 as v1_reflection_pb2

NONE, READ, USE, EDIT, MANAGE = 1, 2, 3, 4, 5
LEVEL_NAMES = {NONE: "NONE", READ: "READ", USE: "USE", EDIT: "EDIT", MANAGE: "MANAGE"}

# Services the server serves, from their descriptors; each with its stub class.
_SERVICES = (
    (tracking_service_pb2, "TrackingService", tracking_service_pb2_grpc.TrackingServiceStub),
    (artifact_service_pb2, "ArtifactService", artifact_service_pb2_grpc.ArtifactServiceStub),
    (
        model_registry_service_pb2,
        "ModelRegistryService",
        model_registry_service_pb2_grpc.ModelRegistryServiceStub,
    ),
    (auth_service_pb2, "AuthService", auth_service_pb2_grpc.AuthServiceStub),
    (health_pb2, "Health", health_pb2_grpc.HealthStub),
    (
        v1alpha_reflection_pb2,
        "ServerReflection",
        v1alpha_reflection_grpc.ServerReflectionStub,
    ),
    # v1 is served with v1alpha's messages (trackwire_server/reflection.py): same wire form.
    (v1_reflection_pb2, "ServerReflection", None),
)
# Calls that last until the client leaves: their answer is the first message or headers.
ENDLESS = {
    "/trackwire.v1.TrackingService/WatchMetrics",
    "/grpc.health.v1.Health/Watch",
}


@dataclass(frozen=True)
class Method:
    full_name: str  # "/trackwire.v1.TrackingService/GetRun"
    service: str
    name: str
    input_type: type
    client_streaming: bool
    server_streaming: bool
    stub: type | None


def _input_class(descriptor):
    return message_factory.GetMessageClass(descriptor)


def served_methods() -> dict[str, Method]:
    """Every RPC of every service the server serves, by full method name."""
    methods = {}
    for module, service_name, stub in _SERVICES:
        service = module.DESCRIPTOR.services_by_name[service_name]
        for m in service.methods:
            full = f"/{service.full_name}/{m.name}"
            methods[full] = Method(
                full,
                service.full_name,
                m.name,
                _input_class(m.input_type),
                m.client_streaming,
                m.server_streaming,
                stub,
            )
    return methods


def bearer(token: str | None) -> tuple:
    return () if token is None else (("authorization", f"Bearer {token}"),)


@dataclass
class Outcome:
    code: grpc.StatusCode
    details: str
    responses: list = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Outcome({self.code.name}, {self.details!r})"


def _multicallable(channel, method: Method):
    if method.stub is not None:
        return getattr(method.stub(channel), method.name)
    # v1 reflection: v1alpha's messages on v1's path.
    return channel.stream_stream(
        method.full_name,
        request_serializer=v1alpha_reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=v1alpha_reflection_pb2.ServerReflectionResponse.FromString,
    )


def invoke(channel, method: Method, request, metadata=(), timeout: float = 20.0) -> Outcome:
    """Calls `method` with `request` (a list of messages for a client stream); OK with
    its answers, or the error's code and details. An endless stream answers OK once its
    first headers or message arrive, and is cancelled."""
    call = _multicallable(channel, method)
    if method.server_streaming and method.full_name in ENDLESS:
        stream = call(request, metadata=metadata, timeout=timeout)
        stream.initial_metadata()
        if not stream.done():
            stream.cancel()
            return Outcome(grpc.StatusCode.OK, "")
        return Outcome(stream.code(), stream.details() or "")
    argument = iter(request) if method.client_streaming else request
    try:
        if method.server_streaming:
            responses = list(call(argument, metadata=metadata, timeout=timeout))
        else:
            responses = [call(argument, metadata=metadata, timeout=timeout)]
    except grpc.RpcError as e:
        return Outcome(e.code(), e.details() or "")
    return Outcome(grpc.StatusCode.OK, "", responses)


def resource(experiment_id: str | None = None, model: str | None = None):
    if experiment_id is not None:
        return identity_pb2.ResourceRef(experiment_id=experiment_id)
    return identity_pb2.ResourceRef(registered_model_name=model)


def principal(user: str | None = None, team: str | None = None):
    if user is not None:
        return identity_pb2.PrincipalRef(user_name=user)
    return identity_pb2.PrincipalRef(team_name=team)


class AuthServer:
    """A started server with authentication on over `db_url`; the admin's token in
    `.admin`; stubs in `.tracking`, `.artifacts`, `.registry`, `.auth`."""

    def __init__(
        self,
        db_url: str,
        artifacts: pathlib.Path,
        default_permission: int = NONE,
        rules=RULES,
        auth: bool = True,
    ):
        config = ServerConfig(
            db_url=db_url,
            artifacts=str(artifacts),
            host="127.0.0.1",
            port=0,
            auth=auth,
            default_permission=default_permission,
        )
        self.server = TrackwireServer(config, access_rules=rules).start()
        self.admin = self.server.initial_admin_token
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.server.port}")
        self.tracking = tracking_service_pb2_grpc.TrackingServiceStub(self.channel)
        self.artifacts = artifact_service_pb2_grpc.ArtifactServiceStub(self.channel)
        self.registry = model_registry_service_pb2_grpc.ModelRegistryServiceStub(self.channel)
        self.auth = auth_service_pb2_grpc.AuthServiceStub(self.channel)

    def stop(self) -> None:
        self.channel.close()
        self.server.stop(0.5)

    def user(self, name: str, admin: bool = False, password: str | None = None) -> str:
        """Makes user `name` (a service account unless it has a password) and returns a
        token of theirs."""
        self.auth.CreateUser(
            auth_service_pb2.CreateUserRequest(
                name=name,
                admin=admin,
                service_account=password is None,
                password=password or "",
            ),
            metadata=bearer(self.admin),
        )
        return self.token(name)

    def token(self, user: str, expire_time=None) -> str:
        request = auth_service_pb2.CreateApiTokenRequest(user_name=user)
        if expire_time is not None:
            request.expire_time.CopyFrom(expire_time)
        return self.auth.CreateApiToken(request, metadata=bearer(self.admin)).secret

    def grant(self, level: int, experiment_id=None, model=None, user=None, team=None) -> None:
        grant = identity_pb2.PermissionGrant(
            resource=resource(experiment_id, model), principal=principal(user, team), level=level
        )
        self.auth.SetPermission(
            auth_service_pb2.SetPermissionRequest(grant=grant), metadata=bearer(self.admin)
        )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
