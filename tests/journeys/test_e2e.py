"""The walking skeleton, end to end, over real sockets on 127.0.0.1.

feed server -> poll stores and classifies -> incident opens -> alert reaches a
webhook receiver -> manager A drafts, A may not approve, manager B approves,
publishes -> a connected agent receives it -> an agent connecting later gets it
in the snapshot -> retraction reaches both and it leaves the active set.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import add_account, with_lists
from web.app import create_app

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>微博关键词：鲜味楼</title><link>https://weibo.com/</link><description>RSSHub</description>
<item>
  <title>央视曝光鲜味楼后厨老鼠乱窜，过期食材重新贴标继续卖，太恶心了！</title>
  <description>央视3·15晚会曝光：鲜味楼多家门店后厨老鼠乱窜、过期食材更换标签继续使用。
  吃了这么多年，真的恶心，再也不会去了，必须严查！</description>
  <link>https://weibo.com/1234567890/N1a2b3c4d</link>
  <guid>https://weibo.com/1234567890/N1a2b3c4d</guid>
  <pubDate>Sun, 15 Mar 2026 20:31:00 +0800</pubDate>
  <author>央视新闻</author>
</item>
</channel></rss>"""


async def start(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def next_message(ws: aiohttp.ClientWebSocketResponse, wanted: str) -> dict[str, Any]:
    """The next message of type ``wanted``, answering heartbeats on the way."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), timeout=10)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        data = json.loads(msg.data)
        if data["type"] == "ping":
            await ws.send_json({"type": "pong"})
            continue
        if data["type"] == wanted:
            return data


async def test_walking_skeleton(settings, services_factory) -> None:
    feed_app = web.Application()

    async def feed(request: web.Request) -> web.Response:
        return web.Response(text=FEED, content_type="application/rss+xml", charset="utf-8")

    feed_app.router.add_get("/weibo/keyword/鲜味楼", feed)
    received: list[dict[str, Any]] = []
    got_alert = asyncio.Event()
    hook_app = web.Application()

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        got_alert.set()
        return web.json_response({"ok": True})

    hook_app.router.add_post("/hook", hook)
    feed_server = await start(feed_app)
    hook_server = await start(hook_app)
    try:
        configured = with_lists(
            settings.with_overrides(incidents__group_wait_s=0),
            sources=[{"name": "weibo-鲜味楼", "kind": "rss",
                      "url": str(feed_server.make_url("/weibo/keyword/鲜味楼")), "interval_s": 3600}],
            channels=[{"name": "ops-hook", "kind": "webhook", "url": str(hook_server.make_url("/hook"))}],
            routes=[{"tiers": ["P1", "P2", "P3", "P4"], "channels": ["ops-hook"], "must_act": True}],
        )
        services = await services_factory(configured)
        author = await add_account(services, "wang", "manager", "pr")
        approver = await add_account(services, "li", "manager", "service")
        agent = await add_account(services, "zhang", "agent", "hotline")
        late_agent = await add_account(services, "chen", "agent", "hotline")
        app_server = await start(create_app(services))
        try:
            await run_flow(services, app_server, author.headers, approver.headers, agent.token,
                           late_agent.token, got_alert, received)
        finally:
            await app_server.close()
    finally:
        await feed_server.close()
        await hook_server.close()


async def run_flow(services: Any, server: TestServer, author: dict[str, str], approver: dict[str, str],
                   agent_token: str, late_token: str, got_alert: asyncio.Event,
                   received: list[dict[str, Any]]) -> None:
    # 1. One poll stores and classifies the mention.
    results = await services.monitor.poll_once()
    assert [r.ok for r in results] == [True]
    async with aiohttp.ClientSession() as http:
        mentions = await (await http.get(server.make_url("/api/mentions"), headers=author)).json()
        items = mentions["items"]
        assert len(items) == 1
        assert items[0]["sentiment"] == "negative"
        assert "food_safety" in items[0]["categories"]

        # 2. An incident opens and the alert reaches the webhook receiver.
        await asyncio.wait_for(got_alert.wait(), timeout=15)
        incidents = await (await http.get(server.make_url("/api/incidents"), headers=author)).json()
        assert len(incidents["items"]) == 1
        incident = incidents["items"][0]
        assert incident["state"] == "open"
        assert any(str(incident["id"]) in json.dumps(payload, ensure_ascii=False) for payload in received)

        # 3. An agent is watching the ticker.
        ws = await http.ws_connect(server.make_url(f"/ws/ticker?token={agent_token}"))
        snapshot = await next_message(ws, "snapshot")
        already = {item["id"] for item in snapshot["items"]}

        # 4. Manager A drafts and submits; A may not approve; B approves; publish.
        body = "您好，涉事门店已停业整改，并配合市场监管部门调查。如您身体不适，请提供订单信息，我们全程负责。"
        resp = await http.post(server.make_url("/api/scripts"), headers=author, json={
            "title": "食品安全统一口径", "body": body, "priority": "high", "incident_id": incident["id"]})
        assert resp.status == 201, await resp.text()
        script = await resp.json()
        sid, version = script["id"], script["version"]
        resp = await http.post(server.make_url(f"/api/scripts/{sid}/submit"), headers=author)
        assert resp.status == 200, await resp.text()
        resp = await http.post(server.make_url(f"/api/scripts/{sid}/approve"), headers=author,
                               json={"version": version, "comment": "自己批准"})
        assert resp.status == 403
        resp = await http.post(server.make_url(f"/api/scripts/{sid}/approve"), headers=approver,
                               json={"version": version, "comment": "同意"})
        assert resp.status == 200, await resp.text()
        resp = await http.post(server.make_url(f"/api/scripts/{sid}/publish"), headers=approver)
        assert resp.status == 200, await resp.text()

        # 5. The connected agent receives it.
        published = await next_message(ws, "publish")
        assert published["item"]["id"] == sid and published["item"]["body"] == body
        assert sid not in already

        # 6. An agent connecting afterwards receives it on connect.
        late = await http.ws_connect(server.make_url(f"/ws/ticker?token={late_token}"))
        late_snapshot = await next_message(late, "snapshot")
        assert sid in {item["id"] for item in late_snapshot["items"] if item["state"] == "published"}

        # 7. Retracting removes it from both.
        resp = await http.post(server.make_url(f"/api/scripts/{sid}/retract"), headers=author)
        assert resp.status == 200, await resp.text()
        for client in (ws, late):
            retracted = await next_message(client, "retract")
            assert retracted["item"]["id"] == sid
            assert retracted["item"]["state"] == "retracted"
        active = await (await http.get(server.make_url("/api/ticker/active"),
                                       headers={"Authorization": f"Bearer {agent_token}"})).json()
        assert sid not in {item["id"] for item in active["items"] if item["state"] == "published"}
        await ws.close()
        await late.close()

        # 8. Operations see it all in the Prometheus metrics.
        metrics = await (await http.get(server.make_url("/metrics"), headers=author)).text()
        values = {sample.name: sample.value for family in text_string_to_metric_families(metrics)
                  for sample in family.samples if not sample.labels}
        assert float(values["lantern_classification_seconds_count"]) >= 1
        assert float(values["lantern_broadcast_latency_seconds_count"]) >= 2  # publish and retract
        assert float(values["lantern_ticker_delivered_total"]) >= 3  # publish to one, retract to two
