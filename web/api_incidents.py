"""HTTP API of incidents: list, detail, lifecycle steps, re-tier, checklist.

Thin wrappers over :mod:`monitor.incidents`; the actor recorded for a step is
``user:<name>`` of the signed-in user.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from monitor.alerting import outbox
from monitor.incidents import queries
from monitor.incidents.errors import IllegalTransitionError, IncidentError, UnknownIncidentError

from .auth import json_error, require
from .bodies import json_object

STEPS = ("ack", "mitigate", "resolve")


def incident_error(exc: IncidentError) -> web.Response:
    if isinstance(exc, UnknownIncidentError):
        return json_error(404, "not_found", str(exc))
    if isinstance(exc, IllegalTransitionError):
        return json_error(409, "illegal_transition", str(exc))
    return json_error(400, "invalid", str(exc))


def bad_request(code: str, message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": code, "message": message}, ensure_ascii=False),
                              content_type="application/json")


def query_int(request: web.Request, name: str, default: int, maximum: int) -> int:
    value = request.query.get(name, "")
    if value == "":
        return default
    if not value.isdigit() or int(value) > maximum:
        raise bad_request("invalid", f"{name} 必须是 0-{maximum} 的整数 ({name} must be an integer 0-{maximum})")
    return int(value)


@require("manager", "oncall")
async def list_incidents(request: web.Request) -> web.Response:
    services = request.app["services"]
    state, tier = request.query.get("state") or None, request.query.get("tier") or None
    limit = query_int(request, "limit", 100, 500)
    offset = query_int(request, "offset", 0, 10**9)
    try:
        items = await services.db.read(lambda db: queries.list_incidents(db, state=state, tier=tier, limit=limit,
                                                                         offset=offset))
    except IncidentError as exc:
        return incident_error(exc)
    except ValueError:
        return json_error(400, "invalid", "state 必须是 open/acknowledged/mitigating/resolved (unknown state)")
    return web.json_response({"items": items})


@require("manager", "oncall")
async def get_incident(request: web.Request) -> web.Response:
    services = request.app["services"]
    incident_id = int(request.match_info["id"])

    def read(db: Any) -> dict[str, Any]:
        detail = queries.detail(db, incident_id)
        detail["deliveries"] = outbox.list_deliveries(db, incident_id=incident_id)
        return detail

    try:
        detail = await services.db.read(read)
    except IncidentError as exc:
        return incident_error(exc)
    detail["scripts"] = [await script_summary(services, s) for s in detail["script_ids"]]
    return web.json_response(detail)


async def script_summary(services: Any, script_id: Any) -> dict[str, Any]:
    """Title and state of a linked script when the broadcast part is wired, else just its id."""
    getter = getattr(services.scripts, "get", None)
    if getter is None:
        return {"id": script_id}
    try:
        view = await getter(int(script_id))
    except Exception:  # a deleted or unreadable script still shows as a link
        return {"id": script_id}
    return {"id": script_id, **{k: view.get(k) for k in ("title", "state", "version", "priority") if k in view}}


@require("manager", "oncall")
async def step(request: web.Request) -> web.Response:
    services = request.app["services"]
    incident_id = int(request.match_info["id"])
    action = request.match_info["action"]
    actor = f"user:{request['user'].name}"
    engine = services.incidents
    try:
        if action == "retier":
            body = await json_object(request)
            reason = str(body.get("reason", ""))[:500]
            change = await engine.retier(incident_id, str(body.get("tier", "")), actor, reason)
        else:
            method = {"ack": engine.acknowledge, "mitigate": engine.mitigate, "resolve": engine.resolve}[action]
            change = await method(incident_id, actor)
    except IncidentError as exc:
        return incident_error(exc)
    incident = await services.db.read(lambda db: queries.detail(db, incident_id))
    return web.json_response({"change": change.__dict__, "incident": incident})


@require("manager", "oncall")
async def check_item(request: web.Request) -> web.Response:
    services = request.app["services"]
    incident_id = int(request.match_info["id"])
    item_id = int(request.match_info["item"])
    body = await json_object(request)
    done = body.get("done", True)
    if not isinstance(done, bool):
        return json_error(400, "invalid", "done 必须是 true/false (done must be a boolean)")
    actor = f"user:{request['user'].name}"
    now = services.clock()
    try:
        item = await services.db.write(lambda db: queries.check_item(db, incident_id, item_id, done, actor, now))
    except IncidentError as exc:
        return incident_error(exc)
    return web.json_response(item)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/incidents", list_incidents)
    app.router.add_get(r"/api/incidents/{id:\d{1,12}}", get_incident)
    app.router.add_post(r"/api/incidents/{id:\d{1,12}}/{action:ack|mitigate|resolve|retier}", step)
    app.router.add_post(r"/api/incidents/{id:\d{1,12}}/checklist/{item:\d{1,12}}", check_item)
