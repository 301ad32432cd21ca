"""The web UI with authentication on (`trackwire server --auth`), end to end in headless
Chromium against a real server over SQLite: signing in and out, the session cookie's
flags, CSRF refusals, pages that show only what the user may read, edit controls of a
READ user, and the Access panel of a MANAGE user. The site (users, grants, data made
with each user's own token) comes from tests/support/auth_ui.py; the admin pages, the
sign-in limit, the other databases and TLS are in test_web_ui_auth_admin.py."""

from __future__ import annotations

import http.server
import json
import logging
import threading

import grpc
import pytest

from tests.support.auth_ui import (
    COOKIE,
    PASSWORDS,
    READ,
    api_status,
    browser_fixture,  # noqa: F401 (the browser fixture)
    listed,
    new_page_fixture,  # noqa: F401 (the new_page fixture)
    session_cookie,
    sign_in,
    start_site,
    stop_site,
    wait_rendered,
)
from tests.support.browser import chromium_path
from trackwire.v1 import auth_service_pb2 as apb
from trackwire.v1 import auth_service_pb2_grpc, registered_model_pb2
from trackwire.v1 import tracking_service_pb2 as tpb

if chromium_path() is None:
    pytest.skip(
        "the web UI tests need Chromium: apt-get install chromium (.ci/run does)",
        allow_module_level=True,
    )
pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ui-auth")
    site = start_site(f"sqlite:///{folder / 'trackwire.db'}", folder)
    yield site
    stop_site(site)


# -- signing in and out -----------------------------------------------------------------


def test_sign_in_refuses_a_wrong_password_then_lands_on_the_experiments(site, new_page, caplog):
    caplog.set_level(logging.DEBUG)
    page, url = new_page(), site["url"]
    page.goto(url)
    assert page.url == url + "signin"  # no session: the pages send the browser to sign in
    assert api_status(url, "api/experiments") == 401

    page.fill("#user-name", "alice")
    page.fill("#password", "not-her-password")
    with page.expect_response(lambda r: r.url == url + "signin") as answer:
        page.click("#signin-button")
    assert answer.value.status == 401
    assert page.inner_text("#signin-error") == "Wrong user name or password."
    assert page.input_value("#user-name") == "alice"
    assert session_cookie(page) is None

    page.fill("#password", PASSWORDS["alice"])
    page.click("#signin-button")
    page.wait_for_url(url)
    wait_rendered(page)
    assert page.inner_text("#signed-in-user") == "alice"
    names = page.locator("#experiments a.experiment-link").all_inner_texts()
    assert "alice_exp" in names

    cookie = session_cookie(page)
    assert cookie["name"] == COOKIE
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["secure"] is False  # plain HTTP here; see the TLS test
    assert cookie["path"] == "/"
    assert cookie["value"].split(".", 1)[1].startswith("tw_")
    assert page.evaluate("document.cookie") == ""  # scripts cannot read it
    # Neither the token nor the password is in a URL the browser asked for, or in a log.
    secret = cookie["value"].split(".", 1)[1]
    for visited in page.urls:
        assert secret not in visited and PASSWORDS["alice"] not in visited
    assert secret not in caplog.text and PASSWORDS["alice"] not in caplog.text
    # No admin links for a user who is not an admin.
    assert page.locator("#admin-users-link").count() == 0


def test_sign_out_clears_the_cookie_and_revokes_the_token(site, new_page):
    page, url = new_page(), site["url"]
    sign_in(page, url, "bob")
    old = session_cookie(page)["value"]
    assert api_status(url, "api/experiments", old) == 200

    page.click("#signout")
    page.wait_for_url(url + "signin")
    assert session_cookie(page) is None
    page.goto(url + "#/models")
    assert page.url.startswith(url + "signin")  # (the browser keeps the fragment)
    # The old cookie value is worth nothing now: the server revoked its token.
    assert api_status(url, "api/experiments", old) == 401
    stale = new_page()
    stale.context.add_cookies([{"name": COOKIE, "value": old, "url": url}])
    stale.goto(url)
    stale.wait_for_url(url + "signin")  # the page's first API call answered 401
    stale.wait_for_selector("#signin-form")
    assert session_cookie(stale) is None  # the sign-in page dropped the dead cookie
    with grpc.insecure_channel(f"127.0.0.1:{site['server'].port}") as channel:
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        with pytest.raises(grpc.RpcError) as e:
            stub.WhoAmI(
                apb.WhoAmIRequest(), metadata=(("authorization", f"Bearer {old.split('.', 1)[1]}"),)
            )
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


# -- CSRF ---------------------------------------------------------------------------------


class _EvilPage(http.server.BaseHTTPRequestHandler):
    """A page of another origin (another port of the same host: the same *site*, so even a
    SameSite=Strict cookie goes along) posting forms to the UI."""

    target = ""

    def do_GET(self):
        body = f"""<!doctype html><html><body>
<form id="f1" method="post" action="{self.target}signout"><button id="evil-signout">win</button></form>
<form id="f2" method="post" action="{self.target}api/access/experiments/1"
 enctype="text/plain"><input name='{{"a":"' value='"}}'><button id="evil-grant">win</button></form>
</body></html>""".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_cross_site_and_tokenless_changes_are_refused(site, new_page):
    page, url = new_page(), site["url"]
    sign_in(page, url, "alice")
    csrf = page.evaluate("fetch('/api/session').then(r => r.json()).then(s => s.csrf_token)")
    note_url = f"{url}api/runs/{site['alice_run']}/note"
    body = json.dumps({"content": "changed"})
    json_type = {"Content-Type": "application/json"}
    # Playwright's request API shares the context's cookies: the session goes along.
    request = page.context.request
    without_token = request.put(note_url, data=body, headers={**json_type, "Origin": url[:-1]})
    assert without_token.status == 403
    wrong_token = request.put(
        note_url, data=body, headers={**json_type, "Origin": url[:-1], "X-CSRF-Token": "0" * 64}
    )
    assert wrong_token.status == 403
    other_origin = request.put(
        note_url,
        data=body,
        headers={**json_type, "Origin": "http://evil.example", "X-CSRF-Token": csrf},
    )
    assert other_origin.status == 403 and "cross-site" in other_origin.json()["error"]
    no_origin = request.put(note_url, data=body, headers={**json_type, "X-CSRF-Token": csrf})
    assert no_origin.status == 403
    assert site["users"]["alice"].note(site["alice_run"]) == "alice's note"
    # The same change from the UI's own page, with its token, goes through.
    changed = page.evaluate(
        """([path, csrf]) => fetch(path, {method: "PUT", headers: {"Content-Type": "application/json",
        "X-CSRF-Token": csrf}, body: JSON.stringify({content: "alice's note"})}).then(r => r.status)""",
        [note_url, csrf],
    )
    assert changed == 200

    # A page served from another port posts forms to the UI with the user's cookie.
    _EvilPage.target = url
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EvilPage)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        for button in ("#evil-signout", "#evil-grant"):
            page.goto(f"http://127.0.0.1:{evil.server_address[1]}/")
            with page.expect_response(lambda r: r.url.startswith(url)) as answer:
                page.click(button)
            assert answer.value.status == 403
    finally:
        evil.shutdown()
        evil.server_close()
    # Still signed in (the sign-out was refused), and nobody got a grant.
    assert api_status(url, "api/experiments", session_cookie(page)["value"]) == 200
    page.goto(url + f"#/experiments/{site['alice_exp']}")
    wait_rendered(page)
    grants = page.locator("#access-grants tbody tr").all_inner_texts()
    assert len(grants) == 2 and "bob" in grants[1]  # alice MANAGE, bob READ


# -- what each user sees and may do -----------------------------------------------------


def test_pages_list_only_the_experiments_and_models_each_user_may_read(site, new_page):
    url = site["url"]
    alice, bob = new_page(), new_page()
    sign_in(alice, url, "alice")
    sign_in(bob, url, "bob")
    experiments = "#experiments a.experiment-link"
    models = "#models a.model-link"
    # The Default experiment is every signed-in user's sandbox: listed for all.
    assert set(listed(alice, url, "#/", experiments)) == {"Default", "alice_exp", "alice_shared"}
    assert set(listed(bob, url, "#/", experiments)) == {"Default", "alice_exp", "bob_exp"}
    assert set(listed(alice, url, "#/models", models)) == {"alice_model"}
    assert set(listed(bob, url, "#/models", models)) == {"alice_model", "bob_model"}
    # A page of something else's is not found, as a missing one would be.
    alice.goto(url + f"#/experiments/{site['bob_exp']}")
    wait_rendered(alice)
    assert "does not exist" in alice.inner_text(".error")
    alice.goto(url + "#/models/bob_model")
    wait_rendered(alice)
    assert "does not exist" in alice.inner_text(".error")
    status = alice.evaluate("fetch('/api/models/bob_model').then(r => r.status)")
    assert status == 404


def test_a_read_user_has_no_edit_controls_and_the_server_refuses_the_edits(site, new_page):
    page, url = new_page(), site["url"]
    sign_in(page, url, "bob")
    page.goto(url + f"#/runs/{site['alice_run']}")
    wait_rendered(page)
    assert "alice's note" in page.inner_text("#note-view")
    assert page.locator("#note-edit").count() == 0
    page.goto(url + "#/models/alice_model")
    wait_rendered(page)
    assert page.locator("#versions .stage-select").count() == 0
    assert page.locator("#versions .stage-apply").count() == 0
    assert "read only" in page.inner_text("#versions")
    assert page.locator("#access-panel").count() == 0  # bob may not manage it

    # Sent anyway, with a valid CSRF token: the server refuses (403, its message).
    refused = page.evaluate(
        """async ([runId]) => {
          const s = await (await fetch('/api/session')).json();
          const put = (path, body) => fetch(path, {method: 'PUT', headers: {'Content-Type': 'application/json',
            'X-CSRF-Token': s.csrf_token}, body: JSON.stringify(body)}).then(async r => [r.status, (await r.json()).error]);
          return [await put('/api/runs/' + runId + '/note', {content: 'bob was here'}),
                  await put('/api/models/alice_model/versions/1/stage', {stage: 'Production'})];
        }""",
        [site["alice_run"]],
    )
    assert [status for status, _ in refused] == [403, 403]
    assert all("permission" in message.lower() or "needs" in message for _, message in refused)
    alice = site["users"]["alice"]
    assert alice.note(site["alice_run"]) == "alice's note"
    assert alice.stage("alice_model") == registered_model_pb2.MODEL_VERSION_STAGE_NONE

    # Alice (MANAGE) has the controls and her change goes through.
    owner = new_page()
    sign_in(owner, url, "alice")
    owner.goto(url + "#/models/alice_model")
    wait_rendered(owner)
    row = owner.locator("#versions tr[data-version='1']")
    row.locator(".stage-select").select_option("Staging")
    row.locator(".stage-apply").click()
    owner.wait_for_function(
        "document.querySelector(\"#versions tr[data-version='1'] .current-stage\")"
        "?.innerText === 'Staging'"
    )
    owner.goto(url + f"#/runs/{site['alice_run']}")
    wait_rendered(owner)
    assert owner.locator("#note-edit").count() == 1


def test_a_manager_grants_and_revokes_access_from_the_experiment_page(site, new_page):
    url = site["url"]
    carol, alice = new_page(), new_page()
    sign_in(carol, url, "carol")
    experiments = "#experiments a.experiment-link"
    assert "alice_shared" not in listed(carol, url, "#/", experiments)

    sign_in(alice, url, "alice")
    alice.goto(url + f"#/experiments/{site['shared_exp']}")
    wait_rendered(alice)
    grants = alice.locator("#access-grants tbody tr")
    assert grants.all_inner_texts() == ["user\talice\tMANAGE\tRevoke"]
    alice.select_option("#access-principal-type", "user")
    alice.fill("#access-principal-name", "carol")
    alice.select_option("#access-level", "READ")
    alice.click("#access-grant")
    alice.wait_for_selector("#access-grants tr[data-principal='user:carol']")
    assert "READ" in alice.inner_text("#access-grants tr[data-principal='user:carol']")

    assert "alice_shared" in listed(carol, url, "#/", experiments)
    carol.goto(url + f"#/experiments/{site['shared_exp']}")
    wait_rendered(carol)
    assert carol.inner_text("#experiment-name") == "alice_shared"
    assert carol.locator("#access-panel").count() == 0  # READ: no Access panel

    # A grant to nobody known is refused with the server's message.
    alice.fill("#access-principal-name", "nobody-at-all")
    alice.click("#access-grant")
    alice.wait_for_selector("#access-error .error")
    assert "nobody-at-all" in alice.inner_text("#access-error")

    alice.click("#access-grants tr[data-principal='user:carol'] .access-revoke")
    alice.wait_for_selector("#access-grants tr[data-principal='user:carol']", state="detached")
    assert "alice_shared" not in listed(carol, url, "#/", experiments)

    # To a team: its members may read it.
    alice.select_option("#access-principal-type", "team")
    alice.fill("#access-principal-name", "readers")
    alice.click("#access-grant")
    alice.wait_for_selector("#access-grants tr[data-principal='team:readers']")
    assert "alice_shared" in listed(carol, url, "#/", experiments)
    alice.click("#access-grants tr[data-principal='team:readers'] .access-revoke")
    alice.wait_for_selector("#access-grants tr[data-principal='team:readers']", state="detached")
    assert "alice_shared" not in listed(carol, url, "#/", experiments)

    # The model page has the panel too, for its manager.
    alice.goto(url + "#/models/alice_model")
    wait_rendered(alice)
    texts = alice.locator("#access-grants tbody tr").all_inner_texts()
    assert any("bob" in t and "READ" in t for t in texts)


def test_a_reader_sees_the_curves_of_a_running_run_grow(site, new_page):
    # The run page's histories (BatchReadMetricHistory) and its live stream (WatchMetrics)
    # are read with the signed-in user's token.
    alice = site["users"]["alice"]
    experiment_id = alice.tracking.CreateExperiment(
        tpb.CreateExperimentRequest(name="alice_live")
    ).experiment.experiment_id
    run_id = alice.tracking.CreateRun(
        tpb.CreateRunRequest(experiment_id=experiment_id, run_name="growing")
    ).run.info.run_id
    alice.log_points(run_id, "loss", [0, 1, 2])
    alice.grant(READ, "bob", experiment_id=experiment_id)

    page, url = new_page(), site["url"]
    sign_in(page, url, "bob")
    page.goto(url + f"#/runs/{run_id}")
    wait_rendered(page)
    page.wait_for_function("window.trackwireLiveOpen === true")
    assert page.evaluate("window.trackwireCharts['metric:loss'].data[0].length") == 3
    alice.log_points(run_id, "loss", [3])
    page.wait_for_function("window.trackwireCharts['metric:loss'].data[0].length === 4")
    assert page.inner_text("#run-metrics tr[data-key='loss'] .step") == "3"
