"""`trackwire models predict`: batch scoring of CSV, JSON and Parquet files with a
registered model, through a real tracking server, as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import trackwire
from tests.conftest import RunningServer
from tests.support.server_process import pythonpath
from tests.test_model_serving import COLUMNS, iris, log_registered


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """(tracking URI, model, X, model cache) with `iris-batch` v1 in Staging."""
    tmp = tmp_path_factory.mktemp("predict")
    tracking = RunningServer(f"sqlite:///{tmp / 'trackwire.db'}", tmp / "artifacts")
    X, y = iris()
    model = LogisticRegression(max_iter=1000).fit(X, y)
    version = log_registered(tracking.uri, "iris-batch", model, X)
    trackwire.TrackwireClient(tracking.uri).transition_model_version_stage(
        "iris-batch", version, "Staging"
    )
    yield tracking.uri, model, X, str(tmp / "cache")
    tracking.stop()


def predict(registered, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    uri, _, _, cache = registered
    env = {**os.environ, "PYTHONPATH": pythonpath(), "TRACKWIRE_MODEL_CACHE": cache}
    env.pop("TRACKWIRE_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "trackwire", "models", "predict", "--tracking-uri", uri, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_csv_in_json_out(registered, tmp_path):
    _, model, X, _ = registered
    X.to_csv(tmp_path / "in.csv", index=False)
    result = predict(
        registered, "-m", "models:/iris-batch/Staging", "-i", str(tmp_path / "in.csv"),
        "-o", str(tmp_path / "out.json"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"scored 150 rows into {tmp_path / 'out.json'}" in result.stderr
    assert json.loads((tmp_path / "out.json").read_text()) == {
        "predictions": model.predict(X).tolist()
    }


def test_json_protocol_in_csv_out_and_parquet_both_ways(registered, tmp_path):
    _, model, X, _ = registered
    rows = X.iloc[::10]
    want = model.predict(rows).tolist()
    (tmp_path / "in.json").write_text(
        json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False))})
    )
    result = predict(
        registered, "-m", "models:/iris-batch/1", "-i", str(tmp_path / "in.json"),
        "-o", str(tmp_path / "out.csv"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert pd.read_csv(tmp_path / "out.csv")["prediction"].tolist() == want

    rows.to_parquet(tmp_path / "in.parquet")
    result = predict(
        registered, "-m", "models:/iris-batch/latest", "-i", str(tmp_path / "in.parquet"),
        "-o", str(tmp_path / "out.parquet"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert pd.read_parquet(tmp_path / "out.parquet")["prediction"].tolist() == want


def test_records_from_stdin_to_stdout(registered):
    _, model, X, _ = registered
    rows = X.head(5)
    result = predict(
        registered, "-m", "models:/iris-batch/Staging", "-i", "-",
        stdin=json.dumps(rows.to_dict(orient="records")),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"predictions": model.predict(rows).tolist()}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.csv", "sepal_length\n1.0\n", "missing input column(s)"),
        ("bad.json", '{"dataframe_split": ', "is not valid JSON"),
        ("bad.txt", "x", "cannot tell the format"),
    ],
)
def test_bad_input_is_an_error_with_the_message(registered, tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    result = predict(registered, "-m", "models:/iris-batch/1", "-i", str(tmp_path / name))
    assert result.returncode == 2
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_model_is_an_error(registered, tmp_path):
    pd.DataFrame([[1.0] * 4], columns=COLUMNS).to_csv(tmp_path / "in.csv", index=False)
    result = predict(registered, "-m", "models:/nothing/1", "-i", str(tmp_path / "in.csv"))
    assert result.returncode == 2
    assert "nothing" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["models"], ["models", "serve"], ["models", "predict"]])
def test_help_says_what_it_does_and_shows_an_example(command):
    result = subprocess.run(
        [sys.executable, "-m", "trackwire", *command, "--help"],
        env={**os.environ, "PYTHONPATH": pythonpath()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Example:\n  trackwire models " in result.stdout
    if command[-1] == "serve":
        assert "--watch" in result.stdout and "/invocations" in result.stdout
