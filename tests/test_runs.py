"""Runs, params, tags and LogBatch through the real server, on every configured database."""

import math
import struct
import uuid

import pytest

from trackwire import Metric, ViewType
from trackwire.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)


@pytest.fixture
def experiment_id(client):
    return client.create_experiment("runs")


def test_create_and_get(client, experiment_id):
    run = client.create_run(
        experiment_id, run_name="first", tags={"team": "a"}, start_time=1_700_000_000_000
    )
    info = run.info
    assert len(info.run_id) == 32
    assert (info.experiment_id, info.run_name, info.status) == (experiment_id, "first", "RUNNING")
    assert info.start_time == 1_700_000_000_000 and info.end_time is None
    assert info.artifact_uri.endswith(f"/{experiment_id}/{info.run_id}/artifacts")
    assert info.lifecycle_stage == "active"
    assert run.data.tags["team"] == "a"
    assert run.data.tags["trackwire.runName"] == "first"
    assert client.get_run(info.run_id) == run


def test_generated_name(client, experiment_id):
    run = client.create_run(experiment_id)
    assert run.info.run_name.count("-") == 2


def test_client_chosen_id_creates_then_resumes(client, experiment_id):
    run_id = uuid.uuid4().hex
    created, resumed = client._create_run(
        client._create_run_request(experiment_id, run_name="job", run_id=run_id)
    )
    assert not resumed and created.info.run_id == run_id
    client.log_batch(run_id, params={"lr": 0.1})
    client.set_terminated(run_id, "FAILED")
    again, resumed = client._create_run(client._create_run_request(experiment_id, run_id=run_id))
    assert resumed
    assert again.info.status == "RUNNING" and again.info.end_time is None
    assert again.data.params == {"lr": "0.1"}
    other = client.create_experiment("other")
    with pytest.raises(AlreadyExistsError, match=run_id):
        client.create_run(other, run_id=run_id)
    with pytest.raises(InvalidArgumentError, match="run_id"):
        client.create_run(experiment_id, run_id="NOT-HEX")


def test_nested_runs(client, experiment_id):
    parent = client.create_run(experiment_id)
    child = client.create_run(experiment_id, parent_run_id=parent.info.run_id)
    assert child.info.parent_run_id == parent.info.run_id
    assert child.data.tags["trackwire.parentRunId"] == parent.info.run_id
    with pytest.raises(NotFoundError, match="parent_run_id|does not exist"):
        client.create_run(experiment_id, parent_run_id="0" * 32)
    other = client.create_experiment("elsewhere")
    with pytest.raises(InvalidArgumentError, match="parent_run_id"):
        client.create_run(other, parent_run_id=parent.info.run_id)


def test_update_run(client, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    info = client.update_run(run_id, status="FINISHED", name="renamed", end_time=1_800_000_000_000)
    assert (info.status, info.run_name, info.end_time) == ("FINISHED", "renamed", 1_800_000_000_000)
    assert client.get_run(run_id).data.tags["trackwire.runName"] == "renamed"
    with pytest.raises(InvalidArgumentError, match="status"):
        client.update_run(run_id, status="DONE")
    with pytest.raises(InvalidArgumentError, match="run_name"):
        client.update_run(run_id, name="")


def test_unknown_run_is_not_found(client):
    missing = uuid.uuid4().hex
    for call in (
        lambda: client.get_run(missing),
        lambda: client.update_run(missing, status="FINISHED"),
        lambda: client.delete_run(missing),
        lambda: client.log_batch(missing, params={"a": 1}),
        lambda: client.set_tag(missing, "k", "v"),
    ):
        with pytest.raises(NotFoundError, match=missing):
            call()
    with pytest.raises(InvalidArgumentError, match="run_id"):
        client.get_run("")


def test_unknown_experiment_is_not_found(client):
    with pytest.raises(NotFoundError, match="4242"):
        client.create_run("4242")


def test_params_are_strings_and_write_once(client, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    client.log_batch(run_id, params={"C": 1.0, "flag": True, "n": 100, "name": "rf"})
    assert client.get_run(run_id).data.params == {
        "C": "1.0",
        "flag": "True",
        "n": "100",
        "name": "rf",
    }
    client.log_param(run_id, "C", 1.0)  # same value: a no-op
    with pytest.raises(InvalidArgumentError, match="'C'"):
        client.log_batch(
            run_id,
            params={"C": 2.0, "fresh": "x"},
            tags={"t": "v"},
            metrics=[Metric("m", 1.0, 0, 0)],
        )
    data = client.get_run(run_id).data
    assert data.params["C"] == "1.0"
    assert "fresh" not in data.params and "t" not in data.tags and "m" not in data.metrics
    assert client.read_metric_history(run_id, "m").values == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"params": {"k" * 251: "v"}}, "params[0].key"),
        ({"params": {"": "v"}}, "params[0].key"),
        ({"params": {"k": "v" * 6001}}, "params[0].value"),
        ({"tags": {"k" * 251: "v"}}, "tags[0].key"),
        ({"tags": {"k": "v" * 8001}}, "tags[0].value"),
        # The client sends metric points in columns (LogBatchRequest.metrics, MetricPoints).
        ({"metrics": [Metric("k" * 251, 1.0, 0, 0)]}, "metrics.keys[0]"),
        ({"metrics": [Metric("m", 1.0, 0, 0), Metric("", 1.0, 0, 0)]}, "metrics.keys[1]"),
        ({"params": {f"p{i}": i for i in range(101)}}, "params"),
        ({"metrics": [Metric("m", 1.0, 0, i) for i in range(1001)]}, "metrics.values"),
    ],
)
def test_limits_are_invalid_argument_naming_the_field(client, experiment_id, kwargs, field):
    run_id = client.create_run(experiment_id).info.run_id
    with pytest.raises(InvalidArgumentError) as caught:
        client.log_batch(run_id, **kwargs)
    assert field in caught.value.message
    assert client.get_run(run_id).data.params == {}


def test_limits_at_the_boundary_are_accepted(client, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    client.log_batch(run_id, params={"k" * 250: "v" * 6000}, tags={"t" * 250: "v" * 8000})
    data = client.get_run(run_id).data
    assert data.params["k" * 250] == "v" * 6000
    assert data.tags["t" * 250] == "v" * 8000


def test_tags_overwrite_and_delete(client, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    client.set_tag(run_id, "stage", "a")
    client.set_tag(run_id, "stage", "b")
    assert client.get_run(run_id).data.tags["stage"] == "b"
    client.delete_tag(run_id, "stage")
    assert "stage" not in client.get_run(run_id).data.tags
    with pytest.raises(NotFoundError, match="stage"):
        client.delete_tag(run_id, "stage")


def test_log_batch_metrics_and_latest_values(client, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    client.log_batch(
        run_id,
        metrics=[
            Metric("acc", 0.5, 1000, 0),
            Metric("acc", 0.7, 1001, 2),
            Metric("acc", 0.6, 1002, 1),
        ],
    )
    assert client.get_run(run_id).data.metrics == {"acc": 0.7}
    history = client.get_metric_history(run_id, "acc")
    assert [(m.step, m.value) for m in history] == [(0, 0.5), (1, 0.6), (2, 0.7)]
    client.log_metric(run_id, "acc", 0.1, step=1)  # an older step does not move "latest"
    assert client.get_run(run_id).data.metrics == {"acc": 0.7}


def test_deleted_runs_refuse_writes(client, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    client.set_terminated(run_id)
    client.log_batch(run_id, params={"late": 1})  # a finished run still takes writes
    client.delete_run(run_id)
    for call in (
        lambda: client.log_batch(run_id, params={"a": 1}),
        lambda: client.log_metric(run_id, "m", 1.0),
        lambda: client.set_tag(run_id, "k", "v"),
        lambda: client.update_run(run_id, status="FINISHED"),
        lambda: client.create_run(experiment_id, run_id=run_id),
    ):
        with pytest.raises(FailedPreconditionError, match="deleted"):
            call()
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(FailedPreconditionError):
        client.delete_run(run_id)
    client.restore_run(run_id)
    client.log_batch(run_id, params={"a": 1})
    with pytest.raises(FailedPreconditionError):
        client.restore_run(run_id)


def test_search_runs_pages_and_view_types(client, experiment_id):
    run_ids = [
        client.create_run(experiment_id, start_time=1_700_000_000_000 + i).info.run_id
        for i in range(5)
    ]
    client.log_batch(run_ids[0], params={"p": 1}, metrics=[Metric("m", 2.0, 0, 0)], tags={"t": "x"})
    client.delete_run(run_ids[4])
    first = client.search_runs([experiment_id], max_results=2)
    assert [r.info.run_id for r in first] == [run_ids[3], run_ids[2]]
    second = client.search_runs([experiment_id], max_results=2, page_token=first.token)
    assert [r.info.run_id for r in second] == [run_ids[1], run_ids[0]]
    assert second.token == ""
    assert second[1].data.params == {"p": "1"} and second[1].data.metrics == {"m": 2.0}
    deleted = client.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [run_ids[4]]
    assert len(client.search_runs([experiment_id, "0"], run_view_type=ViewType.ALL)) == 5
    with pytest.raises(InvalidArgumentError, match="experiment_ids"):
        client.search_runs([])


def test_log_batch_converts_numbers_given_as_other_types(client, experiment_id):
    """What float() and int() accept goes through, as it did before the fast path."""
    import numpy as np

    run_id = client.create_run(experiment_id).info.run_id
    client.log_batch(
        run_id,
        metrics=[
            Metric("a", np.float32(0.5), np.int64(1_000), np.int64(1)),
            Metric("b", "0.25", 1_000.0, 2.0),
            Metric("c", 3, None, None),
        ],
    )
    assert client.read_metric_history(run_id, "a").values == [0.5]
    history = client.read_metric_history(run_id, "b")
    assert (history.values, history.steps, history.timestamps) == ([0.25], [2], [1_000])
    assert client.get_run(run_id).data.metrics["c"] == 3.0


# Values that a JSON document (the server reads a page's values as one on PostgreSQL and
# MariaDB) or a driver could bend: quotes, backslashes, control characters, characters
# outside the BMP, text that looks like JSON; and doubles that a printed form could round.
ODD_TEXTS = {
    "quote": 'say "hi"',
    "backslash": "C:\\path\\n",
    "controls": "tab\there\nnewline\r\x01\x1f",
    "unicode": "é ü 数据 😀",
    "json": '{"a": [1, 2.50, null]}',
    "empty": "",
    "long": "x" * 6000,
    "key with spaces/and.dots": "ok",
}
ODD_NUMBERS = [
    0.1 + 0.2,
    1 / 3,
    5.0,
    -0.0,
    5e-324,
    1.7976931348623157e308,
    -2.2250738585072014e-308,
    123456789012345678.0,
    float("nan"),
    float("inf"),
    float("-inf"),
]


def test_values_come_back_exactly(client, experiment_id):
    """Odd texts and doubles read back bit for bit, through GetRun and SearchRuns (all
    values and a selection), on every database."""
    metrics = [Metric(f"m{i}", v, 1_700_000_000_000 + i, i) for i, v in enumerate(ODD_NUMBERS)]
    run_id = client.create_run(
        experiment_id, params=ODD_TEXTS, tags={f"t.{k}": v for k, v in ODD_TEXTS.items()}
    ).info.run_id
    client.log_batch(run_id, metrics=metrics)
    client.create_run(experiment_id, params={"other": "run"})  # a run with other values

    def bits(x: float) -> bytes:
        return struct.pack("<d", x)

    def check(run, keys=None):
        expected_params = {k: v for k, v in ODD_TEXTS.items() if keys is None or k in keys}
        assert run.data.params == expected_params
        if keys is None:
            assert run.data.tags == {
                **{f"t.{k}": v for k, v in ODD_TEXTS.items()},
                **{k: v for k, v in run.data.tags.items() if k.startswith("trackwire.")},
            }
        values = run.data.metrics
        assert set(values) == {f"m{i}" for i in range(len(ODD_NUMBERS))}
        for i, v in enumerate(ODD_NUMBERS):
            stored = values[f"m{i}"]
            assert isinstance(stored, float)
            if math.isnan(v):
                assert math.isnan(stored)
            else:
                assert bits(stored) == bits(v), (i, v, stored)

    check(client.get_run(run_id))
    (found,) = client.search_runs([experiment_id], filter_string="params.quote = 'say \"hi\"'")
    check(found)
    (selected,) = client.search_runs(
        [experiment_id],
        filter_string=f"attributes.run_id = '{run_id}'",
        select=["params.unicode", "params.json", "metrics.*"],
    )
    check(selected, keys={"unicode", "json"})


def test_many_runs_at_once_keep_their_values_exactly(client, experiment_id):
    """BatchCreateRuns writes its rows in bulk (PostgreSQL: COPY, from 100 rows on):
    every odd text and double of 150 runs reads back bit for bit, on every database."""
    metrics = [Metric(f"m{i}", v, 1_700_000_000_000 + i, i) for i, v in enumerate(ODD_NUMBERS)]
    entries = [
        {
            "run_name": f"bulk-{i}",
            "params": {**ODD_TEXTS, "i": str(i)},
            "tags": {f"t.{k}": v for k, v in ODD_TEXTS.items()},
            "metrics": metrics,
        }
        for i in range(150)
    ]
    created = client.create_runs(experiment_id, entries)
    assert len(created) == 150
    runs = client.search_runs([experiment_id], max_results=1000)
    assert len(runs) == 150
    for run in runs:
        assert run.data.params == {**ODD_TEXTS, "i": run.info.run_name.removeprefix("bulk-")}
        tags = {k: v for k, v in run.data.tags.items() if not k.startswith("trackwire.")}
        assert tags == {f"t.{k}": v for k, v in ODD_TEXTS.items()}
        for i, v in enumerate(ODD_NUMBERS):
            stored = run.data.metrics[f"m{i}"]
            if math.isnan(v):
                assert math.isnan(stored)
            else:
                assert struct.pack("<d", stored) == struct.pack("<d", v), (i, v, stored)
        history = client.read_metric_history(run.info.run_id, "m1")
        assert (history.values, history.steps) == ([1 / 3], [1])
