"""Signatures: inference from data, enforcement at pyfunc predict (each rule, with its
error text), params, input examples, the environment check and missing extras."""

from __future__ import annotations

import datetime
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import trackwire
from trackwire.models import (
    ColSpec,
    EnvironmentMismatchWarning,
    Model,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    SignatureError,
    TensorSpec,
    infer_signature,
)


@pytest.fixture
def backend(tmp_path) -> str:  # the format is client-side: SQLite is enough for the server
    return f"sqlite:///{tmp_path / 'trackwire.db'}"


class Echo(trackwire.pyfunc.PythonModel):
    """Returns what predict got, after the signature was enforced, and the params."""

    def predict(self, context, model_input, params=None):
        self.last_params = params
        return model_input


def echo_model(tmp_path, signature: ModelSignature, name: str = "echo"):
    path = tmp_path / name
    trackwire.pyfunc.save_model(str(path), python_model=Echo(), signature=signature)
    return trackwire.pyfunc.load_model(str(path))


# -- inference -----------------------------------------------------------------------


def test_infer_from_a_dataframe_names_types_and_optional_columns():
    frame = pd.DataFrame(
        {
            "i32": np.array([1, 2], dtype=np.int32),
            "i64": np.array([1, 2], dtype=np.int64),
            "f32": np.array([1.5, 2.5], dtype=np.float32),
            "f64": [1.5, 2.5],
            "flag": [True, False],
            "text": ["a", "b"],
            "when": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "maybe_text": ["a", None],
            "maybe_int": pd.array([1, None], dtype="Int64"),
            "raw": [b"x", b"y"],
        }
    )
    signature = infer_signature(frame, np.array([0, 1]))
    assert signature.inputs == Schema(
        [
            ColSpec("integer", "i32"),
            ColSpec("long", "i64"),
            ColSpec("float", "f32"),
            ColSpec("double", "f64"),
            ColSpec("boolean", "flag"),
            ColSpec("string", "text"),
            ColSpec("datetime", "when"),
            ColSpec("string", "maybe_text", required=False),
            ColSpec("long", "maybe_int", required=False),
            ColSpec("binary", "raw"),
        ]
    )
    assert signature.outputs == Schema([TensorSpec(np.int64, (-1,))])
    assert signature.params is None


def test_infer_from_arrays_lists_and_dicts():
    assert infer_signature(np.zeros((8, 3, 2), dtype=np.float32)).inputs == Schema(
        [TensorSpec(np.float32, (-1, 3, 2))]
    )
    assert infer_signature(["a", "b"]).inputs == Schema([ColSpec("string")])
    assert infer_signature([{"x": 1, "y": "a"}, {"x": 2, "y": "b"}]).inputs == Schema(
        [ColSpec("long", "x"), ColSpec("string", "y")]
    )
    assert infer_signature({"x": [1.0, None], "y": "a"}).inputs == Schema(
        [ColSpec("double", "x", required=False), ColSpec("string", "y")]
    )
    assert infer_signature({"img": np.zeros((2, 4), np.uint8)}).inputs == Schema(
        [TensorSpec(np.uint8, (-1, 4), "img")]
    )
    assert infer_signature(pd.Series([1.0, 2.0], name="score")).inputs == Schema(
        [ColSpec("double", "score")]
    )
    with pytest.raises(
        trackwire.TrackwireException, match="cannot infer a schema from the model input of type set"
    ):
        infer_signature({1, 2})
    with pytest.raises(trackwire.TrackwireException, match="holds long, string"):
        infer_signature([1, "a"])


def test_signature_and_params_round_trip_through_mlmodel_json():
    signature = infer_signature(
        pd.DataFrame({"x": [1.0]}),
        np.array([1.0]),
        params={"threshold": 0.5, "labels": ["a", "b"], "verbose": False},
    )
    assert signature.params == ParamSchema(
        [
            ParamSpec("threshold", "double", 0.5),
            ParamSpec("labels", "string", ["a", "b"], (-1,)),
            ParamSpec("verbose", "boolean", False),
        ]
    )
    stored = signature.to_dict()
    assert stored["inputs"] == '[{"type": "double", "name": "x", "required": true}]'
    assert stored["outputs"] == (
        '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]'
    )
    assert ModelSignature.from_dict(stored) == signature


# -- enforcement: columns --------------------------------------------------------------

COLUMNS = ModelSignature(
    Schema(
        [
            ColSpec("long", "age"),
            ColSpec("double", "income"),
            ColSpec("string", "city"),
            ColSpec("double", "score", required=False),
        ]
    )
)


def good_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {"age": [30, 40], "income": [1.5, 2.5], "city": ["Lyon", "Oslo"], "score": [0.1, 0.2]}
    )


def test_missing_columns_are_named(tmp_path):
    model = echo_model(tmp_path, COLUMNS)
    with pytest.raises(SignatureError) as e:
        model.predict(good_rows().drop(columns=["income", "city"]))
    assert str(e.value) == (
        "the model is missing input column(s) ['income', 'city']: it takes "
        "['age', 'income', 'city', 'score'], got ['age', 'score']"
    )
    assert e.value.error_code == "INVALID_ARGUMENT"


def test_optional_columns_may_be_missing_or_null(tmp_path):
    model = echo_model(tmp_path, COLUMNS)
    out = model.predict(good_rows().drop(columns=["score"]))
    assert list(out.columns) == ["age", "income", "city"]
    out = model.predict(good_rows().assign(score=[None, 0.5]))
    assert out["score"].isna().tolist() == [True, False]


def test_required_columns_may_not_be_null(tmp_path):
    model = echo_model(tmp_path, COLUMNS)
    with pytest.raises(
        SignatureError, match=r"^column 'city' is required but has 1 missing value\(s\)$"
    ):
        model.predict(good_rows().assign(city=["Lyon", None]))


def test_extra_columns_are_dropped_with_a_warning(tmp_path):
    model = echo_model(tmp_path, COLUMNS)
    with pytest.warns(
        UserWarning,
        match=r"input column\(s\) \['debug'\] are not in the model's signature and were dropped",
    ):
        out = model.predict(good_rows().assign(debug=1))
    assert list(out.columns) == ["age", "income", "city", "score"]


def test_safe_widening_casts_are_applied(tmp_path):
    model = echo_model(tmp_path, COLUMNS)
    rows = good_rows().astype({"age": np.int32}).assign(income=[1, 2])  # int32, int64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = model.predict(rows)
    assert out["age"].dtype == np.int64 and out["income"].dtype == np.float64
    assert out["income"].tolist() == [1.0, 2.0]
    floats = echo_model(
        tmp_path, ModelSignature(Schema([ColSpec("double", "x")])), "floats"
    ).predict(pd.DataFrame({"x": np.array([1.5], dtype=np.float32)}))
    assert floats["x"].dtype == np.float64


def test_float_to_integer_is_refused(tmp_path):
    model = echo_model(tmp_path, COLUMNS)
    with pytest.raises(SignatureError) as e:
        model.predict(good_rows().assign(age=[30.5, 40.0]))
    assert str(e.value) == (
        "column 'age' has type double (float64) but the model takes long: converting "
        "double to long could lose information"
    )


def test_string_to_number_is_refused(tmp_path):
    model = echo_model(tmp_path, COLUMNS)
    with pytest.raises(
        SignatureError,
        match=r"^column 'income' has type string \((object|str)\) but the model takes double",
    ):
        model.predict(good_rows().assign(income=["1.5", "2.5"]))
    with pytest.raises(
        SignatureError, match=r"^column 'city' has type long \(int64\) but the model takes string"
    ):
        model.predict(good_rows().assign(city=[1, 2]))


def test_dicts_lists_and_arrays_become_tables(tmp_path):
    model = echo_model(tmp_path, COLUMNS)
    out = model.predict({"age": 30, "income": 1.0, "city": "Lyon"})
    assert out.to_dict("records") == [{"age": 30, "income": 1.0, "city": "Lyon"}]
    out = model.predict([{"age": 1, "income": 2.0, "city": "x", "score": 0.5}])
    assert len(out) == 1
    numeric = ModelSignature(Schema([ColSpec("double", "a"), ColSpec("double", "b")]))
    out = echo_model(tmp_path, numeric, "numeric").predict(np.array([[1.0, 2.0]]))
    assert out.to_dict("records") == [{"a": 1.0, "b": 2.0}]
    with pytest.raises(
        SignatureError, match=r"^the model takes 2 columns \(a, b\); got an array with 3$"
    ):
        echo_model(tmp_path, numeric, "numeric2").predict(np.ones((1, 3)))


# -- enforcement: tensors ---------------------------------------------------------------

TENSOR = ModelSignature(Schema([TensorSpec(np.float32, (-1, 4))]))


def test_tensor_shape_is_checked(tmp_path):
    model = echo_model(tmp_path, TENSOR)
    assert model.predict(np.ones((3, 4), np.float32)).shape == (3, 4)
    with pytest.raises(SignatureError) as e:
        model.predict(np.ones((3, 5), np.float32))
    assert str(e.value) == (
        "the input tensor has shape (3, 5) but the model takes shape (-1, 4) (-1: any size)"
    )


def test_tensor_dtype_safe_casts_only(tmp_path):
    model = echo_model(tmp_path, TENSOR)
    out = model.predict(np.ones((2, 4), np.int8))
    assert out.dtype == np.float32
    with pytest.raises(SignatureError) as e:
        model.predict(np.ones((2, 4), np.float64))
    assert str(e.value) == (
        "the input tensor has dtype float64 but the model takes float32: converting "
        "float64 to float32 could lose information"
    )


# -- params ----------------------------------------------------------------------------------


def test_params_get_defaults_types_are_checked_unknown_ones_dropped(tmp_path):
    signature = infer_signature(pd.DataFrame({"x": [1.0]}), params={"threshold": 0.5, "top_k": 3})
    model = echo_model(tmp_path, signature)
    echo = model.unwrap_python_model()
    model.predict({"x": 1.0})
    assert echo.last_params == {"threshold": 0.5, "top_k": 3}
    model.predict({"x": 1.0}, params={"top_k": 5})
    assert echo.last_params == {"threshold": 0.5, "top_k": 5}
    with pytest.raises(SignatureError, match=r"^param 'top_k' must be of type long; got 'five'$"):
        model.predict({"x": 1.0}, params={"top_k": "five"})
    with pytest.warns(UserWarning, match=r"params \['other'\] are not in the model's signature"):
        model.predict({"x": 1.0}, params={"other": 1})


# -- input examples, environment, extras ------------------------------------------------------


def test_input_examples_are_saved_as_json_and_reloaded(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [0.5, None]})
    cases = {
        "frame": frame,
        "array": np.arange(6, dtype=np.float32).reshape(2, 3),
        "dict": {"question": "why?", "n": 3},
    }
    for name, example in cases.items():
        path = tmp_path / name
        trackwire.pyfunc.save_model(str(path), python_model=Echo(), input_example=example)
        assert (path / "input_example.json").exists()
        reloaded = Model.load(str(path)).load_input_example(str(path))
        if name == "frame":
            pd.testing.assert_frame_equal(reloaded, frame)
        elif name == "array":
            np.testing.assert_array_equal(reloaded, example)
            assert reloaded.dtype == np.float32
        else:
            assert reloaded == example
    # and a signature was inferred from the example (the model echoes: outputs too)
    loaded = trackwire.pyfunc.load_model(str(tmp_path / "frame"))
    assert loaded.signature.inputs == Schema(
        [ColSpec("long", "a"), ColSpec("string", "b"), ColSpec("double", "c", required=False)]
    )


def test_loading_warns_when_installed_versions_differ(tmp_path):
    path = tmp_path / "m"
    trackwire.pyfunc.save_model(str(path), python_model=Echo())
    requirements = (path / "requirements.txt").read_text()
    assert f"numpy=={np.__version__}\n" in requirements
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trackwire.pyfunc.load_model(str(path))  # same environment: silent
    (path / "requirements.txt").write_text(
        requirements.replace(f"numpy=={np.__version__}", "numpy==1.0.0") + "no-such-dist==2.0\n"
    )
    with pytest.warns(EnvironmentMismatchWarning) as record:
        trackwire.pyfunc.load_model(str(path))
    message = str(record[0].message)
    assert f"numpy==1.0.0 (installed: {np.__version__})" in message
    assert "no-such-dist==2.0 (installed: not installed)" in message


def test_a_missing_library_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "xgboost", None)  # import xgboost -> ImportError
    with pytest.raises(trackwire.TrackwireException) as e:
        trackwire.xgboost.save_model(object(), str(tmp_path / "m"))
    assert "pip install 'trackwire[xgboost]'" in str(e.value)
    assert e.value.error_code == "FAILED_PRECONDITION"


def test_log_model_through_the_server_keeps_the_signature(tracking, tmp_path):
    signature = ModelSignature(COLUMNS.inputs, Schema([TensorSpec(np.float64, (-1,))]))
    with trackwire.start_run() as run:
        info = trackwire.pyfunc.log_model("echo", python_model=Echo(), signature=signature)
    assert info.signature == signature
    loaded = trackwire.pyfunc.load_model(f"runs:/{run.info.run_id}/echo", dst_path=str(tmp_path))
    assert loaded.signature == signature
    with pytest.raises(SignatureError, match="missing input column"):
        loaded.predict({"age": 1})


def test_datetime_columns(tmp_path):
    signature = ModelSignature(Schema([ColSpec("datetime", "when")]))
    model = echo_model(tmp_path, signature)
    out = model.predict(pd.DataFrame({"when": [datetime.datetime(2024, 1, 1)]}))
    assert out["when"].iloc[0] == pd.Timestamp("2024-01-01")
