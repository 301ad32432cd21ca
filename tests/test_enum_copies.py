"""The server keeps no hand-made copy of a proto enum's numbers: the store's stored values
come from the generated code, and no module assigns a number to a name of an enum value."""

from __future__ import annotations

import ast
import pathlib

import trackwire_server
from trackwire.v1 import experiment_pb2, registered_model_pb2, run_pb2
from trackwire_server.store import constants, registry_rows

SERVER = pathlib.Path(trackwire_server.__file__).parent
ENUMS = [
    experiment_pb2.LifecycleStage,
    experiment_pb2.ViewType,
    run_pb2.RunStatus,
    registered_model_pb2.ModelVersionStatus,
]


def _short_names() -> set[str]:
    """Each enum value's name without its enum's prefix (the zero value's name less
    UNSPECIFIED): ACTIVE, RUNNING, READY, ..."""
    names = set()
    for enum in ENUMS:
        values = [v.name for v in enum.DESCRIPTOR.values]
        prefix = values[0].removesuffix("UNSPECIFIED")
        names.update(name.removeprefix(prefix) for name in values[1:])
    return names


def test_the_stored_values_are_the_protos():
    assert (constants.ACTIVE, constants.DELETED) == (
        experiment_pb2.LIFECYCLE_STAGE_ACTIVE,
        experiment_pb2.LIFECYCLE_STAGE_DELETED,
    )
    assert (
        {constants.RUNNING, constants.SCHEDULED, constants.FINISHED}
        | {
            constants.FAILED,
            constants.KILLED,
        }
        == constants.RUN_STATUSES
        == {v for v in run_pb2.RunStatus.values() if v != run_pb2.RUN_STATUS_UNSPECIFIED}
    )
    for name in ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"):
        assert getattr(constants, name) == run_pb2.RunStatus.Value(f"RUN_STATUS_{name}")
    for name in ("ACTIVE_ONLY", "DELETED_ONLY", "ALL"):
        assert getattr(constants, f"VIEW_{name}") == experiment_pb2.ViewType.Value(
            f"VIEW_TYPE_{name}"
        )
    assert registry_rows.STATUS_READY == registered_model_pb2.MODEL_VERSION_STATUS_READY


def test_no_module_copies_an_enum_number():
    short = _short_names()
    copies = []
    for path in sorted(SERVER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Assign):
                continue
            if not (isinstance(node.value, ast.Constant) and type(node.value.value) is int):
                continue
            for target in node.targets:
                names = [target] if isinstance(target, ast.Name) else []
                for name in names:
                    if any(name.id == s or name.id.endswith(f"_{s}") for s in short):
                        where = f"{path.relative_to(SERVER)}:{node.lineno}"
                        copies.append(f"{where} {name.id} = {node.value.value}")
    assert not copies, "take these from the generated code (trackwire.v1.*_pb2): " + "; ".join(
        copies
    )
