"""The web UI behind a load balancer: two servers with `--auth` on one database, each with
its UI; a browser's requests land on either. The sign-in form of one UI is accepted by
the other, and a page served by one may change data through the other (its CSRF token
holds no secret of one process), while a request without the token is still refused.

HTTP here is spoken with http.client, cookies carried by hand as a browser carries them
to one site name (cookies ignore ports; behind a balancer both UIs are one site).
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse
from http.cookies import SimpleCookie

import pytest

from tests.conftest import RunningServer
from tests.support.auth_ui import As
from tests.support.cluster import cluster_database  # noqa: F401 - fixture
from trackwire_server.ui import UiServer

PASSWORD = "dana-password-1"


class Browser:
    """One browser's cookie jar, sending requests to either UI under one Host name."""

    def __init__(self):
        self.cookies: dict[str, str] = {}

    def request(self, ui: UiServer, method: str, path: str, body: bytes | None = None, **headers):
        connection = http.client.HTTPConnection("127.0.0.1", ui.port, timeout=30)
        host = f"127.0.0.1:{ui.port}"
        headers = {"Host": host, **headers}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        for value in response.headers.get_all("Set-Cookie") or ():
            cookie = SimpleCookie(value)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or morsel.value in ("", '""'):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        connection.close()
        return response.status, data

    @staticmethod
    def origin(ui: UiServer) -> dict[str, str]:
        return {"Origin": f"http://127.0.0.1:{ui.port}"}


@pytest.fixture
def fleet(cluster_database, tmp_path):  # noqa: F811
    servers, uis = [], []
    try:
        for i in range(2):
            running = RunningServer(
                cluster_database, tmp_path / "artifacts", auth=True, default_permission=1
            )
            servers.append(running)
            uis.append(UiServer("127.0.0.1", running.port, port=0).start())
            if i == 0:
                admin = As(f"127.0.0.1:{running.port}", running.server.initial_admin_token)
                token = admin.create_user("dana", PASSWORD)
                admin.close()
        yield servers, uis, token
    finally:
        for ui in uis:
            ui.stop()
        for running in servers:
            running.server.metric_feed.close()
            running.stop()


def sign_in(browser: Browser, form_from: UiServer, post_to: UiServer) -> int:
    status, page = browser.request(form_from, "GET", "/signin")
    assert status == 200
    csrf = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
    form = urllib.parse.urlencode({"user_name": "dana", "password": PASSWORD, "csrf": csrf})
    status, _ = browser.request(
        post_to,
        "POST",
        "/signin",
        form.encode(),
        **{"Content-Type": "application/x-www-form-urlencoded"},
        **Browser.origin(post_to),
    )
    return status


def test_a_session_begun_on_one_ui_works_on_the_other(fleet):
    (server_a, _), (ui_a, ui_b), token = fleet
    dana = As(f"127.0.0.1:{server_a.port}", token)
    _, run_id = dana.experiment_with_run("dana_exp", note="before")
    browser = Browser()
    assert sign_in(browser, form_from=ui_a, post_to=ui_b) == 303
    assert any("session" in name for name in browser.cookies)

    status, body = browser.request(ui_a, "GET", "/api/session")
    assert status == 200, body
    session = json.loads(body)
    assert session["user_name"] == "dana"
    note = json.dumps({"content": "written through B"}).encode()
    status, body = browser.request(
        ui_b,
        "PUT",
        f"/api/runs/{run_id}/note",
        note,
        **{"Content-Type": "application/json", "X-CSRF-Token": session["csrf_token"]},
        **Browser.origin(ui_b),
    )
    assert status == 200, body
    assert dana.note(run_id) == "written through B"

    # Without the token, or with another's, still refused on either UI.
    for ui in (ui_a, ui_b):
        for sent in ({}, {"X-CSRF-Token": "0" * 64}):
            status, _ = browser.request(
                ui,
                "PUT",
                f"/api/runs/{run_id}/note",
                json.dumps({"content": "forged"}).encode(),
                **{"Content-Type": "application/json", **sent},
                **Browser.origin(ui),
            )
            assert status == 403
    assert dana.note(run_id) == "written through B"

    status, _ = browser.request(
        ui_a,
        "POST",
        "/signout",
        b"",
        **{"X-CSRF-Token": session["csrf_token"]},
        **Browser.origin(ui_a),
    )
    assert status == 303
    status, _ = browser.request(ui_b, "GET", "/api/session")
    assert status == 401  # the token was revoked in the shared database
    dana.close()


def test_a_forged_sign_in_form_is_refused_on_every_ui(fleet):
    _, (ui_a, ui_b), _ = fleet
    browser = Browser()
    browser.request(ui_a, "GET", "/signin")  # the nonce cookie
    form = urllib.parse.urlencode({"user_name": "dana", "password": PASSWORD, "csrf": "0" * 64})
    for ui in (ui_a, ui_b):
        status, _ = browser.request(
            ui,
            "POST",
            "/signin",
            form.encode(),
            **{"Content-Type": "application/x-www-form-urlencoded"},
            **Browser.origin(ui),
        )
        assert status == 403
