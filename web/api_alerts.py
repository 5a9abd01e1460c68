"""HTTP API of alerting: delivery log, acknowledge links, silences, routing and plans.

``GET /ack/{token}`` is public on purpose: the signed single-use token is the
credential, so a manager can acknowledge from a DingTalk / WeCom / Feishu
message or an e-mail without signing in.
"""

from __future__ import annotations

import html
import json
from typing import Any

from aiohttp import web

from monitor.alerting import outbox, silences
from monitor.alerting.errors import AckLinkError, AlertConfigError, SilenceError
from monitor.alerting.routing import parse_routes
from monitor.incidents.errors import IllegalTransitionError, IncidentError
from monitor.plans import parse_plans

from .api_incidents import json_body, query_int
from .auth import json_error, public, require

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


_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body><main><h1>{title}</h1><p>{message}</p><p><a href="/console">打开走马灯控制台</a></p></main></body></html>"""


def page(title: str, message: str, status: int = 200) -> web.Response:
    body = _PAGE.format(title=html.escape(title), message=html.escape(message))
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


@public
async def ack_link(request: web.Request) -> web.Response:
    services = request.app["services"]
    try:
        row = await services.alerts.redeem_link(request.match_info["token"])
    except AckLinkError as exc:
        titles = {"used": "链接已使用", "expired": "链接已过期"}
        return page(titles.get(exc.reason, "链接无效"), str(exc), 410 if exc.reason != "invalid" else 404)
    incident_id = row["incident_id"]
    try:
        await services.incidents.acknowledge(incident_id, row["recipient"])
    except IllegalTransitionError:
        detail = await services.db.read(lambda db: db.execute(
            "select state, acknowledged_by from incidents where id = ?", [incident_id]).fetchone())
        who = (detail[1] or "") if detail else ""
        return page("事件已处理", f"事件 #{incident_id} 已被确认或处理（{who}），无需重复操作。")
    except IncidentError as exc:
        return page("无法确认", str(exc), 404)
    return page("已确认", f"事件 #{incident_id} 已由 {row['recipient_label'] or row['recipient']} 确认，升级已停止。")


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
    body = await json_body(request)
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
    }


@require("manager", "oncall")
async def get_routing(request: web.Request) -> web.Response:
    return web.json_response(_routing(request.app["services"]))


async def _save(services: Any, name: str, value: list[dict[str, Any]], actor: str) -> None:
    now = services.clock()
    await services.db.write(lambda db: db.table("alert_config").upsert(
        {"name": name, "value": json.dumps(value, ensure_ascii=False), "updated_at": now, "updated_by": actor},
        pk="name"))


@require("admin")
async def put_routing(request: web.Request) -> web.Response:
    services = request.app["services"]
    body = await json_body(request)
    tables = body.get("routes")
    if not isinstance(tables, list):
        return json_error(400, "invalid", "routes 必须是列表 (routes must be a list)")
    try:
        routes = parse_routes(tables, list(services.alerts.channels))
    except AlertConfigError as exc:
        return json_error(400, "invalid", str(exc))
    await _save(services, "routes", tables, f"user:{request['user'].name}")
    services.alerts.routes = routes
    return web.json_response(_routing(services))


@require("manager", "oncall")
async def get_plans(request: web.Request) -> web.Response:
    runner = request.app["services"].extras["plans"]
    return web.json_response({"items": [p.as_dict() for p in runner.plans]})


@require("admin")
async def put_plans(request: web.Request) -> web.Response:
    services = request.app["services"]
    body = await json_body(request)
    tables = body.get("plans")
    if not isinstance(tables, list):
        return json_error(400, "invalid", "plans 必须是列表 (plans must be a list)")
    try:
        plans = parse_plans(tables, list(services.alerts.channels))
    except AlertConfigError as exc:
        return json_error(400, "invalid", str(exc))
    await _save(services, "plans", tables, f"user:{request['user'].name}")
    runner = services.extras["plans"]
    runner.plans = plans
    services.alerts.plan_routes = runner.routes()
    return web.json_response({"items": [p.as_dict() for p in plans]})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/alerts", list_alerts)
    app.router.add_get(r"/ack/{token:[A-Za-z0-9_.\-]{1,200}}", ack_link)
    app.router.add_get("/api/silences", list_silences)
    app.router.add_post("/api/silences", create_silence)
    app.router.add_delete(r"/api/silences/{id:\d{1,12}}", delete_silence)
    app.router.add_get("/api/routing", get_routing)
    app.router.add_put("/api/routing", put_routing)
    app.router.add_get("/api/plans", get_plans)
    app.router.add_put("/api/plans", put_plans)
