"""HTTP API of incidents: list, detail, mentions (folded, paged), lifecycle steps, re-tier, checklist.

Thin wrappers over :mod:`monitor.incidents`; the actor recorded for a step is
``user:<name>`` of the signed-in user.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from classifiers.tiers import TierPolicy
from monitor.alerting import outbox
from monitor.incidents import insight, queries, store_ops
from monitor.incidents.model import State
from web.api.bodies import json_object
from web.auth import users
from web.auth.middleware import require
from web.errors import BadRequest

STEPS = ("ack", "mitigate", "resolve")


def query_int(request: web.Request, name: str, default: int, maximum: int) -> int:
    value = request.query.get(name, "")
    if value == "":
        return default
    if not value.isdigit() or int(value) > maximum:
        raise BadRequest("invalid", f"{name} 必须是 0-{maximum} 的整数 ({name} must be an integer 0-{maximum})")
    return int(value)


@require("manager", "oncall")
async def list_incidents(request: web.Request) -> web.Response:
    services = request.app["services"]
    state, tier = request.query.get("state") or None, request.query.get("tier") or None
    limit = query_int(request, "limit", 100, 500)
    offset = query_int(request, "offset", 0, 10**9)
    if state is not None and state not in set(State):
        raise BadRequest("invalid", "state 必须是 open/acknowledged/mitigating/resolved (unknown state)")
    items = await services.db.read(lambda db: queries.list_incidents(db, state=state, tier=tier, limit=limit,
                                                                     offset=offset))
    await with_labels(services, items)
    return web.json_response({"items": items})


def authority_of(services: Any) -> insight.AuthorityOf:
    """The configured tier policy's authority of an outlet/account name (the default policy without a classifier)."""
    handle = getattr(services, "classifier", None)
    if handle is not None and hasattr(handle, "authority_of"):
        return handle.authority_of
    policy = TierPolicy()
    return lambda name: policy.authority_of(name)[0]


def actor_names(db: Any, detail: dict[str, Any]) -> dict[str, str]:
    """``user:NAME`` -> display name for every person the detail mentions (history, checklist, events)."""
    actors = {detail.get("acknowledged_by"), detail.get("resolved_by")}
    actors |= {h["actor"] for h in detail["tier_history"]} | {e["actor"] for e in detail["events"]}
    actors |= {c["done_by"] for c in detail["checklist"]}
    names = [a[5:] for a in actors if isinstance(a, str) and a.startswith("user:")]
    return {f"user:{name}": display for name, display in users.display_names_by_login(db, names).items()}


async def with_labels(services: Any, incidents: list[dict[str, Any]]) -> None:
    """Add ``acknowledged_by_label`` (the display name of ``user:<name>``) to each incident."""
    actors = {str(i.get("acknowledged_by") or "") for i in incidents} - {""}
    if not actors:
        return
    names = await services.db.read(lambda db: {
        f"user:{u['name']}": str(u.get("display_name") or u["name"])
        for u in users.list_users(db, include_inactive=True)})
    for inc in incidents:
        actor = str(inc.get("acknowledged_by") or "")
        inc["acknowledged_by_label"] = names.get(actor, actor.removeprefix("user:")) if actor else None


@require("manager", "oncall")
async def get_incident(request: web.Request) -> web.Response:
    services = request.app["services"]
    incident_id = int(request.match_info["id"])
    now, authority = services.clock(), authority_of(services)

    def read(db: Any) -> dict[str, Any]:
        detail = queries.detail(db, incident_id, now=now, authority_of=authority)
        detail["deliveries"] = outbox.list_deliveries(db, incident_id=incident_id)
        detail["actors"] = actor_names(db, detail)
        return detail

    detail = await services.db.read(read)
    await with_labels(services, [detail])
    detail["scripts"] = [await script_summary(services, s) for s in detail["script_ids"]]
    return web.json_response(detail)


@require("manager", "oncall")
async def list_mentions(request: web.Request) -> web.Response:
    """One page of the incident's mentions, reposts folded (``?before=`` from ``next_before``, ``?limit=``)."""
    services = request.app["services"]
    incident_id = int(request.match_info["id"])
    limit = query_int(request, "limit", 20, 200) or 20
    before = query_int(request, "before", 0, 10**12) if request.query.get("before") else None
    authority = authority_of(services)

    def read(db: Any) -> dict[str, Any]:
        store_ops.load(db, incident_id)  # 404 for an unknown incident
        return insight.mention_page(db, incident_id, before=before, limit=limit, authority_of=authority)

    return web.json_response(await services.db.read(read))


@require("manager", "oncall")
async def list_reposts(request: web.Request) -> web.Response:
    """The reposts folded under one mention of the page (``?after=`` from ``next_after``, ``?limit=``)."""
    services = request.app["services"]
    incident_id, group = int(request.match_info["id"]), int(request.match_info["group"])
    limit = query_int(request, "limit", 50, 200) or 50
    after = query_int(request, "after", 0, 10**12) if request.query.get("after") else None
    authority = authority_of(services)

    def read(db: Any) -> dict[str, Any]:
        store_ops.load(db, incident_id)
        return insight.reposts(db, incident_id, group, after=after, limit=limit, authority_of=authority)

    return web.json_response(await services.db.read(read))


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
    if action == "retier":
        body = await json_object(request)
        reason = str(body.get("reason", ""))[:500]
        change = await engine.retier(incident_id, str(body.get("tier", "")), actor, reason)
    elif action == "ack":
        comment = (await json_object(request)).get("comment", "")
        if not isinstance(comment, str):
            raise BadRequest("invalid", "comment 必须是字符串 (comment must be a string)")
        change = await engine.acknowledge(incident_id, actor, comment, via="console")
    else:
        method = {"mitigate": engine.mitigate, "resolve": engine.resolve}[action]
        change = await method(incident_id, actor)
    incident = await services.db.read(lambda db: queries.detail(db, incident_id))
    await with_labels(services, [incident])
    return web.json_response({"change": change.__dict__, "incident": incident})


@require("manager", "oncall")
async def check_item(request: web.Request) -> web.Response:
    services = request.app["services"]
    incident_id = int(request.match_info["id"])
    item_id = int(request.match_info["item"])
    body = await json_object(request)
    done = body.get("done", True)
    if not isinstance(done, bool):
        raise BadRequest("invalid", "done 必须是 true/false (done must be a boolean)")
    actor = f"user:{request['user'].name}"
    now = services.clock()
    item = await services.db.write(lambda db: queries.check_item(db, incident_id, item_id, done, actor, now))
    return web.json_response(item)
