"""SearchRuns through the real server, on every configured database (issue #3).

One fixed dataset, made through the client, and exact expected results: run
names in the order the server must return them. Unless a test sorts, results
are newest first, and run rNN started NN minutes after T0, so the expected
lists of experiment "search-main" read as descending run numbers.
"""

from __future__ import annotations

import base64
import json
import string
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trackwire import Metric, TrackwireClient, ViewType
from trackwire.entities import Run, RunData, runs_from_table
from trackwire.errors import InvalidArgumentError, NotFoundError
from trackwire.v1 import tracking_service_pb2 as pb
from trackwire_server.store import rows, run_search

T0 = 1_700_000_000_000
MINUTE = 60_000
NAN = float("nan")


def start(i: int) -> int:
    return T0 + i * MINUTE


def end(i: int) -> int:
    return start(i) + 1000 * i


# name: (status, user_id, params, tags, metrics); rNN starts at start(NN).
MAIN = {
    "r01": (
        "FINISHED",
        "alice",
        {
            "model": "rf",
            "lr": "0.1",
            "data.path": "s3://bucket/a.csv",
            "num trees": "100",
            "max-depth": "3",
        },
        {"team": "growth", "env.stage": "prod", "note": "50% off"},
        {"accuracy": 0.91, "loss": 0.30, "val.acc": 0.88, "f1 score": 0.70, "log-loss": 0.20},
    ),
    "r02": (
        "FINISHED",
        "bob",
        {"model": "xgb", "lr": "0.01", "num trees": "200"},
        {"team": "core", "env.stage": "dev", "note": "a_b"},
        {"accuracy": 0.85, "loss": 0.40, "val.acc": 0.80},
    ),
    "r03": (
        "FAILED",
        "alice",
        {"model": "lr", "lr": "0.1", "max-depth": "5"},
        {"team": "Growth", "note": "50 percent"},
        {"accuracy": 0.70, "loss": 0.90, "log-loss": 0.90},
    ),
    "r04": (
        "RUNNING",
        "carol",
        {"model": "rf", "lr": "0.001", "data.path": "s3://bucket/b.csv"},
        {"team": "growth", "env.stage": "prod", "note": "aXb"},
        {"accuracy": 0.91, "loss": 0.25},
    ),
    "r05": (
        "FINISHED",
        "bob",
        {"model": "RF", "lr": "0.1"},
        {"note": "it's"},
        {"accuracy": NAN, "loss": 0.50},
    ),
    "r06": ("KILLED", "alice", {"model": "xgb"}, {"team": "core", "note": "a\\b"}, {"loss": 0.60}),
    "r07": (
        "FINISHED",
        "carol",
        {"lr": "0.01"},
        {"team": "platform", "note": "'; DROP TABLE runs; --"},
        {"accuracy": 0.60},
    ),
    "r08": (
        "FAILED",
        "bob",
        {"model": "lr", "lr": "0.1", "num trees": "50"},
        {"team": "core", "env.stage": "staging", "note": "C:\\dir\\"},
        {"accuracy": 0.95, "loss": 0.10, "f1 score": 0.90},
    ),
    "r09": (
        "RUNNING",
        "alice",
        {"model": "rf", "lr": "0.01"},
        {"team": "growth", "note": "100%"},
        {"accuracy": 0.85, "loss": 0.35},
    ),
    "r10": (
        "FINISHED",
        "carol",
        {"model": "xgb", "lr": "0.1", "max-depth": "3"},
        {"team": "research", "city": "École"},
        {"accuracy": 0.50, "loss": 1.20, "val.acc": 0.45},
    ),
    "r11": (
        "FINISHED",
        "alice",
        {"model": "r_f", "lr": "0.1"},
        {"team": "GROWTH"},
        {"accuracy": -1.0, "loss": 0.0},
    ),
    "r12": ("FAILED", "bob", {"model": "rf%", "lr": "1e-3"}, {"team": "core"}, {"accuracy": 0.85}),
    # Deleted once created.
    "r13": ("FINISHED", "alice", {"model": "rf"}, {"team": "growth"}, {"accuracy": 0.99}),
}
ACTIVE = "r12 r11 r10 r09 r08 r07 r06 r05 r04 r03 r02 r01"

# Experiment "search-other": s2 and s3 start at the same time, so their run ids
# (chosen here) break the tie.
OTHER_IDS = {"s2": "e" * 32, "s3": "1" * 32}


@dataclass
class Dataset:
    client: TrackwireClient
    main: str
    other: str
    ids: dict[str, str]  # run name -> run id
    names: dict[str, str]  # run id -> run name

    def search(self, filter_string: str = "", experiments=None, **kwargs) -> list[str]:
        """The names of every run found, in order (one page)."""
        runs = self.client.search_runs(
            [self.main] if experiments is None else experiments, filter_string, **kwargs
        )
        assert runs.token == ""
        return [self.names[r.info.run_id] for r in runs]

    def check(self, cases: dict[str, str], **kwargs) -> None:
        """Each filter finds exactly the runs listed (space-separated names, in order)."""
        found = {f: self.search(f, **kwargs) for f in cases}
        assert found == {f: expected.split() for f, expected in cases.items()}

    def check_order(self, cases: dict[tuple, str], **kwargs) -> None:
        """Each order_by returns exactly the runs listed, in that order."""
        found = {keys: self.search(order_by=list(keys), **kwargs) for keys in cases}
        assert found == {keys: expected.split() for keys, expected in cases.items()}


@pytest.fixture(params=["index walk", "selective metric"])
def data(client, request, monkeypatch) -> Dataset:
    """The dataset, searched once with each of the store's plans: walking the sort key's
    index, and driving from a selective metric condition's few runs."""
    monkeypatch.setattr(run_search, "SELECTIVE_RUNS", 0 if request.param == "index walk" else 10**9)
    main = client.create_experiment("search-main")
    other = client.create_experiment("search-other")
    ids = {}
    for i, (name, (status, user, params, tags, metrics)) in enumerate(MAIN.items(), start=1):
        run = client.create_run(
            main,
            start_time=start(i),
            run_name=name,
            user_id=user,
            params=params,
            tags=tags,
            metrics=[Metric(k, v, start(i), 0) for k, v in metrics.items()],
        )
        ids[name] = run.info.run_id
        if status != "RUNNING":
            client.update_run(run.info.run_id, status=status, end_time=end(i))
    client.delete_run(ids["r13"])
    s1 = client.create_run(
        other,
        start_time=start(100),
        run_name="s1",
        user_id="dave",
        params={"model": "rf"},
        tags={"team": "growth"},
        metrics=[Metric("accuracy", 0.91, start(100), 0)],
    )
    client.update_run(s1.info.run_id, status="FINISHED", end_time=end(100))
    ids["s1"] = s1.info.run_id
    for name, run_id in OTHER_IDS.items():
        client.create_run(
            other,
            start_time=start(200),
            run_name=name,
            run_id=run_id,
            user_id="dave",
            params={"model": "xgb"},
            metrics=[Metric("accuracy", 0.5, start(200), 0)],
        )
        ids[name] = run_id
    return Dataset(client, main, other, ids, {v: k for k, v in ids.items()})


# -- operators on every kind of identifier ------------------------------------------


def test_metric_operators(data):
    data.check(
        {
            "metrics.accuracy = 0.91": "r04 r01",
            "metrics.accuracy != 0.91": "r12 r11 r10 r09 r08 r07 r03 r02",
            "metrics.accuracy <> 0.85": "r11 r10 r08 r07 r04 r03 r01",
            "metrics.accuracy < 0.7": "r11 r10 r07",
            "metrics.accuracy <= 0.7": "r11 r10 r07 r03",
            "metrics.accuracy > 0.85": "r08 r04 r01",
            "metrics.accuracy >= 0.85": "r12 r09 r08 r04 r02 r01",
            "metrics.accuracy < 0": "r11",
            "metrics.accuracy >= -1": "r12 r11 r10 r09 r08 r07 r04 r03 r02 r01",
            # Number spellings.
            "metrics.accuracy = .85": "r12 r09 r02",
            "metrics.accuracy > 8.5e-1": "r08 r04 r01",
            "metrics.accuracy = +0.91": "r04 r01",
            "metrics.accuracy >= -1E0": "r12 r11 r10 r09 r08 r07 r04 r03 r02 r01",
            # IS NULL: the run lacks the key (r05's NaN is a value).
            "metrics.accuracy IS NULL": "r06",
            "metrics.accuracy IS NOT NULL": "r12 r11 r10 r09 r08 r07 r05 r04 r03 r02 r01",
            "metrics.loss = 0": "r11",
            "metrics.loss = 1.2": "r10",
            "metrics.loss >= 0.6": "r10 r06 r03",
            "metrics.loss IS NULL": "r12 r07",
            # Keys with dots, spaces and dashes, in backticks or double quotes.
            "metrics.`val.acc` > 0.5": "r02 r01",
            'metrics."val.acc" <= 0.5': "r10",
            "metrics.`f1 score` >= 0.7": "r08 r01",
            "metrics.`log-loss` < 0.5": "r01",
            'metrics."log-loss" IS NOT NULL': "r03 r01",
            "metrics.val.acc = 0.88": "r01",  # dots need no quotes
        }
    )


def test_param_operators(data):
    data.check(
        {
            "params.model = 'rf'": "r09 r04 r01",
            'params.model = "xgb"': "r10 r06 r02",
            "params.model != 'rf'": "r12 r11 r10 r08 r06 r05 r03 r02",
            "params.model LIKE 'rf%'": "r12 r09 r04 r01",
            "params.model LIKE 'r%'": "r12 r11 r09 r04 r01",
            "params.model ILIKE 'rf'": "r09 r05 r04 r01",
            "params.model ILIKE 'R%'": "r12 r11 r09 r05 r04 r01",
            "params.model NOT LIKE 'r%'": "r10 r08 r06 r05 r03 r02",
            "params.model NOT ILIKE 'r%'": "r10 r08 r06 r03 r02",
            "params.model IN ('rf', 'lr')": "r09 r08 r04 r03 r01",
            "params.model IN ('rf')": "r09 r04 r01",
            "params.model NOT IN ('rf', 'lr')": "r12 r11 r10 r06 r05 r02",
            "params.model IS NULL": "r07",
            "params.model IS NOT NULL": "r12 r11 r10 r09 r08 r06 r05 r04 r03 r02 r01",
            "params.lr = '0.1'": "r11 r10 r08 r05 r03 r01",
            "params.lr IN ('0.001', '1e-3')": "r12 r04",
            "params.`data.path` LIKE 's3://bucket/%'": "r04 r01",
            "params.data.path = 's3://bucket/b.csv'": "r04",
            "params.`num trees` = '100'": "r01",
            "params.\"num trees\" IN ('50', '200')": "r08 r02",
            "params.`num trees` IS NULL": "r12 r11 r10 r09 r07 r06 r05 r04 r03",
            "params.`max-depth` IN ('3')": "r10 r01",
            "params.`max-depth` != '3'": "r03",
            "params.`max-depth` NOT IN ('5')": "r10 r01",
        }
    )


def test_tag_operators(data):
    data.check(
        {
            "tags.team = 'growth'": "r09 r04 r01",
            "tags.team != 'growth'": "r12 r11 r10 r08 r07 r06 r03 r02",
            "tags.team LIKE 'g%'": "r09 r04 r01",
            "tags.team ILIKE 'g%'": "r11 r09 r04 r03 r01",
            "tags.team ILIKE 'GROWTH'": "r11 r09 r04 r03 r01",
            "tags.team NOT LIKE '%o%'": "r11 r10",
            "tags.team NOT ILIKE '%o%'": "r10",
            "tags.team IN ('core', 'research')": "r12 r10 r08 r06 r02",
            "tags.team NOT IN ('core', 'research')": "r11 r09 r07 r04 r03 r01",
            "tags.team IS NULL": "r05",
            "tags.team IS NOT NULL": "r12 r11 r10 r09 r08 r07 r06 r04 r03 r02 r01",
            "tags.`env.stage` = 'prod'": "r04 r01",
            "tags.\"env.stage\" IN ('dev', 'staging')": "r08 r02",
            "tags.`env.stage` NOT LIKE 'p%'": "r08 r02",
            # Tags the server sets.
            "tags.`trackwire.runName` = 'r03'": "r03",
        }
    )


def test_attribute_operators(data):
    ids = data.ids
    others = " ".join(n for n in ACTIVE.split() if n != "r03")
    data.check(
        {
            f"attributes.run_id = '{ids['r03']}'": "r03",
            f"attributes.run_id != '{ids['r03']}'": others,
            f"run_id IN ('{ids['r01']}', '{ids['r05']}', '{ids['r13']}')": "r05 r01",
            f"run_id NOT IN ('{ids['r03']}')": others,
            f"run_id LIKE '{ids['r03']}%'": "r03",
            "attributes.run_name = 'r03'": "r03",
            "run_name != 'r03'": others,
            "run_name IN ('r01', 'r12')": "r12 r01",
            "run_name NOT IN ('r01', 'r02', 'r03', 'r04', 'r05', 'r06', 'r07', 'r08', 'r09')": "r12 r11 r10",
            "run_name LIKE 'r1%'": "r12 r11 r10",
            "run_name ILIKE 'R0_'": "r09 r08 r07 r06 r05 r04 r03 r02 r01",
            "run_name NOT LIKE 'r0%'": "r12 r11 r10",
            "attributes.status = 'FINISHED'": "r11 r10 r07 r05 r02 r01",
            "status = 'finished'": "r11 r10 r07 r05 r02 r01",
            "status = 'FAILED'": "r12 r08 r03",
            "status != 'FINISHED'": "r12 r09 r08 r06 r04 r03",
            "status IN ('RUNNING', 'KILLED')": "r09 r06 r04",
            "status NOT IN ('FINISHED', 'FAILED')": "r09 r06 r04",
            "status = 'SCHEDULED'": "",
            "user_id = 'alice'": "r11 r09 r06 r03 r01",
            "attributes.user_id != 'alice'": "r12 r10 r08 r07 r05 r04 r02",
            "user_id LIKE 'b%'": "r12 r08 r05 r02",
            "user_id ILIKE 'CAROL'": "r10 r07 r04",
            f"artifact_uri LIKE '%/{ids['r03']}/artifacts'": "r03",
            "artifact_uri LIKE '%/artifacts'": ACTIVE,
            "artifact_uri IS NULL": "",
            f"start_time = {start(3)}": "r03",
            f"start_time != {start(2)}": " ".join(n for n in ACTIVE.split() if n != "r02"),
            f"start_time > {start(10)}": "r12 r11",
            f"start_time >= {start(10)}": "r12 r11 r10",
            f"start_time < {start(2)}": "r01",
            f"start_time <= {start(2)}": "r02 r01",
            # Fractions are compared as such, not truncated to the column's integers.
            f"start_time < {start(1)}.5": "r01",
            f"start_time = {start(1)}.5": "",
            f"start_time > {start(11)}.5": "r12",
            "start_time > 1e300": "",
            "start_time > -1e300": ACTIVE,
            "start_time >= 1.70000066e12": "r12 r11",  # start(11)
            "end_time IS NULL": "r09 r04",
            "end_time IS NOT NULL": "r12 r11 r10 r08 r07 r06 r05 r03 r02 r01",
            f"end_time > {end(10)}": "r12 r11",
            f"end_time <= {end(2)}": "r02 r01",
            f"end_time != {end(1)}": "r12 r11 r10 r08 r07 r06 r05 r03 r02",
            f"end_time = {end(6)}": "r06",
        }
    )


def test_aliases_and_spellings(data):
    data.check(
        {
            "metric.accuracy > 0.9": "r08 r04 r01",
            "METRICS.accuracy > 0.9": "r08 r04 r01",
            "param.model = 'lr'": "r08 r03",
            "tag.team = 'research'": "r10",
            "attribute.status = 'KILLED'": "r06",
            "run.status = 'KILLED'": "r06",
            "attributes.`run_name` = 'r06'": "r06",
            "run.\"user_id\" = 'carol'": "r10 r07 r04",
            "Status = 'KILLED'": "r06",
            "RUN_NAME = 'r06'": "r06",
            "params.model = 'lr' and tags.team = 'core'": "r08",
            "params.model = 'lr' Or tags.team = 'research'": "r10 r08 r03",
            "params.model in ('lr') AND params.lr not in ('0.01')": "r08 r03",
            "metrics.accuracy is not null and metrics.loss is null": "r12 r07",
            "tags.team not ilike 'G%'": "r12 r10 r08 r07 r06 r02",
            "  params.model   =   'lr'  ": "r08 r03",
            "params.model='lr'AND(tags.team='core')": "r08",
            "": ACTIVE,
            "   ": ACTIVE,
        }
    )


# -- AND, OR, parentheses -----------------------------------------------------------


def test_and_binds_tighter_than_or(data):
    data.check(
        {
            "params.model = 'rf' OR params.model = 'xgb' AND tags.team = 'core'": "r09 r06 r04 r02 r01",
            "(params.model = 'rf' OR params.model = 'xgb') AND tags.team = 'core'": "r06 r02",
            "tags.team = 'core' AND params.model = 'xgb' OR params.model = 'rf'": "r09 r06 r04 r02 r01",
            "tags.team = 'core' AND (params.model = 'xgb' OR params.model = 'rf')": "r06 r02",
            "metrics.accuracy > 0.9 AND metrics.loss < 0.3 OR status = 'KILLED' AND user_id = 'alice'": "r08 r06 r04",
            "run_name = 'r01' OR run_name = 'r05' OR run_name = 'r12'": "r12 r05 r01",
            "run_name LIKE 'r0%' AND status = 'FINISHED' AND user_id = 'bob'": "r05 r02",
        }
    )


def test_nested_parentheses(data):
    data.check(
        {
            "((metrics.accuracy > 0.9 OR metrics.loss < 0.3) AND "
            "(status = 'RUNNING' OR (user_id = 'bob' AND params.lr = '0.1')))": "r08 r04",
            "(((tags.team = 'research')))": "r10",
            "(tags.team = 'core' OR (tags.team = 'growth' AND (params.lr = '0.01' OR "
            "params.lr = '0.001'))) AND metrics.loss >= 0.3": "r09 r06 r02",
            "(run_name = 'r01') OR ((run_name = 'r02')) OR (((run_name = 'r03')))": "r03 r02 r01",
            "(params.model = 'rf' OR tags.team = 'core') AND params.nope IS NULL": (
                "r12 r09 r08 r06 r04 r02 r01"
            ),
        }
    )


def test_missing_keys_compare_false(data):
    """A comparison on a key a run does not have is false, whatever the operator."""
    data.check(
        {
            "params.model != 'zzz'": "r12 r11 r10 r09 r08 r06 r05 r04 r03 r02 r01",
            "params.model NOT IN ('zzz')": "r12 r11 r10 r09 r08 r06 r05 r04 r03 r02 r01",
            "params.model NOT LIKE 'zzz'": "r12 r11 r10 r09 r08 r06 r05 r04 r03 r02 r01",
            "tags.team != 'zzz'": "r12 r11 r10 r09 r08 r07 r06 r04 r03 r02 r01",
            "tags.team NOT ILIKE 'zzz'": "r12 r11 r10 r09 r08 r07 r06 r04 r03 r02 r01",
            # r06 lacks the metric; r05's NaN satisfies no comparison.
            "metrics.accuracy != 123": "r12 r11 r10 r09 r08 r07 r04 r03 r02 r01",
            "metrics.accuracy = 0": "",
            "metrics.accuracy < 1 OR metrics.accuracy >= 1": "r12 r11 r10 r09 r08 r07 r04 r03 r02 r01",
            "params.nope = 'x' OR params.nope != 'x'": "",
            "params.nope IS NULL": ACTIVE,
            "params.nope IS NOT NULL": "",
            "metrics.accuracy IS NULL OR metrics.accuracy >= 0.9": "r08 r06 r04 r01",
            "end_time != 0": "r12 r11 r10 r08 r07 r06 r05 r03 r02 r01",
            # Keys are case-sensitive.
            "params.Model = 'rf'": "",
            "params.Model IS NULL": ACTIVE,
        }
    )


# -- order_by -------------------------------------------------------------------------


def test_order_by(data):
    data.check_order(
        {
            # Ties (0.91, 0.85) by start time, newest first; NaN and missing last.
            ("metrics.accuracy DESC",): "r08 r04 r01 r12 r09 r02 r03 r07 r10 r11 r06 r05",
            ("metrics.accuracy ASC",): "r11 r10 r07 r03 r12 r09 r02 r04 r01 r08 r06 r05",
            ("metrics.accuracy",): "r11 r10 r07 r03 r12 r09 r02 r04 r01 r08 r06 r05",
            ("metric.accuracy desc",): "r08 r04 r01 r12 r09 r02 r03 r07 r10 r11 r06 r05",
            # Missing keys last in both directions.
            ("metrics.`val.acc` DESC",): "r01 r02 r10 r12 r11 r09 r08 r07 r06 r05 r04 r03",
            ("metrics.`val.acc` ASC",): "r10 r02 r01 r12 r11 r09 r08 r07 r06 r05 r04 r03",
            ('metrics."f1 score" DESC',): "r08 r01 r12 r11 r10 r09 r07 r06 r05 r04 r03 r02",
            # Strings sort by code point: "RF" < "lr" < "r_f" < "rf" < "rf%" < "xgb".
            ("params.model",): "r05 r08 r03 r11 r09 r04 r01 r12 r10 r06 r02 r07",
            ("params.model DESC",): "r10 r06 r02 r12 r09 r04 r01 r11 r08 r03 r05 r07",
            ("params.lr ASC",): "r04 r09 r07 r02 r11 r10 r08 r05 r03 r01 r12 r06",
            (
                "tags.team ASC",
                "metrics.loss DESC",
            ): "r11 r03 r06 r02 r08 r12 r09 r01 r04 r07 r10 r05",
            (
                "tags.team DESC",
                "metrics.loss ASC",
            ): "r10 r07 r04 r01 r09 r08 r02 r06 r12 r03 r11 r05",
            (
                "params.`max-depth` DESC",
                "run_name DESC",
            ): "r03 r10 r01 r12 r11 r09 r08 r07 r06 r05 r04 r02",
            ("attributes.start_time ASC",): "r01 r02 r03 r04 r05 r06 r07 r08 r09 r10 r11 r12",
            ("start_time DESC",): ACTIVE,
            ("end_time DESC",): "r12 r11 r10 r08 r07 r06 r05 r03 r02 r01 r09 r04",
            ("end_time",): "r01 r02 r03 r05 r06 r07 r08 r10 r11 r12 r09 r04",
            ("run_name",): "r01 r02 r03 r04 r05 r06 r07 r08 r09 r10 r11 r12",
            ("attributes.run_name DESC",): ACTIVE,
            ("user_id", "start_time"): "r01 r03 r06 r09 r11 r02 r05 r08 r12 r04 r07 r10",
            (
                "user_id DESC",
                "metrics.accuracy DESC",
            ): "r04 r07 r10 r08 r12 r02 r05 r01 r09 r03 r11 r06",
            # Statuses sort in the order of the RunStatus enum.
            ("status",): "r09 r04 r11 r10 r07 r05 r02 r01 r12 r08 r03 r06",
            # A key no run has: the default order.
            ("params.nope DESC",): ACTIVE,
        }
    )


def test_order_by_with_filter_and_run_id_tie_break(data):
    assert data.search("tags.team = 'core'", order_by=["metrics.loss"]) == [
        "r08",
        "r02",
        "r06",
        "r12",
    ]
    # s2 and s3 started together: the smaller run id first, whatever the direction.
    other = [data.other]
    assert data.search(experiments=other) == ["s3", "s2", "s1"]
    assert data.search(experiments=other, order_by=["metrics.accuracy DESC"]) == ["s1", "s3", "s2"]
    assert data.search(experiments=other, order_by=["metrics.accuracy ASC"]) == ["s3", "s2", "s1"]
    assert data.search(experiments=other, order_by=["params.model DESC"]) == ["s3", "s2", "s1"]
    by_id = sorted(["s1", "s2", "s3"], key=data.ids.get)
    assert data.search(experiments=other, order_by=["run_id"]) == by_id
    assert data.search(experiments=other, order_by=["run_id DESC"]) == by_id[::-1]


# -- paging ---------------------------------------------------------------------------

PAGED_QUERIES = [
    {},
    {"filter_string": "metrics.accuracy IS NOT NULL", "order_by": ["params.model DESC"]},
    {
        "filter_string": "tags.team != 'x' OR params.lr = '0.1'",
        "order_by": ["metrics.accuracy", "run_name DESC"],
    },
    {"run_view_type": ViewType.ALL, "order_by": ["tags.team", "metrics.loss DESC"]},
]


def test_pages_return_every_run_once(data):
    client = data.client
    for query in PAGED_QUERIES:
        for experiments in ([data.main], [data.main, data.other]):
            everything = client.search_runs(experiments, **query)
            assert everything.token == ""
            expected = [r.info.run_id for r in everything]
            assert len(expected) >= 11
            for size in (1, 2, 7):
                seen, token, pages = [], None, 0
                while True:
                    page = client.search_runs(
                        experiments,
                        **query,
                        max_results=size,
                        page_token=token,
                        include_total_count=True,
                    )
                    assert page.total_count == len(expected)
                    assert len(page) == size or (page.token == "" and 0 < len(page) < size)
                    seen += [r.info.run_id for r in page]
                    pages += 1
                    token = page.token
                    if not token:
                        break
                assert seen == expected, (query, experiments, size)
                assert pages == -(-len(expected) // size)


def test_page_token_is_bound_to_its_query(data):
    client = data.client
    query = {"filter_string": "params.model IS NOT NULL", "order_by": ["metrics.accuracy"]}
    first = client.search_runs([data.main], **query, max_results=3)
    assert len(first) == 3 and first.token
    # The same experiments by name: the same query.
    second = client.search_runs(
        experiment_names=["search-main"], **query, max_results=3, page_token=first.token
    )
    everything = client.search_runs([data.main], **query)
    assert [r.info.run_id for r in first + second] == [r.info.run_id for r in everything[:6]]
    # A page token does not depend on select or include_total_count either.
    client.search_runs(
        [data.main],
        **query,
        max_results=3,
        page_token=first.token,
        select=["params.*"],
        include_total_count=True,
    )
    changes = [
        {**query, "filter_string": "params.model IS NULL"},
        {**query, "filter_string": ""},
        {**query, "order_by": ["metrics.accuracy DESC"]},
        {**query, "order_by": []},
        {**query, "run_view_type": ViewType.ALL},
    ]
    for changed in changes:
        with pytest.raises(InvalidArgumentError, match="page_token"):
            client.search_runs([data.main], **changed, max_results=3, page_token=first.token)
    with pytest.raises(InvalidArgumentError, match="page_token"):
        client.search_runs([data.main, data.other], **query, max_results=3, page_token=first.token)
    with pytest.raises(InvalidArgumentError, match="page_token"):
        client.search_runs([data.other], **query, max_results=3, page_token=first.token)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "!!!",
        "a",
        _b64(b"hello"),
        _b64(b"[1, 2]"),
        _b64(b"{}"),
        _b64(json.dumps({"o": "x", "q": "y"}).encode()),
        _b64(json.dumps({"o": 1}).encode()),
        _b64(b"\xff\xfe"),
        "é",
    ],
)
def test_malformed_page_token(client, token):
    experiment_id = client.create_experiment("tokens")
    client.create_run(experiment_id)
    with pytest.raises(InvalidArgumentError, match="page_token"):
        client.search_runs([experiment_id], page_token=token)


@pytest.mark.parametrize("offset", [-1, 10**30])
def test_tampered_page_token_offset(client, offset):
    """A token whose offset was edited (it is only base64 JSON) is refused, not a crash."""
    experiment_id = client.create_experiment("tokens")
    for i in range(3):
        client.create_run(experiment_id, start_time=start(i))
    token = client.search_runs([experiment_id], max_results=1).token
    data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    tampered = _b64(json.dumps({**data, "o": offset}).encode())
    with pytest.raises(InvalidArgumentError, match="page_token"):
        client.search_runs([experiment_id], max_results=1, page_token=tampered)


@pytest.mark.parametrize("size", [-1, 50_001])
def test_bad_page_size(client, size):
    experiment_id = client.create_experiment("sizes")
    with pytest.raises(InvalidArgumentError, match="page_size"):
        client.search_runs([experiment_id], max_results=size)


# -- view types and experiments -------------------------------------------------------


def test_view_types(data):
    data.check(
        {"": ACTIVE, "params.model = 'rf'": "r09 r04 r01"}, run_view_type=ViewType.ACTIVE_ONLY
    )
    data.check(
        {"": "r13", "metrics.accuracy > 0.9": "r13", "params.model = 'xgb'": ""},
        run_view_type=ViewType.DELETED_ONLY,
    )
    data.check(
        {"": f"r13 {ACTIVE}", "params.model = 'rf'": "r13 r09 r04 r01"},
        run_view_type=ViewType.ALL,
    )
    with pytest.raises(InvalidArgumentError, match="view_type"):
        data.search(run_view_type=7)


def test_several_experiments_by_ids_and_names(data):
    both = f"s3 s2 s1 {ACTIVE}".split()
    assert data.search(experiments=[data.main, data.other]) == both
    assert data.search(experiments=[data.other, data.main, data.other]) == both
    assert data.search(experiments=[], experiment_names=["search-main", "search-other"]) == both
    assert data.search(experiments=[data.main], experiment_names=["search-other"]) == both
    assert data.search(experiments=[], experiment_names=["search-other"]) == ["s3", "s2", "s1"]
    assert data.search(
        "params.model = 'rf'", experiments=[data.main, data.other], order_by=["run_name"]
    ) == ["r01", "r04", "r09", "s1"]
    assert data.search(experiments=["0"]) == []
    with pytest.raises(NotFoundError, match="no-such-experiment"):
        data.search(experiments=[], experiment_names=["search-main", "no-such-experiment"])
    with pytest.raises(InvalidArgumentError, match="experiment"):
        data.search(experiments=[])
    with pytest.raises(InvalidArgumentError, match="experiment_ids"):
        data.search(experiments=["main"])


# -- select and total count -----------------------------------------------------------


def test_select(data):
    client = data.client
    full = {r.info.run_id: r.data for r in client.search_runs([data.main])}
    assert full[data.ids["r01"]].params == MAIN["r01"][2]

    def selected(select):
        runs = client.search_runs([data.main], select=select)
        assert [data.names[r.info.run_id] for r in runs] == ACTIVE.split()
        return {r.info.run_id: r for r in runs}

    for run_id, run in selected(["metrics.accuracy"]).items():
        assert run.data.params == {} and run.data.tags == {}
        expected = {k: v for k, v in full[run_id].metrics.items() if k == "accuracy"}
        assert run.data.metrics.keys() == expected.keys()
    for run_id, run in selected(["params.*", "tags.team"]).items():
        assert run.data.params == full[run_id].params
        assert run.data.tags == {k: v for k, v in full[run_id].tags.items() if k == "team"}
        assert run.data.metrics == {}
    for run_id, run in selected(["metrics.*", "params.`data.path`", "tags.*"]).items():
        assert run.data.metrics.keys() == full[run_id].metrics.keys()
        assert run.data.params == {k: v for k, v in full[run_id].params.items() if k == "data.path"}
        assert run.data.tags == full[run_id].tags
    runs = selected(['metrics."f1 score"', "metrics.`val.acc`"])
    assert runs[data.ids["r01"]].data.metrics == {"f1 score": 0.70, "val.acc": 0.88}
    # Attributes are always returned.
    run = runs[data.ids["r04"]]
    assert (run.info.run_name, run.info.status, run.info.user_id) == ("r04", "RUNNING", "carol")
    assert run.info.start_time == start(4) and run.info.end_time is None
    with pytest.raises(InvalidArgumentError, match=r"select\[1\].*attribute"):
        client.search_runs([data.main], select=["params.*", "attributes.status"])
    with pytest.raises(InvalidArgumentError, match=r"select\[0\].*no kind prefix"):
        client.search_runs([data.main], select=["accuracy"])
    with pytest.raises(InvalidArgumentError, match=r"select\[0\]"):
        client.search_runs([data.main], select=["params.model DESC"])


def test_total_count(data):
    client = data.client
    page = client.search_runs(
        [data.main], "params.model = 'rf'", max_results=2, include_total_count=True
    )
    assert [data.names[r.info.run_id] for r in page] == ["r09", "r04"]
    assert page.total_count == 3 and page.token
    assert client.search_runs([data.main], "params.model = 'rf'", max_results=2).total_count is None
    everything = client.search_runs(
        [data.main, data.other], max_results=1, include_total_count=True, run_view_type=ViewType.ALL
    )
    assert everything.total_count == 16
    none = client.search_runs([data.main], "params.model = 'nope'", include_total_count=True)
    assert (list(none), none.total_count) == ([], 0)


# -- LIKE and ILIKE -------------------------------------------------------------------


def test_like_is_case_sensitive_and_ilike_is_not(data):
    data.check(
        {
            "tags.note LIKE 'AXB'": "",
            "tags.note ILIKE 'AXB'": "r04",
            "tags.note LIKE '%OFF'": "",
            "tags.note ILIKE '%OFF'": "r01",
            "params.model LIKE 'RF'": "r05",
            "params.model ILIKE 'rF'": "r09 r05 r04 r01",
            "run_name LIKE 'R01'": "",
            "run_name ILIKE 'R01'": "r01",
            # ILIKE matches a value spelled exactly like the pattern, non-ASCII letters included.
            "tags.city ILIKE 'École'": "r10",
            "tags.city ILIKE '%COLE'": "r10",
            "tags.city LIKE 'école'": "",
        }
    )


def test_like_wildcards_and_escapes(data):
    data.check(
        {
            "tags.note LIKE '%'": "r09 r08 r07 r06 r05 r04 r03 r02 r01",
            "tags.note LIKE '50%'": "r03 r01",
            "tags.note LIKE '_'": "",
            "tags.note LIKE 'a_b'": "r06 r04 r02",
            "params.model ILIKE 'r_'": "r09 r05 r04 r01",
            "params.model LIKE '__%'": "r12 r11 r10 r09 r08 r06 r05 r04 r03 r02 r01",
            # A backslash makes the next character literal.
            r"tags.note LIKE '50\%%'": "r01",
            r"tags.note LIKE '%\%'": "r09",
            r"tags.note LIKE '%\%%'": "r09 r01",
            r"tags.note LIKE 'a\_b'": "r02",
            r"params.model LIKE 'r\_%'": "r11",
            r"params.model LIKE 'rf\%'": "r12",
            # In a quoted string `\\` is one backslash: `\\\\` is an escaped backslash in
            # the pattern; a lone backslash at the end of a pattern is literal.
            r"tags.note LIKE 'a\\\\b'": "r06",
            r"tags.note LIKE 'a\\\\%'": "r06",
            r"tags.note LIKE 'C:\\\\dir\\\\'": "r08",
            r"tags.note LIKE '%\\'": "r08",
            r"tags.note ILIKE 'c:%\\'": "r08",
            # Outside LIKE, % _ and backslashes are plain characters.
            "tags.note = '50%'": "",
            "tags.note = '100%'": "r09",
            "tags.note = 'a_b'": "r02",
            "params.model = 'rf%'": "r12",
            "params.model = 'r_f'": "r11",
            "params.model = 'r%'": "",
            "params.model IN ('r_', 'rf%', '%')": "r12",
            r"tags.note = 'a\b'": "r06",
            r"tags.note = 'a\\b'": "r06",
            r"tags.note = 'C:\dir\\'": "r08",
            r"tags.note = 'C:\\dir\\'": "r08",
        }
    )


def test_ilike_folds_non_ascii_letters(data):
    data.check({"tags.city ILIKE 'école'": "r10", "tags.city ILIKE 'ÉCOLE'": "r10"})


def test_equality_keeps_trailing_spaces(client):
    experiment_id = client.create_experiment("spaces")
    ids = {}
    for i, value in enumerate(["abc", "abc ", " abc"]):
        ids[value] = client.create_run(
            experiment_id, start_time=start(i), params={"p": value}
        ).info.run_id

    def found(filter_string):
        return [r.info.run_id for r in client.search_runs([experiment_id], filter_string)]

    assert found("params.p = 'abc'") == [ids["abc"]]
    assert found("params.p = 'abc '") == [ids["abc "]]
    assert found("params.p != 'abc'") == [ids[" abc"], ids["abc "]]
    assert found("params.p IN ('abc ')") == [ids["abc "]]
    assert found("params.p LIKE 'abc'") == [ids["abc"]]


# -- injection ------------------------------------------------------------------------


def test_sql_injection_matches_literally(data):
    client = data.client
    data.check(
        {
            "tags.note = '''; DROP TABLE runs; --'": "r07",
            'tags.note = "\'; DROP TABLE runs; --"': "r07",
            r"tags.note = '\'; DROP TABLE runs; --'": "r07",
            "tags.note LIKE '%DROP TABLE%'": "r07",
            "tags.note = 'it''s'": "r05",
            r"tags.note = 'it\'s'": "r05",
            'tags.note = "it\'s"': "r05",
            "tags.note IN ('it''s', 'x')": "r05",
            "tags.note = 'x'' OR ''1''=''1'": "",
            'tags.note = \'x" OR "1"="1\'': "",
            "tags.note LIKE '%'' OR 1=1 --%'": "",
            "params.model IN ('rf'') OR (''1''=''1')": "",
            "params.`'; DROP TABLE runs; --` = 'x'": "",
            "params.`'; DROP TABLE runs; --` IS NULL": ACTIVE,
            "params.\"x') OR 1=1 --\" = 'y'": "",
            "params.`a``b` = 'x'": "",
            'tags."team"" OR 1=1 --" = \'core\'': "",
            "run_name = 'r01'' OR ''1''=''1'": "",
            "user_id = 'alice'' --'": "",
            "user_id = 'alice''); DELETE FROM runs; --'": "",
        }
    )
    assert data.search(order_by=["params.`model; DROP TABLE runs` DESC"]) == ACTIVE.split()
    assert data.search(order_by=["tags.`x'); DROP TABLE runs; --`"]) == ACTIVE.split()
    runs = client.search_runs([data.main], select=["tags.`x'; DROP TABLE runs; --`"])
    assert len(runs) == 12 and all(r.data.tags == {} for r in runs)
    with pytest.raises(NotFoundError):
        client.search_runs(experiment_names=["x'; DROP TABLE experiments; --"])
    # Everything is still there.
    assert data.search(run_view_type=ViewType.ALL) == f"r13 {ACTIVE}".split()
    assert client.get_run(data.ids["r07"]).data.tags["note"] == "'; DROP TABLE runs; --"
    assert client.get_experiment_by_name("search-main").experiment_id == data.main


# -- errors ---------------------------------------------------------------------------

# filter -> (what the message says, the token and position it quotes)
BAD_FILTERS = {
    # Unparsable.
    "metrics.accuracy >": ("expected a number or a quoted string", "at the end (position 18)"),
    "params.model = 'rf' AND": ("expected an identifier", "at the end (position 23)"),
    "params.model = 'rf' OR": ("expected an identifier", "at the end (position 22)"),
    "params.model = 'rf' tags.team = 'a'": (
        "expected AND, OR or the end",
        "token 'tags.team' at position 20",
    ),
    "(params.model = 'rf'": ("expected ')'", "at the end (position 20)"),
    "params.model = 'rf')": ("expected AND, OR or the end", "token ')' at position 19"),
    "()": ("expected an identifier", "token ')' at position 1"),
    "AND params.model = 'rf'": ("expected an identifier", "token 'AND' at position 0"),
    "params.model = 'rf": ("unterminated '...' quote", "at position 15"),
    'params.model = "rf': ('unterminated "..." quote', "at position 15"),
    "params.`model = 'rf'": ("unterminated `...` quote", "at position 7"),
    "params.model == 'rf'": ("expected a number or a quoted string", "token '=' at position 14"),
    "params.model IS NUL": ("expected NULL", "token 'NUL' at position 16"),
    "params.model IS NOT 'a'": ("expected NULL", "token ''a'' at position 20"),
    "params.model NOT = 'a'": ("expected an operator", "token '=' at position 17"),
    "params.model NOT IN 'a'": ("expected '(' after IN", "token ''a'' at position 20"),
    "params.model IN ()": ("expected a number or a quoted string", "token ')' at position 17"),
    "params.model IN ('a' 'b')": (
        "expected ',' or ')' in the IN list",
        "token ''b'' at position 21",
    ),
    "params.model IN ('a',)": ("expected a number or a quoted string", "token ')' at position 21"),
    "params.model LIKE 5": ("LIKE takes a quoted pattern", "token '5' at position 18"),
    "params.model ILIKE rf": ("expected a number or a quoted string", "token 'rf' at position 19"),
    "params.model 'rf'": ("expected an operator", "token ''rf'' at position 13"),
    "params.model ~ 'x'": ("unexpected character '~'", "at position 13"),
    "params.model = 'rf'; DROP TABLE runs": ("unexpected character ';'", "at position 19"),
    "params. = 'x'": ("expected a key after 'params.'", "at position 7"),
    "params.`` = 'x'": ("empty key", "token 'params.``' at position 0"),
    "metrics.accuracy > 1e999": ("number out of range", "token '1e999' at position 19"),
    "params.model = 'a\x00'": ("NUL character", "at position 17"),
    # Unknown names.
    "accuracy > 0.9": ("'accuracy' has no kind prefix", "token 'accuracy' at position 0"),
    "foo.bar = 1": ("unknown identifier kind 'foo'", "token 'foo.bar' at position 0"),
    "attributes.colour = 'red'": (
        "unknown attribute 'colour'",
        "token 'attributes.colour' at position 0",
    ),
    "run.experiment_id = '1'": (
        "unknown attribute 'experiment_id'",
        "token 'run.experiment_id' at position 0",
    ),
    # Types.
    "metrics.accuracy > 'high'": ("metrics are numbers", "token 'metrics.accuracy' at position 0"),
    "params.model = 1": ("param values are strings: quote 1", "token 'params.model' at position 0"),
    "tags.team != 2.5": ("tag values are strings: quote 2.5", "token 'tags.team' at position 0"),
    "tags.team IN ('a', 1)": ("tag values are strings: quote 1", "token 'tags.team' at position 0"),
    "start_time = 'yesterday'": ("'start_time' is a number", "token 'start_time' at position 0"),
    "run_name = 1": ("'run_name' is a string", "token 'run_name' at position 0"),
    "status = 3": ("status 3.0 is not one of", "token 'status' at position 0"),
    # Operators a type does not allow.
    "metrics.accuracy LIKE 'x'": (
        "operator LIKE is not allowed for metrics",
        "token 'metrics.accuracy' at position 0",
    ),
    "metrics.accuracy NOT ILIKE 'x'": (
        "operator ILIKE is not allowed for metrics",
        "token 'metrics.accuracy' at position 0",
    ),
    "metrics.accuracy IN (1)": (
        "IN is for run_id, status, run_name, params and tags",
        "token 'metrics.accuracy' at position 0",
    ),
    "params.p > 'a'": ("operator > is not allowed for params", "token 'params.p' at position 0"),
    "tags.team <= 'a'": ("operator <= is not allowed for tags", "token 'tags.team' at position 0"),
    "run_name > 'a'": (
        "operator > is not allowed for 'run_name'",
        "token 'run_name' at position 0",
    ),
    "start_time LIKE '1%'": (
        "operator LIKE is not allowed for 'start_time'",
        "token 'start_time' at position 0",
    ),
    "status LIKE 'FIN%'": (
        "operator LIKE is not allowed for 'status'",
        "token 'status' at position 0",
    ),
    "status < 'FINISHED'": (
        "operator < is not allowed for 'status'",
        "token 'status' at position 0",
    ),
    "user_id IN ('alice')": ("IN is not allowed for 'user_id'", "token 'user_id' at position 0"),
    "start_time IN (1)": ("IN is not allowed for 'start_time'", "token 'start_time' at position 0"),
    # Status values.
    "status = 'DONE'": (
        "status 'DONE' is not one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED",
        "token 'status' at position 0",
    ),
    "attributes.status IN ('FINISHED', 'OK')": (
        "status 'OK' is not one of",
        "token 'attributes.status' at position 0",
    ),
    # The position is that of the offending term, not of the filter's start.
    "params.model = 'rf' AND (tags.team = 'a' OR metrics.loss LIKE 'x')": (
        "operator LIKE is not allowed for metrics",
        "token 'metrics.loss' at position 44",
    ),
}

BAD_ORDER_BY = {
    ("metrics.accuracy DOWN",): (
        "order_by[0]: expected ASC, DESC or the end",
        "token 'DOWN' at position 17",
    ),
    ("metrics.accuracy ASC DESC",): (
        "order_by[0]: expected ASC, DESC or the end",
        "token 'DESC' at position 21",
    ),
    ("run_name", "params.model sideways"): (
        "order_by[1]: expected ASC, DESC",
        "token 'sideways' at position 13",
    ),
    ("accuracy",): ("order_by[0]: expected an identifier", "token 'accuracy' at position 0"),
    ("",): ("order_by[0]: expected an identifier", "at the end (position 0)"),
    ("DESC",): ("order_by[0]: expected an identifier", "token 'DESC' at position 0"),
    ("attributes.colour",): (
        "order_by[0]: unknown attribute 'colour'",
        "token 'attributes.colour' at position 0",
    ),
    ("run_name", "foo.bar"): (
        "order_by[1]: unknown identifier kind 'foo'",
        "token 'foo.bar' at position 0",
    ),
    ("metrics.accuracy, params.model",): (
        "order_by[0]: expected ASC, DESC",
        "token ',' at position 16",
    ),
    ("params.`model",): ("order_by[0]: unterminated `...` quote", "at position 7"),
}


def test_bad_filters_quote_the_token_and_position(data):
    failures = {}
    for filter_string, (reason, where) in BAD_FILTERS.items():
        with pytest.raises(InvalidArgumentError) as caught:
            data.search(filter_string)
        message = caught.value.message
        if not (message.startswith("filter: ") and reason in message and message.endswith(where)):
            failures[filter_string] = message
    assert failures == {}


def test_bad_order_by_quotes_the_token_and_position(data):
    failures = {}
    for order_by, (reason, where) in BAD_ORDER_BY.items():
        with pytest.raises(InvalidArgumentError) as caught:
            data.search(order_by=list(order_by))
        message = caught.value.message
        if not (
            message.startswith(reason.split(":")[0] + ":")
            and reason in message
            and message.endswith(where)
        ):
            failures[order_by] = message
    assert failures == {}


# -- property: any filter is answered, or refused as INVALID_ARGUMENT -----------------

NUMERIC_IDENTIFIERS = [
    "metrics.accuracy", "metrics.`val.acc`", 'metrics."f1 score"', "metric.loss",
    "start_time", "attributes.end_time",
]  # fmt: skip
STRING_IDENTIFIERS = [
    "params.model", "params.`num trees`", "param.lr", "tags.team", 'tags."env.stage"',
    "tag.note", "attribute.run_name", "run.run_id", "run_id", "user_id", "artifact_uri",
    "params.`a``b`", "params.`'; DROP TABLE runs; --`",
]  # fmt: skip
ODD_IDENTIFIERS = [
    "status", "Status", "METRICS.Accuracy", "attributes.colour", "foo.bar", "accuracy",
    "params.``", "params.", "metrics", "`k`",
]  # fmt: skip
NUMERIC_OPERATORS = ["=", "!=", "<>", "<", "<=", ">", ">="]
STRING_OPERATORS = ["=", "!=", "<>", "LIKE", "ILIKE", "NOT LIKE", "not ilike"]
OTHER_OPERATORS = ["IN", "NOT IN", "IS NULL", "IS NOT NULL", "IS", "NOT", "NULL", "==", "=<", "!"]
NUMBERS = [
    "0", "-0", "0.9", "-1", "+.5", "1.5", "1e3", "1E-3", "1700000000000", "1700000000000.5",
    "1e999", "-1e400", "1e-400", "1e308", "-1.7976931348623157e308", "99999999999999999999",
    "9223372036854775807", "9223372036854775808", "-9223372036854775809",
]  # fmt: skip
STRINGS = [
    "'rf'", '"xgb"', "''", "'%'", "'_'", "'%%'", r"'50\%%'", r"'\%'", r"'\_'", r"'\\'",
    r"'a\\'", r"'%\\'", r"'\\\\'", r"'\a'", "'it''s'", r"'it\'s'",
    "'''; DROP TABLE runs; --'", "'x'' OR ''1''=''1'", "'École'", "'É%'", "'\U0001f600'",
    "' '", "'abc '", "'" + "x" * 300 + "'",
]  # fmt: skip
STATUSES = ["'FINISHED'", "'running'", "'Killed'"]
BAD_STATUSES = ["'DONE'", "''", "1"]


def _in_list(values: list[str]) -> str:
    return "(" + ", ".join(values) + ")"


def _term(*parts: str) -> str:
    return " ".join(parts)


# Well-typed terms: they get past the parser and the type checks to the database.
_valid_terms = st.one_of(
    st.builds(
        _term,
        st.sampled_from(NUMERIC_IDENTIFIERS),
        st.sampled_from(NUMERIC_OPERATORS),
        st.sampled_from(NUMBERS),
    ),
    st.builds(
        _term,
        st.sampled_from(STRING_IDENTIFIERS),
        st.sampled_from(STRING_OPERATORS),
        st.sampled_from(STRINGS),
    ),
    st.builds(
        _term,
        st.sampled_from(STRING_IDENTIFIERS),
        st.sampled_from(["IN", "NOT IN"]),
        st.lists(st.sampled_from(STRINGS), min_size=1, max_size=3).map(_in_list),
    ),
    st.builds(
        _term,
        st.sampled_from(["status", "attributes.status"]),
        st.sampled_from(["=", "!="]),
        st.sampled_from(STATUSES),
    ),
    st.builds(
        _term,
        st.sampled_from(["status", "attributes.status"]),
        st.sampled_from(["IN", "NOT IN"]),
        st.lists(st.sampled_from(STATUSES), min_size=1, max_size=3).map(_in_list),
    ),
    st.builds(
        _term,
        st.sampled_from(NUMERIC_IDENTIFIERS + STRING_IDENTIFIERS + ["status"]),
        st.sampled_from(["IS NULL", "IS NOT NULL", "is null"]),
    ),
)
# Anything: unknown names, operators a type does not allow, mistyped values.
_values = st.sampled_from(NUMBERS + STRINGS + STATUSES + BAD_STATUSES)
_any_terms = st.one_of(
    _valid_terms,
    st.builds(
        _term,
        st.sampled_from(NUMERIC_IDENTIFIERS + STRING_IDENTIFIERS + ODD_IDENTIFIERS),
        st.sampled_from(NUMERIC_OPERATORS + STRING_OPERATORS + OTHER_OPERATORS),
        st.one_of(_values, st.lists(_values, max_size=3).map(_in_list)),
    ),
)


def _filters(terms, joiners):
    return st.recursive(
        terms,
        lambda inner: st.one_of(
            st.builds(_term, inner, st.sampled_from(joiners), inner),
            inner.map("({})".format),
        ),
        max_leaves=6,
    )


_valid_filters = _filters(_valid_terms, ["AND", "OR", "and", "or"])
_any_filters = _filters(_any_terms, ["AND", "OR", "and", "&&", ",", ""])
GRAMMAR_CHARACTERS = string.ascii_letters + string.digits + " ._-'\"`()\\,%=<>!*:/+é\U0001f600"
_edits = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(0, 400),
        st.one_of(st.sampled_from(GRAMMAR_CHARACTERS), st.characters(codec="utf-8")),
    ),
    min_size=1,
    max_size=4,
)


def _mutate(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Applies (kind, position, character) edits: truncate, insert, delete, repeat."""
    for kind, position, char in edits:
        at = position % (len(text) + 1)
        if kind == 0:
            text = text[:at]
        elif kind == 1:
            text = text[:at] + char + text[at:]
        elif kind == 2:
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + text[at : at + 5] + text[at:]
    return text


FILTERS = st.one_of(
    _valid_filters,
    _valid_filters,
    _any_filters,
    st.builds(_mutate, _any_filters, _edits),
    st.text(alphabet=GRAMMAR_CHARACTERS, max_size=60),
    st.text(st.characters(codec="utf-8"), max_size=40),
)
_order_keys = st.builds(
    "{}{}".format,
    st.sampled_from(NUMERIC_IDENTIFIERS + STRING_IDENTIFIERS + ODD_IDENTIFIERS + ["", "status"]),
    st.sampled_from(["", " ASC", " desc", " DESC DESC", " sideways"]),
)
ORDER_BYS = st.one_of(
    st.just([]),
    st.lists(_order_keys, max_size=3),
    st.lists(st.builds(_mutate, _order_keys, _edits), max_size=2),
)


# On every backend: 300 searches take a few seconds on each.
@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(filter_string=FILTERS, order_by=ORDER_BYS)
def test_any_filter_is_answered_or_invalid_argument(data, filter_string, order_by):
    """The server answers, or refuses with INVALID_ARGUMENT: never INTERNAL or UNKNOWN."""
    try:
        runs = data.client.search_runs(
            [data.main, data.other], filter_string, ViewType.ALL, order_by=order_by
        )
    except InvalidArgumentError as e:
        assert e.message
    else:
        assert {r.info.run_id for r in runs} <= set(data.ids.values())


def test_a_repeated_search_follows_the_data(client, monkeypatch):
    """The server keeps each search's rendered statements, never its answers: the same
    search, repeated while runs are added, changed and deleted, and while the store's
    plan flips from driving by the filter's few runs to walking the sort index."""
    monkeypatch.setattr(run_search, "SELECTIVE_RUNS", 2)  # 8 runs cap the probes
    experiment = client.create_experiment("search-repeated")
    search = {
        "filter_string": "metrics.accuracy > 0.5 and params.model = 'rf'",
        "order_by": ["metrics.accuracy DESC"],
        "include_total_count": True,
    }

    def add(name: str, accuracy: float, model: str = "rf") -> str:
        run = client.create_run(
            experiment,
            run_name=name,
            params={"model": model},
            metrics=[Metric("accuracy", accuracy, T0, 0)],
        )
        return run.info.run_id

    def names() -> list[str]:
        found = client.search_runs([experiment], **search)
        assert found.total_count == len(found)
        return [r.info.run_name for r in found]

    first = add("a", 0.6)
    add("b", 0.9)
    add("c", 0.4)
    add("d", 0.95, model="lr")
    assert names() == ["b", "a"]  # few runs: the filter drives
    client.log_metric(first, "accuracy", 0.99, step=1)
    assert names() == ["a", "b"]
    for i in range(12):
        add(f"e{i:02}", 0.7 + i / 100)
    # Past the probes' cap: the same search now walks the accuracy index.
    assert names() == ["a", "b", *[f"e{i:02}" for i in reversed(range(12))]]
    client.delete_run(first)
    assert names() == ["b", *[f"e{i:02}" for i in reversed(range(12))]]
    client.restore_run(first)
    assert names()[:2] == ["a", "b"]


def _comparable(run: Run) -> tuple:
    """A run with NaN replaced by a marker (NaN != NaN)."""

    def number(v: float):
        return "NaN" if v != v else v

    data = run.data
    return (
        run.info,
        {k: number(v) for k, v in data.metrics.items()},
        data.params,
        data.tags,
        {k: (number(m.value), m.timestamp, m.step) for k, m in data.latest_metrics.items()},
    )


def _selected(run: Run, select: list[str]) -> Run:
    """`run` with only the data `select` names (all of it when `select` is empty)."""
    if not select:
        return run

    def keep(kind: str, values: dict) -> dict:
        return {k: v for k, v in values.items() if {f"{kind}.{k}", f"{kind}.*"} & set(select)}

    data = run.data
    return Run(
        run.info,
        RunData(
            keep("metrics", data.metrics),
            keep("params", data.params),
            keep("tags", data.tags),
            keep("metrics", data.latest_metrics),
        ),
    )


def test_search_runs_table_equals_get_run(data):
    """SearchRuns answers with the page as columns (RunTable), from which
    TrackwireClient.search_runs builds its Run objects; every field must equal what
    GetRun returns for the run: NaN and missing metrics, the latest value's time and
    step, deleted runs, a child run with its parent, a run still running (no end time),
    and `select`."""
    client = data.client
    parent = data.ids["r01"]
    child = client.create_run(data.main, run_name="child", parent_run_id=parent)
    client.log_metric(child.info.run_id, "loss", 0.25, timestamp=T0 + 5, step=7)
    stub = client._tracking
    for query in (
        {},
        {"filter": "metrics.accuracy > 0.1 OR params.model = 'rf'"},
        {"order_by": ["metrics.accuracy DESC"], "view_type": ViewType.ALL},
        {"select": ["metrics.loss", "params.*"]},
        {"view_type": ViewType.DELETED_ONLY},
    ):
        request = pb.SearchRunsRequest(experiment_ids=[data.main], page_size=1000, **query)
        from_table = runs_from_table(stub.SearchRuns(request).runs)
        from_get = [
            _selected(
                Run.from_proto(stub.GetRun(pb.GetRunRequest(run_id=r.info.run_id)).run),
                query.get("select", []),
            )
            for r in from_table
        ]
        assert len(from_table) > 0, query
        assert [_comparable(r) for r in from_table] == [_comparable(r) for r in from_get], query
    found = {r.info.run_name: r for r in client.search_runs([data.main])}
    assert found["child"].info.parent_run_id == parent
    assert found["child"].data.latest_metrics["loss"] == Metric("loss", 0.25, T0 + 5, 7)
    assert found["child"].info.end_time is None


def test_a_page_larger_than_one_read_of_run_data(data, monkeypatch):
    """A page's params, tags and metrics are read a fixed number of runs per statement;
    every run of a page spanning several such reads has all its data (each compared with
    GetRun, which reads one run)."""
    monkeypatch.setattr(rows, "IDS_PER_STATEMENT", 3)
    client = data.client
    runs = client.search_runs([data.main, data.other], run_view_type=ViewType.ALL)
    assert len(runs) > 3 * 3
    for run in runs:
        alone = client.get_run(run.info.run_id)
        assert _comparable(run) == _comparable(alone), run.info.run_name
