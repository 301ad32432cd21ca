"""The web UI with authentication on, continued (see test_web_ui_auth.py): the admin pages
(users, teams), failed sign-ins limited per browser address, signing in and per-user
lists on SQLite, PostgreSQL and MariaDB, and the session cookie under TLS."""

from __future__ import annotations

import grpc
import pytest

from tests.conftest import RunningServer
from tests.support.auth_ui import (
    COOKIE,
    PASSWORDS,
    api_status,
    browser_fixture,  # noqa: F401 (the browser fixture)
    listed,
    new_page_fixture,  # noqa: F401 (the new_page fixture)
    session_cookie,
    sign_in,
    start_site,
    stop_site,
)
from tests.support.browser import chromium_path
from tests.support.certificates import CertificateAuthority
from trackwire.v1 import auth_service_pb2 as apb
from trackwire.v1 import auth_service_pb2_grpc
from trackwire_server.auth.bootstrap import create_user_with_token
from trackwire_server.auth.sign_in_limits import UI_CLIENT_ADDRESS, UI_RELAY_KEY, UI_RELAY_SECRET
from trackwire_server.ui import UiServer

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

    # A new password, set by the admin, is dave's from now on.
    user_row = "#users tr[data-user='dave']"
    page.fill(f"{user_row} .user-new-password", "dave-password-6")
    page.click(f"{user_row} .user-password-reset")
    page.wait_for_function("document.querySelector('#admin').dataset.changes === '4'")
    dave = new_page()
    sign_in(dave, url, "dave", "dave-password-6")
    assert dave.inner_text("#signed-in-user") == "dave"
    # Made an admin: the header shows dave the admin links.
    page.check(f"{user_row} .user-admin")
    page.wait_for_function("document.querySelector('#admin').dataset.changes === '5'")
    dave.reload()
    dave.wait_for_selector("#admin-users-link")
    page.uncheck(f"{user_row} .user-admin")
    page.wait_for_function("document.querySelector('#admin').dataset.changes === '6'")
    # Disabled: dave's session stops working at once.
    page.check(f"{user_row} .user-disabled")
    page.wait_for_function("document.querySelector('#admin').dataset.changes === '7'")
    assert page.is_checked(f"{user_row} .user-disabled")
    cookie = session_cookie(dave)["value"]
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
        # The Default experiment is every signed-in user's sandbox: listed for all.
        assert set(listed(alice, url, "#/", experiments)) == {
            "Default",
            "alice_exp",
            "alice_shared",
        }
        assert set(listed(bob, url, "#/", experiments)) == {"Default", "alice_exp", "bob_exp"}
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
