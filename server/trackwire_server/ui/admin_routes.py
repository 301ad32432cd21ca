"""The admin pages of the web UI: users (/admin/users) and teams (/admin/teams), and their
JSON API, through AuthService as the signed-in user. The server decides: its user and
team calls are for admins only, so another user gets 403 from the API, and the pages
answer 403 to whoever WhoAmI says is not an admin (404 without authentication, where
there are no users)."""

from __future__ import annotations

import pathlib

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from trackwire.v1 import auth_service_pb2 as apb
from trackwire_server.ui.backend import ApiError, json_endpoint, json_write_endpoint, millis
from trackwire_server.ui.sessions import Sessions

STATIC = pathlib.Path(__file__).parent / "static"
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
MAX_USERS = 10_000


def user_json(u) -> dict:
    return {
        "name": u.name,
        "admin": u.admin,
        "service_account": u.service_account,
        "disabled": u.disabled,
        "create_time": millis(u.create_time),
    }


def team_json(t) -> dict:
    return {"name": t.name, "members": list(t.member_names), "create_time": millis(t.create_time)}


def _flag(body: dict, name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise ApiError(400, f"{name} must be a boolean")
    return value


def _text(body: dict, name: str) -> str:
    value = body.get(name, "")
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string")
    return value


def admin_routes(backend, sessions: Sessions) -> list[Route]:
    stub = sessions.auth_stub

    def admin_page_status(request: Request) -> int:
        if not sessions.auth_enabled():
            return 404
        who = backend.call(stub.WhoAmI, apb.WhoAmIRequest())
        return 200 if who.user.admin else 403

    async def admin_page(request: Request) -> Response:
        try:
            status = await run_in_threadpool(admin_page_status, request)
        except ApiError as e:
            status = e.status
        if status != 200:
            text = "Admins only." if status == 403 else "Not found."
            return Response(text, status_code=status, media_type="text/plain")
        return FileResponse(STATIC / "admin.html", headers={"Content-Security-Policy": PAGE_CSP})

    def list_users(request: Request) -> dict:
        users, token = [], ""
        while len(users) < MAX_USERS:
            page = backend.call(
                stub.ListUsers, apb.ListUsersRequest(page_size=1000, page_token=token)
            )
            users += [user_json(u) for u in page.users]
            token = page.next_page_token
            if not token:
                break
        return {"users": users}

    def create_user(request: Request, body: dict) -> dict:
        answer = backend.call(
            stub.CreateUser,
            apb.CreateUserRequest(
                name=_text(body, "name"),
                password=_text(body, "password"),
                admin=bool(_flag(body, "admin")),
                service_account=bool(_flag(body, "service_account")),
            ),
        )
        return {"user": user_json(answer.user)}

    def update_user(request: Request, body: dict) -> dict:
        update = apb.UpdateUserRequest(name=request.path_params["name"])
        for name in ("admin", "disabled"):
            value = _flag(body, name)
            if value is not None:
                setattr(update, name, value)
        if "password" in body:
            update.password = _text(body, "password")
        answer = backend.call(stub.UpdateUser, update)
        return {"user": user_json(answer.user)}

    def list_teams(request: Request) -> dict:
        answer = backend.call(stub.ListTeams, apb.ListTeamsRequest())
        return {"teams": [team_json(t) for t in answer.teams]}

    def create_team(request: Request, body: dict) -> dict:
        answer = backend.call(stub.CreateTeam, apb.CreateTeamRequest(name=_text(body, "name")))
        return {"team": team_json(answer.team)}

    def delete_team(request: Request) -> dict:
        backend.call(stub.DeleteTeam, apb.DeleteTeamRequest(name=request.path_params["name"]))
        return {}

    def add_member(request: Request, body: dict) -> dict:
        answer = backend.call(
            stub.AddTeamMember,
            apb.AddTeamMemberRequest(
                team_name=request.path_params["name"], user_name=_text(body, "user_name")
            ),
        )
        return {"team": team_json(answer.team)}

    def remove_member(request: Request) -> dict:
        answer = backend.call(
            stub.RemoveTeamMember,
            apb.RemoveTeamMemberRequest(
                team_name=request.path_params["name"], user_name=request.path_params["user"]
            ),
        )
        return {"team": team_json(answer.team)}

    return [
        Route("/admin/users", admin_page),
        Route("/admin/teams", admin_page),
        Route("/api/admin/users", json_endpoint(list_users), methods=["GET"]),
        Route("/api/admin/users", json_write_endpoint(create_user), methods=["POST"]),
        Route("/api/admin/users/{name:str}", json_write_endpoint(update_user), methods=["PATCH"]),
        Route("/api/admin/teams", json_endpoint(list_teams), methods=["GET"]),
        Route("/api/admin/teams", json_write_endpoint(create_team), methods=["POST"]),
        Route("/api/admin/teams/{name:str}", json_endpoint(delete_team), methods=["DELETE"]),
        Route(
            "/api/admin/teams/{name:str}/members", json_write_endpoint(add_member), methods=["POST"]
        ),
        Route(
            "/api/admin/teams/{name:str}/members/{user:str}",
            json_endpoint(remove_member),
            methods=["DELETE"],
        ),
    ]
