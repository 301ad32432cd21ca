"""The README's comparison table is the one `make bench-compare` wrote, not edited by hand."""

from __future__ import annotations

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPARE = os.path.join(ROOT, "bench", "compare")
RESULTS = os.path.join(ROOT, "bench", "results")
sys.path.insert(0, COMPARE)

import readme  # noqa: E402
import report  # noqa: E402


def test_readme_section_is_the_last_results():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    assert readme.section(RESULTS, ROOT) in text


def test_markdown_is_rendered_from_the_json():
    """(After a change to report.py: `python bench/compare/readme.py --render`.)"""
    with open(os.path.join(RESULTS, report.JSON_NAME)) as f:
        results = json.load(f)
    with open(os.path.join(RESULTS, report.MARKDOWN_NAME)) as f:
        assert f.read() == report.markdown(results)
    assert results["scale"] == 1
    assert os.path.exists(os.path.join(RESULTS, report.CHART_NAME))


def test_update_rewrites_only_between_the_markers(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(f"# Title\n\nbefore\n\n{readme.START}\nstale table\n{readme.END}\n\nafter\n")
    readme.update(str(path), RESULTS)
    text = path.read_text()
    assert text.startswith("# Title\n\nbefore\n\n" + readme.START)
    assert text.endswith(readme.END + "\n\nafter\n")
    assert "stale table" not in text
    with open(os.path.join(RESULTS, report.MARKDOWN_NAME)) as f:
        assert f.read().strip() in text


def test_a_database_run_writes_its_own_files_without_the_peers_that_keep_none(tmp_path):
    """`--db postgresql` (issue #15): its results go to compare-postgresql.*, never to the
    files the README's table is made of, without Aim, W&B and the raw SQLite rows, and with
    W6 over each fleet after W6's own rows."""
    with open(os.path.join(RESULTS, report.JSON_NAME)) as f:
        results = json.load(f)
    w6 = results["runs"]["trackwire"]["W6"]
    results.update(db="postgresql", db_server="PostgreSQL 15", fleets=[1, 3])
    results["runs"]["trackwire"]["W6x3"] = [dict(r, points_per_s=2 * r["points_per_s"]) for r in w6]
    results["runs"]["mlflow"]["W6x3"] = results["runs"]["mlflow"]["W6"]
    results["runs"]["trackwire"]["W5"] = [
        dict(r, page_ms=[5.0] * 3, round_trip_ms=0.05, newest_statement_ms=1.0)
        | dict(statement_ms=4.0, packed_ms=2.0)
        for r in results["runs"]["trackwire"]["W5"]
    ]
    results["rows"] = report.table_rows(results)

    paths = report.write(results, str(tmp_path))

    assert sorted(os.path.basename(p) for p in paths) == [
        "compare-postgresql.json",
        "compare-postgresql.md",
        "compare-postgresql.png",
    ]
    text = (tmp_path / "compare-postgresql.md").read_text()
    assert "both on PostgreSQL 15" in text
    assert "Aim" not in text and "W&B" not in text and "raw SQLite" not in text
    workloads = [r["what"] for r in results["rows"] if r["workload"] == "W6"]
    assert workloads[2].startswith("8 processes as above over 3 Trackwire servers")
    scaling = next(r for r in results["rows"] if r["what"].startswith("3 servers against 1"))
    assert abs(scaling["trackwire"] - 2) < 1e-9
    # W5's floors (search_floor.py): last of W5's rows, each against MLflow's whole search,
    # alone and with the page's delivery (page-alone p50 less its statement).
    w5 = [r["short"] for r in results["rows"] if r["workload"] == "W5"]
    assert w5[-5:] == [
        "W5 page delivery",
        "W5 floor, Trackwire's tables",
        "W5 bound, Trackwire's tables",
        "W5 floor, one JSON row per run",
        "W5 bound, one JSON row per run",
    ]
    by_short = {r["short"]: r for r in results["rows"]}
    mlflow_search = by_short["W5 search top-100 p50"]["peer"]
    delivery = 5.0 - 1.0
    assert abs(by_short["W5 page delivery"]["trackwire"] - delivery) < 1e-9
    assert abs(by_short["W5 floor, Trackwire's tables"]["ratio"] - mlflow_search / 4.0) < 1e-9
    bound = by_short["W5 bound, one JSON row per run"]
    assert abs(bound["trackwire"] - (2.0 + delivery)) < 1e-9
    assert "driver round trip 0.05 ms" in by_short["W5 floor, Trackwire's tables"]["what"]
