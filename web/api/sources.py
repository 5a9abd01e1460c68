"""HTTP API of sources: list with health, add, change, pause/resume/poll, remove, rotate a push token.

Routes (mounted by :mod:`web.api.routes` when the monitor part is built)::

    GET    /api/sources                     sources with health        manager, oncall (admin)
    POST   /api/sources                     add a source               manager (admin)
    PATCH  /api/sources/{name}              change a source            manager (admin)
    POST   /api/sources/{name}/pause|resume|poll                       manager (admin)
    DELETE /api/sources/{name}              remove a source            manager (admin)
    POST   /api/sources/{name}/token        new push token (shown once; the old one stops at once)   admin

Source secrets (headers, cookies, push tokens) are shown as ``***``.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from aiohttp import web

from monitor.errors import UnknownSourceError
from monitor.service import MonitorService
from monitor.sources_table import source_origin
from web.api.bodies import json_object
from web.auth.middleware import json_error, require

log = logging.getLogger("lantern.monitor")


def monitor_of(request: web.Request) -> MonitorService:
    monitor: MonitorService = request.app["services"].monitor
    return monitor


def _refused_url(request: web.Request, body: dict[str, Any]) -> web.Response | None:
    """422 at once when the source URL is an IP literal the outbound address policy refuses."""
    url = body.get("url")
    if not isinstance(url, str):
        return None
    reason = monitor_of(request).fetcher.policy.url_refusal(url)
    return None if reason is None else json_error(422, "blocked_address", reason)


@require("manager", "oncall")
async def list_sources(request: web.Request) -> web.Response:
    return web.json_response({"items": await monitor_of(request).list_sources()})


@require("manager")
async def add_source(request: web.Request) -> web.Response:
    body = await json_object(request)
    if (refused := _refused_url(request, body)) is not None:
        return refused
    source = await monitor_of(request).add_source(body)
    return web.json_response({"source": source}, status=201)


@require("manager")
async def change_source(request: web.Request) -> web.Response:
    body = await json_object(request)
    if (refused := _refused_url(request, body)) is not None:
        return refused
    source = await monitor_of(request).update_source(request.match_info["name"], body)
    return web.json_response({"source": source})


@require("manager")
async def source_action(request: web.Request) -> web.Response:
    monitor, name, action = monitor_of(request), request.match_info["name"], request.match_info["action"]
    if action == "pause":
        await monitor.pause_source(name)
    elif action == "resume":
        await monitor.resume_source(name)
    else:
        results = await monitor.poll_once(name)
        return web.json_response({"result": results[0].as_dict(), "summary": str(results[0])})
    return web.json_response({"ok": True, "name": name, "paused": action == "pause"})


@require("manager")
async def delete_source(request: web.Request) -> web.Response:
    await monitor_of(request).remove_source(request.match_info["name"])
    return web.Response(status=204)


@require("admin")
async def rotate_token(request: web.Request) -> web.Response:
    """A new token for a push source: it is in this answer only, and the old token stops working at once."""
    monitor, name = monitor_of(request), request.match_info["name"]
    source = next((s for s in await monitor.list_sources() if s["name"] == name), None)
    if source is None:
        raise UnknownSourceError(message_zh=f"没有名为 {name!r} 的来源", message_en=f"no such source: {name!r}")
    if source.get("kind") != "push":
        return json_error(400, "not_push", f"来源 {name} 不是推送来源，没有令牌 (not a push source: it has no token)")
    origin = await request.app["services"].db.read(lambda db: source_origin(db, name))
    if origin == "config":
        return json_error(409, "from_config", f"来源 {name} 的令牌写在配置文件 lantern.toml 中，请在那里更换 "
                          "(this source's token comes from lantern.toml; change it there)")
    token = secrets.token_urlsafe(24)
    await monitor.update_source(name, {"token": token})
    log.info("push token of source %s rotated by %s", name, request["user"].name)
    return web.json_response({"name": name, "token": token}, headers={"Cache-Control": "no-store"})
