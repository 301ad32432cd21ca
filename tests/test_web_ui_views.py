"""The web UI's views as a person reads them, in real headless Chromium against a real
server (gRPC + UI) over SQLite: metrics logged once are values and bars (not lone dots on
an empty axis), the compare curves open on a metric with a history, the scatter keeps its
points and titles clear of the frame and ticks, breadcrumbs name the experiment, and the
runs and experiments pages say how long ago things happened with the exact time on hover.
"""

from __future__ import annotations

import datetime
import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import trackwire
from tests.conftest import RunningServer
from tests.support.browser import chromium_path, launch
from tests.support.ui_data import seed_experiment
from trackwire_server.ui import UiServer

if chromium_path() is None:
    pytest.skip(
        "the web UI tests need Chromium: apt-get install chromium (.ci/run does)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
# Runs started this long before the test: the relative text each shows.
AGES = {"three-min": (3 * MINUTE, "3 min ago"), "two-h": (2 * HOUR, "2 h ago")}
AGES |= {"yday": (26 * HOUR, "yesterday"), "nine-days": (9 * DAY, "9 days ago")}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A server with its UI; the seeded experiment (loss has a history, accuracy and f1 are
    logged once per run) and an experiment of runs started minutes to days ago."""
    folder = tmp_path_factory.mktemp("ui-views")
    running = RunningServer(f"sqlite:///{folder / 'trackwire.db'}", folder / "artifacts")
    ui = UiServer("127.0.0.1", running.port, port=0).start()
    client = trackwire.TrackwireClient(running.uri)
    data = seed_experiment(client, runs=6)
    recent = client.create_experiment("recent-runs")
    now = int(time.time() * 1000)
    started = {}
    for name, (age, _) in AGES.items():
        run_id = client.create_run(recent, run_name=name, start_time=now - age).info.run_id
        client.log_metric(run_id, "accuracy", 0.9)
        client.set_terminated(run_id, "FINISHED", end_time=now - age + 30_000)
        started[name] = now - age
    data |= {"recent": recent, "started": started}
    yield {"ui": ui, "client": client, "data": data, "folder": folder}
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
    # A fixed locale and time zone, so the exact times on hover can be checked to the second.
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000},
        bypass_csp=True,
        locale="en-US",
        timezone_id="UTC",
    )
    page = context.new_page()
    page.console_errors = []
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    yield page
    assert page.console_errors == []
    context.close()


def open_page(page, site, fragment: str) -> None:
    page.goto(site["ui"].url + fragment)
    page.wait_for_function("window.trackwireRendered === location.hash")


def test_run_page_shows_a_metric_logged_once_as_a_value_not_a_chart(page, site):
    open_page(page, site, f"#/runs/{site['data']['runs'][0]}")
    values = page.locator("#run-values .value-card")
    assert values.evaluate_all("cards => cards.map(c => c.dataset.metric)") == ["accuracy", "f1"]
    accuracy = page.locator('#run-values [data-metric="accuracy"]')
    assert accuracy.locator(".value").inner_text() == "0.7"
    assert "step 50" in accuracy.inner_text()
    assert page.locator('#run-values [data-metric="f1"] .value').inner_text() == "0.65"
    # No chart for them: only loss, which has a history, is drawn.
    assert page.evaluate("Object.keys(window.trackwireCharts)") == ["metric:loss"]
    assert page.locator("#run-charts [data-metric]").evaluate_all(
        "cards => cards.map(c => c.dataset.metric)"
    ) == ["loss"]
    assert page.evaluate("window.trackwireCharts['metric:loss'].data[0].length") == 50
    assert page.locator("#no-curves").is_hidden()
    page.screenshot(path=str(site["folder"] / "run-values.png"), full_page=True)


def test_run_page_of_only_values_draws_no_curve(page, site):
    open_page(page, site, f"#/runs/{site['data']['xss']}")  # accuracy logged once, nothing else
    assert page.locator('#run-values [data-metric="accuracy"] .value').inner_text() == "0.5"
    assert page.evaluate("Object.keys(window.trackwireCharts)") == []
    assert page.locator("#no-curves").inner_text() == "No metric has a history."


def test_run_page_moves_a_live_metric_from_value_to_curve_at_its_second_point(page, site):
    client = site["client"]
    run_id = client.create_run(site["data"]["experiment_id"], run_name="grows").info.run_id
    client.log_metric(run_id, "accuracy", 0.25, step=0)
    open_page(page, site, f"#/runs/{run_id}")
    assert page.locator('#run-values [data-metric="accuracy"] .value').inner_text() == "0.25"
    page.wait_for_function("window.trackwireLiveOpen === true")
    client.log_metric(run_id, "accuracy", 0.5, step=1)
    page.wait_for_function(
        "window.trackwireCharts['metric:accuracy']?.data[0].length === 2", timeout=20_000
    )
    assert page.locator('#run-values [data-metric="accuracy"]').count() == 0
    assert page.locator("#run-values").evaluate("e => e.parentElement.hidden")
    client.set_terminated(run_id)
    client.delete_run(run_id)


def test_compare_draws_values_logged_once_as_bars_and_opens_curves_on_a_history(page, site):
    runs = site["data"]["runs"][:3]
    open_page(page, site, f"#/compare?runs={','.join(runs)}")
    assert page.locator("#chart-metric").input_value() == "loss"
    assert page.evaluate("window.trackwireCharts.compare.data[0].length") == 50
    # Metrics logged once are offered last, under their own heading.
    assert page.locator("#chart-metric optgroup").get_attribute("label") == "Logged once"
    assert page.locator("#chart-metric optgroup option").all_inner_texts() == ["accuracy", "f1"]
    cards = page.locator("#compare-bars [data-metric]")
    assert cards.evaluate_all("cards => cards.map(c => c.dataset.metric)") == ["accuracy", "f1"]
    bars = page.locator('#compare-bars [data-metric="accuracy"] rect.bar')
    assert [float(v) for v in bars.evaluate_all("bars => bars.map(b => b.dataset.value)")] == [
        pytest.approx(0.70),
        pytest.approx(0.71),
        pytest.approx(0.72),
    ]
    widths = bars.evaluate_all("bars => bars.map(b => b.getBBox().width)")
    assert widths[0] < widths[1] < widths[2]
    labels = page.locator('#compare-bars [data-metric="accuracy"] text.bar-label')
    assert labels.evaluate_all("ts => ts.map(t => t.firstChild.nodeValue)") == [
        "run-00-rf",
        "run-01-lr",
        "run-02-xgb",
    ]
    # Each run's bar has the colour of its curve.
    fills = bars.evaluate_all("bars => bars.map(b => b.getAttribute('fill'))")
    strokes = page.evaluate("window.trackwireCharts.compare.series.slice(1).map(s => s._stroke)")
    assert fills == strokes
    page.screenshot(path=str(site["folder"] / "compare-bars.png"), full_page=True)


def test_compare_of_runs_without_histories_draws_no_lone_dots(page, site):
    recent = site["client"].search_runs([site["data"]["recent"]])
    open_page(page, site, f"#/compare?runs={','.join(r.info.run_id for r in recent[:2])}")
    assert page.locator("#chart-metric").input_value() == ""
    assert page.evaluate("window.trackwireCharts.compare") is None
    assert "No metric has a history" in page.locator("#compare-chart").inner_text()
    assert page.locator('#compare-bars [data-metric="accuracy"] rect.bar').count() == 2


def boxes(page, selector: str) -> list[dict]:
    return page.locator(selector).evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; })"
    )


def overlap(a: dict, b: dict) -> bool:
    return not (
        a["right"] <= b["left"]
        or b["right"] <= a["left"]
        or a["bottom"] <= b["top"]
        or b["bottom"] <= a["top"]
    )


@pytest.mark.parametrize(
    "x, y",
    [
        ("metrics.accuracy", "metrics.f1"),  # numbers: the extremes sit on the frame unpadded
        ("params.model_type", "metrics.loss"),  # categories
        ("params.max_iter", "params.max_iter"),  # one value on both axes
    ],
)
def test_scatter_keeps_points_inside_a_padded_plot_area(page, site, x, y):
    runs = site["data"]["runs"]
    open_page(page, site, f"#/compare?runs={','.join(runs)}")
    page.select_option("#scatter-x", x)
    page.select_option("#scatter-y", y)
    (area,) = boxes(page, "#scatter rect.plot-area")
    points = page.locator("#scatter circle.point").evaluate_all(
        "cs => cs.map(c => ({x: +c.getAttribute('cx'), y: +c.getAttribute('cy'),"
        " r: +c.getAttribute('r'), box: c.getBoundingClientRect()}))"
    )
    assert len(points) == len(runs)
    for p in points:
        box = p["box"]
        # At least a point's diameter between its edge and the frame, on every side.
        margin = 2 * p["r"]
        assert box["left"] >= area["left"] + margin and box["right"] <= area["right"] - margin
        assert box["top"] >= area["top"] + margin and box["bottom"] <= area["bottom"] - margin
    # The axis titles are clear of every tick label, and the svg fits its card.
    for title, ticks in (
        ("#scatter .y-title", "#scatter .y-tick"),
        ("#scatter .x-title", "#scatter .x-tick"),
    ):
        (title_box,) = boxes(page, title)
        assert not any(overlap(title_box, t) for t in boxes(page, ticks)), (title, ticks)
    (svg,) = boxes(page, "#scatter svg")
    (card,) = boxes(page, "#scatter")
    assert svg["right"] <= card["right"]


def test_scatter_ticks_are_round_numbers_inside_the_range(page, site):
    runs = site["data"]["runs"]
    open_page(page, site, f"#/compare?runs={','.join(runs)}")
    page.select_option("#scatter-x", "metrics.accuracy")
    page.select_option("#scatter-y", "metrics.f1")
    ticks = [float(t) for t in page.locator("#scatter .x-tick").all_text_contents()]
    assert len(ticks) >= 3 and ticks == sorted(ticks)
    step = ticks[1] - ticks[0]
    assert all(t - s == pytest.approx(step) for s, t in zip(ticks, ticks[1:], strict=False))
    assert ticks[0] <= 0.70 + 1e-9 and ticks[-1] >= 0.75 - 1e-9  # the runs' accuracy range


def test_breadcrumbs_name_the_experiment(page, site):
    data = site["data"]
    open_page(page, site, f"#/runs/{data['runs'][0]}")
    crumbs = page.locator(".crumbs")
    assert crumbs.inner_text() == "Experiments / customer_churn /"
    link = crumbs.locator("a.experiment-crumb")
    assert link.get_attribute("href") == f"#/experiments/{data['experiment_id']}"
    open_page(page, site, f"#/compare?runs={data['runs'][0]},{data['runs'][1]}")
    assert page.locator(".crumbs").inner_text() == "Experiments / customer_churn /"
    page.locator(".crumbs a.experiment-crumb").click()
    page.wait_for_function("window.trackwireRendered === location.hash")
    assert page.locator("#experiment-name").inner_text() == "customer_churn"
    # Runs of two experiments: both named, in the order of the runs.
    other = site["client"].search_runs([data["recent"]])[0].info.run_id
    open_page(page, site, f"#/compare?runs={data['runs'][0]},{other}")
    assert page.locator(".crumbs").inner_text() == "Experiments / customer_churn, recent-runs /"


def exact_utc(ms: int) -> str:
    """How en-US Chromium writes a time with dateStyle medium and timeStyle long, in UTC."""
    d = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    hour = d.hour % 12 or 12
    return f"{d:%b} {d.day}, {d.year}, {hour}:{d:%M:%S} {d:%p} UTC"


def test_runs_table_shows_relative_start_times_with_the_exact_time_on_hover(page, site):
    data = site["data"]
    open_page(page, site, f"#/experiments/{data['recent']}")
    for name, (_, text) in AGES.items():
        cell = page.locator("#runs tbody tr", has_text=name).locator("td.started time")
        assert cell.inner_text() == text
        ms = data["started"][name]
        assert cell.get_attribute("title").replace("\u202f", " ") == exact_utc(ms)
        assert cell.get_attribute("datetime") == (
            datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
    page.screenshot(path=str(site["folder"] / "relative-times.png"))


def test_experiments_page_shows_relative_times_with_the_exact_time_on_hover(page, site):
    client = site["client"]
    experiment_id = client.create_experiment("made-just-now")
    created = client.get_experiment(experiment_id).creation_time
    open_page(page, site, "#/")
    row = page.locator("#experiments tbody tr", has_text="made-just-now")
    cell = row.locator("td.created time")
    assert cell.inner_text() == "just now"
    assert cell.get_attribute("title").replace("\u202f", " ") == exact_utc(created)
    assert row.locator("td.updated time").inner_text() == "just now"
    old = page.locator("#experiments tbody tr", has_text="customer_churn").locator("td.created")
    assert old.locator("time").get_attribute("title")


@pytest.mark.parametrize(
    "ago, text",
    [
        (0, "just now"),
        (59_999, "just now"),
        (MINUTE, "1 min ago"),
        (59 * MINUTE, "59 min ago"),
        (HOUR, "1 h ago"),
        (23 * HOUR + 59 * MINUTE, "23 h ago"),
        (DAY, "yesterday"),
        (2 * DAY - 1, "yesterday"),
        (2 * DAY, "2 days ago"),
        (29 * DAY, "29 days ago"),
        (30 * DAY, "1 month ago"),
        (100 * DAY, "3 months ago"),
        (366 * DAY, "1 year ago"),
        (3 * 365 * DAY + DAY, "3 years ago"),
        (-5_000, "just now"),  # a clock a little ahead
        (-2 * HOUR, "in the future"),
    ],
)
def test_relative_time_wording(page, site, ago, text):
    open_page(page, site, "#/")
    now = 1_764_773_897_000
    assert page.evaluate(f"TrackwireTimes.relative({now - ago}, {now})") == text


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_metrics_logged_once_tells_values_from_histories(site):
    client = site["client"]
    experiment_id = site["data"]["experiment_id"]
    run_id = client.create_run(experiment_id, run_name="shapes").info.run_id
    client.log_metric(run_id, "once", 0.5, step=7)
    client.log_metric(run_id, "once_at_zero", 0.5, step=0)
    for step in (0, 100, 200):  # a history logged every 100 steps
        client.log_metric(run_id, "sparse", step / 200, step=step)
    client.log_metric(run_id, "twice_same_step", 0.1, step=3)
    client.log_metric(run_id, "twice_same_step", 0.2, step=3)
    client.log_metric(run_id, "twice", 0.1, step=4)
    client.log_metric(run_id, "twice", 0.2, step=5)
    client.log_metric(run_id, "negative", 0.1, step=-5)
    client.log_metric(run_id, "negative", 0.2, step=-3)
    first = site["data"]["runs"][0]  # loss at steps 0..49, accuracy once at step 50
    keys = "once,once_at_zero,sparse,twice_same_step,twice,negative,loss,accuracy"
    query = urllib.parse.urlencode({"run_ids": f"{run_id},{first}", "keys": keys})
    status, body = get_json(f"{site['ui'].url}api/metrics-logged-once?{query}")
    assert status == 200, body
    assert body["logged_once"] == {
        "accuracy": {first: True},
        "loss": {first: False},
        "negative": {run_id: False},
        "once": {run_id: True},
        "once_at_zero": {run_id: True},
        "sparse": {run_id: False},
        "twice": {run_id: False},
        "twice_same_step": {run_id: False},
    }
    client.delete_run(run_id)


def test_metrics_logged_once_refuses_bad_requests(site):
    url = f"{site['ui'].url}api/metrics-logged-once"
    status, body = get_json(f"{url}?keys=loss")
    assert status == 400 and "run_ids" in body["error"]
    keys = ",".join(f"k{i}" for i in range(101))
    status, body = get_json(f"{url}?run_ids={site['data']['runs'][0]}&keys={keys}")
    assert status == 400 and "keys" in body["error"]
    status, body = get_json(f"{url}?run_ids={'f' * 32}&keys=loss")
    assert status == 404 and "f" * 32 in body["error"]


def test_run_page_charts_a_history_logged_every_hundred_steps(page, site):
    client = site["client"]
    run_id = client.create_run(site["data"]["experiment_id"], run_name="sparse").info.run_id
    for step in (0, 100, 200):
        client.log_metric(run_id, "val_loss", 1 / (step + 1), step=step)
    client.set_terminated(run_id)
    open_page(page, site, f"#/runs/{run_id}")
    assert page.evaluate("window.trackwireCharts['metric:val_loss'].data[0]") == [0, 100, 200]
    assert page.locator("#run-values .value-card").count() == 0
    client.delete_run(run_id)
