"""HTTP API of alerting: delivery log, acknowledge links, silences, routing, plans and people's contacts.

``/ack/{token}`` is public on purpose: the signed single-use token is the
credential, so a manager can acknowledge from a DingTalk / WeCom / Feishu
message or an e-mail without signing in.  ``GET`` only shows a confirm page
(mail scanners and IM link previews fetch links); its button ``POST``s to the
same URL, which acknowledges once.  :class:`MaskedAccessLogger` keeps the
tokens out of the access log.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

import sqlite_utils
from aiohttp import web
from aiohttp.web_log import AccessLogger

from monitor.alerting import contacts, outbox, silences
from monitor.alerting.acklinks import mask_path
from monitor.alerting.errors import AckLinkError, AlertConfigError, ContactError, SilenceError
from monitor.alerting.routing import parse_routes
from monitor.incidents.errors import IllegalTransitionError, IncidentError
from monitor.plans import parse_plans

from . import users
from .api_incidents import query_int
from .auth import csrf_token, json_error, public, require
from .bodies import json_object

STATUSES = ("queued", "sending", "sent", "failed", "acknowledged", "digest", "digested", "cancelled")


@require("manager", "oncall", "agent")
async def list_alerts(request: web.Request) -> web.Response:
    services = request.app["services"]
    user = request["user"]
    status = request.query.get("status") or None
    if status is not None and status not in STATUSES:
        return json_error(400, "invalid", f"status 必须是 {', '.join(STATUSES)} 之一 (unknown status)")
    incident_id = query_int(request, "incident_id", 0, 10**12) or None
    mine = request.query.get("mine") in ("1", "true") or not user.has_role("manager", "oncall")
    recipient = f"user:{user.name}" if mine else None
    limit = query_int(request, "limit", 200, 1000)
    items = await services.db.read(lambda db: outbox.list_deliveries(
        db, incident_id=incident_id, status=status, recipient=recipient, limit=limit))
    return web.json_response({"items": items})


_HEAD = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex"><title>{title}</title></head><body><main><h1>{title}</h1>"""
_PAGE = _HEAD + """<p>{message}</p><p><a href="/console">打开走马灯控制台 (open the Lantern console)</a></p>
</main></body></html>"""
_CONFIRM = _HEAD + """<p>{message}</p><form method="post" action="{action}">{csrf}
<button type="submit">确认处理 (Acknowledge)</button></form>
<p><small>打开链接不会确认事件，请点击按钮。(Opening this link does not acknowledge; press the button.)</small></p>
</main></body></html>"""
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


def page(title: str, message: str, status: int = 200) -> web.Response:
    body = _PAGE.format(title=html.escape(title), message=html.escape(message))
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8", headers=_NO_STORE)


def link_error(exc: AckLinkError) -> web.Response:
    titles = {"used": "链接已使用 (link already used)", "expired": "链接已过期 (link expired)"}
    return page(titles.get(exc.reason, "链接无效 (invalid link)"), str(exc), 410 if exc.reason != "invalid" else 404)


@public
async def ack_confirm(request: web.Request) -> web.Response:
    """GET: check the link and show a confirm button; never acknowledges (link previews and scanners GET)."""
    services = request.app["services"]
    token = request.match_info["token"]
    try:
        row = await services.alerts.check_link(token)
    except AckLinkError as exc:
        return link_error(exc)
    incident = await services.db.read(lambda db: db.execute(
        "select title, tier from incidents where id = ?", [row["incident_id"]]).fetchone())
    title, tier = (incident[0] or "", incident[1] or "") if incident else ("", "")
    session = request.get("session")
    csrf = (f'<input type="hidden" name="_csrf" value="{html.escape(csrf_token(services.secret, session))}">'
            if session else "")  # a signed-in browser must pass the console's CSRF check too
    who = row["recipient_label"] or row["recipient"]
    message = (f"确认处理事件 #{row['incident_id']}（{tier}）：{title}。确认人：{who}"
               f" (acknowledge incident #{row['incident_id']} as this recipient)")
    body = _CONFIRM.format(title=html.escape("确认处理事件 (acknowledge incident)"), message=html.escape(message),
                           action=html.escape(f"/ack/{token}"), csrf=csrf)
    return web.Response(text=body, content_type="text/html", charset="utf-8", headers=_NO_STORE)


@public
async def ack_link(request: web.Request) -> web.Response:
    """POST: redeem the single-use link and acknowledge the incident as its recipient."""
    services = request.app["services"]
    try:
        row = await services.alerts.redeem_link(request.match_info["token"])
    except AckLinkError as exc:
        return link_error(exc)
    incident_id = row["incident_id"]
    try:
        await services.incidents.acknowledge(incident_id, row["recipient"])
    except IllegalTransitionError:
        detail = await services.db.read(lambda db: db.execute(
            "select state, acknowledged_by from incidents where id = ?", [incident_id]).fetchone())
        who = (detail[1] or "") if detail else ""
        return page("事件已处理 (already handled)",
                    f"事件 #{incident_id} 已被确认或处理（{who}），无需重复操作。(already acknowledged or handled)")
    except IncidentError as exc:
        return page("无法确认 (cannot acknowledge)", str(exc), 404)
    return page("已确认 (acknowledged)", f"事件 #{incident_id} 已由 {row['recipient_label'] or row['recipient']} "
                f"确认，升级已停止。(acknowledged; escalation stopped)")


class MaskedAccessLogger(AccessLogger):
    """aiohttp's access logger with ``/ack/<token>`` masked (``web.AppRunner(app, access_log_class=...)``)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        masked = mask_path(request.rel_url.raw_path_qs)
        if masked != request.rel_url.raw_path_qs:
            request = request.clone(rel_url=masked)
        super().log(request, response, time)


@require("manager", "oncall")
async def list_silences(request: web.Request) -> web.Response:
    services = request.app["services"]
    now = services.clock()
    expired = request.query.get("expired") in ("1", "true")
    items = await services.db.read(lambda db: silences.list_active(db, now, include_expired=expired))
    return web.json_response({"items": items})


@require("manager", "oncall")
async def create_silence(request: web.Request) -> web.Response:
    services = request.app["services"]
    body = await json_object(request)
    now = services.clock()
    actor = f"user:{request['user'].name}"
    try:
        item = await services.db.write(lambda db: silences.create(db, body, actor, now))
    except SilenceError as exc:
        return json_error(400, "invalid", str(exc))
    return web.json_response(item, status=201)


@require("manager", "oncall")
async def delete_silence(request: web.Request) -> web.Response:
    services = request.app["services"]
    silence_id = int(request.match_info["id"])
    try:
        await services.db.write(lambda db: silences.delete(db, silence_id))
    except SilenceError as exc:
        return json_error(404, "not_found", str(exc))
    return web.json_response({"deleted": silence_id})


def _routing(services: Any) -> dict[str, Any]:
    engine = services.alerts
    config = engine.config
    return {
        "channels": [c.describe() for c in engine.channels.values()],
        "routes": [r.as_dict() for r in engine.routes],
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
    row = {"name": name, "value": json.dumps(value, ensure_ascii=False), "updated_at": now, "updated_by": actor}

    def save(db: sqlite_utils.Database) -> None:
        db.table("alert_config").upsert(row, pk="name")

    await services.db.write(save)


async def _replace(request: web.Request, name: str, parse: Callable[[list[Any], list[str]], Any]) -> Any:
    """Validate the ``name`` list of the body against the channels and save it; returns the parsed value.

    Raises a JSON 400 (nothing saved) when the list is missing or invalid.
    """
    services = request.app["services"]
    tables = (await json_object(request)).get(name)
    if not isinstance(tables, list):
        raise _invalid(f"{name} 必须是列表 ({name} must be a list)")
    try:
        parsed = parse(tables, list(services.alerts.channels))
    except AlertConfigError as exc:
        raise _invalid(str(exc)) from None
    await _save(services, name, tables, f"user:{request['user'].name}")
    return parsed


def _invalid(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": "invalid", "message": message}, ensure_ascii=False),
                              content_type="application/json")


@require("admin")
async def put_routing(request: web.Request) -> web.Response:
    services = request.app["services"]
    services.alerts.routes = await _replace(request, "routes", parse_routes)
    return web.json_response(_routing(services))


@require("manager", "oncall")
async def get_plans(request: web.Request) -> web.Response:
    runner = request.app["services"].extras["plans"]
    return web.json_response({"items": [p.as_dict() for p in runner.plans]})


@require("admin")
async def put_plans(request: web.Request) -> web.Response:
    services = request.app["services"]
    plans = await _replace(request, "plans", parse_plans)
    runner = services.extras["plans"]
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
    try:
        contact = contacts.parse(name, body)
    except ContactError as exc:
        return json_error(400, "invalid", str(exc), field=exc.field, message_zh=exc.message_zh,
                          message_en=exc.message_en)
    services = request.app["services"]
    now, actor = services.clock(), f"user:{request['user'].name}"
    await services.db.write(lambda db: contacts.save(db, contact, actor=actor, now=now))
    return web.json_response({"contact": contact.as_dict(), "kinds": list(contacts.KINDS)},
                             headers={"Cache-Control": "no-store"})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/alerts", list_alerts)
    app.router.add_get(r"/ack/{token:[A-Za-z0-9_.\-]{1,200}}", ack_confirm)
    app.router.add_post(r"/ack/{token:[A-Za-z0-9_.\-]{1,200}}", ack_link)
    app.router.add_get("/api/silences", list_silences)
    app.router.add_post("/api/silences", create_silence)
    app.router.add_delete(r"/api/silences/{id:\d{1,12}}", delete_silence)
    app.router.add_get("/api/routing", get_routing)
    app.router.add_put("/api/routing", put_routing)
    app.router.add_get("/api/plans", get_plans)
    app.router.add_put("/api/plans", put_plans)
    app.router.add_get(r"/api/users/{name:[^/]{1,64}}/contacts", get_contacts)
    app.router.add_put(r"/api/users/{name:[^/]{1,64}}/contacts", put_contacts)
