"""HTTP API of mentions: the stored mentions, and the push endpoint that adds them.

Routes (mounted by :mod:`web.api.routes` when the monitor part is built)::

    GET    /api/mentions                    ?source=&incident=&tier=&before=&limit=   manager, oncall
    POST   /api/ingest                      push a batch: {"items": [...]}, per-source token in
                                            ``Authorization: Bearer`` or ``X-Lantern-Source-Token``;
                                            at most monitor.ingest_per_minute per source (429 beyond);
                                            200 {accepted, duplicates, filtered, rejected: [{index, reason}]},
                                            422 (same body) when every item was refused
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from monitor.items import json_int
from monitor.service import MAX_INGEST_ITEMS
from monitor.sources_table import list_mentions
from web.api.sources import monitor_of
from web.auth.middleware import json_error, public, require
from web.errors import BadRequest
from web.platform import shared_limits
from web.platform.ratelimit import SharedTokenBuckets, TokenBuckets, retry_after_header

MAX_INGEST_BYTES = 2 * 1024 * 1024
INGEST_BUCKETS = web.AppKey("ingest_buckets", TokenBuckets)


def _int_param(request: web.Request, key: str) -> int | None:
    value = request.query.get(key)
    if value in (None, ""):
        return None
    if not value.isdigit():
        raise BadRequest("bad_param", message_zh=f"{key} 必须是整数", message_en=f"{key} must be an integer")
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
    monitor = monitor_of(request)
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
        raise BadRequest("too_deep", "请求体 JSON 嵌套过深 (JSON nested too deeply)") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, or an integer of more than 4,300 digits
        raise BadRequest("bad_json", f"请求体不是有效的 JSON (invalid JSON): {str(exc)[:200]}") from None
    items = body.get("items") if isinstance(body, dict) else body
    if not isinstance(items, list):
        return json_error(400, "bad_batch", '请求体应为 {"items": [...]} 或条目数组 (expected a list of items)')
    if len(items) > MAX_INGEST_ITEMS:
        return json_error(413, "batch_too_large", f"一次最多推送 {MAX_INGEST_ITEMS} 条 (at most that many items)")
    result = await monitor.ingest(name, items)  # a paused source: SourcePausedError, a 409
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
