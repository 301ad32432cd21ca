"""The seed guide's snippets (tests/test_seed_guide.py), unchanged, against a server with
authentication (`trackwire server --auth`, default permission READ), as a signed-in user
who is not an admin: the only difference from the reader's side is `TRACKWIRE_TOKEN` in
the environment.

The user creates their own experiments and registered models (and gets MANAGE on them);
the snippets that log without `set_experiment` go to the Default experiment (id 0), where
every signed-in user has USE unless a grant there says otherwise. Nobody grants the user
anything.
"""

from __future__ import annotations

import pytest

from tests.test_auth_client import AuthServer
from tests.test_seed_guide import (  # noqa: F401 (_close_figures: an autouse fixture)
    SNIPPETS,
    _close_figures,
    expect_missing_feature,
    run_snippet,
)
from trackwire import credentials, fluent
from trackwire.client import TrackwireClient, close_metric_writers


@pytest.fixture
def signed_in_tracking(backend, tmp_path, monkeypatch):
    """The fluent API pointed at a server with --auth over `backend`, with the token of
    `analyst` (no admin) in $TRACKWIRE_TOKEN; yields that user's TrackwireClient."""
    running = AuthServer(backend, tmp_path / "artifacts")
    running.admin.auth.create_user("analyst", "correct horse battery")
    token = running.admin.auth.create_token("analyst", "the guide's reader").secret
    monkeypatch.setenv(credentials.TOKEN_ENV, token)
    monkeypatch.delenv(credentials.CREDENTIALS_ENV, raising=False)
    fluent.set_tracking_uri(running.uri)
    client = TrackwireClient(running.uri)
    assert client.auth.whoami().user.name == "analyst"
    yield client
    while fluent.active_run() is not None:
        fluent.end_run()
    close_metric_writers()
    fluent._settings.experiment_id = None
    fluent.set_tracking_uri(None)
    for key in [k for k in fluent._settings.clients if k[0] == running.uri]:
        fluent._settings.clients.pop(key).close()
    client.close()
    running.stop()


@pytest.mark.filterwarnings("ignore:'squared' is deprecated:FutureWarning")
@pytest.mark.filterwarnings("ignore:scipy.optimize:DeprecationWarning")
@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda s: s.id)
def test_guide_snippet_signed_in(snippet, signed_in_tracking, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRACKWIRE_MODEL_CACHE", str(tmp_path / "model-cache"))
    outcome = run_snippet(snippet, signed_in_tracking, tmp_path, capsys)
    snippet.check(outcome)
    if snippet.missing is not None:
        expect_missing_feature(snippet, outcome)
