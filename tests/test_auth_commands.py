"""`trackwire login/logout/whoami`, `users`, `tokens`, `teams` and `permissions` against
real servers with authentication: in-process (`trackwire.cli.main`) and as real
subprocesses (`python -m trackwire`, `python -m trackwire_server --auth`)."""

from __future__ import annotations

import io
import os
import re
import stat
import subprocess
import sys
import time

import pytest

from tests.support.server_process import pythonpath
from tests.test_auth_client import PASSWORD, auth_server, auth_sqlite, token_sources  # noqa: F401
from trackwire import credentials
from trackwire.cli import main
from trackwire.client import TrackwireClient
from trackwire.errors import UnauthenticatedError


def trackwire_main(*argv: str, stdin: str = "", monkeypatch, capsys) -> tuple[int, str, str]:
    """`trackwire ARGV` in this process: (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def trackwire_process(*argv: str, stdin: str = "", env: dict | None = None, cwd=None):
    """`python -m trackwire ARGV` as a subprocess (a real command line)."""
    return subprocess.run(
        [sys.executable, "-m", "trackwire", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": pythonpath(), **(env or {})},
    )


def test_login_with_a_token_whoami_and_logout(auth_sqlite, monkeypatch, capsys):  # noqa: F811
    uri = auth_sqlite.uri
    token = auth_sqlite.user("ana")

    def tw(*argv, stdin=""):
        return trackwire_main(*argv, stdin=stdin, monkeypatch=monkeypatch, capsys=capsys)

    status, out, err = tw("whoami", "--tracking-uri", uri)
    assert status == 1 and "requires authentication" in err
    # the token pasted at the prompt (stdin when it is not a terminal)
    status, out, err = tw("login", "--tracking-uri", uri, stdin=token + "\n")
    assert status == 0, err
    assert f"Logged in to {uri} as ana" in out and token not in out + err
    path = credentials.credentials_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credentials.saved_token(uri) == token
    status, out, err = tw("whoami", "--tracking-uri", uri)
    assert (status, out) == (0, f"ana on {uri}; default permission READ\n")
    # every client of that URI now finds the token
    with TrackwireClient(uri) as c:
        assert c.auth.whoami().user.name == "ana"
    status, out, err = tw("logout", "--tracking-uri", uri)
    assert (status, out) == (0, f"Logged out of {uri}\n")
    assert credentials.saved_token(uri) is None
    status, out, err = tw("logout", "--tracking-uri", uri)
    assert status == 0 and "Not logged in" in out

    # a token the server does not take is not saved
    status, out, err = tw("login", "--tracking-uri", uri, "--token", "tw_wrong")
    assert status == 1 and "not valid" in err and "tw_wrong" not in err
    assert credentials.saved_token(uri) is None


def test_login_with_a_password_makes_a_sign_in_token_that_logout_revokes(
    auth_sqlite,  # noqa: F811
    monkeypatch,
    capsys,
):
    uri = auth_sqlite.uri
    auth_sqlite.user("ana")

    def tw(*argv, stdin=""):
        return trackwire_main(*argv, stdin=stdin, monkeypatch=monkeypatch, capsys=capsys)

    status, out, err = tw("login", "--tracking-uri", uri, "--user", "ana", stdin="wrong one\n")
    assert status == 1 and "wrong user name or password" in err
    status, out, err = tw(
        "login", "--tracking-uri", uri, "--user", "ana", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert status == 0, err
    assert PASSWORD not in out + err
    token = credentials.saved_token(uri)
    (made,) = [t for t in auth_sqlite.admin.auth.list_tokens("ana") if token.startswith(t.prefix)]
    assert made.description.startswith("trackwire login on ")
    assert abs(made.expire_time - made.create_time - 30 * 24 * 3600 * 1000) < 1000
    assert credentials.saved_token_id(uri) == made.token_id
    status, out, err = tw("logout", "--tracking-uri", uri)
    assert status == 0 and err == ""
    with TrackwireClient(uri, token=token) as c, pytest.raises(UnauthenticatedError):
        c.auth.whoami()


def test_login_to_a_server_without_auth_or_an_embedded_uri_is_refused(server, monkeypatch, capsys):
    status, out, err = trackwire_main(
        "login",
        "--tracking-uri",
        server.uri,
        "--token",
        "tw_x",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert status == 1 and "without --auth" in err
    assert not credentials.credentials_path().exists()
    status, out, err = trackwire_main(
        "whoami", "--tracking-uri", server.uri, monkeypatch=monkeypatch, capsys=capsys
    )
    assert status == 0 and "does not check tokens" in out
    monkeypatch.delenv("TRACKWIRE_TRACKING_URI", raising=False)
    status, out, err = trackwire_main("whoami", monkeypatch=monkeypatch, capsys=capsys)
    assert status == 2 and "--tracking-uri" in err


def test_users_create_on_the_database_then_the_server_takes_its_token(
    auth_server,  # noqa: F811
    tmp_path,
):
    """Real subprocesses: `trackwire users create` straight on the server's database."""
    env = {"TRACKWIRE_DB": auth_server.db_url, "TRACKWIRE_CREDENTIALS": str(tmp_path / "c")}
    made = trackwire_process("users", "create", "ci-job", "--service-account", env=env)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert re.fullmatch(r"tw_[A-Za-z0-9_-]{40,}", token) and "shown only now" in made.stderr
    again = trackwire_process("users", "create", "ci-job", env=env)
    assert again.returncode == 1 and "already exists" in again.stderr

    with TrackwireClient(auth_server.uri, token=token) as c:
        who = c.auth.whoami()
        assert who.user.name == "ci-job" and who.user.service_account
        c.create_experiment("from the job")

    # a person with a password, who then logs in with it
    person = trackwire_process(
        "users", "create", "bea", "--admin", "--password-stdin", stdin=PASSWORD + "\n", env=env
    )
    assert person.returncode == 0, person.stderr
    short = trackwire_process(
        "users", "set-password", "bea", "--password-stdin", stdin="short\n", env=env
    )
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    changed = trackwire_process(
        "users", "set-password", "bea", "--password-stdin", stdin="a new password\n", env=env
    )
    assert changed.returncode == 0, changed.stderr
    login = trackwire_process(
        "login",
        "--tracking-uri",
        auth_server.uri,
        "--user",
        "bea",
        "--password-stdin",
        stdin="a new password\n",
        env=env,
    )
    assert login.returncode == 0, login.stderr
    assert "as bea (admin)" in login.stdout
    users = trackwire_process("users", "list", "--tracking-uri", auth_server.uri, env=env)
    assert users.returncode == 0, users.stderr
    rows = [line.split()[0] for line in users.stdout.splitlines()[1:]]
    assert rows == ["admin", "bea", "ci-job"]
    missing = trackwire_process(
        "users", "set-password", "nobody", "--password-stdin", stdin="long enough\n", env=env
    )
    assert missing.returncode == 1 and "nobody" in missing.stderr


def test_users_create_before_the_first_start_replaces_the_printed_admin(tmp_path):
    """An admin made on a new database: the server's first start then prints no token."""
    db = f"sqlite:///{tmp_path / 'new.db'}"
    made = trackwire_process("users", "create", "root", "--admin", "--db", db)
    assert made.returncode == 0, made.stderr
    from tests.test_auth_client import AuthServer

    running = AuthServer(db, tmp_path / "artifacts")
    try:
        assert running.admin_token is None
        with TrackwireClient(running.uri, token=made.stdout.strip()) as c:
            assert c.auth.whoami().user.admin
            assert c.get_experiment("0").name == "Default"
    finally:
        running.stop()


def test_tokens_teams_and_permissions_commands(auth_sqlite, monkeypatch, capsys):  # noqa: F811
    uri = auth_sqlite.uri
    monkeypatch.setenv("TRACKWIRE_TRACKING_URI", uri)
    monkeypatch.setenv(credentials.TOKEN_ENV, auth_sqlite.admin_token)
    auth_sqlite.user("ana")

    def tw(*argv):
        status, out, err = trackwire_main(*argv, monkeypatch=monkeypatch, capsys=capsys)
        assert auth_sqlite.admin_token not in out + err
        return status, out, err

    status, out, err = tw("tokens", "create", "--user", "ana", "--description", "cli made")
    assert status == 0, err
    secret = out.strip()
    with TrackwireClient(uri, token=secret) as c:
        assert c.auth.whoami().user.name == "ana"
    status, out, err = tw("tokens", "list", "--user", "ana")
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ID", "PREFIX", "USER"] and len(lines) == 3
    token_id = next(line.split()[0] for line in lines if line.endswith("cli made"))
    assert secret not in out
    assert tw("tokens", "revoke", token_id)[0] == 0
    with TrackwireClient(uri, token=secret) as c, pytest.raises(UnauthenticatedError):
        c.auth.whoami()
    assert len(tw("tokens", "list", "--user", "ana", "--all")[1].splitlines()) == 3

    assert tw("teams", "create", "vision")[1] == "vision: (no members)\n"
    assert tw("teams", "add-member", "vision", "ana")[1] == "vision: ana\n"
    assert tw("teams", "list")[1] == "vision: ana\n"
    experiment_id = auth_sqlite.admin.create_experiment("shared")
    status, out, err = tw(
        "permissions", "grant", "edit", "--experiment", experiment_id, "--team", "vision"
    )
    assert (status, out) == (0, f"team vision: EDIT on experiment {experiment_id}\n")
    status, out, err = tw("permissions", "list", "--experiment", experiment_id)
    assert [line.split() for line in out.splitlines()] == [
        ["PRINCIPAL", "NAME", "LEVEL"],
        ["user", "admin", "MANAGE"],
        ["team", "vision", "EDIT"],
    ]
    assert tw("permissions", "revoke", "--experiment", experiment_id, "--team", "vision")[0] == 0
    status, out, err = tw(
        "permissions", "revoke", "--experiment", experiment_id, "--team", "vision"
    )
    assert status == 1 and "error" in err
    assert tw("teams", "remove-member", "vision", "ana")[1] == "vision: (no members)\n"
    assert tw("teams", "delete", "vision")[0] == 0
    # usage errors: 2, from argparse or the command
    with pytest.raises(SystemExit) as exited:
        main(["permissions", "grant", "OWNER", "--experiment", "1", "--user", "ana"])
    assert exited.value.code == 2
    assert tw("tokens", "create", "--expires-in-days", "0")[0] == 2
    assert tw("users")[0] == 2

    # a user without admin rights: the server's refusal, status 1
    monkeypatch.setenv(credentials.TOKEN_ENV, auth_sqlite.user("bob"))
    status, out, err = tw("teams", "create", "mine")
    assert status == 1 and "error" in err


def test_every_command_has_help_with_an_example():
    for argv in (
        ["login"],
        ["logout"],
        ["whoami"],
        ["users", "create"],
        ["users", "set-password"],
        ["users", "list"],
        ["tokens", "create"],
        ["tokens", "list"],
        ["tokens", "revoke"],
        ["teams", "add-member"],
        ["permissions", "grant"],
        ["permissions", "list"],
    ):
        result = trackwire_process(*argv, "--help")
        assert result.returncode == 0, result.stderr
        assert "Example" in result.stdout, argv


def test_the_server_prints_the_first_admin_token_once(tmp_path):
    """`trackwire server --auth` on a new database: the one-time token works as
    TRACKWIRE_TOKEN for `trackwire whoami`."""
    from tests.support.server_process import ServerProcess

    db = f"sqlite:///{tmp_path / 'first.db'}"
    with ServerProcess(db, tmp_path / "artifacts", extra_args=["--auth"]) as server:
        deadline = time.monotonic() + 30  # printed just after "listening on"
        while "Use it as TRACKWIRE_TOKEN" not in server.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        (token,) = re.findall(r"^\s+(tw_\S+)$", server.output(), re.MULTILINE)
        who = trackwire_process(
            "whoami", "--tracking-uri", server.uri, env={"TRACKWIRE_TOKEN": token}
        )
        assert who.returncode == 0, who.stderr
        assert who.stdout.startswith("admin (admin) on ")
