"""The web UI's authentication tests' site and browser: a server with `--auth` and its UI,
users, grants and data made through the public AuthService, TrackingService and
ModelRegistryService with each user's own token, and pages in fresh browser contexts."""

from __future__ import annotations

import urllib.error
import urllib.request

import grpc
import pytest

from tests.conftest import RunningServer
from tests.support.browser import launch
from trackwire.v1 import auth_service_pb2 as apb
from trackwire.v1 import auth_service_pb2_grpc, identity_pb2, run_pb2
from trackwire.v1 import model_registry_service_pb2 as rpb
from trackwire.v1 import tracking_service_pb2 as tpb
from trackwire_protocol.channel import Connection
from trackwire_server.ui import UiServer


class As:
    """Calls of one user: `auth`, `tracking` and `registry` stubs sending their token."""

    def __init__(self, target: str, token: str):
        self.token = token
        self._channel = grpc.insecure_channel(target)
        channel = grpc.intercept_channel(self._channel, _Interceptor(token))
        self.connection = Connection(target, channel)
        self.auth = auth_service_pb2_grpc.AuthServiceStub(channel)
        self.tracking = self.connection.tracking
        self.registry = self.connection.registry

    def close(self) -> None:
        self._channel.close()

    # -- users -------------------------------------------------------------------------

    def create_user(self, name: str, password: str | None, admin: bool = False) -> str:
        """Creates a user (a person with `password`, else a service account); returns an
        API token of theirs."""
        self.auth.CreateUser(
            apb.CreateUserRequest(
                name=name, password=password or "", admin=admin, service_account=not password
            )
        )
        return self.auth.CreateApiToken(apb.CreateApiTokenRequest(user_name=name)).secret

    def grant(self, level: int, user: str, *, experiment_id=None, model=None) -> None:
        resource = (
            identity_pb2.ResourceRef(experiment_id=experiment_id)
            if experiment_id is not None
            else identity_pb2.ResourceRef(registered_model_name=model)
        )
        self.auth.SetPermission(
            apb.SetPermissionRequest(
                grant=identity_pb2.PermissionGrant(
                    resource=resource,
                    principal=identity_pb2.PrincipalRef(user_name=user),
                    level=level,
                )
            )
        )

    # -- data --------------------------------------------------------------------------

    def experiment_with_run(self, name: str, note: str = "") -> tuple[str, str]:
        """A new experiment with one finished run (with `note`); (experiment id, run id)."""
        experiment_id = self.tracking.CreateExperiment(
            tpb.CreateExperimentRequest(name=name)
        ).experiment.experiment_id
        run = self.tracking.CreateRun(
            tpb.CreateRunRequest(experiment_id=experiment_id, run_name=f"{name}-run")
        ).run
        if note:
            self.tracking.SetRunTag(
                tpb.SetRunTagRequest(
                    run_id=run.info.run_id,
                    tag=run_pb2.RunTag(key="trackwire.note.content", value=note),
                )
            )
        self.tracking.UpdateRun(
            tpb.UpdateRunRequest(run_id=run.info.run_id, status=run_pb2.RUN_STATUS_FINISHED)
        )
        return experiment_id, run.info.run_id

    def log_points(self, run_id: str, key: str, steps: list[int]) -> None:
        """Points of metric `key` at `steps` (value 1 / (step + 1))."""
        self.tracking.LogBatch(
            tpb.LogBatchRequest(
                run_id=run_id,
                metrics=run_pb2.MetricPoints(
                    keys=[key],
                    key_index=[0] * len(steps),
                    values=[1 / (s + 1) for s in steps],
                    steps=steps,
                    timestamps_ms=[1_700_000_000_000 + s for s in steps],
                ),
            )
        )

    def model_with_version(self, name: str, run_id: str) -> None:
        self.registry.CreateRegisteredModel(rpb.CreateRegisteredModelRequest(name=name))
        self.registry.CreateModelVersion(
            rpb.CreateModelVersionRequest(name=name, source=f"runs:/{run_id}/model", run_id=run_id)
        )

    def note(self, run_id: str) -> str:
        run = self.tracking.GetRun(tpb.GetRunRequest(run_id=run_id)).run
        return {t.key: t.value for t in run.data.tags}.get("trackwire.note.content", "")

    def stage(self, name: str, version: str = "1") -> int:
        return self.registry.GetModelVersion(
            rpb.GetModelVersionRequest(name=name, version=version)
        ).model_version.stage


class _Interceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` to every call."""

    def __init__(self, token: str):
        self.metadata = (("authorization", f"Bearer {token}"),)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(_with(details, self.metadata), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(_with(details, self.metadata), request)


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, method, timeout, metadata, credentials, wait_for_ready, compression):
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


def _with(details, metadata) -> grpc.ClientCallDetails:
    return _CallDetails(
        details.method,
        details.timeout,
        tuple(details.metadata or ()) + metadata,
        details.credentials,
        details.wait_for_ready,
        details.compression,
    )


# -- the site and its pages ------------------------------------------------------------

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
    bob each own an experiment (with a noted run) and a model; bob may READ alice's; carol
    is in the team "readers"; root is an admin with a password."""
    running = RunningServer(
        db_url, folder / "artifacts", auth=True, default_permission=NONE, **config
    )
    ui = UiServer("127.0.0.1", running.port, port=0, tls=running.server.tls).start()
    target = f"127.0.0.1:{running.port}"
    admin = As(target, running.server.initial_admin_token)
    users = {name: As(target, admin.create_user(name, pw)) for name, pw in PASSWORDS.items()}
    admin.auth.UpdateUser(apb.UpdateUserRequest(name="root", admin=True))
    admin.auth.CreateTeam(apb.CreateTeamRequest(name="readers"))
    admin.auth.AddTeamMember(apb.AddTeamMemberRequest(team_name="readers", user_name="carol"))
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


@pytest.fixture(scope="module", name="browser")
def browser_fixture():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture(name="new_page")
def new_page_fixture(browser):
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
