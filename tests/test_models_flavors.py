"""Model flavors end to end, through a real server: train a small real model, log it with
a signature and an input example, load it back from runs:/ natively and as pyfunc, and
get the original's predictions.

The model format lives on the client and in the artifact store; the database only holds
the run, so these run on SQLite alone (the artifact tests cover every database).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_diabetes, load_iris

import trackwire
from trackwire.models import infer_signature


@pytest.fixture
def backend(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'trackwire.db'}"


@pytest.fixture(autouse=True)
def model_cache(tmp_path, monkeypatch):
    cache = tmp_path / "model-cache"
    monkeypatch.setenv("TRACKWIRE_MODEL_CACHE", str(cache))
    return cache


@pytest.fixture
def iris() -> tuple[pd.DataFrame, np.ndarray]:
    data = load_iris(as_frame=True)
    X = data.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    return X, data.target.to_numpy()


@pytest.fixture
def diabetes() -> tuple[pd.DataFrame, np.ndarray]:
    data = load_diabetes(as_frame=True)
    return data.data, data.target.to_numpy()


def log_and_reload(flavor, model, X, expected, client, **log_kwargs):
    """Logs `model` with `flavor`, then loads it from runs:/ natively and as pyfunc.
    Returns (native model, pyfunc model, run id)."""
    name = f"{flavor.FLAVOR_NAME}-model"
    with trackwire.start_run() as run:
        info = flavor.log_model(model, "model", registered_model_name=name, **log_kwargs)
    run_id = run.info.run_id
    uri = f"runs:/{run_id}/model"
    assert info.model_uri == uri and info.run_id == run_id
    assert info.registered_model_version == 1
    files = {f.path for f in client.list_artifacts(run_id, "model")}
    assert {"model/MLmodel", "model/requirements.txt", "model/python_env.yaml"} <= files
    native = flavor.load_model(uri)
    loaded = trackwire.pyfunc.load_model(uri)
    assert_same(loaded.predict(X), expected)
    # the same files through the registry
    from_registry = trackwire.pyfunc.load_model(f"models:/{name}/1")
    assert_same(from_registry.predict(X), expected)
    assert type(flavor.load_model(f"models:/{name}/latest")) is type(native)
    return native, loaded, run_id


def assert_same(actual, expected) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(actual, expected)


def mlmodel(client, run_id: str, tmp_path) -> dict:
    local = client.download_artifacts(run_id, "model/MLmodel", str(tmp_path / "mlmodel"))
    with open(local) as f:
        return yaml.safe_load(f)


# -- scikit-learn ------------------------------------------------------------------------


def test_sklearn_forest_with_signature_and_example(tracking, client, iris, tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    expected = model.predict(X)
    signature = infer_signature(X, expected)
    native, loaded, run_id = log_and_reload(
        trackwire.sklearn,
        model,
        X,
        expected,
        client,
        signature=signature,
        input_example=X.head(5),
    )
    assert_same(native.predict(X), expected)
    assert_same(native.predict_proba(X), model.predict_proba(X))
    assert loaded.signature == signature
    pd.testing.assert_frame_equal(loaded.input_example, X.head(5).reset_index(drop=True))

    descriptor = mlmodel(client, run_id, tmp_path)
    assert set(descriptor) >= {
        "artifact_path",
        "flavors",
        "model_uuid",
        "run_id",
        "saved_input_example_info",
        "signature",
        "trackwire_version",
        "utc_time_created",
    }
    assert descriptor["run_id"] == run_id and descriptor["artifact_path"] == "model"
    assert descriptor["flavors"]["sklearn"]["serialization_format"] == "skops"
    assert descriptor["flavors"]["python_function"]["loader_module"] == "trackwire.sklearn"
    assert json.loads(descriptor["signature"]["inputs"])[0] == {
        "type": "double",
        "name": "sepal_length",
        "required": True,
    }
    assert descriptor["saved_input_example_info"]["type"] == "dataframe"
    requirements = client.download_artifacts(run_id, "model/requirements.txt", str(tmp_path))
    import sklearn

    with open(requirements) as f:
        assert f"scikit-learn=={sklearn.__version__}\n" in f.read()


def test_sklearn_pipeline_with_no_other_argument(tracking, client, iris):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    native, loaded, _ = log_and_reload(trackwire.sklearn, model, X, model.predict(X), client)
    assert loaded.signature is None
    assert_same(native.predict_proba(X), model.predict_proba(X))
    # without a signature, a dict of scalars is one row and a list of dicts is rows
    row = X.iloc[0].to_dict()
    assert_same(loaded.predict(row), model.predict(X.head(1)))
    assert_same(loaded.predict([row, X.iloc[1].to_dict()]), model.predict(X.head(2)))


class ShiftedRegressor:
    """A hand-written estimator: skops cannot build it without trusting this module."""

    def __init__(self, shift: float = 1.0):
        self.shift = shift

    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_ + self.shift)


def test_mlflow_3_keywords(tracking, client, iris):
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    model = DecisionTreeClassifier(random_state=0).fit(X, y)
    with trackwire.start_run() as run:
        info = trackwire.sklearn.log_model(sk_model=model, name="tree")
    assert info.model_uri == f"runs:/{run.info.run_id}/tree"
    assert_same(trackwire.pyfunc.load_model(info.model_uri).predict(X), model.predict(X))


def test_sklearn_custom_estimator_falls_back_to_cloudpickle(tracking, client, diabetes, tmp_path):
    X, y = diabetes
    model = ShiftedRegressor(2.5).fit(X, y)
    _, _, run_id = log_and_reload(trackwire.sklearn, model, X, model.predict(X), client)
    flavor = mlmodel(client, run_id, tmp_path)["flavors"]["sklearn"]
    assert flavor["serialization_format"] == "cloudpickle"
    assert flavor["pickled_model"] == "model.pkl"


def test_sklearn_skops_file_with_foreign_types_is_refused(tmp_path):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "m"
    model = FunctionTransformer(np.log1p).fit(np.ones((3, 2)))
    trackwire.sklearn.save_model(model, str(path))
    assert (
        yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sklearn"]["serialization_format"]
        == "skops"
    )
    # Someone swaps in a skops file that references os.system: it is not loaded.
    (path / "model.skops").write_bytes(sio.dumps(FunctionTransformer(os.system)))
    with pytest.raises(trackwire.TrackwireException, match=r"types outside .*posix.system"):
        trackwire.sklearn.load_model(str(path))


# -- XGBoost -----------------------------------------------------------------------------


def test_xgboost_classifier(tracking, client, iris, tmp_path):
    import xgboost as xgb

    X, y = iris
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y)
    expected = model.predict(X)
    native, _, run_id = log_and_reload(
        trackwire.xgboost,
        model,
        X,
        expected,
        client,
        signature=infer_signature(X, expected),
        input_example=X.head(5),
    )
    assert isinstance(native, xgb.XGBClassifier)
    assert_same(native.predict_proba(X), model.predict_proba(X))
    assert mlmodel(client, run_id, tmp_path)["flavors"]["xgboost"]["data"] == "model.ubj"


def test_xgboost_booster(tracking, client, diabetes):
    import xgboost as xgb

    X, y = diabetes
    booster = xgb.train({"max_depth": 3}, xgb.DMatrix(X, label=y), num_boost_round=20)
    expected = booster.predict(xgb.DMatrix(X))
    native, _, _ = log_and_reload(
        trackwire.xgboost,
        booster,
        X,
        expected,
        client,
        signature=infer_signature(X, expected),
        input_example=X.head(5),
        model_format="json",
    )
    assert isinstance(native, xgb.Booster)
    assert_same(native.predict(xgb.DMatrix(X)), expected)


# -- LightGBM ----------------------------------------------------------------------------


def test_lightgbm_classifier(tracking, client, iris):
    import lightgbm as lgb

    X, y = iris
    model = lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(X, y)
    expected = model.predict(X)
    native, _, _ = log_and_reload(
        trackwire.lightgbm,
        model,
        X,
        expected,
        client,
        signature=infer_signature(X, expected),
        input_example=X.head(5),
    )
    assert isinstance(native, lgb.LGBMClassifier)
    assert_same(native.predict_proba(X), model.predict_proba(X))


def test_lightgbm_booster(tracking, client, diabetes, tmp_path):
    import lightgbm as lgb

    X, y = diabetes
    booster = lgb.train(
        {"objective": "regression", "verbose": -1}, lgb.Dataset(X, label=y), num_boost_round=20
    )
    expected = booster.predict(X)
    native, _, run_id = log_and_reload(
        trackwire.lightgbm,
        booster,
        X,
        expected,
        client,
        signature=infer_signature(X, expected),
        input_example=X.head(5),
    )
    assert isinstance(native, lgb.Booster)
    assert_same(native.predict(X), expected)
    local = client.download_artifacts(run_id, "model/model.lgb", str(tmp_path))
    with open(local) as f:
        assert f.read().startswith("tree\n")  # LightGBM's own text format


# -- PyTorch -----------------------------------------------------------------------------


def train_torch_module():
    import torch

    torch.manual_seed(0)
    X, y = load_iris(return_X_y=True)
    X = torch.tensor(X, dtype=torch.float32)
    y = torch.tensor(y)
    module = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    optimizer = torch.optim.Adam(module.parameters(), lr=0.05)
    for _ in range(30):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(module(X), y).backward()
        optimizer.step()
    module.eval()
    with torch.no_grad():
        expected = module(X).numpy()
    return module, X.numpy(), expected


def test_pytorch_module_with_signature(tracking, client):
    import torch

    module, X, expected = train_torch_module()
    native, loaded, run_id = log_and_reload(
        trackwire.pytorch,
        module,
        X,
        expected,
        client,
        signature=infer_signature(X, expected),
        input_example=X[:5],
    )
    with torch.no_grad():
        assert_same(native(torch.from_numpy(X)).numpy(), expected)
    assert isinstance(loaded.predict(X), np.ndarray)
    # the state dict loads without unpickling code, into a module built by hand
    state = trackwire.pytorch.load_state_dict(f"runs:/{run_id}/model")
    rebuilt = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    rebuilt.load_state_dict(state)
    with torch.no_grad():
        assert_same(rebuilt(torch.from_numpy(X)).numpy(), expected)


def test_pytorch_module_without_input_example(tracking, client):
    module, X, expected = train_torch_module()
    _, loaded, _ = log_and_reload(trackwire.pytorch, module, X, expected, client)
    assert loaded.signature is None
    # a float64 DataFrame is fed to the float32 module
    assert_same(loaded.predict(pd.DataFrame(X.astype(np.float64))), expected)


# -- TensorFlow / Keras --------------------------------------------------------------------


def test_tensorflow_keras_model(tracking, client, iris, tmp_path):
    import keras

    X, y = iris
    X = X.to_numpy(dtype=np.float32)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)]
    )
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(True))
    model.fit(X, y, epochs=2, verbose=0)
    expected = model.predict(X, verbose=0)
    native, _, run_id = log_and_reload(
        trackwire.tensorflow,
        model,
        X,
        expected,
        client,
        signature=infer_signature(X, expected),
        input_example=X[:5],
    )
    assert_same(native.predict(X, verbose=0), expected)
    assert mlmodel(client, run_id, tmp_path)["flavors"]["tensorflow"]["data"] == "model.keras"


# -- custom pyfunc -----------------------------------------------------------------------


def test_custom_python_model_with_artifacts_and_code(tracking, client, tmp_path):
    lookup = tmp_path / "weights.json"
    lookup.write_text(json.dumps({"scale": 3.0}))
    helper = tmp_path / "helper_code" / "tw_scaling_helper.py"
    helper.parent.mkdir()
    helper.write_text("def scale(values, factor):\n    return values * factor\n")

    class Scaler(trackwire.pyfunc.PythonModel):
        def load_context(self, context):
            with open(context.artifacts["weights"]) as f:
                self.factor = json.load(f)["scale"]

        def predict(self, context, model_input, params=None):
            import tw_scaling_helper

            return tw_scaling_helper.scale(model_input["x"].to_numpy(), self.factor)

    X = pd.DataFrame({"x": [1.0, 2.0, 4.0]})
    with trackwire.start_run() as run:
        trackwire.pyfunc.log_model(
            "custom_model",
            python_model=Scaler(),
            artifacts={"weights": str(lookup)},
            code_paths=[str(helper)],
            signature=infer_signature(X, np.array([3.0, 6.0, 12.0])),
        )
    loaded = trackwire.pyfunc.load_model(f"runs:/{run.info.run_id}/custom_model")
    assert_same(loaded.predict(X), [3.0, 6.0, 12.0])
    assert_same(loaded.predict({"x": [1, 2]}), [3.0, 6.0])  # ints widen to double
    assert isinstance(loaded.unwrap_python_model(), Scaler)


# -- loading -------------------------------------------------------------------------------


def test_runs_uri_is_downloaded_once_then_served_from_the_cache(
    tracking, client, iris, model_cache
):
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    model = DecisionTreeClassifier(random_state=0).fit(X, y)
    with trackwire.start_run() as run:
        trackwire.sklearn.log_model(model, "tree")
    uri = f"runs:/{run.info.run_id}/tree"
    first = trackwire.pyfunc.load_model(uri)
    assert first.model_dir.startswith(str(model_cache))
    client.delete_run(run.info.run_id)  # the server copy is not needed any more
    tracking.stop()
    second = trackwire.pyfunc.load_model(uri)
    assert second.model_dir == first.model_dir
    assert_same(second.predict(X), model.predict(X))


def test_file_uri_and_plain_path(tracking, client, iris, tmp_path):
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    model = DecisionTreeClassifier(random_state=0).fit(X, y)
    with trackwire.start_run() as run:
        trackwire.sklearn.log_model(model, "tree")
    local = client.download_artifacts(run.info.run_id, "tree", str(tmp_path / "dl"))
    for uri in (local, f"file://{local}"):
        assert_same(trackwire.sklearn.load_model(uri).predict(X), model.predict(X))
        assert_same(trackwire.pyfunc.load_model(uri).predict(X), model.predict(X))


def test_missing_model_and_bad_uris(tracking, tmp_path):
    with pytest.raises(trackwire.TrackwireException, match="does not exist"):
        trackwire.pyfunc.load_model(str(tmp_path / "nowhere"))
    with pytest.raises(trackwire.TrackwireException, match="is not runs:/, models:/"):
        trackwire.pyfunc.load_model("ftp://host/model")
    with trackwire.start_run() as run:
        pass
    with pytest.raises(trackwire.TrackwireException, match="'model' does not exist"):
        trackwire.pyfunc.load_model(f"runs:/{run.info.run_id}/model")


def test_models_uris_follow_stages_and_aliases(tracking, client, iris, model_cache):
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    trees = [DecisionTreeClassifier(max_depth=d, random_state=0).fit(X, y) for d in (1, 3)]
    for tree in trees:
        with trackwire.start_run():
            trackwire.sklearn.log_model(tree, "model", registered_model_name="Iris")
    client.set_registered_model_alias("Iris", "champion", 1)
    client.transition_model_version_stage("Iris", 2, "Staging")
    cases = {
        "models:/Iris@champion": trees[0],
        "models:/Iris/Staging": trees[1],
        "models:/Iris/latest": trees[1],
        "models:/Iris/1": trees[0],
    }
    for uri, tree in cases.items():
        assert_same(trackwire.pyfunc.load_model(uri).predict(X), tree.predict(X))
    # moving the alias is seen at the next load; both versions stay cached
    client.set_registered_model_alias("Iris", "champion", 2)
    assert_same(
        trackwire.sklearn.load_model("models:/Iris@champion").predict(X), trees[1].predict(X)
    )
    assert len([p for p in model_cache.iterdir() if not p.name.startswith(".")]) == 2
    with pytest.raises(trackwire.TrackwireException, match="no version in stage 'Production'"):
        trackwire.pyfunc.load_model("models:/Iris/Production")


def test_pytorch_weights_are_streamed_and_memory_mapped(tracking, client, tmp_path):
    """log_model uploads model.pth and state_dict.pth while torch.save writes them (the
    same bytes save_model writes to disk); load_model maps them, and a loaded module
    changed in place leaves the cached file, and the next load, as they were."""
    import torch

    module, X, expected = train_torch_module()
    with trackwire.start_run() as run:
        info = trackwire.pytorch.log_model(module, "model")
    files = {f.path: f.file_size for f in client.list_artifacts(run.info.run_id, "model")}
    local = tmp_path / "saved"
    trackwire.pytorch.save_model(module, str(local))
    for name in ("model.pth", "state_dict.pth"):
        assert files[f"model/{name}"] == (local / name).stat().st_size > 0
    # model_size_bytes counts the streamed files as save_model counts the files on disk
    logged = trackwire.models.Model.load(
        trackwire.artifacts.download_artifacts(f"{info.model_uri}/MLmodel", dst_path=str(tmp_path))
    )
    saved = trackwire.models.Model.load(str(local))
    assert (
        logged.model_size_bytes
        == saved.model_size_bytes
        == sum(size for path, size in files.items() if path != "model/MLmodel")
    )
    state = trackwire.pytorch.load_state_dict(info.model_uri)
    assert torch.equal(state["0.weight"], module.state_dict()["0.weight"])

    loaded = trackwire.pytorch.load_model(info.model_uri)
    with torch.no_grad():
        assert_same(loaded(torch.from_numpy(X)).numpy(), expected)
        for parameter in loaded.parameters():
            parameter.zero_()
    again = trackwire.pytorch.load_model(info.model_uri)
    with torch.no_grad():
        assert_same(again(torch.from_numpy(X)).numpy(), expected)
