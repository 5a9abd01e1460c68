"""The incidents / alerts HTTP API in-process: roles, lifecycle, ack links, silences, routing and plans."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from monitor.alerting.acklinks import mask_path
from tests.fixtures.alerts.helpers import T0, Clock, add_user, make_services, settings_for, store_mention
from web.app import create_app
from web.platform.logging_setup import MaskedAccessLogger

STORY = "鲜味楼外卖吃出异物，顾客投诉无人处理"


@pytest.fixture
async def env(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[dict[str, Any]]:
    svc = await make_services(settings_for(
        tmp_path, incidents__group_wait_s=0,
        plans=[{"name": "异物预案", "categories": ["food_safety"], "checklist": ["联系顾客", "门店自查"]}]), Clock())
    _, manager = await add_user(svc, "wang", "manager")
    _, admin = await add_user(svc, "boss", "admin")
    _, agent = await add_user(svc, "zhang", "agent")
    client = await aiohttp_client(create_app(svc, manage_lifecycle=False))
    yield {"svc": svc, "client": client, "manager": {"Authorization": f"Bearer {manager}"},
           "admin": {"Authorization": f"Bearer {admin}"}, "agent": {"Authorization": f"Bearer {agent}"}}
    await svc.alerts.stop()
    svc.db.close()


async def open_incident(svc: Any, tier: str = "P2") -> int:
    m = await store_mention(svc, title=STORY, tier=tier, categories=("food_safety",))
    return int((await svc.incidents.on_mentions([m]))[0].incident_id)


async def test_incident_list_and_detail(env: dict[str, Any]) -> None:
    client, svc = env["client"], env["svc"]
    iid = await open_incident(svc)
    await svc.alerts.tick(T0)
    assert (await client.get("/api/incidents")).status == 401
    assert (await client.get("/api/incidents", headers=env["agent"])).status == 403
    resp = await client.get("/api/incidents?state=open&tier=P2", headers=env["manager"])
    assert resp.status == 200
    items = (await resp.json())["items"]
    assert [i["id"] for i in items] == [iid] and items[0]["negative_share"] == 1.0
    assert (await (await client.get("/api/incidents?tier=P1", headers=env["manager"])).json())["items"] == []
    assert (await client.get("/api/incidents?state=closed", headers=env["manager"])).status == 400
    assert (await client.get("/api/incidents?limit=abc", headers=env["manager"])).status == 400
    detail = await (await client.get(f"/api/incidents/{iid}", headers=env["manager"])).json()
    for key in ("timeline", "top_sources", "sentiment_share", "checklist", "scripts", "deliveries", "events"):
        assert key in detail
    assert [c["item"] for c in detail["checklist"]] == ["联系顾客", "门店自查"]
    assert {d["recipient"] for d in detail["deliveries"]} == {"user:wang"}  # default route: managers
    assert all("ack_nonce" not in d for d in detail["deliveries"])
    assert (await client.get("/api/incidents/999", headers=env["manager"])).status == 404


async def test_lifecycle_over_the_api(env: dict[str, Any]) -> None:
    client, svc = env["client"], env["svc"]
    iid = await open_incident(svc)
    resp = await client.post(f"/api/incidents/{iid}/ack", headers=env["manager"])
    assert resp.status == 200
    body = await resp.json()
    assert body["incident"]["state"] == "acknowledged" and body["incident"]["acknowledged_by"] == "user:wang"
    again = await client.post(f"/api/incidents/{iid}/ack", headers=env["manager"])
    assert again.status == 409 and (await again.json())["error"] == "illegal_transition"
    bad = await client.post(f"/api/incidents/{iid}/retier", headers=env["manager"], json={"tier": "P0"})
    assert bad.status == 400
    broken = await client.post(f"/api/incidents/{iid}/retier", headers=env["manager"], data=b"{nope",
                               skip_auto_headers=["Content-Type"])
    assert broken.status == 400
    up = await client.post(f"/api/incidents/{iid}/retier", headers=env["manager"],
                           json={"tier": "P1", "reason": "升级"})
    assert (await up.json())["incident"]["tier"] == "P1"
    assert (await client.post(f"/api/incidents/{iid}/mitigate", headers=env["agent"])).status == 403
    assert (await client.post(f"/api/incidents/{iid}/mitigate", headers=env["manager"])).status == 200
    assert (await client.post(f"/api/incidents/{iid}/resolve", headers=env["admin"])).status == 200
    detail = await (await client.get(f"/api/incidents/{iid}", headers=env["manager"])).json()
    assert detail["state"] == "resolved" and detail["resolved_by"] == "user:boss"
    item = detail["checklist"][0]["id"]
    ticked = await client.post(f"/api/incidents/{iid}/checklist/{item}", headers=env["manager"], json={"done": True})
    assert ticked.status == 200 and (await ticked.json())["done"] is True
    assert (await client.post(f"/api/incidents/{iid}/checklist/9999", headers=env["manager"])).status == 404


async def ack_path(svc: Any, recipient: str) -> str:
    row = (await svc.db.read(lambda db: list(db.query(
        "select * from alert_deliveries where recipient = ? and ack_nonce is not null", [recipient]))))[0]
    return "/ack/" + svc.alerts.message(row).ack_url.rsplit("/ack/", 1)[1]


async def test_ack_link_get_only_confirms_post_acknowledges_once_escaped(env: dict[str, Any]) -> None:
    client, svc = env["client"], env["svc"]
    await add_user(svc, "evil", "manager", display_name="<img src=x onerror=alert(1)>")
    iid = await open_incident(svc)
    await svc.alerts.tick(T0)
    path = await ack_path(svc, "user:evil")
    # A mail scanner or an IM link preview fetches the link (GET, HEAD): nothing is acknowledged.
    for _ in range(2):
        resp = await client.get(path)
        text = await resp.text()
        assert resp.status == 200 and "确认处理" in text and 'method="post"' in text
        assert f'action="{path}"' in text and "已确认" not in text
    assert (await client.head(path)).status == 200
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert resp.headers["Content-Type"].startswith("text/html") and resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert (await svc.db.read(lambda db: db.execute("select state from incidents where id = ?",
                                                     [iid]).fetchone()))[0] == "open"
    # The button POSTs to the same link: acknowledged once, then the link is spent for GET and POST alike.
    done = await client.post(path)
    text = await done.text()
    assert done.status == 200 and "已确认" in text
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    again = await client.post(path)
    assert again.status == 410 and "已使用" in await again.text()
    assert (await client.get(path)).status == 410
    assert (await client.get("/ack/1.abc.def")).status == 404
    assert (await client.post("/ack/1.abc.def")).status == 404
    forged = path.rsplit(".", 1)[0] + ".0123456789abcdef0123456789abcdef"
    assert (await client.post(forged)).status == 404
    alerts = await (await client.get(f"/api/alerts?incident_id={iid}", headers=env["manager"])).json()
    evil = [a for a in alerts["items"] if a["recipient"] == "user:evil"]
    assert evil[0]["status"] == "acknowledged" and evil[0]["acked_by"] == "user:evil"
    detail = await (await client.get(f"/api/incidents/{iid}", headers=env["manager"])).json()
    assert detail["state"] == "acknowledged"


async def test_ack_confirm_page_works_in_a_signed_in_browser(env: dict[str, Any]) -> None:
    """With a console session cookie the POST must pass the CSRF check: the confirm page carries the token."""
    from web.auth import users
    from web.auth.middleware import SESSION_COOKIE

    client, svc = env["client"], env["svc"]
    await open_incident(svc)
    await svc.alerts.tick(T0)
    path = await ack_path(svc, "user:wang")

    def session(db: Any) -> str:
        user = users.find_user(db, "wang")
        assert user is not None
        return users.create_session(db, user, now=svc.clock(), ttl_s=3600)

    cookie = {"Cookie": f"{SESSION_COOKIE}={await svc.db.write(session)}"}
    form = await (await client.get(path, headers=cookie)).text()
    csrf = re.search(r'name="_csrf" value="([^"]+)"', form)
    assert csrf is not None
    refused = await client.post(path, headers=cookie, data={})
    assert refused.status == 403  # a cross-site form cannot acknowledge in a signed-in browser...
    done = await client.post(path, headers=cookie, data={"_csrf": csrf.group(1)})
    assert done.status == 200 and "已确认" in await done.text()  # ...our own confirm page can


def test_mask_path_hides_ack_tokens() -> None:
    assert mask_path("/ack/12.AbC_-9.0f0f") == "/ack/***"
    assert mask_path('GET /ack/12.a.b?x=1 HTTP/1.1" 200') == 'GET /ack/***?x=1 HTTP/1.1" 200'
    assert mask_path("/api/alerts?incident_id=3") == "/api/alerts?incident_id=3"
    assert mask_path("/ack/") == "/ack/"


async def test_access_log_never_shows_ack_tokens(env: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    """A real server with the masked access logger (as ``lantern serve`` runs it)."""
    svc = env["svc"]
    await open_incident(svc)
    await svc.alerts.tick(T0)
    path = await ack_path(svc, "user:wang")
    token = path.rsplit("/", 1)[1]
    runner = web.AppRunner(create_app(svc, manage_lifecycle=False), access_log_class=MaskedAccessLogger)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            async with aiohttp.ClientSession() as http:
                for method in ("GET", "POST"):
                    async with http.request(method, f"http://127.0.0.1:{port}{path}") as resp:
                        assert resp.status == 200
    finally:
        await runner.cleanup()
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 2 and all("/ack/***" in line for line in lines)
    assert not any(token in line or token.split(".")[1] in line for line in lines)


async def test_alert_log_filters_and_agents_see_only_their_own(env: dict[str, Any]) -> None:
    client, svc = env["client"], env["svc"]
    await open_incident(svc)
    await svc.alerts.tick(T0)
    everything = await (await client.get("/api/alerts", headers=env["manager"])).json()
    assert [a["status"] for a in everything["items"]] == ["sent"]
    mine = await (await client.get("/api/alerts", headers=env["agent"])).json()
    assert mine["items"] == []
    assert (await client.get("/api/alerts?status=lost", headers=env["manager"])).status == 400


async def test_silences_crud(env: dict[str, Any]) -> None:
    client = env["client"]
    bad = await client.post("/api/silences", headers=env["manager"], json={"starts_at": T0, "ends_at": T0 - 1})
    assert bad.status == 400 and "ends_at" in (await bad.json())["message"]
    wrong = await client.post("/api/silences", headers=env["manager"],
                              json={"ends_at": T0 + 60, "matchers": {"tiers": ["P9"]}})
    assert wrong.status == 400
    made = await client.post("/api/silences", headers=env["manager"],
                             json={"ends_at": T0 + 3600, "matchers": {"categories": ["food_safety"]},
                                   "comment": "发布会期间"})
    assert made.status == 201
    sid = (await made.json())["id"]
    listed = await (await client.get("/api/silences", headers=env["manager"])).json()
    assert [s["id"] for s in listed["items"]] == [sid]
    assert listed["items"][0]["created_by"] == "user:wang"
    assert (await client.post("/api/silences", headers=env["agent"], json={"ends_at": T0 + 60})).status == 403
    assert (await client.delete(f"/api/silences/{sid}", headers=env["manager"])).status == 200
    assert (await client.delete(f"/api/silences/{sid}", headers=env["manager"])).status == 404


async def test_routing_and_plans_are_admin_editable(env: dict[str, Any]) -> None:
    client, svc = env["client"], env["svc"]
    routing = await (await client.get("/api/routing", headers=env["manager"])).json()
    assert routing["channels"][0]["kind"] == "console"
    assert routing["timing"]["group_interval"] == 300 and len(routing["routes"]) == 4
    new = {"routes": [{"name": "全部给值班", "roles": ["oncall"], "must_act": True}]}
    assert (await client.put("/api/routing", headers=env["manager"], json=new)).status == 403
    invalid = await client.put("/api/routing", headers=env["admin"], json={"routes": [{"channels": ["nowhere"]}]})
    assert invalid.status == 400 and "nowhere" in (await invalid.json())["message"]
    assert (await client.put("/api/routing", headers=env["admin"], json=new)).status == 200
    # Every tier is routed, but nothing escalates: the default escalation to admins stays, and says so.
    assert [(r.name, r.tiers, r.builtin) for r in svc.alerts.routes] == [
        ("全部给值班", ("P1", "P2", "P3", "P4"), False), ("默认：P1/P2 未确认升级至管理员", ("P1", "P2"), True)]
    routing = await (await client.get("/api/routing", headers=env["manager"])).json()
    assert [c["level"] for c in routing["coverage"]] == ["info", "warn"]
    assert routing["coverage"][0]["text"].startswith("默认路由补上了 P1、P2：")
    assert "unacknowledged P3 incidents never escalate" in routing["coverage"][1]["text"]
    editable = await (await client.get("/api/console/editable/routes", headers=env["admin"])).json()
    assert editable == {"routes": [{**new["routes"][0], "tiers": ["P1", "P2", "P3", "P4"], "categories": [],
                                    "brands": [], "level": 0, "digest": False, "health": False, "channels": [],
                                    "users": [], "teams": []}]}
    saved = await svc.db.read(lambda db: db.execute("select updated_by from alert_config where name = 'routes'")
                              .fetchone())
    assert saved[0] == "user:boss"
    plans = await (await client.get("/api/plans", headers=env["manager"])).json()
    assert plans["items"][0]["name"] == "异物预案"
    bad_plan = await client.put("/api/plans", headers=env["admin"], json={"plans": [{"tiers": ["P1"]}]})
    assert bad_plan.status == 400
    ok = await client.put("/api/plans", headers=env["admin"], json={"plans": [
        {"name": "新预案", "notify": {"roles": ["manager"]}}]})
    assert ok.status == 200
    assert [r.plan for r in svc.alerts.plan_routes] == ["新预案"]
