"""Scripts API and the ticker websocket over real sockets on 127.0.0.1 (SQLite in tmp_path)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import Account, FakeClock, add_account
from web.app import create_app
from web.compose import Part, Services, build_services
from web.platform.settings import load_settings

BODY = "您好，涉事门店已停业整改。如您身体不适，请提供订单信息，我们全程负责。"


@dataclass
class Env:
    services: Services
    server: TestServer
    http: aiohttp.ClientSession
    clock: FakeClock
    wang: Account  # manager, team pr (author)
    li: Account  # manager, team service
    zhao: Account  # manager, team pr
    agent: Account  # agent, team hotline
    vip: Account  # agent, team vip

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def call(self, method: str, path: str, who: Account, expect: int = 200, **kw: Any) -> Any:
        headers = {**who.headers, **kw.pop("headers", {})}
        async with self.http.request(method, self.url(path), headers=headers, **kw) as resp:
            text = await resp.text()
            assert resp.status == expect, text
            return json.loads(text)

    async def ws(self, who: Account, query: str = "") -> ClientConnection:
        """A ticker websocket, through a ``websockets`` client as an agent's desktop client would open it."""
        return await connect(str(self.server.make_url(f"/ws/ticker?token={who.token}{query}").with_scheme("ws")))

    async def live(self, title: str = "食品安全口径", priority: str = "high", **extra: Any) -> dict[str, Any]:
        """Draft by wang, approved by li (and zhao when needed), published."""
        script = await self.call("POST", "/api/scripts", self.wang, 201,
                                 json={"title": title, "body": BODY, "priority": priority, **extra})
        sid = script["id"]
        await self.call("POST", f"/api/scripts/{sid}/submit", self.wang)
        await self.call("POST", f"/api/scripts/{sid}/approve", self.li, json={"version": 1})
        if priority == "critical":
            await self.call("POST", f"/api/scripts/{sid}/approve", self.zhao, json={"version": 1})
        return await self.call("POST", f"/api/scripts/{sid}/publish", self.li)


async def receive(ws: ClientConnection, wanted: str) -> dict[str, Any]:
    while True:
        msg = await asyncio.wait_for(ws.recv(), timeout=10)
        assert isinstance(msg, str), msg
        data = json.loads(msg)
        if data["type"] == wanted:
            return data


async def make_env(tmp_path: Any, **overrides: Any) -> AsyncIterator[Env]:
    clock = FakeClock(1_800_000_000.0)
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), **overrides)
    services = await build_services(settings, clock=clock, parts={Part.BROADCAST})
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    accounts = [await add_account(services, n, r, t) for n, r, t in (
        ("wang", "manager", "pr"), ("li", "manager", "service"), ("zhao", "manager", "pr"),
        ("zhang", "agent", "hotline"), ("qian", "agent", "vip"))]
    async with aiohttp.ClientSession() as http:
        yield Env(services, server, http, clock, *accounts)
    await server.close()
    services.db.close()


@pytest.fixture
async def env(tmp_path: Any) -> AsyncIterator[Env]:
    async for value in make_env(tmp_path):
        yield value


async def test_publish_reaches_connected_and_late_agents_and_retract_withdraws(env: Env) -> None:
    ws = await env.ws(env.agent)
    first = await receive(ws, "snapshot")
    assert first["items"] == [] and first["rev"] == 0
    script = await env.call("POST", "/api/scripts", env.wang, 201,
                            json={"title": "口径", "body": BODY, "priority": "high", "incident_id": 7})
    sid = script["id"]
    assert script["state"] == "draft" and script["version"] == 1 and len(script["content_hash"]) == 64
    await env.call("POST", f"/api/scripts/{sid}/submit", env.wang)
    refused = await env.call("POST", f"/api/scripts/{sid}/approve", env.wang, 403, json={"version": 1})
    assert refused["error"] == "self_approval" and "四眼原则" in refused["message"]
    assert "four-eyes" in refused["message_en"]
    await env.call("POST", f"/api/scripts/{sid}/publish", env.li, 409)  # not approved yet
    await env.call("POST", f"/api/scripts/{sid}/approve", env.li, json={"version": 1, "comment": "同意"})
    published = await env.call("POST", f"/api/scripts/{sid}/publish", env.li)
    assert published["state"] == "published"

    message = await receive(ws, "publish")
    assert message["rev"] == 1 and message["item"]["id"] == sid and message["item"]["body"] == BODY
    assert message["item"]["incident_id"] == 7 and message["item"]["state"] == "published"
    late = await env.ws(env.vip)
    snapshot = await receive(late, "snapshot")
    assert [i["id"] for i in snapshot["items"]] == [sid]

    await env.call("POST", f"/api/scripts/{sid}/retract", env.wang, json={"reason": "口径调整"})
    for client in (ws, late):
        retracted = await receive(client, "retract")
        assert retracted["item"]["state"] == "retracted" and retracted["rev"] == 2
    active = await env.call("GET", "/api/ticker/active", env.agent)
    assert [i["state"] for i in active["items"]] == ["retracted"]  # shown as withdrawn for a while
    env.clock.advance(env.services.settings["broadcast.withdrawn_s"] + 1)
    assert (await env.call("GET", "/api/ticker/active", env.agent))["items"] == []
    await ws.close()
    await late.close()


async def test_access_rules_and_bad_input(env: Env) -> None:
    async with env.http.get(env.url("/ws/ticker")) as resp:
        assert resp.status == 401
    await env.call("POST", "/api/scripts", env.agent, 403, json={"title": "x", "body": "y"})
    bad = await env.call("POST", "/api/scripts", env.wang, 400, json={"title": "", "body": "y"})
    assert bad["error"] == "invalid_script" and bad["message"] == "标题不能为空"
    await env.call("POST", "/api/scripts", env.wang, 400, data=b"{not json",
                   headers={"Content-Type": "application/json"})
    await env.call("GET", "/api/scripts/999", env.wang, 404)
    await env.call("GET", "/api/scripts/abc", env.wang, 404)
    bad = await env.call("POST", "/api/scripts", env.wang, 400,
                         json={"title": "t", "body": "b", "priority": "urgent"})
    assert bad["message_en"].startswith("priority")
    assert (await env.call("GET", "/api/scripts", env.wang))["items"] == []  # nothing was stored
    await env.call("GET", "/api/scripts?state=bogus", env.wang, 400)
    live = await env.live()
    draft = await env.call("POST", "/api/scripts", env.wang, 201, json={"title": "草稿", "body": "b"})
    listed = await env.call("GET", "/api/scripts?state=published", env.wang)
    assert [i["id"] for i in listed["items"]] == [live["id"]]
    everything = await env.call("GET", "/api/scripts", env.wang)
    assert {i["id"] for i in everything["items"]} == {live["id"], draft["id"]}
    assert env.agent.token not in json.dumps(everything) and env.wang.token not in json.dumps(everything)


async def test_edit_makes_new_version_that_needs_approval_and_updates_tickers(env: Env) -> None:
    live = await env.live()
    sid = live["id"]
    ws = await env.ws(env.agent)
    await receive(ws, "snapshot")
    edited = await env.call("PUT", f"/api/scripts/{sid}", env.zhao, json={"body": BODY + "（更新）"})
    assert edited["version"] == 2 and edited["state"] == "draft"
    await env.call("POST", f"/api/scripts/{sid}/approve", env.li, 409, json={"version": 1})  # stale version
    await env.call("POST", f"/api/scripts/{sid}/submit", env.zhao, json={"version": 2})
    await env.call("POST", f"/api/scripts/{sid}/approve", env.zhao, 403, json={"version": 2})  # its author
    rejected = await env.call("POST", f"/api/scripts/{sid}/reject", env.wang, json={"version": 2, "comment": "措辞"})
    assert rejected["state"] == "draft"
    await env.call("POST", f"/api/scripts/{sid}/submit", env.zhao, json={"version": 2})
    await env.call("POST", f"/api/scripts/{sid}/approve", env.wang, json={"version": 2})
    await env.call("POST", f"/api/scripts/{sid}/publish", env.wang)
    update = await receive(ws, "update")
    assert update["item"]["version"] == 2 and update["item"]["body"].endswith("（更新）")
    detail = await env.call("GET", f"/api/scripts/{sid}", env.wang)
    assert [(v["version"], v["state"]) for v in detail["versions"]] == [(2, "published"), (1, "superseded")]
    audit = await env.call("GET", f"/api/scripts/{sid}/audit", env.wang)
    assert audit["chain_intact"] is True
    actions = [(e["version"], e["action"], e["actor"]) for e in audit["entries"]]
    assert actions[:5] == [(1, "create", "wang"), (1, "submit", "wang"), (1, "approve", "li"),
                           (1, "publish", "li"), (2, "create", "zhao")]
    assert (2, "reject", "wang") in actions and (1, "supersede", "wang") in actions
    assert {e["content_hash"] for e in audit["entries"] if e["version"] == 2} == {edited["content_hash"]}

    await env.services.db.write(lambda db: db.execute(
        "update broadcast_audit set actor = 'mallory' where action = 'approve' and version = 1").rowcount)
    assert (await env.call("GET", f"/api/scripts/{sid}/audit", env.wang))["chain_intact"] is False
    await ws.close()


async def test_critical_needs_team_approvers(tmp_path: Any) -> None:
    async for env in make_env(tmp_path, broadcast__approvals_critical=["pr", "service"]):
        script = await env.call("POST", "/api/scripts", env.zhao, 201,
                                json={"title": "重大", "body": BODY, "priority": "critical"})
        sid = script["id"]
        await env.call("POST", f"/api/scripts/{sid}/submit", env.zhao)
        partial = await env.call("POST", f"/api/scripts/{sid}/approve", env.wang, json={"version": 1})
        assert partial["state"] == "in_review"
        refused = await env.call("POST", f"/api/scripts/{sid}/approve", env.wang, 403, json={"version": 1})
        assert "已审批" in refused["message"]
        done = await env.call("POST", f"/api/scripts/{sid}/approve", env.li, json={"version": 1})
        assert done["state"] == "approved" and len(done["approvals"]) == 2


async def test_expiry_on_time_even_for_offline_agents(env: Env) -> None:
    expires = env.clock() + 600
    live = await env.live(expires_at=expires)
    online = await env.ws(env.agent)
    snap = await receive(online, "snapshot")
    epoch, rev = snap["epoch"], snap["rev"]
    offline = await env.ws(env.vip)
    await receive(offline, "snapshot")
    await offline.close()
    env.clock.advance(601)
    await env.services.runtime.expire_now()
    gone = await receive(online, "expire")
    assert gone["id"] == live["id"] and gone["rev"] == rev + 1
    back = await env.ws(env.vip, f"&since={rev}&epoch={epoch}")
    assert await receive(back, "expire") == gone
    assert (await receive(back, "resumed"))["rev"] == rev + 1
    assert (await env.call("GET", f"/api/scripts/{live['id']}", env.wang))["state"] == "expired"
    fresh = await env.ws(env.agent)
    assert (await receive(fresh, "snapshot"))["items"] == []
    for ws in (online, back, fresh):
        await ws.close()


async def test_receipts_give_coverage(env: Env) -> None:
    ws_agent = await env.ws(env.agent)
    ws_vip = await env.ws(env.vip)
    for ws in (ws_agent, ws_vip):
        await receive(ws, "snapshot")
    live = await env.live()
    sid = live["id"]
    item = (await receive(ws_agent, "publish"))["item"]
    await receive(ws_vip, "publish")
    env.clock.advance(0.4)
    await ws_agent.send(json.dumps({"type": "displayed", "id": sid, "version": item["version"]}))
    await ws_agent.send(json.dumps({"type": "ack", "id": sid, "version": item["version"]}))
    await ws_agent.send(json.dumps({"type": "ping"}))
    assert (await receive(ws_agent, "pong")) == {"type": "pong"}  # the hub has handled the frames before
    await env.services.runtime.flush_receipts()
    coverage = await env.call("GET", f"/api/scripts/{sid}/coverage", env.wang)
    assert coverage["connected"] == 2 and coverage["displayed_connected"] == 1
    assert coverage["displayed_pct"] == 50.0 and coverage["acked_pct"] == 50.0
    assert coverage["display_latency"]["median_s"] == pytest.approx(0.4, abs=1e-6)
    assert coverage["by_team"]["hotline"]["displayed_pct"] == 100.0
    assert coverage["by_team"]["vip"]["displayed_pct"] == 0.0
    for ws in (ws_agent, ws_vip):
        await ws.close()


async def test_contingency_plan_draft_needs_approvers_besides_its_submitter(env: Env) -> None:
    sid = await env.services.scripts.draft_for_plan(incident_id=3, title="食品安全预案口径", body=BODY,
                                                    priority="critical", author="预案:食品安全")
    await env.services.scripts.submit(sid, env.wang.user)
    refused = await env.call("POST", f"/api/scripts/{sid}/approve", env.wang, 403, json={"version": 1})
    assert refused["error"] == "self_approval"  # the submitter counts as an author (#12)
    await env.services.scripts.approve(sid, 1, env.li.user, "ok")
    approved = await env.services.scripts.approve(sid, 1, env.zhao.user, "ok")
    assert approved["state"] == "approved" and approved["author"] == "预案:食品安全"
    assert approved["incident_id"] == 3


async def test_targeting_by_team(env: Env) -> None:
    hotline, vip = await env.ws(env.agent), await env.ws(env.vip)
    for ws in (hotline, vip):
        await receive(ws, "snapshot")
    await env.live(audience={"teams": ["vip"]})
    await env.live(title="全体")
    assert (await receive(vip, "publish"))["item"]["title"] == "食品安全口径"
    assert (await receive(hotline, "publish"))["item"]["title"] == "全体"  # the vip one never came
    active = await env.call("GET", "/api/ticker/active", env.agent)
    assert [i["title"] for i in active["items"]] == ["全体"]
    for ws in (hotline, vip):
        await ws.close()


async def test_targeting_by_skills_and_site_comes_from_the_account(env: Env) -> None:
    from web.auth import users

    now = env.clock()

    def add(db: Any) -> Account:
        user = users.add_user(db, "sun", "agent", "pw-sun-secret", team="hotline", skills=("售后",),
                              site="成都", now=now)
        return Account(user, "pw-sun-secret", users.create_token(db, user, "test", now=now))

    chengdu = await env.services.db.write(add)
    ws_chengdu = await env.ws(chengdu)
    # A desktop claiming skills or a site it does not have sees nothing more.
    ws_claimer = await env.ws(env.agent, "&skills=售后&site=成都")
    for ws in (ws_chengdu, ws_claimer):
        await receive(ws, "snapshot")
    await env.live(title="成都售后口径", audience={"skills": ["售后"], "sites": []})
    await env.live(title="成都站点口径", audience={"sites": ["成都"]})
    await env.live(title="全体")
    titles = [(await receive(ws_chengdu, "publish"))["item"]["title"] for _ in range(3)]
    assert titles == ["成都售后口径", "成都站点口径", "全体"]
    assert (await receive(ws_claimer, "publish"))["item"]["title"] == "全体"
    active = await env.call("GET", "/api/ticker/active", env.agent)
    assert [i["title"] for i in active["items"]] == ["全体"]
    for ws in (ws_chengdu, ws_claimer):
        await ws.close()


async def test_approved_but_unpublished_version_expires_without_a_ticker_message(env: Env) -> None:
    ws = await env.ws(env.agent)
    await receive(ws, "snapshot")
    script = await env.call("POST", "/api/scripts", env.wang, 201,
                            json={"title": "限时", "body": BODY, "expires_at": env.clock() + 60})
    sid = script["id"]
    await env.call("POST", f"/api/scripts/{sid}/submit", env.wang)
    await env.call("POST", f"/api/scripts/{sid}/approve", env.li, json={"version": 1})
    env.clock.advance(61)
    expired = await env.services.scripts.expire_due()
    assert [v["id"] for v in expired] == [sid] and expired[0]["state"] == "expired"
    assert env.services.hub.core.rev == 0  # nothing was broadcast
    refused = await env.call("POST", f"/api/scripts/{sid}/publish", env.li, 409)
    assert refused["error"] == "illegal_transition"
    await ws.close()
