"""Wiring of the monitor part: ``MonitorService`` from settings, and its HTTP API.

Routes::

    GET    /api/sources                     sources with health        manager, oncall (admin)
    POST   /api/sources                     add a source               manager (admin)
    PATCH  /api/sources/{name}              change a source            manager (admin)
    POST   /api/sources/{name}/pause|resume|poll                       manager (admin)
    DELETE /api/sources/{name}              remove a source            manager (admin)
    POST   /api/sources/{name}/token        new push token (shown once; the old one stops at once)   admin
    GET    /api/mentions                    ?source=&incident=&tier=&before=&limit=   manager, oncall
    POST   /api/ingest                      push a batch: {"items": [...]}, per-source token in
                                            ``Authorization: Bearer`` or ``X-Lantern-Source-Token``;
                                            at most monitor.ingest_per_minute per source (429 beyond);
                                            200 {accepted, duplicates, filtered, rejected: [{index, reason}]},
                                            422 (same body) when every item was refused

Source secrets (headers, cookies, push tokens) are shown as ``***``.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from aiohttp import web

from monitor.config import Defaults
from monitor.errors import SourceConfigError, SourceExistsError, UnknownSourceError
from monitor.http import HttpFetcher
from monitor.items import json_int
from monitor.mentions import StoredMention
from monitor.netguard import NetPolicy
from monitor.service import MAX_INGEST_ITEMS, MonitorService
from monitor.sources_table import list_mentions, source_origin
from web.api.bodies import json_object
from web.auth.middleware import json_error, public, require
from web.errors import ConfigError
from web.platform import shared_limits
from web.platform.ratelimit import SharedTokenBuckets, TokenBuckets, retry_after_header

log = logging.getLogger("lantern.monitor")
MAX_INGEST_BYTES = 2 * 1024 * 1024
INGEST_BUCKETS = web.AppKey("ingest_buckets", TokenBuckets)


def defaults_from(settings: Any) -> Defaults:
    return Defaults(
        interval_s=float(settings["monitor.default_interval_s"]),
        timeout_s=float(settings["monitor.default_timeout_s"]),
        max_bytes=int(settings["monitor.max_response_bytes"]),
        per_host_concurrency=int(settings["monitor.per_host_concurrency"]), timezone=settings["monitor.timezone"],
        failure_alert_after=int(settings["monitor.failure_alert_after"]),
        silence_factor=float(settings["monitor.silence_factor"]),
        near_duplicate_bits=int(settings["monitor.near_duplicate_bits"]),
        parse_workers=int(settings["monitor.parse_workers"]),
        parse_time_limit_s=float(settings["monitor.parse_time_limit_s"]),
    )


def network_policy(settings: Any) -> NetPolicy:
    """The outbound address policy (network.* settings) for source fetches and channel posts."""
    try:
        return NetPolicy.parse(block_private=settings["network.block_private"], deny=settings["network.deny"],
                               allow=settings["network.allow"])
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _classifier(services: Any) -> Any:
    if services.classifier is not None:
        return services.classifier
    from classifiers import load_adapted

    services.classifier = load_adapted(services.settings["classifier.model_path"] or None,
                                       brands=services.settings["monitor.brands"])
    return services.classifier


async def wire(services: Any) -> None:
    settings = services.settings
    listeners: list[Any] = services.extras.setdefault("mention_listeners", [])

    async def on_new_mentions(batch: list[StoredMention]) -> None:
        failed: Exception | None = None
        for listener in list(listeners):
            try:
                await listener(batch)
            except Exception as exc:
                log.exception("a mention listener failed on a batch of %d mentions", len(batch))
                failed = failed or exc
        if failed is not None:  # the batch stays unannounced (notified_at NULL) and is resumed; attaching is idempotent
            raise failed

    async def on_health_alert(source_name: str, kind: str, message: str) -> None:
        handler = services.extras.get("health_alert")
        if handler is not None:
            await handler(source_name, kind, message)

    sources = []
    for table in settings.sources:
        if table.get("kind") == "demo" and "speed" not in table:
            table = {**table, "speed": float(settings["demo.speed"])}
        sources.append(table)
    defaults = defaults_from(settings)
    fetcher = HttpFetcher(per_host=defaults.per_host_concurrency, clock=services.clock,
                          policy=network_policy(settings))
    try:
        monitor = MonitorService(services.db, _classifier(services), services.clock, sources=sources,
                                 defaults=defaults, on_new_mentions=on_new_mentions,
                                 on_health_alert=on_health_alert, fetcher=fetcher)
    except SourceConfigError as exc:  # shown by the CLI as a clean configuration error
        raise ConfigError(f"[[sources]]: {exc}") from exc
    services.monitor = monitor

    async def start() -> None:
        await monitor.start(schedule=bool(settings["monitor.enabled"]))

    services.on_start.append(start)
    services.on_stop.append(monitor.stop)


def _monitor(request: web.Request) -> MonitorService:
    monitor: MonitorService = request.app["services"].monitor
    return monitor



def _refused_url(request: web.Request, body: dict[str, Any]) -> web.Response | None:
    """422 at once when the source URL is an IP literal the outbound address policy refuses."""
    url = body.get("url")
    if not isinstance(url, str):
        return None
    reason = _monitor(request).fetcher.policy.url_refusal(url)
    return None if reason is None else json_error(422, "blocked_address", reason)


def _errors(exc: Exception) -> web.Response:
    if isinstance(exc, UnknownSourceError):
        return json_error(404, "not_found", str(exc))
    if isinstance(exc, SourceExistsError):
        return json_error(409, "exists", str(exc))
    return json_error(400, "invalid_source", str(exc))


@require("manager", "oncall")
async def list_sources(request: web.Request) -> web.Response:
    return web.json_response({"items": await _monitor(request).list_sources()})


@require("manager")
async def add_source(request: web.Request) -> web.Response:
    body = await json_object(request)
    if (refused := _refused_url(request, body)) is not None:
        return refused
    try:
        source = await _monitor(request).add_source(body)
    except (SourceConfigError, UnknownSourceError) as exc:
        return _errors(exc)
    return web.json_response({"source": source}, status=201)


@require("manager")
async def change_source(request: web.Request) -> web.Response:
    body = await json_object(request)
    if (refused := _refused_url(request, body)) is not None:
        return refused
    try:
        source = await _monitor(request).update_source(request.match_info["name"], body)
    except (SourceConfigError, UnknownSourceError) as exc:
        return _errors(exc)
    return web.json_response({"source": source})


@require("manager")
async def source_action(request: web.Request) -> web.Response:
    monitor, name, action = _monitor(request), request.match_info["name"], request.match_info["action"]
    try:
        if action == "pause":
            await monitor.pause_source(name)
        elif action == "resume":
            await monitor.resume_source(name)
        else:
            results = await monitor.poll_once(name)
            return web.json_response({"result": results[0].as_dict(), "summary": str(results[0])})
    except (SourceConfigError, UnknownSourceError) as exc:
        return _errors(exc)
    return web.json_response({"ok": True, "name": name, "paused": action == "pause"})


@require("manager")
async def delete_source(request: web.Request) -> web.Response:
    try:
        await _monitor(request).remove_source(request.match_info["name"])
    except UnknownSourceError as exc:
        return _errors(exc)
    return web.Response(status=204)


@require("admin")
async def rotate_token(request: web.Request) -> web.Response:
    """A new token for a push source: it is in this answer only, and the old token stops working at once."""
    monitor, name = _monitor(request), request.match_info["name"]
    source = next((s for s in await monitor.list_sources() if s["name"] == name), None)
    if source is None:
        return json_error(404, "not_found", f"没有名为 {name!r} 的来源 (no such source)")
    if source.get("kind") != "push":
        return json_error(400, "not_push", f"来源 {name} 不是推送来源，没有令牌 (not a push source: it has no token)")
    origin = await request.app["services"].db.read(lambda db: source_origin(db, name))
    if origin == "config":
        return json_error(409, "from_config", f"来源 {name} 的令牌写在配置文件 lantern.toml 中，请在那里更换 "
                          "(this source's token comes from lantern.toml; change it there)")
    token = secrets.token_urlsafe(24)
    try:
        await monitor.update_source(name, {"token": token})
    except (SourceConfigError, UnknownSourceError) as exc:
        return _errors(exc)
    log.info("push token of source %s rotated by %s", name, request["user"].name)
    return web.json_response({"name": name, "token": token}, headers={"Cache-Control": "no-store"})


def _int_param(request: web.Request, key: str) -> int | None:
    value = request.query.get(key)
    if value in (None, ""):
        return None
    if not value.isdigit():
        raise web.HTTPBadRequest(text=json.dumps({"error": "bad_param", "message": f"{key} 必须是整数"}),
                                 content_type="application/json")
    return int(value)


@require("manager", "oncall")
async def mentions(request: web.Request) -> web.Response:
    limit = min(_int_param(request, "limit") or 50, 500)
    source, tier = request.query.get("source") or None, request.query.get("tier") or None
    incident, before = _int_param(request, "incident"), _int_param(request, "before")
    rows = await request.app["services"].db.read(lambda db: list_mentions(
        db, source=source, incident_id=incident, tier=tier, before_id=before, limit=limit))
    next_before = rows[-1]["id"] if len(rows) == limit else None
    return web.json_response({"items": rows, "next_before": next_before})


@public
async def ingest(request: web.Request) -> web.Response:
    """Push endpoint; authenticated by the source's own token, not by a user."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.startswith("Bearer ") else request.headers.get("X-Lantern-Source-Token", "")
    monitor = _monitor(request)
    name = monitor.push_source_for(token) if token else None
    if name is None:
        return json_error(401, "bad_source_token", "推送令牌缺失或无效 (missing or unknown source token)")
    buckets = request.app[INGEST_BUCKETS]
    wait = await buckets.acquire(name)  # after authentication: unknown tokens cannot drain a real source's bucket
    if wait > 0:
        seconds = retry_after_header(wait)
        response = json_error(429, "rate_limited", f"来源 {name} 推送过于频繁：每分钟最多 {buckets.per_minute} 次，"
                              f"请 {seconds} 秒后重试 (too many pushes for this source: at most "
                              f"{buckets.per_minute} per minute; retry in {seconds} s)", retry_after=int(seconds))
        response.headers["Retry-After"] = seconds
        return response
    if (request.content_length or 0) > MAX_INGEST_BYTES:
        return json_error(413, "too_large", f"请求体超过 {MAX_INGEST_BYTES} 字节 (body too large)")
    try:
        body = await request.json(loads=_loads)
    except RecursionError:
        return json_error(400, "too_deep", "请求体 JSON 嵌套过深 (JSON nested too deeply)")
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, or an integer of more than 4,300 digits
        return json_error(400, "bad_json", f"请求体不是有效的 JSON (invalid JSON): {str(exc)[:200]}")
    items = body.get("items") if isinstance(body, dict) else body
    if not isinstance(items, list):
        return json_error(400, "bad_batch", '请求体应为 {"items": [...]} 或条目数组 (expected a list of items)')
    if len(items) > MAX_INGEST_ITEMS:
        return json_error(413, "batch_too_large", f"一次最多推送 {MAX_INGEST_ITEMS} 条 (at most that many items)")
    try:
        result = await monitor.ingest(name, items)
    except SourceConfigError as exc:
        return json_error(409, "source_paused", str(exc))
    status = 422 if items and len(result.rejected) == len(items) else 200
    return web.json_response({"source": name, **result.as_dict()}, status=status)


def _loads(text: str) -> Any:
    return json.loads(text, parse_int=json_int)  # a 5,000-digit number refuses its item, not the batch


def ingest_buckets(services: Any) -> TokenBuckets:
    """The push-ingest limit per source: shared by every node through Redis when redis.url is set."""
    per_minute = services.settings["monitor.ingest_per_minute"]
    limits = shared_limits.for_services(services)
    if limits is None:
        return TokenBuckets(per_minute, clock=services.clock)
    return SharedTokenBuckets(per_minute, limits=limits, prefix="ingest", clock=services.clock)


def setup_routes(app: web.Application) -> None:
    services = app["services"]
    app[INGEST_BUCKETS] = ingest_buckets(services)
    app.router.add_get("/api/sources", list_sources)
    app.router.add_post("/api/sources", add_source)
    app.router.add_patch("/api/sources/{name}", change_source)
    app.router.add_post("/api/sources/{name}/{action:pause|resume|poll}", source_action)
    app.router.add_delete("/api/sources/{name}", delete_source)
    app.router.add_post("/api/sources/{name}/token", rotate_token)
    app.router.add_get("/api/mentions", mentions)
    app.router.add_post("/api/ingest", ingest)
