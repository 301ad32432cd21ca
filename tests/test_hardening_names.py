"""Issue #12, finding 9: keys, names, paths, model-version sources and run ids.

One validator (`trackwire_protocol.naming`) on the server for every request, and on the client
wherever a name becomes a local path. Raw gRPC against a real server for what an outside
tester sends; the client's own API for what a model or a server could make it write.
"""

from __future__ import annotations

import pathlib
import pickle

import grpc
import pytest
import yaml

import trackwire
from trackwire.entities import FileInfo
from trackwire.errors import InvalidArgumentError
from trackwire.v1 import artifact_service_pb2 as apb
from trackwire.v1 import artifact_service_pb2_grpc as astubs
from trackwire.v1 import experiment_pb2, registered_model_pb2, run_pb2
from trackwire.v1 import model_registry_service_pb2 as rpb
from trackwire.v1 import model_registry_service_pb2_grpc as rstubs
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire.v1 import tracking_service_pb2_grpc as stubs
from trackwire_server.store import open_database, schema

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

BAD_KEYS = ["../x", "/lead", "a\tb", "a\nb", "<script>", "a\u202eb", "x/../y", "x\x1b[0m"]
GOOD_KEYS = ["loss", "train/loss", "über.loss: val-1", "a b", "ns:key_2"]


class Stubs:
    def __init__(self, channel):
        self.tracking = stubs.TrackingServiceStub(channel)
        self.artifacts = astubs.ArtifactServiceStub(channel)
        self.registry = rstubs.ModelRegistryServiceStub(channel)


@pytest.fixture
def raw(server):
    with grpc.insecure_channel(server.uri[len("grpc://") :]) as channel:
        yield Stubs(channel)


@pytest.fixture
def run_id(raw):
    return raw.tracking.CreateRun(pb.CreateRunRequest(experiment_id="0")).run.info.run_id


def refused(call, field: str) -> str:
    """Asserts `call` fails with INVALID_ARGUMENT naming `field`; returns the message."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (field, error.details())
    assert field in error.details(), (field, error.details())
    return error.details()


def write_metrics(raw, run_id: str, key: str, sequence: int = 1) -> pb.WriteMetricsResponse:
    request = pb.WriteMetricsRequest(writer_id="hardening", sequence_number=sequence, run_id=run_id)
    request.points.keys.append(key)
    request.points.values.append(1.0)
    (ack,) = raw.tracking.WriteMetrics(iter([request]))
    return ack


# -- metric, param and tag keys ----------------------------------------------------------


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_bad_keys_are_refused_everywhere(raw, run_id, key):
    t = raw.tracking
    metric = run_pb2.MetricPoints(keys=[key], values=[1.0])
    two_keys = run_pb2.MetricPoints(keys=["ok", key], key_index=[0, 1], values=[1.0, 2.0])
    param = run_pb2.Param(key=key, value="v")
    tag = run_pb2.RunTag(key=key, value="v")
    runs_before = len(t.SearchRuns(pb.SearchRunsRequest(experiment_ids=["0"])).runs.run_ids)
    message = refused(
        lambda: t.LogBatch(pb.LogBatchRequest(run_id=run_id, metrics=metric)), "metrics.keys[0]"
    )
    assert repr(key)[1:-1] in message or "'" in message  # the key is shown, escaped
    refused(lambda: t.LogBatch(pb.LogBatchRequest(run_id=run_id, params=[param])), "params[0].key")
    refused(lambda: t.LogBatch(pb.LogBatchRequest(run_id=run_id, tags=[tag])), "tags[0].key")
    refused(
        lambda: t.LogBatch(pb.LogBatchRequest(run_id=run_id, metrics=two_keys)),
        "metrics.keys[1]",
    )
    refused(lambda: t.SetRunTag(pb.SetRunTagRequest(run_id=run_id, tag=tag)), "tag.key")
    for field, request in (
        ("params[0].key", pb.CreateRunRequest(experiment_id="0", params=[param])),
        ("tags[0].key", pb.CreateRunRequest(experiment_id="0", tags=[tag])),
        ("metrics.keys[0]", pb.CreateRunRequest(experiment_id="0", metrics=metric)),
    ):
        refused(lambda request=request: t.CreateRun(request), field)
    batch = pb.BatchCreateRunsRequest(
        experiment_id="0", requests=[pb.CreateRunRequest(params=[param])]
    )
    refused(lambda: t.BatchCreateRuns(batch), "requests[0].params[0].key")
    ack = write_metrics(raw, run_id, key)
    assert ack.error_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "points.keys[0]" in ack.error_message
    experiment_tag = experiment_pb2.ExperimentTag(key=key, value="v")
    refused(
        lambda: t.SetExperimentTag(
            pb.SetExperimentTagRequest(experiment_id="0", tag=experiment_tag)
        ),
        "tag.key",
    )
    refused(
        lambda: t.CreateExperiment(pb.CreateExperimentRequest(name="e", tags=[experiment_tag])),
        "tags.key",
    )
    r = raw.registry
    model_tag = registered_model_pb2.RegisteredModelTag(key=key, value="v")
    refused(
        lambda: r.CreateRegisteredModel(
            rpb.CreateRegisteredModelRequest(name="m", tags=[model_tag])
        ),
        "tags.key",
    )
    r.CreateRegisteredModel(rpb.CreateRegisteredModelRequest(name="m"))
    refused(
        lambda: r.SetRegisteredModelTag(rpb.SetRegisteredModelTagRequest(name="m", tag=model_tag)),
        "tag.key",
    )
    version_tag = registered_model_pb2.ModelVersionTag(key=key, value="v")
    source = f"runs:/{run_id}/model"
    refused(
        lambda: r.CreateModelVersion(
            rpb.CreateModelVersionRequest(name="m", source=source, tags=[version_tag])
        ),
        "tags.key",
    )
    r.CreateModelVersion(rpb.CreateModelVersionRequest(name="m", source=source))
    refused(
        lambda: r.SetModelVersionTag(
            rpb.SetModelVersionTagRequest(name="m", version="1", tag=version_tag)
        ),
        "tag.key",
    )
    # Nothing of it was stored.
    data = t.GetRun(pb.GetRunRequest(run_id=run_id)).run.data
    assert not data.metrics and not data.params
    assert {tag.key for tag in data.tags} == {"trackwire.runName"}
    assert len(t.SearchRuns(pb.SearchRunsRequest(experiment_ids=["0"])).runs.run_ids) == runs_before
    assert not t.GetExperiment(pb.GetExperimentRequest(experiment_id="0")).experiment.tags
    model = r.GetRegisteredModel(rpb.GetRegisteredModelRequest(name="m")).registered_model
    assert not model.tags
    version = r.GetModelVersion(rpb.GetModelVersionRequest(name="m", version="1")).model_version
    assert not version.tags


def test_mlflow_keys_are_accepted(raw, run_id, client):
    t = raw.tracking
    t.LogBatch(
        pb.LogBatchRequest(
            run_id=run_id,
            metrics=run_pb2.MetricPoints(
                keys=GOOD_KEYS, key_index=range(len(GOOD_KEYS)), values=[1.0] * len(GOOD_KEYS)
            ),
            params=[run_pb2.Param(key=k, value="v") for k in GOOD_KEYS],
            tags=[run_pb2.RunTag(key=k, value="v") for k in GOOD_KEYS],
        )
    )
    data = client.get_run(run_id).data
    assert set(data.metrics) == set(data.params) == set(GOOD_KEYS)


def test_the_client_refuses_a_bad_metric_key_before_queueing_it(tracking):
    """A refused key would refuse its whole streamed batch: the writer checks it first."""
    with trackwire.start_run() as run:
        trackwire.log_metric("good", 1.0)
        with pytest.raises(InvalidArgumentError, match=r"metric key '\.\./x'.*'\.\.' segment"):
            trackwire.log_metric("../x", 1.0)
        trackwire.log_metric("good", 2.0, step=1)
    history = trackwire.TrackwireClient(tracking.uri).get_metric_history(run.info.run_id, "good")
    assert [m.value for m in history] == [1.0, 2.0]


def test_keys_stored_before_the_rules_can_still_be_read_and_deleted(server, raw, run_id):
    db = open_database(server.db_url)
    with db.connection_context():
        db_tags = schema.bind_tables(db).RunTag
        db_tags.insert(run_id=run_id, key="../legacy", value="old").execute()
    db.close()
    tags = raw.tracking.GetRun(pb.GetRunRequest(run_id=run_id)).run.data.tags
    assert "../legacy" in {tag.key for tag in tags}
    raw.tracking.DeleteRunTag(pb.DeleteRunTagRequest(run_id=run_id, key="../legacy"))
    tags = raw.tracking.GetRun(pb.GetRunRequest(run_id=run_id)).run.data.tags
    assert "../legacy" not in {tag.key for tag in tags}


# -- names and artifact paths --------------------------------------------------------------


BAD_TEXT = [
    "a\x07b",
    "\x1b[2J\x1b[Hcleared",
    "evil\u202egnp.exe",
    "a\u2066b",
    "line\nbreak",
    "x\x85",
]


@pytest.mark.parametrize("name", BAD_TEXT, ids=repr)
def test_artifact_names_with_control_or_bidi_characters_are_refused(server, raw, run_id, name):
    header = apb.UploadArtifactHeader(run_id=run_id, path=f"dir/{name}")
    upload = apb.UploadArtifactRequest(header=header, data=b"x")
    refused(lambda: raw.artifacts.UploadArtifact(iter([upload])), "header.path")
    refused(
        lambda: list(
            raw.artifacts.DownloadArtifact(apb.DownloadArtifactRequest(run_id=run_id, path=name))
        ),
        "path",
    )
    refused(
        lambda: raw.artifacts.ListArtifacts(apb.ListArtifactsRequest(run_id=run_id, path=name)),
        "path",
    )
    assert not list(server.artifacts.rglob("dir"))


@pytest.mark.parametrize("name", BAD_TEXT, ids=repr)
def test_names_with_control_or_bidi_characters_are_refused(raw, run_id, name):
    t = raw.tracking
    refused(lambda: t.CreateExperiment(pb.CreateExperimentRequest(name=name)), "name")
    refused(lambda: t.CreateRun(pb.CreateRunRequest(experiment_id="0", run_name=name)), "run_name")
    refused(lambda: t.UpdateRun(pb.UpdateRunRequest(run_id=run_id, run_name=name)), "run_name")
    refused(
        lambda: raw.registry.CreateRegisteredModel(rpb.CreateRegisteredModelRequest(name=name)),
        "name",
    )
    names = [e.name for e in t.SearchExperiments(pb.SearchExperimentsRequest()).experiments]
    assert names == ["Default"]


# -- model-version sources ---------------------------------------------------------------------


def test_percent_encoded_sources_are_decoded_before_they_are_checked(raw, run_id):
    r = raw.registry
    r.CreateRegisteredModel(rpb.CreateRegisteredModelRequest(name="Churn"))
    run_uri = raw.tracking.GetRun(pb.GetRunRequest(run_id=run_id)).run.info.artifact_uri
    for source, given_run_id in (
        (f"runs:/{run_id}/%2e%2e/%2e%2e", ""),
        (f"runs:/{run_id}/model/%2E%2E/%2e%2E/%2e%2e/etc", ""),
        (f"runs:/{run_id}/..%2f..%2fx", ""),
        (f"runs:/{run_id}/%252e%252e/%252e%252e", ""),
        (f"runs:/{run_id}/model%5c..%5c..", ""),
        (f"runs:/{run_id}/mo\x1bdel", ""),
        (f"{run_uri}/..%2f..%2fx", run_id),
        (f"{run_uri}/%2e%2e/%2e%2e", run_id),
        (f"{run_uri}/%25252e%25252e/x", run_id),
    ):
        request = rpb.CreateModelVersionRequest(name="Churn", source=source, run_id=given_run_id)
        refused(lambda request=request: r.CreateModelVersion(request), "source")
    model = r.GetRegisteredModel(rpb.GetRegisteredModelRequest(name="Churn")).registered_model
    assert not model.latest_versions
    # An encoded name that stays inside the run is fine.
    request = rpb.CreateModelVersionRequest(name="Churn", source=f"runs:/{run_id}/my%20model")
    assert r.CreateModelVersion(request).model_version.version == "1"


# -- run ids -------------------------------------------------------------------------------------


MALFORMED_RUN_IDS = ["abc123...", "0" * 31, "A" * 32, "g" * 32, "../" + "0" * 29, "0" * 33]


@pytest.mark.parametrize("bad", MALFORMED_RUN_IDS)
def test_malformed_run_ids_are_invalid_argument_naming_the_field(raw, run_id, bad):
    t, a, r = raw.tracking, raw.artifacts, raw.registry
    calls = {
        "GetRun": (lambda: t.GetRun(pb.GetRunRequest(run_id=bad)), "run_id"),
        "UpdateRun": (lambda: t.UpdateRun(pb.UpdateRunRequest(run_id=bad, status=3)), "run_id"),
        "DeleteRun": (lambda: t.DeleteRun(pb.DeleteRunRequest(run_id=bad)), "run_id"),
        "RestoreRun": (lambda: t.RestoreRun(pb.RestoreRunRequest(run_id=bad)), "run_id"),
        "SetRunTag": (
            lambda: t.SetRunTag(
                pb.SetRunTagRequest(run_id=bad, tag=run_pb2.RunTag(key="k", value="v"))
            ),
            "run_id",
        ),
        "DeleteRunTag": (
            lambda: t.DeleteRunTag(pb.DeleteRunTagRequest(run_id=bad, key="k")),
            "run_id",
        ),
        "LogBatch": (
            lambda: t.LogBatch(
                pb.LogBatchRequest(run_id=bad, params=[run_pb2.Param(key="k", value="v")])
            ),
            "run_id",
        ),
        "ReadMetricHistory": (
            lambda: list(
                t.ReadMetricHistory(pb.ReadMetricHistoryRequest(run_id=bad, metric_key="m"))
            ),
            "run_id",
        ),
        "BatchReadMetricHistory": (
            lambda: list(
                t.BatchReadMetricHistory(
                    pb.BatchReadMetricHistoryRequest(run_ids=[run_id, bad], metric_key="m")
                )
            ),
            "run_ids[1]",
        ),
        "WatchMetrics": (
            lambda: next(iter(t.WatchMetrics(pb.WatchMetricsRequest(run_ids=[run_id, bad])))),
            "run_ids[1]",
        ),
        "CreateRun.run_id": (
            lambda: t.CreateRun(pb.CreateRunRequest(experiment_id="0", run_id=bad)),
            "run_id",
        ),
        "CreateRun.parent_run_id": (
            lambda: t.CreateRun(pb.CreateRunRequest(experiment_id="0", parent_run_id=bad)),
            "parent_run_id",
        ),
        "UploadArtifact": (
            lambda: a.UploadArtifact(
                iter(
                    [
                        apb.UploadArtifactRequest(
                            header=apb.UploadArtifactHeader(run_id=bad, path="f.txt"), data=b"x"
                        )
                    ]
                )
            ),
            "header.run_id",
        ),
        "DownloadArtifact": (
            lambda: list(a.DownloadArtifact(apb.DownloadArtifactRequest(run_id=bad, path="f"))),
            "run_id",
        ),
        "ListArtifacts": (
            lambda: a.ListArtifacts(apb.ListArtifactsRequest(run_id=bad)),
            "run_id",
        ),
        "CreateModelVersion.run_id": (
            lambda: r.CreateModelVersion(
                rpb.CreateModelVersionRequest(name="M", source="s3://b/x", run_id=bad)
            ),
            "run_id",
        ),
        "CreateModelVersion.source": (
            lambda: r.CreateModelVersion(
                rpb.CreateModelVersionRequest(name="M", source=f"runs:/{bad}/model")
            ),
            "source",
        ),
    }
    r.CreateRegisteredModel(rpb.CreateRegisteredModelRequest(name="M"))
    for name, (call, field) in calls.items():
        message = refused(call, field)
        assert "run id" in message, (name, message)
    ack = write_metrics(raw, bad, "m")
    assert ack.error_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "run_id" in ack.error_message and "run id" in ack.error_message


def test_well_formed_unknown_run_ids_are_still_not_found(raw):
    with pytest.raises(grpc.RpcError) as caught:
        raw.tracking.GetRun(pb.GetRunRequest(run_id="0" * 32))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


# -- the client: names that become local paths --------------------------------------------------


class Echo(trackwire.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


def rewrite_mlmodel(model_dir: pathlib.Path, change) -> None:
    path = model_dir / "MLmodel"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("python_model", "../outside.pkl"),
        ("python_model", "/tmp/outside.pkl"),
        ("python_model", "%2e%2e/outside.pkl"),
        ("artifacts", {"weights": "../outside.pkl"}),
        ("code", "../"),
    ],
)
def test_model_files_named_by_mlmodel_stay_in_the_model(tmp_path, where, value):
    """A downloaded model's MLmodel is data from elsewhere: the files it names are checked
    with the server's rules before the client opens them."""
    with open(tmp_path / "outside.pkl", "wb") as f:
        pickle.dump(Echo(), f)
    model_dir = tmp_path / "model"
    trackwire.pyfunc.save_model(str(model_dir), python_model=Echo())
    assert trackwire.pyfunc.load_model(str(model_dir)).predict([1]) == [1]

    def change(data):
        data["flavors"]["python_function"][where] = value

    rewrite_mlmodel(model_dir, change)
    with pytest.raises(InvalidArgumentError, match="MLmodel"):
        trackwire.pyfunc.load_model(str(model_dir))


def test_input_example_named_by_mlmodel_stays_in_the_model(tmp_path):
    (tmp_path / "secret.json").write_text('{"secret": 1}')
    model_dir = tmp_path / "model"
    trackwire.pyfunc.save_model(str(model_dir), python_model=Echo(), input_example=[1, 2])
    rewrite_mlmodel(
        model_dir, lambda d: d["saved_input_example_info"].update(artifact_path="../secret.json")
    )
    model = trackwire.pyfunc.load_model(str(model_dir))
    with pytest.raises(InvalidArgumentError, match="saved_input_example_info"):
        model.input_example  # noqa: B018 (the property reads the file)


@SQLITE_ONLY
@pytest.mark.parametrize(
    "listing",
    [
        {"": ["../../escape.txt"]},
        {"": ["/tmp/escape.txt"]},
        {"": ["%2e%2e/%2e%2e/escape.txt"]},
        {"": ["ok/../../escape.txt"]},
        {"": ["folder"], "folder": ["folder/../../escape.txt"]},
        {"": ["folder"], "folder": ["elsewhere/escape.txt"]},
        {"": ["folder"], "folder": ["folder"]},  # a folder listing itself: no loop
    ],
)
def test_download_never_writes_outside_its_destination(
    client, run_id, tmp_path, monkeypatch, listing
):
    """What a lying (or old) server lists cannot place files outside dst_path."""
    written = []

    def fake_list(run_id, path=None):
        return [FileInfo(p, p == "folder", 1) for p in listing.get(path or "", [])]

    def fake_download(run_id, path, local):
        written.append(local)
        pathlib.Path(local).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(local).write_text("from the server")
        return local

    monkeypatch.setattr(client._transfer, "list", fake_list)
    monkeypatch.setattr(client._transfer, "download_file", fake_download)
    dst = tmp_path / "a" / "b" / "dst"
    asked = "folder" if "folder" in listing else ""
    with pytest.raises(InvalidArgumentError, match="listed"):
        client.download_artifacts(run_id, asked, str(dst))
    assert written == []
    assert [p.name for p in tmp_path.rglob("escape.txt")] == []
