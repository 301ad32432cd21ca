"""How fast the database alone answers W5's filtered search (issue #15's W5 target).

`make bench-compare --db postgresql|mysql` calls `database_floors` from Trackwire's W5
runner, on the runs it has just created and searched: each figure is one statement sent
straight to Trackwire's database by this process, on a connection opened as the server
opens its own (`open_database`: psycopg2 or PyMySQL, the same session settings), the p50
of W5_SEARCH_REPEATS, and each answer is checked against the server's own (the same runs,
in the same order). Only the connection is the store's; the statements go through the
driver's cursor: they are what a search costs before the server, gRPC and the client add
anything, so MLflow's filtered search divided by them bounds the ratio any server on that
design could reach.

- `statement_ms`: the best single statement over Trackwire's tables (hand-written joins:
  the filter, the sort, the page of run rows, and each run's params, tags and latest
  metrics aggregated beside it). The databases choose their plans freely (statistics are
  fresh: the server gathers them after bulk writes; the session plans as the server's do).
- `packed_ms`: the alternative design, one row per run with its latest metrics, params and
  tags as JSON documents (jsonb on PostgreSQL, JSON text on MariaDB), built from
  Trackwire's tables in a temporary table first (outside the timing): the filter and sort
  read the documents, and the page comes back with its values.
- `newest_statement_ms`: the page alone (the newest W5_TOP runs, no filter, no sort key)
  the same way as `statement_ms`. Trackwire's page-alone search less this is what the
  server, gRPC and the client add to the database's answer for such a page ("delivery" in
  the report), which a server on either design would still pay.
- `round_trip_ms`: `SELECT 1`, the driver's round trip, in each of the above.

Runs in the project's .venv (it imports the store's `open_database` and constants).
"""

from __future__ import annotations

import statistics
import time

import workloads as w

from trackwire_server.store import open_database
from trackwire_server.store.constants import ACTIVE

# The W5 search, by hand: the filter (metrics.accuracy > 0.8 and params.model_type = 'rf'),
# the order (metrics.f1 DESC, then the server's tie-breakers: newest first, then run_id),
# a page of W5_TOP runs' rows, then each run's params, tags and latest metrics (`{values}`).
# `{q}` quotes identifiers; %s are bound values.
RUN_COLUMNS = """r.run_id, r.name, r.status, r.start_time, r.end_time, r.artifact_uri,
       r.lifecycle_stage, r.parent_run_id, r.user_id"""
FILTERED = """
SELECT page.*, {values} FROM (
  SELECT {columns}, f.value AS f1
  FROM latest_metrics a
  JOIN params p ON p.run_id = a.run_id AND p.{q}key{q} = 'model_type' AND p.value = 'rf'
  JOIN runs r ON r.run_id = a.run_id
  JOIN latest_metrics f ON f.run_id = a.run_id AND f.{q}key{q} = 'f1'
  WHERE a.experiment_id = %s AND a.{q}key{q} = 'accuracy' AND a.value > 0.8
    AND r.experiment_id = %s AND r.lifecycle_stage = %s
  ORDER BY f.value DESC, r.start_time DESC, r.run_id
  LIMIT {top}
) page
ORDER BY page.f1 DESC, page.start_time DESC, page.run_id
"""
# The page alone (no filter, no sort key), the same way: what the page-alone row's search
# asks the database for, in one statement.
NEWEST = """
SELECT page.*, {values} FROM (
  SELECT {columns} FROM runs r
  WHERE r.experiment_id = %s AND r.lifecycle_stage = %s
  ORDER BY r.start_time DESC, r.run_id
  LIMIT {top}
) page
ORDER BY page.start_time DESC, page.run_id
"""
# Each run's values: PostgreSQL as text arrays (parsed in C by psycopg2), MariaDB as JSON
# objects (as the store reads them: PyMySQL parses rows in Python).
VALUES = {
    "postgresql": """
  ARRAY(SELECT v.key || '=' || v.value FROM params v WHERE v.run_id = page.run_id),
  ARRAY(SELECT v.key || '=' || v.value FROM run_tags v WHERE v.run_id = page.run_id),
  ARRAY(SELECT ROW(v.key, v.value, v.special, v.timestamp, v.step)::text
        FROM latest_metrics v WHERE v.run_id = page.run_id)""",
    "mysql": """
  (SELECT JSON_OBJECTAGG(v.`key`, v.value) FROM params v WHERE v.run_id = page.run_id),
  (SELECT JSON_OBJECTAGG(v.`key`, v.value) FROM run_tags v WHERE v.run_id = page.run_id),
  (SELECT JSON_OBJECTAGG(v.`key`, JSON_ARRAY(v.value, v.special, v.timestamp, v.step))
   FROM latest_metrics v WHERE v.run_id = page.run_id)""",
}

PACK = {
    "postgresql": """
CREATE TEMPORARY TABLE w5_packed AS
SELECT r.run_id, r.experiment_id, r.lifecycle_stage, r.start_time,
       (SELECT jsonb_object_agg(m.key, m.value) FROM latest_metrics m
        WHERE m.run_id = r.run_id) AS metrics,
       (SELECT jsonb_object_agg(m.key, m.value) FROM params m
        WHERE m.run_id = r.run_id) AS params,
       (SELECT jsonb_object_agg(m.key, m.value) FROM run_tags m
        WHERE m.run_id = r.run_id) AS tags
FROM runs r WHERE r.experiment_id = %s
""",
    "mysql": """
CREATE TEMPORARY TABLE w5_packed
  (PRIMARY KEY (run_id), KEY (experiment_id, lifecycle_stage, start_time))
  COLLATE utf8mb4_nopad_bin AS
SELECT r.run_id, r.experiment_id, r.lifecycle_stage, r.start_time,
       (SELECT JSON_OBJECTAGG(m.`key`, m.value) FROM latest_metrics m
        WHERE m.run_id = r.run_id) AS metrics,
       (SELECT JSON_OBJECTAGG(m.`key`, m.value) FROM params m
        WHERE m.run_id = r.run_id) AS params,
       (SELECT JSON_OBJECTAGG(m.`key`, m.value) FROM run_tags m
        WHERE m.run_id = r.run_id) AS tags
FROM runs r WHERE r.experiment_id = %s
""",
}
PACK_INDEXES = {
    "postgresql": [
        "ALTER TABLE w5_packed ADD PRIMARY KEY (run_id)",
        "CREATE INDEX ON w5_packed (experiment_id, lifecycle_stage, start_time)",
        "ANALYZE w5_packed",
    ],
    "mysql": ["ANALYZE TABLE w5_packed"],
}
PACKED_SEARCH = {
    "postgresql": """
SELECT run_id, metrics, params, tags FROM w5_packed
WHERE experiment_id = %s AND lifecycle_stage = %s
  AND (metrics ->> 'accuracy')::float8 > 0.8 AND params ->> 'model_type' = 'rf'
ORDER BY (metrics ->> 'f1')::float8 DESC NULLS LAST, start_time DESC, run_id
LIMIT {top}
""",
    "mysql": """
SELECT run_id, metrics, params, tags FROM w5_packed
WHERE experiment_id = %s AND lifecycle_stage = %s
  AND CAST(JSON_VALUE(metrics, '$.accuracy') AS DOUBLE) > 0.8
  AND JSON_VALUE(params, '$.model_type') = 'rf'
ORDER BY CAST(JSON_VALUE(metrics, '$.f1') AS DOUBLE) DESC, start_time DESC, run_id
LIMIT {top}
""",
}


def _timed(cursor, sql: str, args: tuple) -> tuple[list[float], list[tuple]]:
    """`sql` W5_SEARCH_REPEATS times (after one untimed run): each time in ms, the rows."""
    cursor.execute(sql, args)
    cursor.fetchall()
    times = []
    for _ in range(w.W5_SEARCH_REPEATS):
        start = time.perf_counter()
        cursor.execute(sql, args)
        rows = cursor.fetchall()
        times.append((time.perf_counter() - start) * 1e3)
    return times, rows


def database_floors(db_url: str, experiment_id: str, expected_run_ids: list[str]) -> dict:
    """The floors (module docstring) for W5's runs in `experiment_id` of Trackwire's
    database `db_url`, each answer checked against `expected_run_ids` (the server's page)."""
    kind = "postgresql" if db_url.startswith("postgres") else "mysql"
    quote = '"' if kind == "postgresql" else "`"
    shape = dict(q=quote, top=w.W5_TOP, columns=RUN_COLUMNS, values=VALUES[kind])
    eid = int(experiment_id)
    # Opened as the server opens it (store/connecting.py: its driver, session settings
    # and planner cost), autocommitting; the statements go through the driver's cursor.
    db = open_database(db_url)
    db.connect()
    try:
        cursor = db.connection().cursor()
        round_trip, _ = _timed(cursor, "SELECT 1", ())
        newest, rows = _timed(cursor, NEWEST.format(**shape), (eid, ACTIVE))
        w.check(
            len(rows) == w.W5_TOP and all(r[-3] for r in rows),
            "W5 floor: the newest page is not full, or a run of it has no params",
        )
        statement, rows = _timed(cursor, FILTERED.format(**shape), (eid, eid, ACTIVE))
        w.check(
            [r[0] for r in rows] == expected_run_ids,
            "W5 floor: the hand-written statement found other runs than the server",
        )
        cursor.execute(PACK[kind], (eid,))
        for sql in PACK_INDEXES[kind]:
            cursor.execute(sql)
            if cursor.description:
                cursor.fetchall()
        packed, rows = _timed(cursor, PACKED_SEARCH[kind].format(top=w.W5_TOP), (eid, ACTIVE))
        w.check(
            [r[0] for r in rows] == expected_run_ids,
            "W5 floor: the packed statement found other runs than the server",
        )
        cursor.execute("DROP TABLE w5_packed")
    finally:
        db.close()
    return {
        "round_trip_ms": statistics.median(round_trip),
        "newest_statement_ms": statistics.median(newest),
        "statement_ms": statistics.median(statement),
        "packed_ms": statistics.median(packed),
    }
