"""Creation times given by the creator (CreateExperiment, CreateRegisteredModel and
CreateModelVersion's `create_time`, for imports such as `trackwire import mlflow`),
through the real server on every configured database."""

from __future__ import annotations

import time

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from trackwire.errors import InvalidArgumentError
from trackwire.v1 import model_registry_service_pb2 as registry_pb
from trackwire.v1 import tracking_service_pb2 as tracking_pb
from trackwire_protocol.calls import call

PAST = 1_600_000_000_123


def ts(ms: int) -> Timestamp:
    t = Timestamp()
    t.FromMilliseconds(ms)
    return t


def test_resources_keep_the_creation_time_given(client):
    tracking, registry = client._connection.tracking, client._connection.registry
    created = call(
        tracking.CreateExperiment,
        tracking_pb.CreateExperimentRequest(name="old", create_time=ts(PAST)),
    ).experiment
    experiment = client.get_experiment(created.experiment_id)
    assert experiment.creation_time == experiment.last_update_time == PAST
    run = client.create_run(created.experiment_id)
    client.log_bytes(run.info.run_id, b"w", "model/model.bin")
    call(
        registry.CreateRegisteredModel,
        registry_pb.CreateRegisteredModelRequest(name="m", create_time=ts(PAST + 1)),
    )
    call(
        registry.CreateModelVersion,
        registry_pb.CreateModelVersionRequest(
            name="m", source=f"runs:/{run.info.run_id}/model", create_time=ts(PAST + 2)
        ),
    )
    model = client.get_registered_model("m")
    version = client.get_model_version("m", 1)
    assert model.creation_timestamp == PAST + 1
    assert model.last_updated_timestamp > PAST + 2  # a new version changes the model now
    assert version.creation_timestamp == version.last_updated_timestamp == PAST + 2
    # Unset: now.
    before = int(time.time() * 1000)
    client.create_registered_model("n")
    assert client.get_registered_model("n").creation_timestamp >= before - 1


@pytest.mark.parametrize("ms", [int(time.time() * 1000) + 3_600_000, -1000])
def test_a_creation_time_in_the_future_or_before_1970_is_refused(client, ms):
    tracking, registry = client._connection.tracking, client._connection.registry
    with pytest.raises(InvalidArgumentError, match="create_time"):
        call(
            tracking.CreateExperiment,
            tracking_pb.CreateExperimentRequest(name="future", create_time=ts(ms)),
        )
    assert client.get_experiment_by_name("future") is None
    with pytest.raises(InvalidArgumentError, match="create_time"):
        call(
            registry.CreateRegisteredModel,
            registry_pb.CreateRegisteredModelRequest(name="future", create_time=ts(ms)),
        )
    experiment_id = client.create_experiment("e")
    run = client.create_run(experiment_id)
    client.log_bytes(run.info.run_id, b"w", "model/model.bin")
    client.create_registered_model("m")
    with pytest.raises(InvalidArgumentError, match="create_time"):
        call(
            registry.CreateModelVersion,
            registry_pb.CreateModelVersionRequest(
                name="m", source=f"runs:/{run.info.run_id}/model", create_time=ts(ms)
            ),
        )
    assert client.search_model_versions("name = 'm'") == []
