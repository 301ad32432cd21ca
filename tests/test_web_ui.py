"""The web UI end to end, in real headless Chromium (Debian's `chromium`, driven by
Playwright), against a real server (gRPC + UI) over SQLite with real data.

Screenshots go to the test's folder; with TRACKWIRE_UI_SCREENSHOTS=docs they are also
written to docs/ (how the README's pictures were made).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import trackwire
from tests.conftest import RunningServer
from tests.support.browser import chromium_path, launch
from tests.support.ui_data import T0, XSS_NAME, XSS_TAG, seed_experiment
from trackwire_server.ui import UiServer

if chromium_path() is None:
    pytest.skip(
        "the web UI tests need Chromium: apt-get install chromium (.ci/run does)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

DOCS = pathlib.Path(__file__).parent.parent / "docs"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A server with its UI, and the seeded data."""
    folder = tmp_path_factory.mktemp("ui")
    running = RunningServer(f"sqlite:///{folder / 'trackwire.db'}", folder / "artifacts")
    ui = UiServer("127.0.0.1", running.port, port=0).start()
    client = trackwire.TrackwireClient(running.uri)
    data = seed_experiment(client)
    yield {"server": running, "ui": ui, "client": client, "data": data, "folder": folder}
    running.server.metric_feed.close()
    ui.stop()
    running.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def page(browser, site):
    # The pages' CSP forbids eval, which Playwright's waits use; escaping is what keeps
    # user strings inert (test_user_strings_render_as_text), the CSP only adds to it.
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.console_errors = []
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    yield page
    context.close()


def shot(page, site, name: str) -> None:
    page.screenshot(path=str(site["folder"] / f"{name}.png"), full_page=False)
    if os.environ.get("TRACKWIRE_UI_SCREENSHOTS") == "docs":
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / f"ui-{name}.png"), full_page=False)


def wait_rendered(page) -> None:
    """Until the page of the current URL has rendered (not the one before it)."""
    page.wait_for_function("window.trackwireRendered === location.hash")


def open_page(page, site, fragment: str) -> None:
    page.goto(site["ui"].url + fragment)
    wait_rendered(page)


def run_names(page) -> list[str]:
    return page.locator("#runs tbody a.run-link").all_inner_texts()


def test_experiment_table_filters_sorts_and_shows_errors_inline(page, site):
    open_page(page, site, "")
    page.fill("#experiment-search", "churn")
    page.press("#experiment-search", "Enter")
    wait_rendered(page)
    row = page.locator("#experiments tbody tr", has_text="customer_churn")
    assert "28" in row.inner_text()  # 24 runs + parent + 2 children + the XSS run
    row.locator("a.experiment-link").click()
    page.wait_for_selector("#runs tbody tr")
    assert page.locator("#run-count").inner_text().startswith("28 runs")
    # Nested runs sit right under their parent.
    names = run_names(page)
    parent_at = names.index("sweep-parent")
    assert set(names[parent_at + 1 : parent_at + 3]) == {"sweep-child-0", "sweep-child-1"}
    assert "child" in page.locator("#runs tbody tr", has_text="sweep-child-0").get_attribute(
        "class"
    )

    page.fill("#run-filter", "params.model_type = 'rf' AND metrics.accuracy > 0.75")
    page.click("#run-search")
    wait_rendered(page)
    names = run_names(page)
    assert names and all(n.endswith("-rf") for n in names)
    assert len(names) == len([i for i in range(24) if i % 3 == 0 and 0.70 + 0.01 * i > 0.75])

    # The distribution covers every run the filter matches.
    page.select_option("#distribution-metric", "metrics.accuracy")
    page.wait_for_selector("#distribution svg.histogram")
    counts = page.locator("#distribution rect.bar").evaluate_all(
        "bars => bars.map(b => +b.dataset.count)"
    )
    assert sum(counts) == len(names) and len(counts) == 20
    assert f"({len(names)} runs)" in page.locator("#distribution").inner_text()

    page.click('#runs th[data-column="metrics.`accuracy`"]')  # DESC first
    wait_rendered(page)
    values = [float(v) for v in page.locator("#runs tbody tr td:nth-child(6)").all_inner_texts()]
    header = page.locator("#runs thead th").nth(5).inner_text()
    assert header == "metrics.accuracy"
    assert values == sorted(values, reverse=True) and len(values) == len(names)
    page.click('#runs th[data-column="metrics.`accuracy`"]')  # then ASC
    wait_rendered(page)
    values = [float(v) for v in page.locator("#runs tbody tr td:nth-child(6)").all_inner_texts()]
    assert values == sorted(values)
    shot(page, site, "runs-table")

    page.fill("#run-filter", "metrics.accuracy >>> 1")
    page.click("#run-search")
    wait_rendered(page)
    error = page.locator("#filter-error .error").inner_text()
    assert "filter" in error.lower() or ">>>" in error or "expected" in error.lower()


def test_compare_highlights_differences_and_overlays_three_curves(page, site):
    open_page(page, site, f"#/experiments/{site['data']['experiment_id']}")
    for name in ("run-00-rf", "run-01-lr", "run-02-xgb"):
        page.locator("#runs tbody tr", has_text=name).locator("input.run-select").check()
    assert page.locator("#compare-button").inner_text() == "Compare (3)"
    page.click("#compare-button")
    wait_rendered(page)
    assert page.console_errors == [], page.console_errors
    assert page.locator(".error").count() == 0, page.locator(".error").all_inner_texts()
    model = page.locator('#compare-params tr[data-key="model_type"]')
    assert "diff" in model.get_attribute("class")
    assert model.locator("td").all_inner_texts()[1:] == ["rf", "lr", "xgb"]
    same = page.locator('#compare-params tr[data-key="max_iter"]')
    assert "diff" not in (same.get_attribute("class") or "")
    assert "diff" in page.locator('#compare-metrics tr[data-key="accuracy"]').get_attribute("class")
    page.select_option("#chart-metric", "loss")
    page.wait_for_function(
        "window.trackwireCharts.compare && window.trackwireCharts.compare.data[0].length === 50"
    )
    series = page.evaluate("window.trackwireCharts.compare.series.slice(1).map(s => s.label)")
    assert series == ["run-00-rf", "run-01-lr", "run-02-xgb"]
    lengths = page.evaluate(
        "window.trackwireCharts.compare.data.slice(1).map(d => d.filter(v => v !== null).length)"
    )
    assert lengths == [50, 50, 50]
    assert page.locator("#compare-chart canvas").count() == 1
    raw = page.evaluate("Array.from(window.trackwireCharts.compare.data[1])")
    page.fill("#chart-smoothing", "0.9")
    page.wait_for_function("window.trackwireCharts.compare.data[1][10] > %r" % (raw[10] * 1.05))
    smoothed = page.evaluate("Array.from(window.trackwireCharts.compare.data[1])")
    assert smoothed[0] == pytest.approx(raw[0])  # debiased: starts at the first point
    assert smoothed[-1] > raw[-1]  # a decreasing curve, smoothed, lags above it
    page.select_option("#chart-x", "wall")
    page.wait_for_function("window.trackwireCharts.compare.scales.x.time === true")
    assert page.evaluate("window.trackwireCharts.compare.data[0][0]") == T0 / 1000
    page.check("#chart-log")
    page.select_option("#chart-x", "relative")
    page.wait_for_function(
        "window.trackwireCharts.compare.scales.y.distr === 3"
        " && window.trackwireCharts.compare.data[0][0] === 0"
    )
    assert page.locator("#scatter circle.point").count() == 3
    page.select_option("#scatter-x", "metrics.accuracy")
    page.select_option("#scatter-y", "metrics.f1")
    page.select_option("#scatter-color", "params.model_type")
    assert page.locator("#scatter .legend span").count() == 3
    assert page.locator("#parallel polyline.pc-line").count() == 3
    shot(page, site, "compare")


def test_run_page_previews_image_csv_json_and_mlmodel(page, site):
    run_id = site["data"]["runs"][0]
    open_page(page, site, f"#/runs/{run_id}")
    assert page.locator("#run-name").inner_text() == "run-00-rf"
    info = page.locator("#run-info").inner_text()
    assert run_id in info and "FINISHED" in info and "50s" in info
    assert "[object" not in page.locator("#app").inner_text()
    assert page.locator("#run-params tbody tr").count() == 3
    page.wait_for_function("window.trackwireCharts['metric:loss'].data[0].length === 50")
    page.click('#artifact-tree a[data-path="plots"]')
    page.click('#artifact-tree a[data-path="plots/confusion.png"]')
    page.wait_for_function(
        "document.querySelector('#preview-image') && "
        "document.querySelector('#preview-image').naturalWidth === 64"
    )
    page.click('#artifact-tree a[data-path="data"]')
    page.click('#artifact-tree a[data-path="data/importances.csv"]')
    page.wait_for_selector("#preview-csv")
    assert page.locator("#preview-csv thead th").all_inner_texts() == ["feature", "importance"]
    assert page.locator("#preview-csv tbody tr").count() == 11
    assert page.locator("#preview-csv tbody tr").last.locator("td").first.inner_text() == (
        "quoted, name"
    )
    shot(page, site, "run-artifacts")
    page.click('#artifact-tree a[data-path="config.json"]')
    page.wait_for_selector("#preview-text")
    assert json.loads(page.locator("#preview-text").inner_text())["threshold"] == 0.5
    page.click('#artifact-tree a[data-path="model"]')
    page.click('#artifact-tree a[data-path="model/MLmodel"]')
    page.wait_for_function(
        "document.querySelector('#preview-text')?.textContent.includes('sklearn_version')"
    )
    href = page.locator("#artifact-download").get_attribute("href")
    with urllib.request.urlopen(site["ui"].url.rstrip("/") + href) as response:
        assert response.headers["Content-Disposition"] == 'attachment; filename="MLmodel"'
        assert b"flavors" in response.read()


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.mark.parametrize(
    "path", ["../../trackwire.db", "/etc/passwd", "..%2F..%2Ftrackwire.db", "data/../../x"]
)
def test_artifact_urls_never_leave_the_run_root(site, path):
    run_id = site["data"]["runs"][0]
    url = f"{site['ui'].url}api/runs/{run_id}/artifact?path={path}"
    assert http_status(url) == 400


def test_artifacts_cannot_run_script(site):
    run_id = site["data"]["runs"][0]
    site["client"].log_bytes(run_id, b"<script>alert(1)</script>", "evil.html")
    url = f"{site['ui'].url}api/runs/{run_id}/artifact?path=evil.html"
    with urllib.request.urlopen(url) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_user_strings_render_as_text(page, site):
    xss = site["data"]["xss"]
    open_page(page, site, f"#/experiments/{site['data']['experiment_id']}")
    page.locator("#columns-button").click()
    page.locator('#columns-panel input[value="tags.evil"]').check()
    assert XSS_NAME in run_names(page)
    assert page.locator("#runs td", has_text=XSS_TAG).count() == 2  # params.model_type, tags.evil
    open_page(page, site, f"#/runs/{xss}")
    assert page.locator("#run-name").inner_text() == XSS_NAME
    assert XSS_TAG in page.locator("#run-params").inner_text()
    assert XSS_TAG in page.locator("#note-view").inner_text()
    assert page.locator("#note-view h3").inner_text() == "Note"
    assert page.locator("#note-view img, #note-view script").count() == 0
    first = site["data"]["runs"][0]
    client = site["client"]
    img_named = client.create_run(site["data"]["experiment_id"], run_name=XSS_TAG).info.run_id
    client.log_metric(img_named, "accuracy", 0.6)
    open_page(page, site, f"#/compare?runs={xss},{first},{img_named}")
    assert XSS_TAG in page.locator("#compare-params").inner_text()
    # Names reach the chart legend, the scatter and the parallel coordinates as text too.
    labels = page.evaluate("window.trackwireCharts.compare.series.slice(1).map(s => s.label)")
    assert labels == [XSS_NAME, "run-00-rf", XSS_TAG]
    assert XSS_TAG in page.locator("#compare-chart .u-legend").inner_text()
    page.wait_for_timeout(200)  # an injected <img> would have fired onerror by now
    client.delete_run(img_named)
    assert page.evaluate("window.__xss") is None
    assert page.dialogs == []
    assert page.console_errors == []
    shot(page, site, "xss-as-text")


def test_note_is_rendered_as_markdown_and_editable(page, site):
    run_id = site["data"]["runs"][1]
    open_page(page, site, f"#/runs/{run_id}")
    page.click("#note-edit")
    page.fill("#note-editor", "## Findings\n- **lr** beats rf\n- see [docs](https://example.com)")
    page.click("#note-save")
    page.wait_for_selector("#note-view h4")
    assert page.locator("#note-view strong").inner_text() == "lr"
    assert page.locator("#note-view a").get_attribute("href") == "https://example.com"
    tags = site["client"].get_run(run_id).data.tags
    assert tags["trackwire.note.content"].startswith("## Findings")


def test_note_writes_refuse_other_origins(site):
    run_id = site["data"]["runs"][1]
    request = urllib.request.Request(
        f"{site['ui'].url}api/runs/{run_id}/note",
        data=b'{"content": "x"}',
        method="PUT",
        headers={"Content-Type": "application/json", "Origin": "http://evil.example"},
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request)
    assert e.value.code == 403


def test_live_curve_grows_while_a_run_logs(page, site):
    client = site["client"]
    run_id = client.create_run(site["data"]["experiment_id"], run_name="live-run").info.run_id
    for step in range(5):
        client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
    open_page(page, site, f"#/runs/{run_id}")
    page.wait_for_function("window.trackwireCharts['metric:loss'].data[0].length === 5")
    stop = threading.Event()

    def train():
        step = 5
        while not stop.is_set() and step < 400:
            client.log_metric_async(run_id, "loss", 1.0 / (step + 1), step=step)
            client.log_metric_async(run_id, "accuracy", step / 400, step=step)
            client.flush_metrics()
            step += 1
            time.sleep(0.02)

    thread = threading.Thread(target=train, daemon=True)
    thread.start()
    try:
        page.wait_for_function(
            "window.trackwireCharts['metric:loss'].data[0].length >= 40", timeout=20_000
        )
        # A metric the run did not have when the page opened gets a chart of its own.
        page.wait_for_function("window.trackwireCharts['metric:accuracy'] !== undefined")
        page.wait_for_function(
            "+document.querySelector('#run-metrics tr[data-key=\"loss\"] .step').textContent >= 40"
        )
        shot(page, site, "live-run")
    finally:
        stop.set()
        thread.join(10)
    client.set_terminated(run_id)
    steps = page.evaluate("Array.from(window.trackwireCharts['metric:loss'].data[0])")
    assert steps == sorted(steps) and steps[:5] == [0, 1, 2, 3, 4]
    # Leaving the page closes its event stream, and with it the WatchMetrics stream.
    open_page(page, site, "#/")
    feed = site["server"].server.metric_feed
    deadline = time.monotonic() + 10
    while feed._by_run and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not feed._by_run


def test_paging_through_many_runs(page, site):
    client = site["client"]
    experiment_id = client.create_experiment("many-runs")
    client.create_runs(
        experiment_id,
        [
            {"run_name": f"r{i:03d}", "metrics": [trackwire.Metric("m", i, 0, 0)]}
            for i in range(250)
        ],
    )
    open_page(page, site, f"#/experiments/{experiment_id}?order_by=metrics.%60m%60%20DESC")
    assert page.locator("#run-count").inner_text().startswith("250 runs")
    assert run_names(page)[0] == "r249" and len(run_names(page)) == 100
    page.click("#next-page")
    wait_rendered(page)
    assert run_names(page)[0] == "r149"
    page.click("#next-page")
    wait_rendered(page)
    assert len(run_names(page)) == 50 and page.locator("#next-page").is_disabled()
    page.click("#prev-page")
    wait_rendered(page)
    assert run_names(page)[0] == "r149"


def test_pages_forbid_inline_and_foreign_scripts(site):
    with urllib.request.urlopen(site["ui"].url) as response:
        policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("style-src")[0]


def test_json_api_reports_grpc_errors_with_their_message(site):
    url = f"{site['ui'].url}api/runs/{'f' * 32}"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url)
    assert e.value.code == 404
    assert re.search("f{32}", json.loads(e.value.read())["error"])


def test_cli_serves_the_ui_unless_told_not_to(tmp_path):
    from tests.test_cli_and_embedded import start_cli, stop_cli

    process, _ = start_cli(tmp_path)  # with --ui-port 0
    try:
        line = process.stdout.readline()
        match = re.search(r"web UI on (http://127\.0\.0\.1:\d+/)", line)
        assert match, line
        with urllib.request.urlopen(match.group(1)) as response:
            assert b"uPlot.iife.min.js" in response.read()
        with urllib.request.urlopen(match.group(1) + "api/experiments") as response:
            assert json.loads(response.read())["experiments"][0]["name"] == "Default"
    finally:
        assert stop_cli(process) == 0
    process, _ = start_cli(tmp_path, "--no-ui")
    try:
        assert stop_cli(process) == 0
        assert "web UI" not in process.stdout.read()
    finally:
        process.kill()


def test_registry_pages_list_models_and_change_stages(page, site):
    client = site["client"]
    run_id = site["data"]["runs"][0]
    client.create_registered_model("churn-model", description="Predicts churn " + XSS_TAG)
    for _ in range(2):
        client.create_model_version("churn-model", f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias("churn-model", "champion", 1)
    open_page(page, site, "#/models")
    row = page.locator('#models tr[data-model="churn-model"]')
    assert "v2 None" in row.inner_text() and "@champion" in row.inner_text()
    row.locator("a.model-link").click()
    wait_rendered(page)
    assert XSS_TAG in page.locator("#model-description").inner_text()
    version = page.locator('#versions tr[data-version="1"]')
    assert version.locator(".current-stage").inner_text() == "None"
    assert "@champion" in version.inner_text()
    version.locator("select.stage-select").select_option("Production")
    version.locator("button.stage-apply").click()
    page.wait_for_function(
        "document.querySelector('#versions tr[data-version=\"1\"] .current-stage')"
        "?.textContent === 'Production'"
    )
    assert client.get_model_version("churn-model", 1).current_stage == "Production"
    page.locator('#versions tr[data-version="2"] select.stage-select').select_option("Production")
    page.locator('#versions tr[data-version="2"] input.archive-existing').check()
    page.locator('#versions tr[data-version="2"] button.stage-apply').click()
    page.wait_for_function(
        "document.querySelector('#versions tr[data-version=\"1\"] .current-stage')"
        "?.textContent === 'Archived'"
    )
    assert client.get_model_version("churn-model", 2).current_stage == "Production"
    shot(page, site, "model-versions")
    page.locator('#versions tr[data-version="1"] a.source-run').click()
    wait_rendered(page)
    assert page.locator("#run-name").inner_text() == "run-00-rf"


def test_cli_says_when_the_ui_port_is_taken(tmp_path):
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "trackwire_server", "--port", "0", "--ui-port", str(port)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot serve the web UI on 127.0.0.1:{port}" in result.stderr
    assert "--no-ui" in result.stderr


def test_experiment_search_takes_quotes(site):
    site["client"].create_experiment("o'brien churn")
    query = urllib.parse.quote("O'Brien")  # case-insensitive, quotes escaped for the filter
    with urllib.request.urlopen(f"{site['ui'].url}api/experiments?q={query}") as response:
        names = [e["name"] for e in json.loads(response.read())["experiments"]]
    assert names == ["o'brien churn"]


def strict_json(data: bytes):
    """JSON as browsers parse it: NaN and Infinity tokens are errors."""

    def refuse(token):
        raise ValueError(f"{token} is not JSON")

    return json.loads(data, parse_constant=refuse)


def test_non_finite_metrics_are_valid_json(site):
    client = site["client"]
    run_id = client.create_run(site["data"]["experiment_id"], run_name="nan-run").info.run_id
    client.log_metric(run_id, "loss", float("nan"), step=0)
    client.log_metric(run_id, "loss", float("inf"), step=1)
    client.log_metric(run_id, "gain", float("-inf"), step=0)
    with urllib.request.urlopen(f"{site['ui'].url}api/runs/{run_id}") as response:
        metrics = strict_json(response.read())["run"]["metrics"]
    assert (metrics["loss"]["value"], metrics["gain"]["value"]) == ("Infinity", "-Infinity")
    url = f"{site['ui'].url}api/metric-histories?run_ids={run_id}&key=loss"
    with urllib.request.urlopen(url) as response:
        (history,) = strict_json(response.read())["histories"]
    assert history["values"] == [None, None] and history["steps"] == [0, 1]
    client.delete_run(run_id)


def test_compare_view_curves_of_running_runs_grow(page, site):
    client = site["client"]
    finished = site["data"]["runs"][3]
    running = client.create_run(site["data"]["experiment_id"], run_name="live-cmp").info.run_id
    client.log_metric(running, "accuracy", 0.1, step=0)
    open_page(page, site, f"#/compare?runs={finished},{running}")
    # accuracy was logged once per run so far: the curves open on loss, a metric with a history.
    assert page.locator("#chart-metric").input_value() == "loss"
    page.select_option("#chart-metric", "accuracy")
    page.wait_for_function(
        "window.trackwireCharts.compare.series.length === 3"
        " && window.trackwireCharts.compare.data[2].filter(v => v !== null).length === 1"
    )
    # Points committed before the page's live stream is open were read with the history
    # or not at all: log the new ones once it is.
    page.wait_for_function("window.trackwireLiveOpen === true")
    for step in range(1, 30):
        client.log_metric(running, "accuracy", 0.1 + step / 100, step=step)
    page.wait_for_function(
        "window.trackwireCharts.compare.data[2].filter(v => v !== null).length === 30",
        timeout=20_000,
    )
    client.set_terminated(running)
    client.delete_run(running)
