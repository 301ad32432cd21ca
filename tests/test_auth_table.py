"""Issue #14's one enforcement point, over the wire: every RPC the server serves has an
entry in the access table, one without is refused, and every RPC answers each kind of
caller as its rule says (tests/support/auth_matrix.py), on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import time

import grpc
import pytest
from google.protobuf import timestamp_pb2

from tests.conftest import LOCAL_URLS, MYSQL_ENV, POSTGRES_ENV, database_url, reset_database
from tests.support.auth_calls import (
    MANAGE,
    READ,
    AuthServer,
    bearer,
    invoke,
    served_methods,
)
from tests.support.auth_matrix import CASES, LEVEL_USERS, AuthFixtures, wait_past
from trackwire.v1 import auth_service_pb2 as auth
from trackwire.v1 import tracking_service_pb2 as tr
from trackwire_server.auth.table import RULES

OK = grpc.StatusCode.OK
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
DENIED = grpc.StatusCode.PERMISSION_DENIED
NOT_FOUND = grpc.StatusCode.NOT_FOUND
METHODS = served_methods()
# grpcio-health-checking's servicer declares Health/List without implementing it.
OPEN_ANSWERS = {"/grpc.health.v1.Health/List": grpc.StatusCode.UNIMPLEMENTED}
MALFORMED = (
    (("authorization", "Bearer"),),
    (("authorization", "Basic x"),),
    (("authorization", "garbage"),),
    (("authorization", "Bearer tw_not-a-token-of-this-server"),),
)


def test_every_served_method_has_an_access_rule():
    assert len(METHODS) > 60
    assert sorted(set(METHODS) - set(RULES)) == []


def test_the_access_table_names_only_served_methods():
    assert sorted(set(RULES) - set(METHODS)) == []


def test_the_matrix_covers_every_served_method():
    names = [case.full_name for case in CASES]
    assert len(names) == len(set(names))
    assert sorted(set(METHODS) ^ set(names)) == []


def test_reflection_lists_only_services_the_descriptors_give(tmp_path):
    server = AuthServer(f"sqlite:///{tmp_path / 'db'}", tmp_path / "artifacts")
    try:
        case = next(
            c for c in CASES if c.full_name.endswith("v1.ServerReflection/ServerReflectionInfo")
        )
        outcome = invoke(server.channel, METHODS[case.full_name], case.make(None, None))
        listed = {s.name for s in outcome.responses[0].list_services_response.service}
        assert listed == {m.service for m in METHODS.values()}
    finally:
        server.stop()


@pytest.mark.parametrize("auth_on", [True, False], ids=["auth", "no-auth"])
def test_a_method_missing_from_the_table_is_refused(tmp_path, auth_on):
    missing = "/trackwire.v1.TrackingService/GetServerInfo"
    rules = {name: rule for name, rule in RULES.items() if name != missing}
    server = AuthServer(
        f"sqlite:///{tmp_path / 'db'}", tmp_path / "artifacts", rules=rules, auth=auth_on
    )
    try:
        md = bearer(server.admin) if auth_on else ()
        for metadata in (md, ()):
            outcome = invoke(server.channel, METHODS[missing], tr.GetServerInfoRequest(), metadata)
            assert outcome.code == DENIED, outcome
            assert "no access rule covers" in outcome.details
        # The others still answer.
        assert (
            invoke(
                server.channel,
                METHODS["/trackwire.v1.AuthService/WhoAmI"],
                auth.WhoAmIRequest(),
                md,
            ).code
            == OK
        )
    finally:
        server.stop()


# -- the matrix ------------------------------------------------------------------------


def _backend_url(kind: str, tmp_path_factory) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('auth-matrix') / 'trackwire.db'}"
    env = POSTGRES_ENV if kind == "postgresql" else MYSQL_ENV
    url = database_url(env)
    if not url:
        pytest.skip(f"{kind} tests need ${env} or a server answering at {LOCAL_URLS[env]}")
    reset_database(url)
    return url


class Matrix:
    def __init__(self, server: AuthServer, fixtures: AuthFixtures, bad_tokens: dict):
        self.server = server
        self.f = fixtures
        self.bad_tokens = bad_tokens

    def call(self, case, request, metadata):
        return invoke(self.server.channel, METHODS[case.full_name], request, metadata)

    def as_user(self, case, request, user: str):
        return self.call(case, request, bearer(self.f.tokens[user]))


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mysql"])
def matrix(request, tmp_path_factory):
    """One server per database, default permission NONE, shared by the whole matrix."""
    url = _backend_url(request.param, tmp_path_factory)
    server = AuthServer(url, tmp_path_factory.mktemp("auth-artifacts"))
    try:
        fixtures = AuthFixtures(server)
        # A revoked token (used first, so that it sits in the server's caches) and an
        # expired one (likewise, while it still worked).
        revoked = server.token("manager")
        expire_ms = int(time.time() * 1000) + 1500
        expire = timestamp_pb2.Timestamp()
        expire.FromMilliseconds(expire_ms)
        expired = server.token("manager", expire_time=expire)
        for token in (revoked, expired):
            assert (
                server.auth.WhoAmI(auth.WhoAmIRequest(), metadata=bearer(token)).user.name
                == "manager"
            )
        tokens = server.auth.ListApiTokens(
            auth.ListApiTokensRequest(user_name="manager"), metadata=bearer(server.admin)
        ).tokens
        revoked_id = next(t.token_id for t in tokens if revoked.startswith(t.prefix))
        server.auth.RevokeApiToken(
            auth.RevokeApiTokenRequest(token_id=revoked_id), metadata=bearer(server.admin)
        )
        wait_past(expire_ms)
        yield Matrix(server, fixtures, {"revoked": revoked, "expired": expired})
    finally:
        server.stop()


def _ids(case):
    return case.full_name.rsplit(".", 1)[-1]


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_access_matrix(matrix, case):
    f = matrix.f
    request = case.make(f, "nogrant")
    # Without a valid token.
    bad = [()] + list(MALFORMED) + [bearer(t) for t in matrix.bad_tokens.values()]
    for metadata in bad:
        outcome = matrix.call(case, request, metadata)
        if case.kind == "open":
            assert outcome.code == OPEN_ANSWERS.get(case.full_name, OK), (metadata, outcome)
        else:
            assert outcome.code == UNAUTHENTICATED, (metadata, outcome)
    if case.kind == "open":
        return
    CHECKS[case.kind](matrix, case, request)


def _check_signed_in(matrix, case, request):
    assert matrix.as_user(case, request, "nogrant").code == OK


def _check_filtered(matrix, case, request):
    hidden = matrix.as_user(case, request, "nogrant")
    assert hidden.code == OK, hidden
    assert not case.shows(matrix.f, hidden.responses[0])
    shown = matrix.as_user(case, request, "reader")
    assert shown.code == OK, shown
    assert case.shows(matrix.f, shown.responses[0])


def _check_admin(matrix, case, request):
    for user in ("nogrant", LEVEL_USERS[MANAGE]):
        outcome = matrix.as_user(case, request, user)
        assert outcome.code == DENIED, (user, outcome)
    outcome = matrix.as_user(case, request, "admin")
    assert outcome.code == OK, outcome


def _check_self(matrix, case, request):
    # `request` names "nogrant": another user may not, the user themselves may.
    outcome = matrix.as_user(case, request, "reader")
    assert outcome.code == DENIED, outcome
    outcome = matrix.as_user(case, request, "nogrant")
    assert outcome.code == OK, outcome
    outcome = matrix.as_user(case, case.make(matrix.f, "reader"), "admin")
    assert outcome.code == OK, outcome


def _check_token_owner(matrix, case, request):
    # `request` names a token of "nogrant": another user's is NOT_FOUND like a missing one.
    outcome = matrix.as_user(case, request, "reader")
    missing = matrix.as_user(case, auth.RevokeApiTokenRequest(token_id=10**9), "reader")
    token_id = request.token_id
    assert outcome.code == NOT_FOUND, outcome
    assert outcome.details == missing.details.replace(str(10**9), str(token_id))
    assert matrix.as_user(case, request, "nogrant").code == OK
    assert matrix.as_user(case, case.make(matrix.f, "reader"), "admin").code == OK


def _check_team_member(matrix, case, request):
    # T's member is "reader".
    outcome = matrix.as_user(case, request, "nogrant")
    missing = matrix.as_user(case, auth.GetTeamRequest(name="no-such-team"), "nogrant")
    assert outcome.code == NOT_FOUND, outcome
    assert outcome.details == missing.details.replace("no-such-team", matrix.f.team)
    assert matrix.as_user(case, request, "reader").code == OK
    assert matrix.as_user(case, request, "admin").code == OK


def _check_resource(matrix, case, request):
    outcome = matrix.as_user(case, request, "nogrant")
    assert outcome.code == NOT_FOUND, outcome
    for level, user in LEVEL_USERS.items():
        if READ <= level < case.level:
            outcome = matrix.as_user(case, request, user)
            assert outcome.code == DENIED, (user, outcome)
    outcome = matrix.as_user(case, request, LEVEL_USERS[case.level])
    assert outcome.code == grpc.StatusCode[case.allowed], outcome
    for response in outcome.responses:  # a refused metric batch is an answer, not an error
        assert not getattr(response, "error_code", 0), response


CHECKS = {
    "signed_in": _check_signed_in,
    "filtered": _check_filtered,
    "admin": _check_admin,
    "self": _check_self,
    "token_owner": _check_token_owner,
    "team_member": _check_team_member,
    "resource": _check_resource,
}
