"""Web UI sessions, for a server with authentication on: the session cookie, CSRF tokens
and the middleware that requires both.

- The session cookie holds the sign-in token the server gave (AuthService.SignIn), with
  its id for sign-out: HttpOnly, SameSite=Strict, Path=/, Secure (and named with the
  `__Host-` prefix) when the UI serves HTTPS. The token never appears in a URL, so no
  access log carries it.
- Every call the UI makes for a request carries that token (`backend.call_metadata`), so
  the server's checks decide what each page shows; the UI checks no permission itself.
- A change (POST, PUT, PATCH, DELETE) needs the session's CSRF token (`X-CSRF-Token`
  header from the pages' scripts, or a `csrf` form field) and an Origin (or, without one, a
  Referer) of this very site; otherwise 403. SameSite=Strict alone would leave older
  browsers and same-site pages. The token is an HMAC keyed by the session token itself
  (the sign-in form's, by its nonce cookie): a page cannot compute it without reading the
  HttpOnly cookie, and it holds no secret of this process, so behind a load balancer a
  page served by one server's UI may post to another's.
- Without a session, pages redirect to /signin and the API answers 401.

Without authentication on the server (the laptop default) none of this applies: the UI
works without signing in, as a client of a server that allows every call.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from trackwire.v1 import auth_service_pb2 as apb
from trackwire.v1 import auth_service_pb2_grpc
from trackwire_protocol import calls, errors
from trackwire_server.ui.backend import call_metadata

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
# Paths served without a session: the sign-in page and what it loads.
OPEN_PATHS = ("/signin", "/static/", "/favicon.ico")


def same_origin(request: HTTPConnection) -> bool:
    """Whether the request says it comes from a page of this site: its Origin header, or
    without one its Referer, names this host and port. Neither: not from this site."""
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    if origin is not None:
        return origin != "null" and urlsplit(origin).netloc == host
    referer = request.headers.get("referer")
    return referer is not None and urlsplit(referer).netloc == host


class Sessions:
    """The session cookie and CSRF tokens of one UI, and whether its server wants them."""

    def __init__(self, connection, https: bool):
        self.https = https
        self.cookie_name = "__Host-trackwire_session" if https else "trackwire_session"
        self.auth_stub = auth_service_pb2_grpc.AuthServiceStub(connection.channel)
        self._auth_enabled: bool | None = None
        self._lock = threading.Lock()

    # -- the server's mode -----------------------------------------------------------

    def auth_enabled(self) -> bool:
        """Whether the server checks tokens: asked once (WhoAmI without a token answers
        auth_enabled=false, or UNAUTHENTICATED when it does). Guessing wrong could not
        open anything: the server checks every call either way."""
        if self._auth_enabled is None:
            try:
                answer = calls.call(
                    self.auth_stub.WhoAmI, apb.WhoAmIRequest(), timeout=10, retry_for=5
                )
                enabled = answer.auth_enabled
            except errors.TrackwireException as e:
                if e.code.name != "UNAUTHENTICATED":
                    raise
                enabled = True
            with self._lock:
                self._auth_enabled = enabled
        return self._auth_enabled

    def known_auth_enabled(self) -> bool | None:
        """auth_enabled() once known, without asking."""
        return self._auth_enabled

    # -- the cookie --------------------------------------------------------------------

    def session_of(self, request: HTTPConnection) -> tuple[int, str] | None:
        """(token id, token secret) of the request's session cookie, None without one."""
        value = request.cookies.get(self.cookie_name, "")
        token_id, _, secret = value.partition(".")
        if not token_id.isdigit() or not secret or len(secret) > 512:
            return None
        return int(token_id), secret

    def set_cookie(self, response: Response, token_id: int, secret: str, max_age: int) -> None:
        response.set_cookie(
            self.cookie_name,
            f"{token_id}.{secret}",
            max_age=max_age,
            path="/",
            secure=self.https,
            httponly=True,
            samesite="strict",
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(
            self.cookie_name, path="/", secure=self.https, httponly=True, samesite="strict"
        )

    # -- CSRF ----------------------------------------------------------------------------

    def csrf_token(self, secret: str) -> str:
        """The CSRF token of the session whose token is `secret` (the same on every server
        of a fleet)."""
        return hmac.new(secret.encode(), b"trackwire-csrf", hashlib.sha256).hexdigest()

    def csrf_matches(self, secret: str, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf_token(secret), sent)

    def form_token(self, nonce: str) -> str:
        """The CSRF token of the sign-in form, for the browser holding `nonce` (a cookie)."""
        return hmac.new(nonce.encode(), b"trackwire-signin", hashlib.sha256).hexdigest()


def metadata_of(secret: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {secret}"),)


def _refused(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


class SessionMiddleware:
    """Requires a session (and CSRF proof on changes) when the server has authentication
    on, and makes the UI's calls for the request carry its token."""

    def __init__(self, app, sessions: Sessions):
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        sessions = self.sessions
        try:
            enabled = sessions.known_auth_enabled()
            if enabled is None:
                enabled = await run_in_threadpool(sessions.auth_enabled)
        except errors.TrackwireException:
            response = _refused(503, "the web UI cannot reach its server")
            await response(scope, receive, send)
            return
        path = scope["path"]
        if not enabled or path.startswith(OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        session = sessions.session_of(request)
        response = None
        if session is None:
            if path.startswith("/api/"):
                response = _refused(401, "sign in first")
            else:
                response = RedirectResponse("/signin", status_code=303)
        elif request.method not in SAFE_METHODS and path != "/signout":
            # /signout checks its form field itself (it reads the body).
            if not same_origin(request):
                response = _refused(403, "cross-site request refused")
            elif not sessions.csrf_matches(session[1], request.headers.get(CSRF_HEADER)):
                response = _refused(403, "missing or wrong CSRF token: reload the page")
        if response is not None:
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["session"] = session
        token = call_metadata.set(metadata_of(session[1]))
        try:
            await self.app(scope, receive, _not_stored(send))
        finally:
            call_metadata.reset(token)


def _not_stored(send):
    """`send` adding Cache-Control: no-store to a response: what a user may see is not
    kept by the browser (a page loaded after signing out is asked for again)."""

    async def sending(message):
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"cache-control"]
            message = {**message, "headers": [*headers, (b"cache-control", b"no-store")]}
        await send(message)

    return sending
