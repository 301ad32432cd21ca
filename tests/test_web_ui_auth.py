"""The web UI with authentication on (`trackwire server --auth`), end to end in headless
Chromium against a real server over SQLite: signing in and out, the session cookie's
flags, CSRF refusals, pages that show only what the user may read, edit controls of a
READ user, the Access panel of a MANAGE user, the admin pages, and failed sign-ins
limited per browser address. The data is made through the public gRPC services with each
user's own token (tests/support/auth_ui.py)."""

from __future__ import annotations

import http.server
import json
import logging
import threading
import urllib.error
import urllib.request

import grpc
import pytest

from tests.conftest import RunningServer
from tests.support.auth_ui import As
from tests.support.browser import chromium_path, launch
from tests.support.certificates import CertificateAuthority
from trackwire.v1 import auth_service_pb2 as apb
from trackwire.v1 import auth_service_pb2_grpc, registered_model_pb2
from trackwire_server.auth.bootstrap import create_user_with_token
from trackwire_server.auth.sign_in_limits import UI_CLIENT_ADDRESS, UI_RELAY_KEY, UI_RELAY_SECRET
from trackwire_server.ui import UiServer

if chromium_path() is None:
    pytest.skip(
        "the web UI tests need Chromium: apt-get install chromium (.ci/run does)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

NONE, READ, USE, EDIT, MANAGE = 1, 2, 3, 4, 5
PASSWORDS = {
    "alice": "alice-password-1",
    "bob": "bob-password-22",
    "carol": "carol-password-333",
    "root": "root-password-4444",
}
COOKIE = "trackwire_session"


def start_site(db_url: str, folder, **config) -> dict:
    """A server with authentication on (nothing readable by default) and its UI; alice and
    bob each own an experiment (with a noted run) and a model; bob may READ alice's."""
    running = RunningServer(
        db_url, folder / "artifacts", auth=True, default_permission=NONE, **config
    )
    ui = UiServer("127.0.0.1", running.port, port=0, tls=running.server.tls).start()
    target = f"127.0.0.1:{running.port}"
    admin = As(target, running.server.initial_admin_token)
    users = {name: As(target, admin.create_user(name, pw)) for name, pw in PASSWORDS.items()}
    admin.auth.UpdateUser(apb.UpdateUserRequest(name="root", admin=True))
    alice, bob = users["alice"], users["bob"]
    alice_exp, alice_run = alice.experiment_with_run("alice_exp", note="alice's note")
    alice.model_with_version("alice_model", alice_run)
    shared_exp, _ = alice.experiment_with_run("alice_shared")
    bob_exp, bob_run = bob.experiment_with_run("bob_exp")
    bob.model_with_version("bob_model", bob_run)
    alice.grant(READ, "bob", experiment_id=alice_exp)
    alice.grant(READ, "bob", model="alice_model")
    return {
        "server": running,
        "ui": ui,
        "url": ui.url,
        "admin": admin,
        "users": users,
        "alice_exp": alice_exp,
        "alice_run": alice_run,
        "shared_exp": shared_exp,
        "bob_exp": bob_exp,
    }


def stop_site(site: dict) -> None:
    for user in (site["admin"], *site["users"].values()):
        user.close()
    site["server"].server.metric_feed.close()
    site["ui"].stop()
    site["server"].stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ui-auth")
    site = start_site(f"sqlite:///{folder / 'trackwire.db'}", folder)
    yield site
    stop_site(site)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def new_page(browser):
    """new_page(): a page in a fresh browser context (its own cookies)."""
    contexts = []

    def make(**options):
        context = browser.new_context(
            viewport={"width": 1300, "height": 900}, bypass_csp=True, **options
        )
        contexts.append(context)
        page = context.new_page()
        page.urls = []
        page.on("request", lambda r: page.urls.append(r.url))
        page.on("dialog", lambda d: d.accept())
        return page

    yield make
    for context in contexts:
        context.close()


def wait_rendered(page) -> None:
    page.wait_for_function("window.trackwireRendered === location.hash")


def sign_in(page, url: str, user: str, password: str | None = None) -> None:
    page.goto(url + "signin")
    page.fill("#user-name", user)
    page.fill("#password", password or PASSWORDS[user])
    page.click("#signin-button")
    page.wait_for_url(url)
    wait_rendered(page)


def session_cookie(page) -> dict | None:
    found = [c for c in page.context.cookies() if c["name"].endswith(COOKIE)]
    return found[0] if found else None


def listed(page, url: str, hash_: str, selector: str) -> list[str]:
    page.goto("about:blank")  # a page loaded anew, even when it is the current one
    page.goto(url + hash_)
    wait_rendered(page)
    return page.locator(selector).all_inner_texts()


def api_status(url: str, path: str, cookie: str | None = None) -> int:
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url + path, headers=headers)) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


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
    assert set(listed(alice, url, "#/", experiments)) == {"alice_exp", "alice_shared"}
    assert set(listed(bob, url, "#/", experiments)) == {"alice_exp", "bob_exp"}
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

    # The model page has the panel too, for its manager.
    alice.goto(url + "#/models/alice_model")
    wait_rendered(alice)
    texts = alice.locator("#access-grants tbody tr").all_inner_texts()
    assert any("bob" in t and "READ" in t for t in texts)


# -- admin pages --------------------------------------------------------------------------


def test_an_admin_creates_a_user_and_a_team(site, new_page):
    url = site["url"]
    page = new_page()
    sign_in(page, url, "root")
    assert page.locator("#admin-users-link").count() == 1
    page.click("#admin-users-link")
    page.wait_for_function("window.trackwireRendered === '/admin/users'")
    page.fill("#new-user-name", "dave")
    page.fill("#new-user-password", "dave-password-5")
    page.click("#new-user-create")
    page.wait_for_selector("#users tr[data-user='dave']")
    page.fill("#new-user-name", "nightly-job")
    page.check("#new-user-service")
    page.click("#new-user-create")
    page.wait_for_selector("#users tr[data-user='nightly-job']")
    assert "service account" in page.inner_text("#users tr[data-user='nightly-job']")
    # A password too short is refused with the server's message.
    page.fill("#new-user-name", "eve")
    page.fill("#new-user-password", "short")
    page.uncheck("#new-user-service")
    page.click("#new-user-create")
    page.wait_for_selector("#admin-message .error")
    assert "password" in page.inner_text("#admin-message")

    dave = new_page()
    sign_in(dave, url, "dave", "dave-password-5")
    assert dave.inner_text("#signed-in-user") == "dave"
    # Disabled: dave's session stops working at once.
    page.check("#users tr[data-user='dave'] .user-disabled")
    page.wait_for_function(
        "document.querySelector(\"#users tr[data-user='dave'] .user-disabled\").checked"
    )
    cookie = session_cookie(dave)["value"]
    page.wait_for_timeout(2100)  # the server keeps a token's caller for up to 2 s
    assert api_status(url, "api/experiments", cookie) == 401

    page.goto(url + "admin/teams")
    page.wait_for_function("window.trackwireRendered === '/admin/teams'")
    page.fill("#new-team-name", "ml")
    page.click("#new-team-create")
    page.wait_for_selector("#teams tr[data-team='ml']")
    row = "#teams tr[data-team='ml']"
    page.fill(f"{row} .team-new-member", "carol")
    page.click(f"{row} .team-add-member")
    page.wait_for_selector(f"{row} .member[data-member='carol']")
    page.click(f"{row} .member[data-member='carol'] .team-remove-member")
    page.wait_for_selector(f"{row} .member[data-member='carol']", state="detached")
    page.click(f"{row} .team-delete")
    page.wait_for_selector(row, state="detached")

    # Not for other users: the pages answer 403, and so does the API (the server's check).
    other = new_page()
    sign_in(other, url, "alice")
    for path in ("admin/users", "admin/teams"):
        assert other.goto(url + path).status == 403
    assert other.evaluate("fetch('/api/admin/users').then(r => r.status)") == 403


# -- failed sign-ins ------------------------------------------------------------------------


def test_failed_sign_ins_are_limited_per_browser_address(tmp_path, new_page):
    site = start_site(f"sqlite:///{tmp_path / 'trackwire.db'}", tmp_path)
    try:
        page, url = new_page(), site["url"]
        page.goto(url + "signin")
        for _ in range(5):
            page.fill("#user-name", "alice")
            page.fill("#password", "guess-guess")
            page.click("#signin-button")
            assert page.inner_text("#signin-error") == "Wrong user name or password."
        page.fill("#password", PASSWORDS["alice"])
        with page.expect_response(lambda r: r.url == url + "signin") as answer:
            page.click("#signin-button")
        assert answer.value.status == 429
        assert "too many failed sign-ins" in page.inner_text("#signin-error")

        # The server counts the browser's address the UI names (with this process's
        # secret), not the UI's own: another address may still sign in; a forged name
        # without the secret counts against the caller's own address.
        with grpc.insecure_channel(f"127.0.0.1:{site['server'].port}") as channel:
            stub = auth_service_pb2_grpc.AuthServiceStub(channel)
            request = apb.SignInRequest(user_name="alice", password=PASSWORDS["alice"])
            relayed = ((UI_CLIENT_ADDRESS, "203.0.113.8"), (UI_RELAY_KEY, UI_RELAY_SECRET))
            assert stub.SignIn(request, metadata=relayed).secret.startswith("tw_")
            forged = ((UI_CLIENT_ADDRESS, "203.0.113.9"), (UI_RELAY_KEY, "guessed"))
            with pytest.raises(grpc.RpcError) as e:
                stub.SignIn(request, metadata=forged)
            assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        stop_site(site)


# -- every database, and TLS ------------------------------------------------------------------


def test_sign_in_and_per_user_lists_on_each_database(backend, tmp_path, new_page):
    site = start_site(backend, tmp_path)
    try:
        url = site["url"]
        alice, bob = new_page(), new_page()
        sign_in(alice, url, "alice")
        sign_in(bob, url, "bob")
        experiments = "#experiments a.experiment-link"
        assert set(listed(alice, url, "#/", experiments)) == {"alice_exp", "alice_shared"}
        assert set(listed(bob, url, "#/", experiments)) == {"alice_exp", "bob_exp"}
        assert set(listed(bob, url, "#/models", "#models a.model-link")) == {
            "alice_model",
            "bob_model",
        }
    finally:
        stop_site(site)


def test_the_session_cookie_is_secure_under_tls(tmp_path, new_page):
    ca = CertificateAuthority("Trackwire test CA")
    keys = ca.issue("trackwire", hosts=["127.0.0.1"], server=True).write(tmp_path / "server")
    running = RunningServer(
        f"sqlite:///{tmp_path / 'trackwire.db'}",
        tmp_path / "artifacts",
        auth=True,
        tls_cert=str(keys.cert_path),
        tls_key=str(keys.key_path),
    )
    ui = UiServer("127.0.0.1", running.port, port=0, tls=running.server.tls).start()
    try:
        create_user_with_token(
            running.server.store,
            "alice",
            admin=False,
            service_account=False,
            password=PASSWORDS["alice"],
        )
        assert ui.url.startswith("https://")
        page = new_page(ignore_https_errors=True)
        sign_in(page, ui.url, "alice")
        assert page.inner_text("#signed-in-user") == "alice"
        cookie = session_cookie(page)
        # __Host-: only ever set by this origin over HTTPS, for every path of it.
        assert cookie["name"] == "__Host-" + COOKIE
        assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (True, True, "Strict")
        page.click("#signout")
        page.wait_for_url(ui.url + "signin")
        assert session_cookie(page) is None
    finally:
        running.server.metric_feed.close()
        ui.stop()
        running.stop()
