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
        deadline = time.monotonic() + 10
        while not (
            all(analyzed(postgres_url).get(t) for t in TABLES) and runs_known(postgres_url) >= 2_020
        ):
            assert time.monotonic() < deadline, (
                f"not analyzed after 10 s: {analyzed(postgres_url)}, runs {runs_known(postgres_url)}"
            )
            time.sleep(0.1)
        found = client.search_runs(
            [experiment_id], filter_string="params.model_type = 'rf'", max_results=10
        )
        assert len(found) == 10
    finally:
        server.stop()
