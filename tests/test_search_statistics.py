"""PostgreSQL planner statistics after bulk writes (issue #15): once BatchCreateRuns
has grown the tables, the server ANALYZEs them itself within seconds (not when
autovacuum gets to it), outside the callers' transactions; small writes do not.

Seen from the database: pg_stat_user_tables.last_analyze (a manual ANALYZE, which is
what the server runs; autovacuum's own are last_autoanalyze)."""

from __future__ import annotations

import time

import pytest

import trackwire
from tests.conftest import POSTGRES_ENV, RunningServer, database_url, reset_database
from trackwire import Metric
from trackwire_server.store import open_database

TABLES = ("runs", "params", "run_tags", "latest_metrics")


@pytest.fixture
def postgres_url():
    url = database_url(POSTGRES_ENV)
    if not url:
        pytest.skip(f"needs ${POSTGRES_ENV} or a PostgreSQL answering locally")
    reset_database(url)
    return url


def analyzed(url: str) -> dict[str, bool]:
    db = open_database(url)
    with db.connection_context():
        rows = db.execute_sql(
            "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname IN %s",
            (TABLES,),
        ).fetchall()
    db.close()
    return dict(rows)


def runs_known(url: str) -> float:
    """The runs table's size as the planner knows it (pg_class.reltuples)."""
    db = open_database(url)
    with db.connection_context():
        row = db.execute_sql("SELECT reltuples FROM pg_class WHERE relname = 'runs'").fetchone()
    db.close()
    return row[0]


def run_batch(i: int, n: int) -> list[dict]:
    return [
        dict(
            params={"model_type": "rf", "seed": str(i + j), "a": "1", "b": "2", "c": "3"},
            metrics=[Metric(k, 0.5, 1000, 0) for k in ("accuracy", "f1", "auc")],
            tags={"team": "x", "dataset": "y"},
        )
        for j in range(n)
    ]


def wait_until_analyzed(url: str, runs: int, seconds: float = 10) -> None:
    """Until every table is analyzed and the planner knows `runs` runs (or fails)."""
    deadline = time.monotonic() + seconds
    while not (all(analyzed(url).get(t) for t in TABLES) and runs_known(url) >= runs):
        assert time.monotonic() < deadline, (
            f"not analyzed after {seconds} s: {analyzed(url)}, runs {runs_known(url)}"
        )
        time.sleep(0.1)


def test_bulk_writes_are_analyzed_soon(postgres_url, tmp_path):
    server = RunningServer(postgres_url, tmp_path / "artifacts")
    try:
        client = trackwire.TrackwireClient(server.uri)
        experiment_id = client.create_experiment("bulk")
        client.create_runs(experiment_id, run_batch(0, 20))  # small: no ANALYZE
        time.sleep(1.0)
        assert not any(analyzed(postgres_url).values()), analyzed(postgres_url)

        for first in range(0, 2_000, 1_000):
            client.create_runs(experiment_id, run_batch(first, 1_000))
        # every table analyzed, the runs table with all 2,020 rows, within 10 s
        wait_until_analyzed(postgres_url, 2_020)
        found = client.search_runs(
            [experiment_id], filter_string="params.model_type = 'rf'", max_results=10
        )
        assert len(found) == 10
    finally:
        server.stop()


def test_a_page_of_runs_is_read_by_index_unless_the_operator_prices_pages(postgres_url, tmp_path):
    """Trackwire's sessions plan with random_page_cost 1.1 (store/connecting.py): reading
    the values of a page of 100 runs out of 5,000 takes index lookups, where PostgreSQL's
    default (4) reads whole tables (three sequential scans, ~3x slower on W5). A value the
    operator set (here for the session, as for the database or the role) is kept."""
    server = RunningServer(postgres_url, tmp_path / "artifacts")
    try:
        client = trackwire.TrackwireClient(server.uri)
        experiment_id = client.create_experiment("page")
        for first in range(0, 5_000, 1_000):
            client.create_runs(experiment_id, run_batch(first, 1_000))
        wait_until_analyzed(postgres_url, 5_000)
        page = [r.info.run_id for r in client.search_runs([experiment_id], max_results=100)]
        assert len(page) == 100
    finally:
        server.stop()

    def plan(url: str) -> tuple[str, str]:
        db = open_database(url, pool_size=1)
        db.check_out(5)
        try:
            (cost,) = db.execute_sql("SHOW random_page_cost").fetchone()
            placeholders = ", ".join(["%s"] * len(page))
            rows = db.execute_sql(
                f"EXPLAIN SELECT run_id, key, value FROM params WHERE run_id IN ({placeholders})",
                page,
            ).fetchall()
        finally:
            db.close_all()
        return cost, "\n".join(r[0] for r in rows)

    cost, chosen = plan(postgres_url)
    assert cost == "1.1"
    assert "Seq Scan" not in chosen and "params_pkey" in chosen, chosen
    cost, chosen = plan(f"{postgres_url}?options=-c%20random_page_cost%3D4")
    assert cost == "4"
    assert "Seq Scan on params" in chosen, chosen


def test_the_planner_setting_costs_one_statement_per_connection_not_per_call(
    postgres_url, monkeypatch
):
    """The setting is made when a connection opens, not each time the pool hands one out
    (a unit of work's checkout costs no round trip)."""
    from trackwire_server.store import connecting

    opened = []
    original = connecting._PlannerSettings._connect

    def counting(self):
        opened.append(1)
        return original(self)

    monkeypatch.setattr(connecting._PlannerSettings, "_connect", counting)
    db = open_database(postgres_url, pool_size=1)
    try:
        for _ in range(5):
            db.check_out(5)
            assert db.execute_sql("SHOW random_page_cost").fetchone() == ("1.1",)
            connecting.release(db)
    finally:
        db.close_all()
    assert len(opened) == 1


def test_a_connection_whose_planner_setting_fails_is_closed(postgres_url, monkeypatch):
    """If the setting's statement fails (here: the database refuses it), connecting fails
    as a refused connection would, and the session is closed, not left open on the
    server while the error is handled."""
    import peewee

    from trackwire_server.store import connecting

    monkeypatch.setattr(connecting, "PLANNER_SETTINGS_SQL", "SELECT no_such_function(%s)")
    name = f"tw-planner-{time.monotonic_ns()}"
    db = open_database(f"{postgres_url}?application_name={name}", pool_size=1)
    with pytest.raises(peewee.ProgrammingError) as refused:
        db.check_out(5)
    assert "no_such_function" in str(refused.value)

    monkeypatch.undo()  # (`refused` keeps the failed call's frames alive meanwhile)
    probe = open_database(postgres_url)
    try:
        deadline = time.monotonic() + 5
        while True:
            with probe.connection_context():
                (sessions,) = probe.execute_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)
                ).fetchone()
            if sessions == 0:
                break
            assert time.monotonic() < deadline, f"{sessions} session(s) left open"
            time.sleep(0.1)
    finally:
        probe.close()
