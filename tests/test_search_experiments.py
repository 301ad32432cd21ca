"""SearchExperiments through the real server, on every configured database (issue #3).

A fixed set of experiments, made through the client one after the other (so
their creation times increase), and exact expected results by name, in order.
Unless a test sorts, experiments come newest first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from trackwire import TrackwireClient, ViewType
from trackwire.errors import InvalidArgumentError

# name: tags, in creation order ("Default" exists already). "deleted-exp" is deleted.
EXPERIMENTS = {
    "churn-model": {"team": "growth", "stage": "prod"},
    "churn_v2": {"team": "growth"},
    "deleted-exp": {"team": "growth"},
    "Churn Legacy": {"team": "core", "stage": "dev"},
    "fraud.detect": {"team": "risk", "stage": "prod", "owner.email": "ana@example.com"},
    "100% sure": {},
    "it's": {"note": "'; DROP TABLE experiments; --"},
}
NEWEST_FIRST = [
    "it's",
    "100% sure",
    "fraud.detect",
    "Churn Legacy",
    "churn_v2",
    "churn-model",
    "Default",
]


def but(*names: str) -> list[str]:
    return [n for n in NEWEST_FIRST if n not in names]


@dataclass
class Experiments:
    client: TrackwireClient
    ids: dict[str, str]  # name -> id
    created: dict[str, int]  # name -> creation time (ms)

    def search(self, filter_string: str = "", **kwargs) -> list[str]:
        page = self.client.search_experiments(filter_string=filter_string, **kwargs)
        assert page.token == ""
        return [e.name for e in page]

    def check(self, cases: dict[str, list[str]], **kwargs) -> None:
        assert {f: self.search(f, **kwargs) for f in cases} == cases


@pytest.fixture
def experiments(client) -> Experiments:
    ids = {"Default": "0"}
    for name, tags in EXPERIMENTS.items():
        time.sleep(0.005)  # distinct creation times
        ids[name] = client.create_experiment(name, tags=tags)
    client.delete_experiment(ids["deleted-exp"])
    created = {name: client.get_experiment(i).creation_time for name, i in ids.items()}
    assert sorted(created, key=created.get) == ["Default", *EXPERIMENTS]
    assert len(set(created.values())) == len(created)
    return Experiments(client, ids, created)


def test_name_filters(experiments):
    experiments.check(
        {
            "name = 'churn-model'": ["churn-model"],
            "attributes.name = 'churn_v2'": ["churn_v2"],
            "name != 'churn-model'": but("churn-model"),
            "name <> 'Default'": but("Default"),
            "name LIKE 'churn%'": ["churn_v2", "churn-model"],
            "name ILIKE 'churn%'": ["Churn Legacy", "churn_v2", "churn-model"],
            "name NOT LIKE 'churn%'": but("churn_v2", "churn-model"),
            "name NOT ILIKE 'CHURN%'": but("Churn Legacy", "churn_v2", "churn-model"),
            "name LIKE 'churn_%'": ["churn_v2", "churn-model"],
            r"name LIKE 'churn\_%'": ["churn_v2"],
            "name LIKE 'churn_v_'": ["churn_v2"],
            r"name LIKE '%\%%'": ["100% sure"],
            "name LIKE '%.%'": ["fraud.detect"],
            "name IN ('Default', 'fraud.detect', 'nope')": ["fraud.detect", "Default"],
            "name IN ('it''s')": ["it's"],
            "name NOT IN ('Default', 'it''s')": but("Default", "it's"),
            "name = 'it''s'": ["it's"],
            'name = "it\'s"': ["it's"],
            "name = 'churn%'": [],
            "name = 'deleted-exp'": [],
            "name = 'CHURN-MODEL'": [],
            "name ILIKE 'CHURN-MODEL'": ["churn-model"],
        }
    )


def test_tag_filters(experiments):
    experiments.check(
        {
            "tags.team = 'growth'": ["churn_v2", "churn-model"],
            "tags.team != 'growth'": ["fraud.detect", "Churn Legacy"],
            "tags.team IN ('core', 'risk')": ["fraud.detect", "Churn Legacy"],
            "tags.team NOT IN ('core')": ["fraud.detect", "churn_v2", "churn-model"],
            "tags.team LIKE 'gr%'": ["churn_v2", "churn-model"],
            "tags.team ILIKE 'CORE'": ["Churn Legacy"],
            "tags.stage IS NULL": ["it's", "100% sure", "churn_v2", "Default"],
            "tags.stage IS NOT NULL": ["fraud.detect", "Churn Legacy", "churn-model"],
            "tags.`owner.email` LIKE '%@example.com'": ["fraud.detect"],
            "tags.\"owner.email\" ILIKE 'ANA@%'": ["fraud.detect"],
            "tag.note = '''; DROP TABLE experiments; --'": ["it's"],
            "tags.nope = 'x' OR tags.nope != 'x'": [],
            "tags.team = 'growth' AND tags.stage = 'prod' OR name = 'Default'": [
                "churn-model",
                "Default",
            ],
            "tags.team = 'growth' AND (tags.stage = 'prod' OR name = 'churn_v2')": [
                "churn_v2",
                "churn-model",
            ],
            "(name LIKE 'churn%' OR name LIKE 'fraud%') AND tags.stage = 'prod'": [
                "fraud.detect",
                "churn-model",
            ],
        }
    )


def test_time_and_id_filters(experiments):
    created, ids = experiments.created, experiments.ids
    experiments.check(
        {
            f"creation_time = {created['fraud.detect']}": ["fraud.detect"],
            f"creation_time >= {created['Churn Legacy']}": [
                "it's",
                "100% sure",
                "fraud.detect",
                "Churn Legacy",
            ],
            f"creation_time > {created['Churn Legacy']}": ["it's", "100% sure", "fraud.detect"],
            f"creation_time < {created['churn-model']}": ["Default"],
            f"creation_time <= {created['churn_v2']}": ["churn_v2", "churn-model", "Default"],
            f"creation_time != {created['churn_v2']}": but("churn_v2"),
            # A fraction is compared as such, not truncated to the column's integers.
            f"attributes.creation_time < {created['churn_v2']}.5": [
                "churn_v2",
                "churn-model",
                "Default",
            ],
            f"creation_time = {created['churn_v2']}.5": [],
            "creation_time > 1e300": [],
            "last_update_time > 0": NEWEST_FIRST,
            f"experiment_id = {ids['fraud.detect']}": ["fraud.detect"],
            f"experiment_id = {ids['fraud.detect']}.5": [],
            "experiment_id = 0": ["Default"],
            "experiment_id > 0": but("Default"),
            f"experiment_id <= {ids['churn_v2']}": ["churn_v2", "churn-model", "Default"],
        }
    )


def test_order_by(experiments):
    cases = {
        ("name",): [
            "100% sure",
            "Churn Legacy",
            "Default",
            "churn-model",
            "churn_v2",
            "fraud.detect",
            "it's",
        ],
        ("name DESC",): [
            "it's",
            "fraud.detect",
            "churn_v2",
            "churn-model",
            "Default",
            "Churn Legacy",
            "100% sure",
        ],
        # Experiments without the tag last, in both directions.
        ("tags.team", "name DESC"): [
            "Churn Legacy",
            "churn_v2",
            "churn-model",
            "fraud.detect",
            "it's",
            "Default",
            "100% sure",
        ],
        ("tags.team DESC",): [
            "fraud.detect",
            "churn_v2",
            "churn-model",
            "Churn Legacy",
            "it's",
            "100% sure",
            "Default",
        ],
        ("tags.stage ASC", "creation_time ASC"): [
            "Churn Legacy",
            "churn-model",
            "fraud.detect",
            "Default",
            "churn_v2",
            "100% sure",
            "it's",
        ],
        ("creation_time",): NEWEST_FIRST[::-1],
        ("creation_time DESC",): NEWEST_FIRST,
        ("attributes.experiment_id DESC",): NEWEST_FIRST,
        ("experiment_id asc",): NEWEST_FIRST[::-1],
    }
    found = {keys: experiments.search(order_by=list(keys)) for keys in cases}
    assert found == cases
    assert experiments.search("name LIKE 'churn%'", order_by=["name"]) == [
        "churn-model",
        "churn_v2",
    ]


def test_view_types(experiments):
    everything = [*NEWEST_FIRST[:4], "deleted-exp", *NEWEST_FIRST[4:]]
    assert experiments.search(view_type=ViewType.ALL) == everything
    assert experiments.search(view_type=ViewType.DELETED_ONLY) == ["deleted-exp"]
    assert experiments.search("tags.team = 'growth'", view_type=ViewType.ALL) == [
        "deleted-exp",
        "churn_v2",
        "churn-model",
    ]
    assert experiments.search("tags.team = 'core'", view_type=ViewType.DELETED_ONLY) == []


def test_pages(experiments):
    client = experiments.client
    queries = [
        {},
        {"filter_string": "tags.team IS NOT NULL OR name LIKE '%e%'", "order_by": ["name"]},
        {"view_type": ViewType.ALL, "order_by": ["tags.team DESC", "creation_time"]},
    ]
    for query in queries:
        expected = [e.experiment_id for e in client.search_experiments(**query)]
        assert len(expected) >= 5
        for size in (1, 2, 3):
            seen, token = [], None
            while True:
                page = client.search_experiments(**query, max_results=size, page_token=token)
                assert len(page) == size or (page.token == "" and 0 < len(page) < size)
                seen += [e.experiment_id for e in page]
                token = page.token
                if not token:
                    break
            assert seen == expected, (query, size)


def test_page_token_is_bound_to_its_query(experiments):
    client = experiments.client
    query = {"filter_string": "name != 'x'", "order_by": ["name"]}
    first = client.search_experiments(**query, max_results=2)
    assert first.token
    second = client.search_experiments(**query, max_results=2, page_token=first.token)
    assert [e.name for e in first + second] == experiments.search(**query)[:4]
    for changed in (
        {**query, "filter_string": "name = 'x'"},
        {**query, "order_by": ["name DESC"]},
        {**query, "view_type": ViewType.ALL},
    ):
        with pytest.raises(InvalidArgumentError, match="page_token"):
            client.search_experiments(**changed, max_results=2, page_token=first.token)
    with pytest.raises(InvalidArgumentError, match="page_token"):
        client.search_experiments(**query, page_token="garbage")


# filter -> (what the message says, the token and position it quotes)
BAD_FILTERS = {
    "name > 'a'": ("operator > is not allowed for 'name'", "token 'name' at position 0"),
    "name LIKE 5": ("LIKE takes a quoted pattern", "token '5' at position 10"),
    "name = 5": ("'name' is a string: quote 5", "token 'name' at position 0"),
    "creation_time = 'today'": (
        "'creation_time' is a number",
        "token 'creation_time' at position 0",
    ),
    "creation_time LIKE '1%'": (
        "operator LIKE is not allowed for 'creation_time'",
        "token 'creation_time' at position 0",
    ),
    "creation_time > 1e999": ("number out of range", "token '1e999' at position 16"),
    "experiment_id IN (1, 2)": (
        "IN is not allowed for 'experiment_id'",
        "token 'experiment_id' at position 0",
    ),
    "tags.team IN (1)": ("tag values are strings: quote 1", "token 'tags.team' at position 0"),
    "tags.team > 'a'": ("operator > is not allowed for tags", "token 'tags.team' at position 0"),
    "params.x = 'a'": ("unknown identifier kind 'params'", "token 'params.x' at position 0"),
    "metrics.x > 1": ("unknown identifier kind 'metrics'", "token 'metrics.x' at position 0"),
    "status = 'x'": ("'status' has no kind prefix", "token 'status' at position 0"),
    "attributes.artifact_location = 'x'": (
        "unknown attribute 'artifact_location'",
        "token 'attributes.artifact_location' at position 0",
    ),
    "name = 'a' AND": ("expected an identifier", "at the end (position 14)"),
    "name = 'a' name = 'b'": ("expected AND, OR or the end", "token 'name' at position 11"),
    "(name = 'a'": ("expected ')'", "at the end (position 11)"),
    "name = 'a": ("unterminated '...' quote", "at position 7"),
    "name = 'a'; DROP TABLE experiments": ("unexpected character ';'", "at position 10"),
}
BAD_ORDER_BY = {
    ("name SIDEWAYS",): (
        "order_by[0]: expected ASC, DESC or the end",
        "token 'SIDEWAYS' at position 5",
    ),
    ("name", "metrics.x"): (
        "order_by[1]: unknown identifier kind 'metrics'",
        "token 'metrics.x' at position 0",
    ),
    ("attributes.colour",): (
        "order_by[0]: unknown attribute 'colour'",
        "token 'attributes.colour' at position 0",
    ),
    ("status",): ("order_by[0]: expected an identifier", "token 'status' at position 0"),
}


def test_bad_filters_and_order_by(experiments):
    failures = {}
    for filter_string, (reason, where) in BAD_FILTERS.items():
        with pytest.raises(InvalidArgumentError) as caught:
            experiments.search(filter_string)
        message = caught.value.message
        if not (message.startswith("filter: ") and reason in message and message.endswith(where)):
            failures[filter_string] = message
    for order_by, (reason, where) in BAD_ORDER_BY.items():
        with pytest.raises(InvalidArgumentError) as caught:
            experiments.search(order_by=list(order_by))
        message = caught.value.message
        if not (message.startswith(reason) and message.endswith(where)):
            failures[order_by] = message
    assert failures == {}
    # Nothing was harmed.
    assert experiments.search(view_type=ViewType.ALL)[-1] == "Default"
    assert len(experiments.search(view_type=ViewType.ALL)) == 8
