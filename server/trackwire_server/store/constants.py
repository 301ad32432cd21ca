"""Enumerations as stored in the database: the proto enums' own numbers, taken from the
generated code (the database keeps them, so a proto that renumbered one would need a
migration; `buf breaking` refuses that)."""

from trackwire.v1 import experiment_pb2, run_pb2

ACTIVE = experiment_pb2.LIFECYCLE_STAGE_ACTIVE
DELETED = experiment_pb2.LIFECYCLE_STAGE_DELETED

RUNNING = run_pb2.RUN_STATUS_RUNNING
SCHEDULED = run_pb2.RUN_STATUS_SCHEDULED
FINISHED = run_pb2.RUN_STATUS_FINISHED
FAILED = run_pb2.RUN_STATUS_FAILED
KILLED = run_pb2.RUN_STATUS_KILLED
RUN_STATUSES = {RUNNING, SCHEDULED, FINISHED, FAILED, KILLED}

VIEW_ACTIVE_ONLY = experiment_pb2.VIEW_TYPE_ACTIVE_ONLY
VIEW_DELETED_ONLY = experiment_pb2.VIEW_TYPE_DELETED_ONLY
VIEW_ALL = experiment_pb2.VIEW_TYPE_ALL

DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"
