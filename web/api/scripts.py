"""HTTP and websocket endpoints of the broadcast part: thin wrappers over ScriptService and the hub."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from broadcast.errors import BroadcastError, ScriptNotFound
from broadcast.model import Viewer
from broadcast.ws import serve_ticker
from web.api.bodies import json_object
from web.auth import revocation, users
from web.auth.middleware import require
from web.auth.users import User

MANAGERS = ("manager",)  # admin always passes
WATCHERS = ("agent", "manager", "oncall")


def viewer_for(user: User) -> Viewer:
    """An account as a ticker viewer.

    Team, skill groups, site and shift come from the account (``lantern user add
    --skills --site --shift``), never from the client: a desktop cannot widen what it sees.
    """
    return Viewer(user_id=user.id, role=user.role, team=user.team, skills=frozenset(user.skills),
                  sites=frozenset([user.site]) if user.site else frozenset(), shift=user.shift)


def viewer_of(request: web.Request) -> Viewer:
    """The signed-in user as a ticker viewer."""
    return viewer_for(request["user"])


def _id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise ScriptNotFound("no such script", "话术不存在") from None


def _version(body: dict[str, Any]) -> int | None:
    version = body.get("version")
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, int):
        raise BroadcastError("version must be an integer", "版本号必须是整数")
    return version


@require(*MANAGERS)
async def list_scripts(request: web.Request) -> web.Response:
    items = await request.app["services"].scripts.list(state=request.query.get("state") or None)
    return web.json_response({"items": items})


@require(*MANAGERS)
async def create_script(request: web.Request) -> web.Response:
    body = await json_object(request)
    view = await request.app["services"].scripts.create_draft(
        request["user"], body.get("title"), body.get("body"), body.get("priority", "normal"), body.get("audience"),
        body.get("incident_id"), body.get("expires_at"), body.get("review_by"))
    return web.json_response(view, status=201)


async def _names(request: web.Request, ids: list[int | None]) -> dict[int, str]:
    return await request.app["services"].db.read(lambda db: users.display_names(db, [i for i in ids if i]))


async def with_display_names(request: web.Request, view: dict[str, Any]) -> dict[str, Any]:
    """A script view whose authors and approvers carry the names people see (``display_name``)."""
    approvals = [a for v in view.get("versions") or [view] for a in v.get("approvals") or []]
    names = await _names(request, [a["id"] for a in view.get("authors") or []] +
                         [a.get("approver_id") for a in approvals])
    for author in view.get("authors") or []:
        author["display_name"] = names.get(author["id"], author["name"])
    for approval in approvals:
        approval["approver_display_name"] = names.get(approval.get("approver_id") or 0, approval["approver_name"])
    return view


@require(*MANAGERS)
async def get_script(request: web.Request) -> web.Response:
    view = await request.app["services"].scripts.get(_id(request), request["user"])
    return web.json_response(await with_display_names(request, view))


@require(*MANAGERS)
async def edit_script(request: web.Request) -> web.Response:
    body = await json_object(request)
    fields = {k: body[k] for k in ("title", "body", "priority", "audience", "incident_id", "expires_at", "review_by")
              if k in body}
    return web.json_response(await request.app["services"].scripts.edit(_id(request), request["user"], **fields))


@require(*MANAGERS)
async def act(request: web.Request) -> web.Response:
    scripts, script_id, user = request.app["services"].scripts, _id(request), request["user"]
    action = request.match_info["action"]
    body = await json_object(request)
    comment = str(body.get("comment") or "")[:1000]
    if action == "submit":
        content_hash = body.get("content_hash")
        if content_hash is not None and not isinstance(content_hash, str):
            raise BroadcastError("content_hash must be a string", "content_hash 必须是字符串")
        view = await scripts.submit(script_id, user, _version(body), content_hash)
    elif action == "approve":
        view = await scripts.approve(script_id, _version(body), user, comment)
    elif action == "reject":
        view = await scripts.reject(script_id, _version(body), user, comment)
    elif action == "publish":
        view = await scripts.publish(script_id, user, _version(body))
    else:
        view = await scripts.retract(script_id, user, str(body.get("reason") or comment)[:1000])
    return web.json_response(view)


@require(*MANAGERS)
async def script_audit(request: web.Request) -> web.Response:
    """The audit trail; each entry's actor also by the name people see (``actor_display_name``)."""
    audit = await request.app["services"].scripts.audit(_id(request))
    names = await _names(request, [e.get("actor_id") for e in audit["entries"]])
    for entry in audit["entries"]:
        entry["actor_display_name"] = names.get(entry.get("actor_id") or 0, entry["actor"])
    return web.json_response(audit)


@require(*MANAGERS)
async def script_coverage(request: web.Request) -> web.Response:
    raw = request.query.get("version")
    version = int(raw) if raw and raw.isdigit() else None
    result = await request.app["services"].scripts.coverage(_id(request), version)
    names = await _names(request, [p["user_id"] for p in result["people"]])
    for person in result["people"]:
        person["display_name"] = names.get(person["user_id"], f"#{person['user_id']}")
    return web.json_response(result)


@require(*MANAGERS)
async def list_shifts(request: web.Request) -> web.Response:
    """The configured shifts (``[[shifts]]``) and whether each is on now: for targeting and user editing."""
    services = request.app["services"]
    return web.json_response({"items": services.shifts.as_dicts(services.clock())})


@require()
async def ticker_active(request: web.Request) -> web.Response:
    """The items a signed-in user's ticker shows now (including recently withdrawn ones)."""
    hub, clock = request.app["services"].hub, request.app["services"].clock
    core = hub.core
    return web.json_response({"epoch": core.epoch, "rev": core.rev,
                              "items": core.items_for(viewer_of(request), clock())})


@require(*WATCHERS)
async def ticker_socket(request: web.Request) -> web.StreamResponse:
    return await serve_ticker(request, request.app["services"].hub, viewer_of(request),
                              on_open=revocation.ticker_watch(request))
