"""`trackwire models serve` end to end: a scikit-learn model logged to a real tracking
server, registered and put in Production, served by `trackwire models serve` in its
own process, and scored over HTTP (every input format of MLflow's scoring protocol,
the errors) and gRPC (trackwire.v1.PredictionService from Python). --watch follows a
stage transition while a client keeps scoring, on every database (the registry is
the store); SIGTERM lets requests in flight finish.
"""

from __future__ import annotations

import io
import json
import subprocess
import threading
import time

import grpc
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import trackwire
from tests.conftest import RunningServer
from tests.support.scoring_server import ScoringServer
from tests.test_node_client import NODE_EXAMPLE, node, node_modules  # noqa: F401 (fixture)
from trackwire import fluent
from trackwire.models import infer_signature
from trackwire.serving.grpc_service import (
    predictions_from_response,
    table_from_frame,
    tensor_from_array,
)
from trackwire.v1 import prediction_service_pb2 as pb
from trackwire.v1 import prediction_service_pb2_grpc as pb_grpc

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def iris() -> tuple[pd.DataFrame, np.ndarray]:
    data = load_iris(as_frame=True)
    X = data.data.set_axis(COLUMNS, axis=1)
    return X, data.target.to_numpy()


def log_registered(server_uri: str, name: str, model, X) -> int:
    """Logs `model` with its signature and registers it; returns the version."""
    fluent.set_tracking_uri(server_uri)
    try:
        with trackwire.start_run():
            info = trackwire.sklearn.log_model(
                model,
                "model",
                registered_model_name=name,
                signature=infer_signature(X, model.predict(X)),
            )
    finally:
        fluent.set_tracking_uri(None)
    return info.registered_model_version


@pytest.fixture(scope="module")
def iris_served(tmp_path_factory):
    """A tracking server on SQLite with `iris` v1 in Production, served with a 64K body
    limit; yields (scoring server, model, X)."""
    tmp = tmp_path_factory.mktemp("serving")
    tracking = RunningServer(f"sqlite:///{tmp / 'trackwire.db'}", tmp / "artifacts")
    X, y = iris()
    model = LogisticRegression(max_iter=1000).fit(X, y)
    version = log_registered(tracking.uri, "iris", model, X)
    trackwire.TrackwireClient(tracking.uri).transition_model_version_stage(
        "iris", version, "Production"
    )
    scoring = ScoringServer(
        "models:/iris/Production", tracking.uri, str(tmp / "cache"), "--max-body-size", "64K"
    )
    yield scoring, model, X
    scoring.stop()
    tracking.stop()


def expected(model, X: pd.DataFrame) -> list:
    return model.predict(X).tolist()


def test_ping_health_version(iris_served):
    scoring, _, _ = iris_served
    assert scoring.get("/ping")[0] == 200
    assert scoring.get("/health")[0] == 200
    assert scoring.get("/version") == (200, trackwire.__version__)


def test_every_json_format_and_csv_and_parquet(iris_served):
    scoring, model, X = iris_served
    rows = X.iloc[[0, 60, 120, 7]]
    want = expected(model, rows)
    split = json.loads(rows.to_json(orient="split", index=False))
    bodies = {
        "dataframe_split": {"dataframe_split": split},
        "dataframe_split reordered": {
            "dataframe_split": {
                "columns": COLUMNS[::-1],
                "data": rows[COLUMNS[::-1]].to_numpy().tolist(),
            }
        },
        "dataframe_records": {"dataframe_records": rows.to_dict(orient="records")},
        "instances (rows)": {"instances": rows.to_dict(orient="records")},
        "instances (lists)": {"instances": rows.to_numpy().tolist()},
        "inputs (columns)": {"inputs": rows.to_dict(orient="list")},
        "inputs (lists)": {"inputs": rows.to_numpy().tolist()},
        "with extra column": {"dataframe_records": rows.assign(extra=1).to_dict(orient="records")},
        "integers for doubles": {"dataframe_split": {"columns": COLUMNS, "data": [[5, 3, 1, 0]]}},
        "with index": {"dataframe_split": json.loads(rows.to_json(orient="split"))},
    }
    for label, body in bodies.items():
        status, answer = scoring.post(body)
        assert status == 200, (label, answer)
        if label == "integers for doubles":
            assert answer == {
                "predictions": expected(
                    model, pd.DataFrame([[5.0, 3.0, 1.0, 0.0]], columns=COLUMNS)
                )
            }
        else:
            assert answer == {"predictions": want}, label
    status, answer = scoring.post(rows.to_csv(index=False), "text/csv")
    assert (status, answer) == (200, {"predictions": want})
    status, answer = scoring.post(rows.to_csv(index=False), "text/csv; charset=utf-8")
    assert (status, answer) == (200, {"predictions": want})
    parquet = io.BytesIO()
    rows.to_parquet(parquet)
    status, answer = scoring.post(parquet.getvalue(), "application/vnd.apache.parquet")
    assert (status, answer) == (200, {"predictions": want})
    # 100 rows at once
    status, answer = scoring.post(
        {"dataframe_split": json.loads(X.head(100).to_json(orient="split", index=False))}
    )
    assert (status, answer) == (200, {"predictions": expected(model, X.head(100))})


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (
            {"dataframe_split": {"columns": ["sepal_length"], "data": [[1.0]]}},
            None,
            400,
            "missing input column(s) ['sepal_width', 'petal_length', 'petal_width']",
        ),
        (
            {
                "dataframe_records": [
                    {
                        "sepal_length": "long",
                        "sepal_width": 1.0,
                        "petal_length": 1.0,
                        "petal_width": 1.0,
                    }
                ]
            },
            None,
            400,
            "column 'sepal_length' has type string",
        ),
        (
            {
                "dataframe_records": [
                    {
                        "sepal_length": None,
                        "sepal_width": 1.0,
                        "petal_length": 1.0,
                        "petal_width": 1.0,
                    }
                ]
            },
            None,
            400,
            "column 'sepal_length' is required but has 1 missing value(s)",
        ),
        ('{"dataframe_split": ', None, 400, "the body is not valid JSON"),
        ("[1, 2]", None, 400, "must be a JSON object"),
        ({"data": [[1, 2, 3, 4]]}, None, 400, "exactly one of the fields"),
        ({"dataframe_split": [[1, 2]], "instances": [[1]]}, None, 400, "exactly one of the fields"),
        ({"dataframe_split": {"data": [[1, 2, 3, 4]], "rows": 1}}, None, 400, "'data' field"),
        ({"dataframe_records": {"a": 1}}, None, 400, "must be a list of records"),
        ({"inputs": [[1.0, 2.0]]}, None, 400, "the model takes 4 column(s)"),
        (
            {"dataframe_split": {"columns": COLUMNS, "data": [[1.0]]}},
            None,
            400,
            "every row must have 4 values",
        ),
        ("sepal_length,sepal_width\n1.0,oops\n", "text/csv", 400, "sepal_width"),
        (b"not parquet", "application/vnd.apache.parquet", 400, "not a valid Parquet file"),
        ({"inputs": [[1, 2, 3, 4]]}, "text/plain", 415, "is not one of"),
        ({"inputs": [[1, 2, 3, 4]]}, "application/json; charset=latin-1", 415, "UTF-8"),
        ({"inputs": [[1.0, 2.0, 3.0, 4.0]] * 3000}, None, 413, "larger than the limit of 65536"),
    ],
)
def test_bad_requests_are_4xx_with_the_message(iris_served, body, content_type, status, message):
    scoring, _, _ = iris_served
    got, answer = scoring.post(body, content_type or "application/json")
    assert got == status, answer
    assert message in answer["message"], answer
    assert answer["error_code"] in (
        "BAD_REQUEST",
        "UNSUPPORTED_MEDIA_TYPE",
        "REQUEST_ENTITY_TOO_LARGE",
    )
    # the server is fine afterwards
    assert scoring.get("/ping")[0] == 200


def test_integer_and_double_columns_side_by_side(tmp_path):
    """A long column beside a double one: integers are refused nowhere they fit, fractions
    are refused in the long column, by name (the general path, not the fast one)."""
    tracking = RunningServer(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "artifacts")
    try:
        X = pd.DataFrame({"count": [1, 2, 3, 4, 5, 6], "ratio": [0.1, 0.9, 0.2, 0.8, 0.3, 0.7]})
        model = LogisticRegression().fit(X, [0, 1, 0, 1, 0, 1])
        log_registered(tracking.uri, "mixed", model, X)
        with ScoringServer("models:/mixed/1", tracking.uri, str(tmp_path / "cache")) as scoring:
            rows = [[2, 0.85], [5, 0.1]]
            want = (
                200,
                {"predictions": model.predict(pd.DataFrame(rows, columns=X.columns)).tolist()},
            )
            assert (
                scoring.post({"dataframe_split": {"columns": ["count", "ratio"], "data": rows}})
                == want
            )
            assert scoring.post({"inputs": {"count": [2, 5], "ratio": [0.85, 0.1]}}) == want
            assert scoring.post("count,ratio\n2,0.85\n5,0.1\n", "text/csv") == want
            status, answer = scoring.post(
                {"dataframe_split": {"columns": ["count", "ratio"], "data": [[2.5, 0.85]]}}
            )
            assert status == 400
            assert "column 'count' has type double" in answer["message"], answer
    finally:
        tracking.stop()


def test_unknown_paths_and_methods(iris_served):
    import urllib.error
    import urllib.request

    scoring, _, _ = iris_served
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(scoring.url + "/predict")
    assert e.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(scoring.url + "/invocations")
    assert e.value.code == 405


def test_grpc_prediction_service_from_python(iris_served):
    scoring, model, X = iris_served
    rows = X.iloc[[1, 51, 101]]
    with grpc.insecure_channel(scoring.grpc_target) as channel:
        stub = pb_grpc.PredictionServiceStub(channel)
        table = stub.Predict(pb.PredictRequest(table=table_from_frame(rows)), timeout=30)
        assert predictions_from_response(table).tolist() == expected(model, rows)
        assert table.model_uri_resolved == "models:/iris/1"
        tensor = stub.Predict(
            pb.PredictRequest(tensor=tensor_from_array(rows.to_numpy())), timeout=30
        )
        assert predictions_from_response(tensor).tolist() == expected(model, rows)

        served = stub.GetServedModel(pb.GetServedModelRequest(), timeout=30)
        assert served.model_uri == "models:/iris/Production"
        assert served.model_uri_resolved == "models:/iris/1"
        assert [
            c["name"] for c in json.loads(json.loads(served.signature_json)["inputs"])
        ] == COLUMNS

        bad = pb.PredictRequest(table=table_from_frame(rows[["sepal_length"]]))
        with pytest.raises(grpc.RpcError) as e:
            stub.Predict(bad, timeout=30)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "missing input column(s)" in e.value.details()
        ragged = pb.PredictRequest(
            tensor=pb.Tensor(shape=[2, 4], doubles=pb.DoubleValues(values=[1.0, 2.0]))
        )
        with pytest.raises(grpc.RpcError) as e:
            stub.Predict(ragged, timeout=30)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "has shape [2, 4] (8 values) but 2 values" in e.value.details()
        with pytest.raises(grpc.RpcError) as e:
            stub.Predict(pb.PredictRequest(), timeout=30)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "no input" in e.value.details()


@pytest.mark.skipif(node is None, reason="the Node.js example needs `node` and `npm` on PATH")
@pytest.mark.timeout(600)
def test_grpc_prediction_service_from_node(iris_served, node_modules):  # noqa: F811
    scoring, model, X = iris_served
    result = subprocess.run(
        [node, "predict.js", scoring.grpc_target],
        cwd=NODE_EXAMPLE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, output
    lines = result.stdout.splitlines()
    assert "MODEL models:/iris/1" in lines, output
    assert lines[-1] == "OK predict", output
    predictions = json.loads(next(x for x in lines if x.startswith("PREDICTIONS "))[12:])
    rows = pd.DataFrame(
        [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]], columns=COLUMNS
    )
    assert predictions == expected(model, rows) == [0, 1, 2]


def test_concurrent_requests(iris_served):
    scoring, model, X = iris_served
    want = {"predictions": expected(model, X.head(10))}
    body = {"dataframe_split": json.loads(X.head(10).to_json(orient="split", index=False))}
    answers: list = []

    def client():
        for _ in range(25):
            answers.append(scoring.post(body))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [(200, want)] * 200


@pytest.mark.timeout(240)
def test_watch_follows_a_stage_transition_without_dropping_requests(backend, tmp_path):
    tracking = RunningServer(backend, tmp_path / "artifacts")
    try:
        X, y = iris()
        first = LogisticRegression(max_iter=1000).fit(X, y)
        second = LogisticRegression(max_iter=1000).fit(X, (y + 1) % 3)  # other answers
        client = trackwire.TrackwireClient(tracking.uri)
        v1 = log_registered(tracking.uri, "watched", first, X)
        v2 = log_registered(tracking.uri, "watched", second, X)
        client.transition_model_version_stage("watched", v1, "Production")
        rows = X.iloc[[0, 50, 100]]
        old, new = expected(first, rows), expected(second, rows)
        assert old != new
        body = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
        with ScoringServer(
            "models:/watched/Production", tracking.uri, str(tmp_path / "cache"),
            "--watch", "--watch-interval", "0.2",
        ) as scoring:  # fmt: skip
            answers: list = []
            stop = threading.Event()

            def keep_scoring():
                while not stop.is_set():
                    answers.append(scoring.post(body))

            clients = [threading.Thread(target=keep_scoring) for _ in range(3)]
            for t in clients:
                t.start()
            time.sleep(1.0)
            client.transition_model_version_stage(
                "watched", v2, "Production", archive_existing_versions=True
            )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and (200, {"predictions": new}) not in answers[-3:]:
                time.sleep(0.1)
            time.sleep(0.5)
            stop.set()
            for t in clients:
                t.join()
            with grpc.insecure_channel(scoring.grpc_target) as channel:
                served = pb_grpc.PredictionServiceStub(channel).GetServedModel(
                    pb.GetServedModelRequest(), timeout=30
                )
            output = scoring.output()
        failures = [a for a in answers if a[0] != 200]
        assert failures == [], output
        seen = [a[1]["predictions"] for a in answers]
        assert set(map(tuple, seen)) == {tuple(old), tuple(new)}, output
        switch = seen.index(new)
        assert all(p == old for p in seen[:switch])
        assert seen[-1] == new
        assert served.model_uri_resolved == f"models:/watched/{v2}"
        assert "moved from models:/watched/1 to models:/watched/2" in output
    finally:
        tracking.stop()


def test_alias_is_resolved_at_start_and_followed(tmp_path):
    tracking = RunningServer(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "artifacts")
    try:
        X, y = iris()
        first = LogisticRegression(max_iter=1000).fit(X, y)
        second = LogisticRegression(max_iter=1000).fit(X, (y + 2) % 3)
        client = trackwire.TrackwireClient(tracking.uri)
        v1 = log_registered(tracking.uri, "aliased", first, X)
        v2 = log_registered(tracking.uri, "aliased", second, X)
        client.set_registered_model_alias("aliased", "champion", v1)
        rows = X.iloc[[0, 50, 100]]
        body = {"dataframe_records": rows.to_dict(orient="records")}
        with ScoringServer(
            "models:/aliased@champion", tracking.uri, str(tmp_path / "cache"),
            "--watch", "--watch-interval", "0.2",
        ) as scoring:  # fmt: skip
            assert scoring.post(body) == (200, {"predictions": expected(first, rows)})
            client.set_registered_model_alias("aliased", "champion", v2)
            want = (200, {"predictions": expected(second, rows)})
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and scoring.post(body) != want:
                time.sleep(0.1)
            assert scoring.post(body) == want, scoring.output()
    finally:
        tracking.stop()


def test_a_model_uri_that_names_nothing_fails_at_start(tmp_path):
    tracking = RunningServer(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "artifacts")
    try:
        with pytest.raises(RuntimeError, match="models serve exited") as e:
            ScoringServer("models:/nothing/Production", tracking.uri, str(tmp_path / "cache"))
        assert "cannot serve 'models:/nothing/Production'" in str(e.value)
    finally:
        tracking.stop()


class SlowModel(trackwire.pyfunc.PythonModel):
    """Answers after `seconds`, with the row count."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def predict(self, context, model_input, params=None):
        time.sleep(self.seconds)
        return [len(model_input)] * len(model_input)


class ScaledTensor(trackwire.pyfunc.PythonModel):
    """A tensor model with a parameter: each row's sum, times `scale`."""

    def predict(self, context, model_input, params=None):
        return np.asarray(model_input).sum(axis=1) * params["scale"]


def test_tensor_models_and_params(tmp_path):
    tracking = RunningServer(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "artifacts")
    try:
        example = np.array([[1.0, 2.0, 3.0]])
        signature = infer_signature(example, np.array([6.0]), params={"scale": 1.0})
        fluent.set_tracking_uri(tracking.uri)
        try:
            with trackwire.start_run() as run:
                trackwire.pyfunc.log_model(
                    "scaled", python_model=ScaledTensor(), signature=signature
                )
        finally:
            fluent.set_tracking_uri(None)
        uri = f"runs:/{run.info.run_id}/scaled"
        with ScoringServer(uri, tracking.uri, str(tmp_path / "cache")) as scoring:
            rows = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
            assert scoring.post({"inputs": rows}) == (200, {"predictions": [6.0, 15.0]})
            assert scoring.post({"instances": rows, "params": {"scale": 2.0}}) == (
                200,
                {"predictions": [12.0, 30.0]},
            )
            status, answer = scoring.post({"inputs": rows, "params": {"scale": "big"}})
            assert status == 400 and "param 'scale' must be of type double" in answer["message"]
            status, answer = scoring.post({"inputs": [[1.0, 2.0]]})
            assert (
                status == 400
                and "has shape (1, 2) but the model takes shape (-1, 3)" in (answer["message"])
            )
            status, answer = scoring.post({"inputs": rows, "params": [1]})
            assert status == 400 and "params must be a JSON object" in answer["message"]
            with grpc.insecure_channel(scoring.grpc_target) as channel:
                stub = pb_grpc.PredictionServiceStub(channel)
                response = stub.Predict(
                    pb.PredictRequest(tensor=tensor_from_array(rows), params_json='{"scale": 10}'),
                    timeout=30,
                )
                assert predictions_from_response(response).tolist() == [60.0, 150.0]
                with pytest.raises(grpc.RpcError) as e:
                    stub.Predict(
                        pb.PredictRequest(tensor=tensor_from_array(rows), params_json="{"),
                        timeout=30,
                    )
                assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "params_json is not valid JSON" in e.value.details()
    finally:
        tracking.stop()


class FailingModel(trackwire.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        raise RuntimeError(f"cannot score {len(model_input)} rows today")


def test_a_model_that_raises_is_a_400_with_its_message(tmp_path):
    tracking = RunningServer(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "artifacts")
    try:
        fluent.set_tracking_uri(tracking.uri)
        try:
            with trackwire.start_run() as run:
                trackwire.pyfunc.log_model("failing", python_model=FailingModel())
        finally:
            fluent.set_tracking_uri(None)
        uri = f"runs:/{run.info.run_id}/failing"
        with ScoringServer(uri, tracking.uri, str(tmp_path / "cache")) as scoring:
            status, answer = scoring.post({"dataframe_records": [{"x": 1}, {"x": 2}]})
            assert status == 400, answer
            assert answer["message"] == (
                "the model could not score this input (RuntimeError): cannot score 2 rows today"
            )
            with grpc.insecure_channel(scoring.grpc_target) as channel:
                stub = pb_grpc.PredictionServiceStub(channel)
                request = pb.PredictRequest(table=table_from_frame(pd.DataFrame({"x": [1.0]})))
                with pytest.raises(grpc.RpcError) as e:
                    stub.Predict(request, timeout=30)
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "cannot score 1 rows today" in e.value.details()
    finally:
        tracking.stop()


def test_slow_requests_run_concurrently_and_sigterm_lets_them_finish(tmp_path):
    tracking = RunningServer(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "artifacts")
    try:
        fluent.set_tracking_uri(tracking.uri)
        try:
            with trackwire.start_run() as run:
                trackwire.pyfunc.log_model("slow", python_model=SlowModel(1.5))
        finally:
            fluent.set_tracking_uri(None)
        scoring = ScoringServer(
            f"runs:/{run.info.run_id}/slow", tracking.uri, str(tmp_path / "cache")
        )
        answers: list = []
        body = {"dataframe_records": [{"x": 1.0}, {"x": 2.0}]}
        clients = [
            threading.Thread(target=lambda: answers.append(scoring.post(body))) for _ in range(4)
        ]
        started = time.monotonic()
        for t in clients:
            t.start()
        time.sleep(0.5)  # the four are being scored
        code = scoring.stop()
        for t in clients:
            t.join()
        elapsed = time.monotonic() - started
        assert answers == [(200, {"predictions": [2, 2]})] * 4, scoring.output()
        assert code == 0, scoring.output()
        # four 1.5 s predictions side by side, not one after the other
        assert elapsed < 4.5, elapsed
        with pytest.raises(OSError):
            scoring.get("/ping")
    finally:
        tracking.stop()


def test_several_workers_share_the_ports(iris_served, tmp_path):
    served, model, X = iris_served
    rows = X.iloc[[3, 70, 140]]
    with ScoringServer(
        served.model_uri, served.tracking_uri, str(tmp_path / "cache"), "--workers", "2"
    ) as scoring:
        for _ in range(10):
            assert scoring.post({"inputs": rows.to_dict(orient="list")}) == (
                200,
                {"predictions": expected(model, rows)},
            )
        with grpc.insecure_channel(scoring.grpc_target) as channel:
            stub = pb_grpc.PredictionServiceStub(channel)
            response = stub.Predict(pb.PredictRequest(table=table_from_frame(rows)), timeout=30)
        assert predictions_from_response(response).tolist() == expected(model, rows)
        code = scoring.stop()
    assert code == 0
