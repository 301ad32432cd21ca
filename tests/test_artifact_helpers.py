"""log_text, log_dict, log_figure and log_table, fluent and on TrackwireClient, through
the real server (MLflow's helpers of the same names)."""

from __future__ import annotations

import io
import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

import trackwire  # noqa: E402


def read(client, run_id: str, path: str, tmp_path) -> bytes:
    local = client.download_artifacts(run_id, path, str(tmp_path / "dl"))
    with open(local, "rb") as f:
        return f.read()


def test_fluent_helpers(tracking, client, tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    with trackwire.start_run() as run:
        trackwire.log_text("accuracy went up", "notes/summary.txt")
        trackwire.log_dict({"layers": 3, "act": "relu"}, "config.json")
        trackwire.log_dict({"layers": 3, "act": "relu"}, "config.yaml")
        trackwire.log_figure(fig, "plots/line.png")
        trackwire.log_table(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), "table.json")
        trackwire.log_table({"a": [3], "b": ["z"]}, "table.json")  # appends
    run_id = run.info.run_id
    assert read(client, run_id, "notes/summary.txt", tmp_path) == b"accuracy went up"
    assert json.loads(read(client, run_id, "config.json", tmp_path)) == {"layers": 3, "act": "relu"}
    assert yaml.safe_load(read(client, run_id, "config.yaml", tmp_path)) == {
        "layers": 3,
        "act": "relu",
    }
    assert read(client, run_id, "plots/line.png", tmp_path).startswith(b"\x89PNG\r\n\x1a\n")
    table = pd.read_json(io.BytesIO(read(client, run_id, "table.json", tmp_path)), orient="split")
    assert table.to_dict("list") == {"a": [1, 2, 3], "b": ["x", "y", "z"]}


def test_client_helpers_and_errors(client, tmp_path):
    run_id = client.create_run(client.create_experiment("helpers")).info.run_id
    fig = plt.figure()
    client.log_figure(run_id, fig, "fig.svg")
    assert b"<svg" in read(client, run_id, "fig.svg", tmp_path)
    client.log_text(run_id, "héllo", "t.txt")
    assert read(client, run_id, "t.txt", tmp_path).decode("utf-8") == "héllo"
    with pytest.raises(trackwire.TrackwireException, match="must end with .json"):
        client.log_table(run_id, {"a": [1]}, "table.csv")
    with pytest.raises(trackwire.TrackwireException, match="neither a matplotlib nor a plotly"):
        client.log_figure(run_id, object(), "x.png")
    with pytest.raises(trackwire.TrackwireException, match="needs an extension"):
        client.log_figure(run_id, fig, "figure")
    plt.close("all")
