"""The Python client against servers with authentication (`ServerConfig(auth=True)`): where
its token comes from (TrackwireClient(token=), set_tracking_token, $TRACKWIRE_TOKEN, the
credentials file, in that order), the credentials file itself, TrackwireClient.auth over
every AuthService RPC, the metric writer's refusals, and tokens kept out of errors and logs.
The CLI: tests/test_auth_commands.py."""

from __future__ import annotations

import logging
import os
import pathlib
import stat
import time

import pytest

import trackwire
from tests.conftest import RunningServer
from trackwire import credentials, fluent
from trackwire.client import TrackwireClient, close_metric_writers
from trackwire.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def token_sources(tmp_path, monkeypatch):
    """No token from the environment or a real home: each test sets the sources it uses."""
    monkeypatch.delenv(credentials.TOKEN_ENV, raising=False)
    monkeypatch.setenv(credentials.CREDENTIALS_ENV, str(tmp_path / "home" / "credentials"))
    yield
    credentials.set_tracking_token(None)


class AuthServer(RunningServer):
    """A RunningServer with --auth, its admin's client, and users made on demand."""

    def __init__(self, db_url, artifacts, **config):
        super().__init__(db_url, artifacts, auth=True, **config)
        self.admin_token = self.server.initial_admin_token
        self.admin = TrackwireClient(self.uri, token=self.admin_token)

    def user(self, name: str, *, admin: bool = False) -> str:
        """Creates a user with a password; returns an API token of theirs."""
        self.admin.auth.create_user(name, PASSWORD, admin=admin)
        return self.admin.auth.create_token(name, "test").secret

    def stop(self, grace: float = 0.5) -> None:
        self.admin.close()
        super().stop(grace)


@pytest.fixture
def auth_server(backend, tmp_path):
    """A server with authentication over each database."""
    running = AuthServer(backend, tmp_path / "artifacts")
    yield running
    running.stop()


@pytest.fixture
def auth_sqlite(tmp_path):
    """A server with authentication over SQLite (for what does not depend on the store)."""
    running = AuthServer(f"sqlite:///{tmp_path / 'auth.db'}", tmp_path / "artifacts")
    yield running
    running.stop()


def whoami(uri: str, token: str | None = None) -> str:
    with TrackwireClient(uri, token=token) as c:
        return c.auth.whoami().user.name


# -- where the token comes from ----------------------------------------------------------------


def test_token_sources_in_order(auth_sqlite, monkeypatch):
    uri = auth_sqlite.uri
    tokens = {name: auth_sqlite.user(name) for name in ("filed", "env", "setting", "explicit")}
    with TrackwireClient(uri) as anonymous, pytest.raises(UnauthenticatedError):
        anonymous.auth.whoami()

    path = credentials.save_token(uri, tokens["filed"])
    assert whoami(uri) == "filed"
    monkeypatch.setenv(credentials.TOKEN_ENV, tokens["env"])
    assert whoami(uri) == "env"
    trackwire.set_tracking_token(tokens["setting"])
    assert whoami(uri) == "setting"
    assert whoami(uri, tokens["explicit"]) == "explicit"
    trackwire.set_tracking_token(None)  # forgets: $TRACKWIRE_TOKEN again
    assert whoami(uri) == "env"
    monkeypatch.delenv(credentials.TOKEN_ENV)
    assert whoami(uri) == "filed"
    # `host:port` is the same server as `grpc://host:port` in the file
    assert whoami(uri.removeprefix("grpc://")) == "filed"
    credentials.forget_token(uri)
    assert path.exists()
    with TrackwireClient(uri) as anonymous, pytest.raises(UnauthenticatedError):
        anonymous.search_experiments()


def test_the_fluent_api_sends_the_token_and_follows_a_new_setting(auth_sqlite):
    uri = auth_sqlite.uri
    ana, bob = auth_sqlite.user("ana"), auth_sqlite.user("bob")
    fluent.set_tracking_uri(uri)
    try:
        trackwire.set_tracking_token(ana)
        ana_experiment = trackwire.create_experiment("ana's")
        with trackwire.start_run(experiment_id=ana_experiment) as run:
            trackwire.log_metric("loss", 0.5)
            trackwire.log_param("lr", "0.1")
        trackwire.set_tracking_token(bob)
        bob_experiment = trackwire.create_experiment("bob's")
        # bob may read ana's run (default READ) but not write to it
        assert trackwire.get_run(run.info.run_id).data.metrics == {"loss": 0.5}
        with pytest.raises(PermissionDeniedError, match="needs USE"):
            trackwire.set_tag("x", "y", run_id=run.info.run_id)
    finally:
        close_metric_writers()
        fluent.set_tracking_uri(None)
    grants = {
        e: auth_sqlite.admin.auth.list_permissions(experiment_id=e)
        for e in (ana_experiment, bob_experiment)
    }
    assert [(g.user_name, g.level) for g in grants[ana_experiment]] == [("ana", "MANAGE")]
    assert [(g.user_name, g.level) for g in grants[bob_experiment]] == [("bob", "MANAGE")]
    assert auth_sqlite.admin.get_run(run.info.run_id).info.user_id == "ana"


def test_credentials_file_is_private_and_keeps_one_section_per_server(tmp_path):
    path = credentials.save_token("grpc://a:1", "tw_first")
    assert path == tmp_path / "home" / "credentials"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    credentials.save_token("grpcs://b:2", "tw_second", token_id=7)
    credentials.save_token("a:1", "tw_replaced")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credentials.saved_token("grpc://a:1") == "tw_replaced"
    assert credentials.saved_token("grpcs://b:2") == "tw_second"
    assert credentials.saved_token("grpc://b:2") is None  # TLS or not: another entry
    assert credentials.saved_token_id("grpcs://b:2") == 7
    assert credentials.saved_token_id("grpc://a:1") is None
    text = path.read_text()
    assert "[grpc://a:1]" in text and "[grpcs://b:2]" in text and "tw_first" not in text
    assert credentials.forget_token("grpc://a:1") is True
    assert credentials.forget_token("grpc://a:1") is False
    assert credentials.saved_token("a:1") is None
    assert credentials.saved_token("grpcs://b:2") == "tw_second"


def test_a_broken_credentials_file_is_reported_without_its_content(tmp_path):
    path = tmp_path / "home" / "credentials"
    path.parent.mkdir()
    path.write_text("tw_secret_without_a_section\n")
    with pytest.raises(ValueError, match="not an INI file") as raised:
        credentials.saved_token("grpc://a:1")
    assert "tw_secret" not in str(raised.value)


def test_a_credentials_file_others_can_read_gets_a_warning(tmp_path, caplog):
    path = credentials.save_token("grpc://a:1", "tw_shared")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="trackwire.credentials"):
        assert credentials.saved_token("grpc://a:1") == "tw_shared"
    assert "chmod 600" in caplog.text and "tw_shared" not in caplog.text


def test_a_token_that_cannot_be_a_header_is_refused_without_showing_it(monkeypatch):
    for bad in ("tw_with space", "tw_\nnewline", "tw_é"):
        with pytest.raises(ValueError) as raised:
            trackwire.set_tracking_token(bad)
        assert bad not in str(raised.value)
    monkeypatch.setenv(credentials.TOKEN_ENV, "tw_bad value")
    with pytest.raises(ValueError, match="TRACKWIRE_TOKEN") as raised:
        TrackwireClient("grpc://127.0.0.1:1")
    assert "bad value" not in str(raised.value)


def test_tls_with_a_token(tmp_path, monkeypatch):
    """grpcs:// still works with the token's interceptor on the channel."""
    from tests.support.certificates import CertificateAuthority

    ca = CertificateAuthority("Trackwire test CA")
    ca_path = ca.write(tmp_path / "ca.crt")
    server_cert = ca.issue("trackwire", hosts=["127.0.0.1"], server=True).write(tmp_path / "srv")
    running = AuthServer(
        f"sqlite:///{tmp_path / 'tls.db'}",
        tmp_path / "artifacts",
        tls_cert=str(server_cert.cert_path),
        tls_key=str(server_cert.key_path),
    )
    try:
        monkeypatch.setenv("TRACKWIRE_TLS_CA", str(ca_path))
        uri = f"grpcs://127.0.0.1:{running.port}"
        monkeypatch.setenv(credentials.TOKEN_ENV, running.admin_token)
        with TrackwireClient(uri) as c:
            assert c.auth.whoami().user.name == "admin"
            experiment_id = c.create_experiment("over-tls")
            run = c.create_run(experiment_id)
            for step in range(50):
                c.log_metric_async(run.info.run_id, "loss", 1 / (step + 1), step=step)
            c.flush_metrics(30)
            assert c.read_metric_history(run.info.run_id, "loss").steps == list(range(50))
        monkeypatch.delenv(credentials.TOKEN_ENV)
        with TrackwireClient(uri) as anonymous, pytest.raises(UnauthenticatedError):
            anonymous.get_experiment(experiment_id)
    finally:
        running.stop()


# -- TrackwireClient.auth --------------------------------------------------------------------


def test_auth_client_covers_users_tokens_teams_and_grants(auth_server):
    admin = auth_server.admin.auth
    who = admin.whoami()
    assert who.auth_enabled and who.user.name == "admin" and who.user.admin
    assert who.default_permission == "READ"

    ana = admin.create_user("ana", PASSWORD)
    assert (ana.name, ana.admin, ana.service_account) == ("ana", False, False)
    job = admin.create_user("nightly", service_account=True)
    assert job.service_account
    with pytest.raises(AlreadyExistsError):
        admin.create_user("ana", PASSWORD)
    assert [u.name for u in admin.list_users()] == ["admin", "ana", "nightly"]

    signed_in = admin.sign_in("ana", PASSWORD, ttl_seconds=3600, description="test sign-in")
    assert signed_in.secret not in repr(signed_in)
    with pytest.raises(UnauthenticatedError):
        admin.sign_in("ana", "wrong password")
    ana_client = TrackwireClient(auth_server.uri, token=signed_in.secret)
    assert ana_client.auth.whoami().user.name == "ana"
    with pytest.raises(PermissionDeniedError):
        ana_client.auth.create_user("eve", PASSWORD)
    ana_client.auth.set_password("ana", "another good one")
    assert admin.sign_in("ana", "another good one").token.user_name == "ana"
    assert admin.update_user("ana", disabled=True).disabled
    with pytest.raises(UnauthenticatedError):
        ana_client.auth.whoami()
    admin.update_user("ana", disabled=False)

    made = admin.create_token("nightly", "ci", expire_time=int(time.time() * 1000) + 3_600_000)
    assert made.token.prefix and made.secret.startswith(made.token.prefix)
    assert made.token.expire_time is not None
    job_client = TrackwireClient(auth_server.uri, token=made.secret)
    assert job_client.auth.whoami().user.service_account
    listed = admin.list_tokens("nightly")
    assert [t.token_id for t in listed] == [made.token.token_id]
    assert admin.revoke_token(made.token.token_id).revoke_time is not None
    with pytest.raises(UnauthenticatedError):
        job_client.auth.whoami()
    assert admin.list_tokens("nightly") == []
    assert len(admin.list_tokens("nightly", include_inactive=True)) == 1

    team = admin.create_team("vision")
    assert team.member_names == []
    assert admin.add_team_member("vision", "ana").member_names == ["ana"]
    assert admin.get_user("ana").team_names == ["vision"]
    assert [t.name for t in ana_client.auth.list_teams()] == ["vision"]
    experiment_id = auth_server.admin.create_experiment("private")
    assert ana_client.auth.get_effective_permission(experiment_id=experiment_id) == "READ"
    grant = admin.set_permission("edit", experiment_id=experiment_id, team_name="vision")
    assert (grant.team_name, grant.level, grant.experiment_id) == ("vision", "EDIT", experiment_id)
    admin.set_permission("NONE", experiment_id=experiment_id, user_name="nightly")
    assert [
        (g.user_name, g.team_name, g.level)
        for g in admin.list_permissions(experiment_id=experiment_id)
    ] == [("admin", None, "MANAGE"), ("nightly", None, "NONE"), (None, "vision", "EDIT")]
    assert ana_client.auth.get_effective_permission(experiment_id=experiment_id) == "EDIT"
    ana_client.rename_experiment(experiment_id, "renamed by ana")
    with pytest.raises(PermissionDeniedError):
        ana_client.auth.list_permissions(experiment_id=experiment_id)
    admin.delete_permission(experiment_id=experiment_id, team_name="vision")
    with pytest.raises(NotFoundError):
        admin.delete_permission(experiment_id=experiment_id, team_name="vision")
    assert admin.remove_team_member("vision", "ana").member_names == []
    admin.delete_team("vision")
    with pytest.raises(NotFoundError):
        admin.get_team("vision")
    with pytest.raises(InvalidArgumentError, match="level"):
        admin.set_permission("OWNER", experiment_id=experiment_id, user_name="ana")
    with pytest.raises(InvalidArgumentError, match="exactly one"):
        admin.list_permissions()
    admin.delete_user("nightly")
    assert [u.name for u in admin.list_users()] == ["admin", "ana"]
    ana_client.close()
    job_client.close()


def test_auth_client_on_a_server_without_auth(server):
    with TrackwireClient(server.uri, token="tw_ignored") as c:
        who = c.auth.whoami()
        assert not who.auth_enabled and who.user is None
        with pytest.raises(FailedPreconditionError):
            c.auth.list_users()
        c.create_experiment("no auth, token ignored")


# -- the metric writer ----------------------------------------------------------------------


def test_metric_writer_surfaces_refusals_instead_of_retrying(auth_server):
    reader = auth_server.user("reader")
    # Not the Default experiment, where every user may write (USE).
    experiment_id = auth_server.admin.create_experiment("the admin's, readable by all")
    run = auth_server.admin.create_run(experiment_id)
    revoked = auth_server.admin.auth.create_token("reader")
    cases = [
        (reader, run.info.run_id, PermissionDeniedError),
        ("tw_not_a_real_token", run.info.run_id, UnauthenticatedError),
        (auth_server.admin_token, "f" * 32, NotFoundError),
        (revoked.secret, run.info.run_id, UnauthenticatedError),
    ]
    auth_server.admin.auth.revoke_token(revoked.token.token_id)
    for token, run_id, error in cases:
        with TrackwireClient(auth_server.uri, token=token) as c:
            for round_ in range(2):  # a refusal does not wedge the writer
                started = time.monotonic()
                for step in range(100):
                    c.log_metric_async(run_id, "loss", 1.0, step=step)
                with pytest.raises(error):
                    c.flush_metrics(timeout=60)
                assert time.monotonic() - started < 10, (error, round_)
    assert auth_server.admin.read_metric_history(run.info.run_id, "loss").steps == []


# -- secrets stay out of errors and logs -------------------------------------------------------


def test_tokens_never_reach_errors_reprs_or_logs(auth_sqlite, caplog, capfd):
    good = auth_sqlite.user("ana")
    bad = "tw_" + "x" * 43
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    with TrackwireClient(auth_sqlite.uri, token=bad) as c:
        seen += [repr(c), repr(c._connection), repr(c.auth)]
        for action in (
            c.search_experiments,
            lambda: c.auth.whoami(),
            lambda: (c.log_metric_async("f" * 32, "m", 1.0), c.flush_metrics(30)),
        ):
            with pytest.raises(UnauthenticatedError) as raised:
                action()
            seen += [str(raised.value), repr(raised.value)]
    with TrackwireClient(auth_sqlite.uri, token=good) as c:
        seen += [repr(c), repr(c._connection)]
        run = c.create_run(c.create_experiment("mine"))
        c.log_metric_async(run.info.run_id, "m", 1.0)
        c.flush_metrics(30)
    out, err = capfd.readouterr()
    everything = "\n".join([*seen, caplog.text, out, err])
    assert bad not in everything and good not in everything
    assert good[8:] not in everything  # not even past the shown prefix


def test_environment_token_reaches_a_subprocess_client(auth_sqlite, tmp_path):
    """TRACKWIRE_TOKEN alone is enough for a script (no code change)."""
    import subprocess
    import sys

    from tests.support.server_process import pythonpath

    script = (
        "import trackwire\n"
        "trackwire.set_experiment('from-a-script')\n"
        "with trackwire.start_run():\n"
        "    trackwire.log_metric('x', 1.0)\n"
        "print(trackwire.TrackwireClient().auth.whoami().user.name)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": pythonpath(),
        "TRACKWIRE_TRACKING_URI": auth_sqlite.uri,
        "TRACKWIRE_TOKEN": auth_sqlite.user("scripted"),
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "scripted"
    assert env["TRACKWIRE_TOKEN"] not in result.stderr


def test_artifact_uploads_are_checked_per_run(auth_server, tmp_path):
    """Uploads go through the access rules: the run's owner uploads, a reader may only
    download. The client's first call of an upload is StartArtifactUpload (it asks for a
    direct transfer, even on a local root), so that is what refuses the reader;
    UploadArtifact's own rule, on its wire-decoded chunks, is tested for every level in
    tests/test_auth_table.py."""
    owner = TrackwireClient(auth_server.uri, token=auth_server.user("owner"))
    reader = TrackwireClient(auth_server.uri, token=auth_server.user("reader"))
    try:
        run = owner.create_run(owner.create_experiment("with files"))
        local = tmp_path / "model.bin"
        local.write_bytes(os.urandom(3 * 1024 * 1024))
        owner.log_artifact(run.info.run_id, str(local), "weights")
        with pytest.raises(PermissionDeniedError, match="StartArtifactUpload needs USE"):
            reader.log_artifact(run.info.run_id, str(local), "mine")
        got = reader.download_artifacts(run.info.run_id, "weights/model.bin", str(tmp_path / "d"))
        assert pathlib.Path(got).read_bytes() == local.read_bytes()
        assert [f.path for f in reader.list_artifacts(run.info.run_id)] == ["weights"]
    finally:
        owner.close()
        reader.close()


def test_batch_create_runs_takes_requests_without_their_own_experiment_id(auth_sqlite):
    """The contract: a request's experiment_id may be empty (the batch's); under --auth
    too, with the batch's experiment checked."""
    from trackwire.v1 import tracking_service_pb2 as pb
    from trackwire_protocol.calls import call

    with TrackwireClient(auth_sqlite.uri, token=auth_sqlite.user("ana")) as ana:
        experiment_id = ana.create_experiment("batch")
        request = pb.BatchCreateRunsRequest(
            experiment_id=experiment_id,
            requests=[pb.CreateRunRequest(run_name=f"r{i}") for i in range(3)],
        )
        runs = call(ana._connection.tracking.BatchCreateRuns, request).runs
        assert [r.info.experiment_id for r in runs] == [experiment_id] * 3
        with TrackwireClient(auth_sqlite.uri, token=auth_sqlite.user("bob")) as bob:
            bobs = bob.create_experiment("bob's")  # ana may only read it (default READ)
        request.experiment_id = bobs
        with pytest.raises(PermissionDeniedError, match=f"experiment {bobs}"):
            call(ana._connection.tracking.BatchCreateRuns, request)


def test_reading_and_watching_several_runs_checks_each(auth_sqlite):
    """BatchReadMetricHistory and WatchMetrics take a list of run ids: each is checked."""
    with (
        TrackwireClient(auth_sqlite.uri, token=auth_sqlite.user("ana")) as ana,
        TrackwireClient(auth_sqlite.uri, token=auth_sqlite.user("bob")) as bob,
    ):
        mine = ana.create_run(ana.create_experiment("ana's"))
        ana.log_metric(mine.info.run_id, "loss", 0.5, step=1)
        private = ana.create_experiment("private")
        ana.auth.set_permission("NONE", experiment_id=private, user_name="bob")
        hidden = ana.create_run(private)
        histories = bob.get_metric_histories([mine.info.run_id], "loss")
        assert histories[mine.info.run_id].values == [0.5]
        with pytest.raises(NotFoundError, match=r"run_ids\[1\]"):
            bob.get_metric_histories([mine.info.run_id, hidden.info.run_id], "loss")
        with bob.watch_metrics([mine.info.run_id], ["loss"]):
            pass
        with (
            bob.watch_metrics([hidden.info.run_id], ["loss"]) as refused,
            pytest.raises(NotFoundError, match=r"run_ids\[0\]"),
        ):
            next(iter(refused))
