"""``/api/me`` and ``/api/users``: who am I, and user administration (admin only)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import auth, users
from .bodies import json_object
from .errors import AuthError
from .users import User

_ADD_FIELDS = {"name", "role", "password", "team", "display_name"}


@auth.require()
async def me(request: web.Request) -> web.StreamResponse:
    """The signed-in user, and the CSRF token a cookie session must send with changes."""
    user: User = request["user"]
    body: dict[str, Any] = {"user": user.as_dict()}
    session = request.get("session")
    if session:
        body["csrf_token"] = auth.csrf_token(request.app["services"].secret, session)
    return web.json_response(body)


@auth.require("admin")
async def list_users(request: web.Request) -> web.StreamResponse:
    """Every user (``?all=1`` includes deactivated ones); never a password hash."""
    include = request.query.get("all") in {"1", "true", "yes"}
    rows = await request.app["services"].db.read(lambda db: users.list_users(db, include_inactive=include))
    return web.json_response({"users": rows})



@auth.require("admin")
async def add_user(request: web.Request) -> web.StreamResponse:
    """Create a user: ``{"name", "role", "password", "team"?, "display_name"?}``."""
    body = await json_object(request)
    unknown = set(body) - _ADD_FIELDS
    if unknown:
        return auth.json_error(400, "bad_request", f"unknown fields: {', '.join(sorted(unknown))}")
    if not all(isinstance(body.get(k, ""), str) for k in _ADD_FIELDS):
        return auth.json_error(400, "bad_request", "every field must be a string")
    services = request.app["services"]
    now = services.clock()
    try:
        user = await services.db.write(lambda db: users.add_user(
            db, body.get("name", ""), body.get("role", ""), body.get("password", ""),
            team=body.get("team", ""), display_name=body.get("display_name", ""), now=now))
    except AuthError as exc:
        status = 409 if "already exists" in str(exc) else 400
        return auth.json_error(status, "conflict" if status == 409 else "bad_request", str(exc))
    return web.json_response({"user": user.as_dict()}, status=201)


@auth.require("admin")
async def deactivate_user(request: web.Request) -> web.StreamResponse:
    """Deactivate a user: their sessions end and API tokens stop working at once."""
    try:
        user_id = int(request.match_info["id"])
    except ValueError:
        return auth.json_error(400, "bad_request", "user id must be a number")
    me_: User = request["user"]
    if user_id == me_.id:
        return auth.json_error(400, "bad_request", "you cannot deactivate yourself")
    try:
        user = await request.app["services"].db.write(lambda db: users.deactivate_user(db, user_id))
    except AuthError as exc:
        return auth.json_error(404, "not_found", str(exc))
    return web.json_response({"user": {**user.as_dict(), "active": False}})


@auth.require()
async def change_own_password(request: web.Request) -> web.StreamResponse:
    """Change your own password: ``{"current", "new"}``; every session of yours ends (sign in again)."""
    body = await json_object(request)
    current, new = body.get("current"), body.get("new")
    if not isinstance(current, str) or not isinstance(new, str):
        return auth.json_error(400, "bad_request", "need current and new (strings)")
    user: User = request["user"]
    db = request.app["services"].db
    if await db.read(lambda d: users.verify_password(d, user.name, current)) is None:
        return auth.json_error(403, "wrong_password", "the current password is wrong")
    try:
        await db.write(lambda d: users.set_password(d, user.id, new))
    except AuthError as exc:
        return auth.json_error(400, "bad_request", str(exc))
    return web.json_response({"changed": True})


@auth.require("admin")
async def reset_password(request: web.Request) -> web.StreamResponse:
    """Set another user's password (``{"password"}``); their sessions end, their API tokens stay."""
    try:
        user_id = int(request.match_info["id"])
    except ValueError:
        return auth.json_error(400, "bad_request", "user id must be a number")
    body = await json_object(request)
    password = body.get("password")
    if not isinstance(password, str):
        return auth.json_error(400, "bad_request", "need password (a string)")
    try:
        await request.app["services"].db.write(lambda d: users.set_password(d, user_id, password))
    except AuthError as exc:
        status = 404 if "no active user" in str(exc) else 400
        return auth.json_error(status, "not_found" if status == 404 else "bad_request", str(exc))
    return web.json_response({"changed": True})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/me", me)
    app.router.add_get("/api/users", list_users)
    app.router.add_post("/api/users", add_user)
    app.router.add_post("/api/users/{id}/deactivate", deactivate_user)
    app.router.add_post("/api/users/{id}/password", reset_password)
    app.router.add_post("/api/me/password", change_own_password)
