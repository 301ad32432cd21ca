"""The client's names for the proto enums' values come from the generated code; the one
list it must keep itself (the registry's stages, strings on the wire) agrees with the
server's."""

from __future__ import annotations

import pytest

import trackwire
from trackwire import artifacts, entities, registry_entities
from trackwire.errors import InvalidArgumentError
from trackwire.v1 import experiment_pb2, registered_model_pb2, run_pb2
from trackwire_protocol import enums


def _values(enum) -> dict[int, str]:
    return {number: name for name, number in enum.items() if not name.endswith("_UNSPECIFIED")}


@pytest.mark.parametrize(
    ("names", "enum", "prefix"),
    [
        (enums.RUN_STATUSES, run_pb2.RunStatus, "RUN_STATUS_"),
        (
            enums.MODEL_VERSION_STATUSES,
            registered_model_pb2.ModelVersionStatus,
            "MODEL_VERSION_STATUS_",
        ),
        (
            {n: s.upper() for n, s in enums.LIFECYCLE_STAGES.items()},
            experiment_pb2.LifecycleStage,
            "LIFECYCLE_STAGE_",
        ),
    ],
)
def test_every_enum_value_has_its_name_without_the_prefix(names, enum, prefix):
    assert names == {n: name.removeprefix(prefix) for n, name in _values(enum).items()}


def test_entities_take_their_names_from_the_generated_code():
    assert {name: n for n, name in enums.RUN_STATUSES.items()} == entities.RUN_STATUSES
    assert entities.STATUS_NAMES is enums.RUN_STATUSES
    assert registry_entities._STATUS_NAMES is enums.MODEL_VERSION_STATUSES
    assert (trackwire.ViewType.ACTIVE_ONLY, trackwire.ViewType.DELETED_ONLY) == (
        experiment_pb2.VIEW_TYPE_ACTIVE_ONLY,
        experiment_pb2.VIEW_TYPE_DELETED_ONLY,
    )
    assert trackwire.ViewType.ALL == experiment_pb2.VIEW_TYPE_ALL


def test_every_run_status_name_is_one_the_server_stores(client):
    run_id = client.create_run(client.create_experiment("statuses")).info.run_id
    for name in enums.RUN_STATUSES.values():
        assert client.update_run(run_id, status=name).status == name


def test_the_clients_stages_are_the_servers(client):
    """`artifacts.STAGES` (the stages a models:/ URI may name) is a copy: every stage in it
    is one the server moves a version to, and a stage outside it is refused."""
    experiment_id = client.create_experiment("stages")
    run_id = client.create_run(experiment_id).info.run_id
    client.log_text(run_id, "weights", "model/model.pkl")
    client.create_registered_model("m")
    client.create_model_version("m", f"runs:/{run_id}/model")
    for stage in artifacts.STAGES:
        assert client.transition_model_version_stage("m", 1, stage).current_stage == stage
        assert artifacts.parse_models_uri(f"models:/m/{stage.lower()}")[1:] == ("stage", stage)
    with pytest.raises(InvalidArgumentError, match=", ".join(artifacts.STAGES)):
        client.transition_model_version_stage("m", 1, "Retired")
