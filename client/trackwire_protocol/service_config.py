"""The gRPC service config of every channel to Trackwire servers: round-robin over all of
a target's addresses, and gRPC's own retries (on UNAVAILABLE) of the calls that are safe
to repeat.

Every RPC of trackwire.v1 is in exactly one class (tests/test_service_config.py fails
when a new one is not):
- reads (`READS`): they change nothing, so a repeat is harmless;
- deduplicated writes: unary calls whose request has a `request_id` field. The server
  applies a request id once (server/trackwire_server/idempotency.py: the id is recorded
  in the same transaction as the change, on the shared database, so whichever server a
  retry reaches answers it with the first response) and the Python client gives every
  such call an id (trackwire_protocol.calls.with_request_id). This class is derived
  from the descriptors, not listed;
- idempotent writes (`IDEMPOTENT`, each with the reason): a repeat finds the change made
  and answers as the first call did;
- not retried (`NOT_RETRIED`, each with the reason): a repeat could apply twice, or the
  caller resends by itself.

`SERVICE_CONFIG` is the JSON given to gRPC (`grpc.service_config`); README.md
("Balancing and failover") shows the same for other languages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from trackwire.v1 import (
    artifact_service_pb2,
    auth_service_pb2,
    model_registry_service_pb2,
    prediction_service_pb2,
    tracking_service_pb2,
)

PACKAGE = "trackwire.v1"
_MODULES = (
    tracking_service_pb2,
    artifact_service_pb2,
    model_registry_service_pb2,
    auth_service_pb2,
    prediction_service_pb2,
)

# Calls that change nothing on the server ("Service/Method", without the package).
READS = frozenset(
    {
        "TrackingService/GetExperiment",
        "TrackingService/GetExperimentByName",
        "TrackingService/SearchExperiments",
        "TrackingService/GetRun",
        "TrackingService/SearchRuns",
        "TrackingService/ReadMetricHistory",
        "TrackingService/BatchReadMetricHistory",
        # A server stream is retried only until its first message arrives (gRPC commits
        # a call to one attempt then): a watch that has not started yet.
        "TrackingService/WatchMetrics",
        "TrackingService/GetServerInfo",
        "ArtifactService/DownloadArtifact",
        "ArtifactService/ListArtifacts",
        "ModelRegistryService/GetRegisteredModel",
        "ModelRegistryService/SearchRegisteredModels",
        "ModelRegistryService/GetModelVersion",
        "ModelRegistryService/SearchModelVersions",
        "ModelRegistryService/GetLatestModelVersions",
        "ModelRegistryService/GetModelVersionByAlias",
        "ModelRegistryService/GetModelVersionDownloadUri",
        "AuthService/WhoAmI",
        "AuthService/GetUser",
        "AuthService/ListUsers",
        "AuthService/ListApiTokens",
        "AuthService/GetTeam",
        "AuthService/ListTeams",
        "AuthService/ListPermissions",
        "AuthService/GetEffectivePermission",
        "PredictionService/Predict",
        "PredictionService/GetServedModel",
        # Signs a URL for the client; nothing is written anywhere.
        "ArtifactService/GetArtifactDownloadUrl",
    }
)

# Writes that a repeat cannot apply twice, and why.
IDEMPOTENT = {
    "ArtifactService/CompleteArtifactUpload": (
        "completing an upload that is already complete (the same size and ETag in the "
        "store) answers as the first completion did"
    ),
}

_NO_REQUEST_ID = "no request id: after a lost response a repeat fails or applies twice"

# Calls gRPC must not repeat by itself, and why.
NOT_RETRIED = {
    "TrackingService/WriteMetrics": (
        "the metric writer resends its unacknowledged batches itself (writer id and "
        "sequence numbers), on a new stream"
    ),
    "ArtifactService/UploadArtifact": (
        "a client stream of chunks read as they go: the artifact client restarts an upload"
    ),
    "AuthService/SignIn": "every call issues a new session token",
    "AuthService/CreateApiToken": "every call issues a new token",
    "AuthService/CreateUser": _NO_REQUEST_ID,
    "AuthService/UpdateUser": _NO_REQUEST_ID,
    "AuthService/DeleteUser": _NO_REQUEST_ID,
    "AuthService/RevokeApiToken": _NO_REQUEST_ID,
    "AuthService/CreateTeam": _NO_REQUEST_ID,
    "AuthService/DeleteTeam": _NO_REQUEST_ID,
    "AuthService/AddTeamMember": _NO_REQUEST_ID,
    "AuthService/RemoveTeamMember": _NO_REQUEST_ID,
    "AuthService/SetPermission": _NO_REQUEST_ID,
    "AuthService/DeletePermission": _NO_REQUEST_ID,
    "TrackingService/PurgeRun": _NO_REQUEST_ID,
    "ArtifactService/StartArtifactUpload": (
        "a repeat starts a second multipart upload in the store and orphans the first; the "
        "client resumes an interrupted upload by its upload id instead"
    ),
    "ArtifactService/AbortArtifactUpload": (
        "a repeat after a lost response finds the upload gone and answers NOT_FOUND"
    ),
}

# gRPC's retry policy for the calls above (it caps maxAttempts at 5). A round-robin
# channel sends each attempt to the next ready server, so a retry after a server died
# lands on a live one; the backoffs (randomized up to these) add up to under a second.
# gRPC keeps a request for retries only up to grpc.per_rpc_retry_buffer_size (256 KiB):
# a larger one (a big LogBatch) is sent once by gRPC, and retried by the client's own
# loop (trackwire_protocol.calls) when it is safe to repeat.
RETRY_POLICY = {
    "maxAttempts": 5,
    "initialBackoff": "0.05s",
    "maxBackoff": "0.5s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}

# How soon a channel tries a server again after losing it (gRPC's defaults: 1 s, growing
# by 1.6x up to 120 s): a restarted server is in use again within about 2 s.
RECONNECT_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


def methods() -> Iterator[tuple[str, object]]:
    """("Service/Method", MethodDescriptor) of every RPC of trackwire.v1."""
    for module in _MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                yield f"{service.name}/{method.name}", method


def is_deduplicated(method) -> bool:
    """A unary call whose request carries a request id the server applies once."""
    return (
        not method.client_streaming
        and not method.server_streaming
        and "request_id" in method.input_type.fields_by_name
    )


# The classes gRPC (and the client's own retry loop) may repeat.
RETRIED_CLASSES = ("read", "idempotent", "deduplicated")


def classify(name: str, method) -> str:
    """'read', 'idempotent', 'deduplicated', 'not retried', or 'unclassified' (a new RPC:
    decide)."""
    if name in READS:
        return "read"
    if name in IDEMPOTENT:
        return "idempotent"
    if name in NOT_RETRIED:
        return "not retried"
    if is_deduplicated(method):
        return "deduplicated"
    return "unclassified"


def _safe_request_types() -> frozenset[str]:
    return frozenset(
        method.input_type.full_name
        for name, method in methods()
        if classify(name, method) in RETRIED_CLASSES
    )


def is_retry_safe(request) -> bool:
    """Whether the call taking `request` may be sent again after an error (a read, or a
    deduplicated write): by its request type, each of which belongs to one RPC."""
    return request.DESCRIPTOR.full_name in _SAFE_REQUEST_TYPES


def retried_methods() -> list[str]:
    """The "Service/Method" names gRPC retries on UNAVAILABLE, sorted."""
    return sorted(name for name, method in methods() if classify(name, method) in RETRIED_CLASSES)


def service_config(methods_retried: list[str] | None = None) -> dict:
    """The service config (as a dict): round_robin, and RETRY_POLICY for the calls
    that are safe to repeat."""
    names = retried_methods() if methods_retried is None else methods_retried
    return {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": [
                    {"service": f"{PACKAGE}.{name.split('/')[0]}", "method": name.split("/")[1]}
                    for name in names
                ],
                "retryPolicy": RETRY_POLICY,
            }
        ],
    }


_SAFE_REQUEST_TYPES = _safe_request_types()
SERVICE_CONFIG = json.dumps(service_config(), separators=(",", ":"))

# The options every channel to Trackwire servers gets on top of its own.
CHANNEL_OPTIONS = [
    ("grpc.service_config", SERVICE_CONFIG),
    ("grpc.enable_retries", 1),
    *RECONNECT_OPTIONS,
]


if __name__ == "__main__":
    # `python -m trackwire_protocol.service_config`: the service config as JSON, for
    # channels in other languages (README.md, "Balancing and failover").
    print(json.dumps(service_config(), indent=2))
