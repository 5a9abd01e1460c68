"""``/api/me`` and ``/api/users``: who am I, and user administration (admin only).

Every change that ends a session, revokes a token or changes what a user may
see (role, team, skills, site) is announced as a principal change
(:func:`web.auth.revocation.announce`): cached sign-ins go and the user's open
ticker websockets and console streams close, on every node.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from web.api.bodies import json_object
from web.auth import middleware as auth
from web.auth import revocation, users
from web.auth.shift_settings import check_shift
from web.auth.users import User
from web.errors import NoSuchUser

_ADD_FIELDS = {"name", "role", "password", "team", "display_name"}
_LIST_FIELDS = {"skills"}  # also accepted as a comma-separated string
_EDIT_FIELDS = {"role", "team", "display_name", "skills", "site", "shift"}


def _path_id(request: web.Request) -> int:
    """The ``{id}`` of the path; the routes only match digits, so this always parses."""
    return int(request.match_info["id"])


def _names(value: Any) -> tuple[str, ...] | None:
    """Skills as a list of strings or one comma-separated string; None if neither."""
    if isinstance(value, str):
        return users.parse_names(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return users.parse_names(",".join(value))
    return None


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
    return web.json_response({"items": rows})

@auth.require("admin")
async def add_user(request: web.Request) -> web.StreamResponse:
    """Create a user: ``{"name", "role", "password", "team"?, "display_name"?, "skills"?, "site"?, "shift"?}``."""
    body = await json_object(request)
    unknown = set(body) - _ADD_FIELDS - _EDIT_FIELDS
    if unknown:
        return auth.json_error(400, "bad_request", f"unknown fields: {', '.join(sorted(unknown))}")
    if not all(isinstance(body.get(k, ""), str) for k in (_ADD_FIELDS | _EDIT_FIELDS) - _LIST_FIELDS):
        return auth.json_error(400, "bad_request", "every field must be a string (skills: a list of strings)")
    skills = _names(body.get("skills", []))
    if skills is None:
        return auth.json_error(400, "bad_request", "skills must be a list of strings")
    services = request.app["services"]
    now = services.clock()
    shift = check_shift(services.settings, body.get("shift", ""))
    user = await services.db.write(lambda db: users.add_user(
        db, body.get("name", ""), body.get("role", ""), body.get("password", ""),
        team=body.get("team", ""), display_name=body.get("display_name", ""), skills=skills,
        site=body.get("site", "").strip(), shift=shift, now=now))
    return web.json_response({"user": user.as_dict()}, status=201)


@auth.require("admin")
async def edit_user(request: web.Request) -> web.StreamResponse:
    """Change a user's role, team, display name, skills, site or shift; applies at once to their tokens and sessions."""
    user_id = _path_id(request)
    body = await json_object(request)
    unknown = set(body) - _EDIT_FIELDS
    if unknown:
        return auth.json_error(400, "bad_request", f"unknown fields: {', '.join(sorted(unknown))}")
    if not all(isinstance(body[k], str) for k in set(body) - _LIST_FIELDS):
        return auth.json_error(400, "bad_request", "every field must be a string (skills: a list of strings)")
    skills = _names(body["skills"]) if "skills" in body else None
    if "skills" in body and skills is None:
        return auth.json_error(400, "bad_request", "skills must be a list of strings")
    me_: User = request["user"]
    if user_id == me_.id and body.get("role", me_.role) != me_.role:
        return auth.json_error(400, "bad_request", "you cannot change your own role")
    services = request.app["services"]
    shift = check_shift(services.settings, body["shift"]) if "shift" in body else None
    user = await services.db.write(lambda db: users.update_user(
        db, user_id, role=body.get("role"), team=body.get("team"), display_name=body.get("display_name"),
        skills=skills, site=body["site"].strip() if "site" in body else None, shift=shift))
    revocation.announce(services, revocation.PrincipalChange(user_id, revocation.CHANGED))
    return web.json_response({"user": user.as_dict()})


@auth.require("admin")
async def deactivate_user(request: web.Request) -> web.StreamResponse:
    """Deactivate a user: their sessions end and API tokens stop working at once."""
    user_id = _path_id(request)
    me_: User = request["user"]
    if user_id == me_.id:
        return auth.json_error(400, "bad_request", "you cannot deactivate yourself")
    services = request.app["services"]
    user = await services.db.write(lambda db: users.deactivate_user(db, user_id))
    revocation.announce(services, revocation.PrincipalChange(user_id, revocation.DEACTIVATED))
    return web.json_response({"user": {**user.as_dict(), "active": False}})


@auth.require("admin")
async def reactivate_user(request: web.Request) -> web.StreamResponse:
    """Let a deactivated user sign in again with their password; their old API tokens stay revoked."""
    user_id = _path_id(request)
    services = request.app["services"]
    user = await services.db.write(lambda db: users.reactivate_user(db, user_id))
    revocation.announce(services, revocation.PrincipalChange(user_id, revocation.REACTIVATED))
    return web.json_response({"user": {**user.as_dict(), "active": True}})


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
    await db.write(lambda d: users.set_password(d, user.id, new))
    revocation.announce(request.app["services"], revocation.PrincipalChange(user.id, revocation.PASSWORD))
    return web.json_response({"changed": True})


@auth.require("admin")
async def reset_password(request: web.Request) -> web.StreamResponse:
    """Set another user's password (``{"password"}``); their sessions end, their API tokens stay."""
    user_id = _path_id(request)
    body = await json_object(request)
    password = body.get("password")
    if not isinstance(password, str):
        return auth.json_error(400, "bad_request", "need password (a string)")
    services = request.app["services"]
    await services.db.write(lambda d: users.set_password(d, user_id, password))
    revocation.announce(services, revocation.PrincipalChange(user_id, revocation.PASSWORD))
    return web.json_response({"changed": True})


@auth.require("admin")
async def list_tokens(request: web.Request) -> web.StreamResponse:
    """A user's API tokens: id, label, created, revoked (never the token itself)."""
    user_id = _path_id(request)
    rows = await request.app["services"].db.read(lambda db: users.list_tokens(db, user_id))
    return web.json_response({"items": rows})


@auth.require("admin")
async def create_token(request: web.Request) -> web.StreamResponse:
    """A new API token for an active user (``{"label"?}``); the token is in this answer only, never again."""
    user_id = _path_id(request)
    body = await json_object(request)
    label = body.get("label", "api")
    if set(body) - {"label"} or not isinstance(label, str) or len(label) > 100:
        return auth.json_error(400, "bad_request", "only label (a string of at most 100 characters) is accepted")
    services = request.app["services"]
    now = services.clock()

    def txn(db: Any) -> str:
        user = users.get_user(db, user_id)
        if user is None:
            raise NoSuchUser(f"no active user with id {user_id}")
        return users.create_token(db, user, label, now=now)

    token = await services.db.write(txn)
    return web.json_response({"token": token, "label": label}, status=201)


@auth.require("admin")
async def revoke_token(request: web.Request) -> web.StreamResponse:
    """Revoke an API token by id: it stops working at once, and connections opened with it close."""
    token_id = _path_id(request)
    services = request.app["services"]

    user_id, digest = await services.db.write(lambda db: users.revoke_token(db, token_id))
    revocation.announce(services, revocation.PrincipalChange(user_id, revocation.TOKEN_REVOKED, token_id,
                                                             f"token:{digest}"))
    return web.json_response({"revoked": token_id})
