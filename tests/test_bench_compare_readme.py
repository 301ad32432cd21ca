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
