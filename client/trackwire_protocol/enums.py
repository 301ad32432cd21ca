"""The names of the proto enums' values, read from the generated code (never copied).

Each map leaves out the `..._UNSPECIFIED` value and takes off the enum's prefix:
`RUN_STATUSES[run_pb2.RUN_STATUS_FINISHED] == "FINISHED"`.
"""

from __future__ import annotations

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from trackwire.v1 import experiment_pb2, identity_pb2, registered_model_pb2, run_pb2


def short_names(enum: EnumTypeWrapper) -> dict[int, str]:
    """{number: name without the enum's prefix} for every value but UNSPECIFIED."""
    unspecified = enum.Name(0)
    prefix = unspecified[: -len("UNSPECIFIED")]
    return {number: name[len(prefix) :] for name, number in enum.items() if number != 0}


# 1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"
RUN_STATUSES = short_names(run_pb2.RunStatus)
# 1: "active", 2: "deleted" (MLflow's spelling, lower case)
LIFECYCLE_STAGES = {
    n: name.lower() for n, name in short_names(experiment_pb2.LifecycleStage).items()
}
# 1: "PENDING_REGISTRATION", 2: "FAILED_REGISTRATION", 3: "READY"
MODEL_VERSION_STATUSES = short_names(registered_model_pb2.ModelVersionStatus)
# 1: "NONE", 2: "READ", 3: "USE", 4: "EDIT", 5: "MANAGE"
PERMISSION_LEVELS = short_names(identity_pb2.PermissionLevel)
