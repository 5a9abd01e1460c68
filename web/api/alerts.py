"""HTTP API of alerting: delivery log, silences, routing, plans and people's contacts.

The acknowledge-link pages are in :mod:`web.api.ack`;
:class:`web.platform.logging_setup.MaskedAccessLogger` keeps their tokens out of the access log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlite_utils
from aiohttp import web

from monitor.alerting import contacts, outbox, saved_config, silences
from monitor.alerting.errors import AlertConfigError
from monitor.alerting.routing import describe_gaps, parse_routes
from monitor.plans import parse_plans
from web.api.bodies import json_object
from web.api.incidents import query_int, with_labels
from web.auth import users
from web.auth.middleware import json_error, require
from web.errors import BadRequest

STATUSES = ("queued", "sending", "sent", "failed", "acknowledged", "digest", "digested", "cancelled")


@require("manager", "oncall", "agent")
async def list_alerts(request: web.Request) -> web.Response:
    services = request.app["services"]
    user = request["user"]
    status = request.query.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequest("invalid", f"status 必须是 {', '.join(STATUSES)} 之一 (unknown status)")
    incident_id = query_int(request, "incident_id", 0, 10**12) or None
    mine = request.query.get("mine") in ("1", "true") or not user.has_role("manager", "oncall")
    recipient = f"user:{user.name}" if mine else None
    limit = query_int(request, "limit", 200, 1000)
    items = await services.db.read(lambda db: outbox.list_deliveries(
        db, incident_id=incident_id, status=status, recipient=recipient, limit=limit))
    return web.json_response({"items": items})


@require("manager", "oncall")
async def my_alerts(request: web.Request) -> web.Response:
    """我的告警: the alerts that reached me (in person or named on a channel), one per incident, newest first."""
    services = request.app["services"]
    me = request["user"]
    limit = query_int(request, "limit", 100, 500)
    items = await services.db.read(lambda db: outbox.inbox(db, me.name, limit=limit))
    await with_labels(services, items)
    return web.json_response({"items": items})


@require("manager", "oncall")
async def list_silences(request: web.Request) -> web.Response:
    services = request.app["services"]
    now = services.clock()
    expired = request.query.get("expired") in ("1", "true")
    def read(db: sqlite_utils.Database) -> list[dict[str, Any]]:
        found = silences.list_active(db, now, include_expired=expired)
        people = {str(u["name"]): str(u.get("display_name") or u["name"])
                  for u in users.list_users(db, include_inactive=True)}
        for item in found:  # "user:wang" -> the name people see
            creator = str(item.get("created_by") or "")
            item["created_by_name"] = people.get(creator.removeprefix("user:"), creator.removeprefix("user:"))
        return found

    items = await services.db.read(read)
    return web.json_response({"items": items})


@require("manager", "oncall")
async def create_silence(request: web.Request) -> web.Response:
    services = request.app["services"]
    body = await json_object(request)
    now = services.clock()
    actor = f"user:{request['user'].name}"
    item = await services.db.write(lambda db: silences.create(db, body, actor, now))
    return web.json_response(item, status=201)


@require("manager", "oncall")
async def delete_silence(request: web.Request) -> web.Response:
    services = request.app["services"]
    silence_id = int(request.match_info["id"])
    await services.db.write(lambda db: silences.delete(db, silence_id))
    return web.json_response({"deleted": silence_id})


def _routing(services: Any) -> dict[str, Any]:
    engine = services.alerts
    config = engine.config
    return {
        "channels": [c.describe() for c in engine.channels.values()],
        "routes": [r.as_dict() for r in engine.routes],
        "coverage": [{"level": level, "text": text} for level, text in
                     describe_gaps(engine.routes, config.escalate_minutes)],
        "plan_routes": [r.as_dict() for r in engine.plan_routes],
        "timing": config.timing.__dict__, "escalate_minutes": config.escalate_minutes,
        "remind_minutes": config.remind_minutes,
        "quiet_hours": "-".join(t.strftime("%H:%M") for t in config.quiet_hours) if config.quiet_hours else "",
        "digest_at": config.digest_at.strftime("%H:%M"),
        "quiet_on_holidays": config.quiet_on_holidays,
        "holiday_calendar": {**engine.rest_days.describe(), "error": engine.calendar_error,
                             "warning": engine.calendar_warning}
        if engine.rest_days is not None else None,
    }


@require("manager", "oncall")
async def get_routing(request: web.Request) -> web.Response:
    return web.json_response(_routing(request.app["services"]))


async def _save(services: Any, name: str, value: list[dict[str, Any]], actor: str) -> None:
    now = services.clock()
    await services.db.write(lambda db: saved_config.save(db, name, value, actor, now))


async def _replace(request: web.Request, name: str, parse: Callable[[list[Any], list[str]], Any]) -> Any:
    """Validate the ``name`` list of the body against the channels and save it; returns the parsed value.

    Raises :class:`AlertConfigError` (a 400, nothing saved) when the list is missing or invalid.
    """
    services = request.app["services"]
    tables = (await json_object(request)).get(name)
    if not isinstance(tables, list):
        raise AlertConfigError(message_zh=f"{name} 必须是列表", message_en=f"{name} must be a list")
    parsed = parse(tables, list(services.alerts.channels))
    await _save(services, name, tables, f"user:{request['user'].name}")
    return parsed


@require("admin")
async def put_routing(request: web.Request) -> web.Response:
    services = request.app["services"]
    fill = services.settings["incidents.default_routes"]
    services.alerts.routes = await _replace(
        request, "routes", lambda tables, channels: parse_routes(tables, channels, fill_defaults=fill))
    return web.json_response(_routing(services))


@require("manager", "oncall")
async def get_plans(request: web.Request) -> web.Response:
    runner = request.app["services"].plans
    return web.json_response({"items": [p.as_dict() for p in runner.plans]})


@require("admin")
async def put_plans(request: web.Request) -> web.Response:
    services = request.app["services"]
    plans = await _replace(request, "plans", parse_plans)
    runner = services.plans
    runner.plans = plans
    services.alerts.plan_routes = runner.routes()
    return web.json_response({"items": [p.as_dict() for p in plans]})


async def _contact_target(request: web.Request) -> tuple[str, web.Response | None]:
    """The user name in the path, or an error: admins reach anyone's contacts, others only their own."""
    name = request.match_info["name"]
    me = request["user"]
    if me.role != "admin" and me.name != name:
        return name, json_error(403, "forbidden", "只能查看和修改自己的联系方式 (only admins may see or change "
                                "another user's contacts)")
    if await request.app["services"].db.read(lambda db: users.find_user(db, name)) is None:
        return name, json_error(404, "not_found", f"没有用户 {name} (no such user)")
    return name, None


@require()
async def get_contacts(request: web.Request) -> web.Response:
    """A user's contacts for alerts: e-mail, mobile, IM ids, preferred channel kinds (admins, or the user)."""
    name, refused = await _contact_target(request)
    if refused is not None:
        return refused
    contact = await request.app["services"].db.read(lambda db: contacts.get(db, name))
    return web.json_response({"contact": contact.as_dict(), "kinds": list(contacts.KINDS)},
                             headers={"Cache-Control": "no-store"})


@require()
async def put_contacts(request: web.Request) -> web.Response:
    """Replace a user's contacts (omitted or empty fields are cleared); invalid input saves nothing."""
    name, refused = await _contact_target(request)
    if refused is not None:
        return refused
    body = await json_object(request)
    contact = contacts.parse(name, body)
    services = request.app["services"]
    now, actor = services.clock(), f"user:{request['user'].name}"
    await services.db.write(lambda db: contacts.save(db, contact, actor=actor, now=now))
    return web.json_response({"contact": contact.as_dict(), "kinds": list(contacts.KINDS)},
                             headers={"Cache-Control": "no-store"})
