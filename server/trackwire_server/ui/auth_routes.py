"""Signing in and out of the web UI, who is signed in, and the grants on an experiment or
a registered model (the "Access" panel), all through AuthService as the signed-in user.

Sign-in: the form posts the user name and password (never in a URL) with a CSRF token
bound to a nonce cookie; the UI relays them to AuthService.SignIn with the browser's
address (see auth/sign_in_limits.py: failed sign-ins are limited per browser address,
not per UI), and keeps the sign-in token it gets in the session cookie (sessions.py).
Sign-out revokes that token (RevokeApiToken) and clears the cookie.
"""

from __future__ import annotations

import functools
import html
import secrets
import time
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from trackwire.v1 import auth_service_pb2 as apb
from trackwire.v1 import identity_pb2
from trackwire_protocol import calls, errors
from trackwire_server.auth.sign_in_limits import ui_relay_metadata
from trackwire_server.ui.backend import ApiError, json_endpoint, json_write_endpoint
from trackwire_server.ui.sessions import Sessions, metadata_of, same_origin

SIGN_IN_NONCE_COOKIE = "trackwire_signin"
MAX_FORM_BYTES = 8192
SIGN_IN_TTL_SECONDS = 12 * 3600
# The levels by name, as the pages show and send them.
LEVELS = {
    name.removeprefix("PERMISSION_LEVEL_"): number
    for name, number in identity_pb2.PermissionLevel.items()
    if number
}
LEVEL_NAMES = {number: name for name, number in LEVELS.items()}
PAGE_CSP = "default-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'"

SIGN_IN_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Trackwire</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<header id="top"><span class="brand">Trackwire</span></header>
<main class="signin">
<h1>Sign in</h1>
{message}
<form method="post" action="/signin" id="signin-form" class="signin-form">
<input type="hidden" name="csrf" value="{csrf}">
<label>User <input type="text" name="user_name" id="user-name" value="{user_name}"
 autocomplete="username" required autofocus></label>
<label>Password <input type="password" name="password" id="password"
 autocomplete="current-password" required></label>
<button type="submit" class="primary" id="signin-button">Sign in</button>
</form>
</main>
</body>
</html>
"""


async def read_form(request: Request) -> dict[str, str] | None:
    """An urlencoded form body of at most MAX_FORM_BYTES, None otherwise."""
    if request.headers.get("content-type", "").split(";")[0] != (
        "application/x-www-form-urlencoded"
    ):
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return None


def resource_ref(request: Request) -> identity_pb2.ResourceRef:
    """/api/access/experiments/{id} or /api/access/models/{name}."""
    kind = request.path_params["kind"]
    name = request.path_params["resource"]
    if kind == "experiments":
        return identity_pb2.ResourceRef(experiment_id=name)
    if kind == "models":
        return identity_pb2.ResourceRef(registered_model_name=name)
    raise ApiError(404, f"no such kind of resource: {kind[:40]}")


def grant_json(grant) -> dict:
    kind = grant.principal.WhichOneof("principal")
    return {
        "principal_type": "user" if kind == "user_name" else "team",
        "principal_name": getattr(grant.principal, kind),
        "level": LEVEL_NAMES.get(grant.level, ""),
    }


def principal_ref(principal_type, principal_name) -> identity_pb2.PrincipalRef:
    if not isinstance(principal_name, str) or not principal_name:
        raise ApiError(400, "principal_name must be a user's or a team's name")
    if principal_type == "user":
        return identity_pb2.PrincipalRef(user_name=principal_name)
    if principal_type == "team":
        return identity_pb2.PrincipalRef(team_name=principal_name)
    raise ApiError(400, "principal_type must be 'user' or 'team'")


def auth_routes(backend, sessions: Sessions) -> list[Route]:
    stub = sessions.auth_stub

    def sign_in_page(request: Request, message: str = "", user_name: str = "", status=200):
        nonce = request.cookies.get(SIGN_IN_NONCE_COOKIE, "")
        fresh = len(nonce) != 43
        if fresh:
            nonce = secrets.token_urlsafe(32)
        text = SIGN_IN_PAGE.format(
            message=f'<p class="error" id="signin-error">{html.escape(message)}</p>'
            if message
            else "",
            csrf=sessions.form_token(nonce),
            user_name=html.escape(user_name),
        )
        response = HTMLResponse(
            text, status_code=status, headers={"Content-Security-Policy": PAGE_CSP}
        )
        if fresh:
            response.set_cookie(
                SIGN_IN_NONCE_COOKIE,
                nonce,
                max_age=3600,
                path="/signin",
                secure=sessions.https,
                httponly=True,
                samesite="strict",
            )
        return response

    def session_valid(secret: str) -> bool:
        try:
            call = functools.partial(stub.WhoAmI, metadata=metadata_of(secret))
            calls.call(call, apb.WhoAmIRequest(), timeout=10, retry_for=0)
        except errors.TrackwireException as e:
            if e.code.name == "UNAUTHENTICATED":
                return False
            raise ApiError.of(e) from None
        return True

    async def sign_in(request: Request) -> Response:
        if not await run_in_threadpool(sessions.auth_enabled):
            return RedirectResponse("/", status_code=303)
        if request.method == "GET":
            session = sessions.session_of(request)
            if session is None:
                return sign_in_page(request)
            try:
                valid = await run_in_threadpool(session_valid, session[1])
            except ApiError as e:
                return sign_in_page(request, e.message, status=e.status)
            if valid:
                return RedirectResponse("/", status_code=303)
            # Revoked or expired (a page's API call answered 401): forget it, sign in anew.
            response = sign_in_page(request)
            sessions.clear_cookie(response)
            return response
        form = await read_form(request)
        nonce = request.cookies.get(SIGN_IN_NONCE_COOKIE, "")
        if (
            form is None
            or not same_origin(request)
            or not nonce
            or not secrets.compare_digest(sessions.form_token(nonce), form.get("csrf", ""))
        ):
            return sign_in_page(request, "The sign-in form expired: try again.", status=403)
        user_name = form.get("user_name", "").strip()
        client = request.client.host if request.client else None
        try:
            answer = await run_in_threadpool(
                calls.call,
                functools.partial(stub.SignIn, metadata=ui_relay_metadata(client)),
                apb.SignInRequest(
                    user_name=user_name,
                    password=form.get("password", ""),
                    ttl_seconds=SIGN_IN_TTL_SECONDS,
                    description="web UI",
                ),
                timeout=30,
                retry_for=0,
            )
        except errors.TrackwireException as e:
            code = e.code.name
            if code == "RESOURCE_EXHAUSTED":
                return sign_in_page(request, e.message, user_name, status=429)
            if code == "UNAUTHENTICATED":
                return sign_in_page(request, "Wrong user name or password.", user_name, 401)
            return sign_in_page(request, e.message, user_name, ApiError.of(e).status)
        expires = answer.token.expire_time.seconds - int(time.time())
        response = RedirectResponse("/", status_code=303)
        sessions.set_cookie(response, answer.token.token_id, answer.secret, max(60, expires))
        response.delete_cookie(SIGN_IN_NONCE_COOKIE, path="/signin", secure=sessions.https)
        return response

    async def sign_out(request: Request) -> Response:
        if not await run_in_threadpool(sessions.auth_enabled):
            return RedirectResponse("/", status_code=303)
        session = sessions.session_of(request)
        response = RedirectResponse("/signin", status_code=303)
        if session is None:
            return response
        form = await read_form(request) or {}
        sent = request.headers.get("x-csrf-token") or form.get("csrf")
        if not same_origin(request) or not sessions.csrf_matches(session[1], sent):
            return JSONResponse({"error": "cross-site request refused"}, status_code=403)
        token_id, secret = session
        try:
            await run_in_threadpool(
                calls.call,
                functools.partial(stub.RevokeApiToken, metadata=metadata_of(secret)),
                apb.RevokeApiTokenRequest(token_id=token_id),
                timeout=30,
                retry_for=0,
            )
        except errors.TrackwireException as e:
            if e.code.name not in ("UNAUTHENTICATED", "NOT_FOUND"):  # gone already
                return JSONResponse({"error": e.message}, status_code=502)
        sessions.clear_cookie(response)
        return response

    def session_info(request: Request) -> dict:
        if not sessions.auth_enabled():
            return {"auth_enabled": False}
        who = backend.call(stub.WhoAmI, apb.WhoAmIRequest())
        return {
            "auth_enabled": True,
            "user_name": who.user.name,
            "admin": who.user.admin,
            "teams": list(who.team_names),
            "default_permission": LEVEL_NAMES.get(who.default_permission, ""),
            "csrf_token": sessions.csrf_token(request.scope["state"]["session"][1]),
        }

    def access(request: Request) -> dict:
        """The caller's level on the resource, and its grants when they may manage it."""
        if not sessions.auth_enabled():
            return {"auth_enabled": False, "level": "MANAGE", "grants": None}
        resource = resource_ref(request)
        level = backend.call(
            stub.GetEffectivePermission, apb.GetEffectivePermissionRequest(resource=resource)
        ).level
        grants = None
        if level >= LEVELS["MANAGE"]:
            listed = backend.call(
                stub.ListPermissions, apb.ListPermissionsRequest(resource=resource)
            )
            grants = [grant_json(g) for g in listed.grants]
        return {"auth_enabled": True, "level": LEVEL_NAMES.get(level, ""), "grants": grants}

    def grant(request: Request, body: dict) -> dict:
        level = LEVELS.get(str(body.get("level", "")).upper())
        if level is None:
            raise ApiError(400, f"level must be one of {', '.join(LEVELS)}")
        answer = backend.call(
            stub.SetPermission,
            apb.SetPermissionRequest(
                grant=identity_pb2.PermissionGrant(
                    resource=resource_ref(request),
                    principal=principal_ref(body.get("principal_type"), body.get("principal_name")),
                    level=level,
                )
            ),
        )
        return {"grant": grant_json(answer.grant)}

    def revoke(request: Request) -> dict:
        backend.call(
            stub.DeletePermission,
            apb.DeletePermissionRequest(
                resource=resource_ref(request),
                principal=principal_ref(
                    request.path_params["principal_type"].removesuffix("s"),
                    request.path_params["principal_name"],
                ),
            ),
        )
        return {}

    resource = "/api/access/{kind:str}/{resource:str}"
    return [
        Route("/signin", sign_in, methods=["GET", "POST"]),
        Route("/signout", sign_out, methods=["POST"]),
        Route("/api/session", json_endpoint(session_info)),
        Route(resource, json_endpoint(access), methods=["GET"]),
        Route(resource, json_write_endpoint(grant), methods=["POST"]),
        Route(
            resource + "/{principal_type:str}/{principal_name:str}",
            json_endpoint(revoke),
            methods=["DELETE"],
        ),
    ]
