"""What an alert says and who its acknowledge links record (issue 12), on real local robots and a real SMTP server.

A manager reads the card in DingTalk / WeCom / Feishu / e-mail: category names in Chinese, a sample post that
cannot inject markup, why the tier, the volume; each named person gets a link that records *them*; a link sent
to a group asks who (sign in, or pick a name); the comment given with an acknowledgement reaches everyone.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller

from monitor.alerting import contacts
from monitor.alerting.acklinks import mask_path
from tests.fixtures.alerts.helpers import T0, Clock, Robot, add_user, make_services, settings_for, store_mention
from tests.support_servers import Inbox
from web.app import create_app
from web.auth import users
from web.auth.middleware import SESSION_COOKIE

HEADLINE = "央视曝光鲜味楼后厨**老鼠**乱窜"
POST = "[点我领券](http://evil.example/x) 过期食材重新贴标 <b>继续</b>售卖\n### 假标题\n多名顾客食物中毒"


@pytest.fixture
async def env(tmp_path: Path, robot: Robot, smtp: tuple[Controller, Inbox], aiohttp_client: Any,
              ) -> AsyncIterator[dict[str, Any]]:
    channels = [
        {"name": "ding", "kind": "dingtalk", "url": robot.url("/robot/send"), "token": "ding-token-0123456789"},
        {"name": "wx", "kind": "wecom", "url": robot.url("/cgi-bin/webhook/send"), "key": "wecom-key-0123456789"},
        {"name": "fs", "kind": "feishu", "url": robot.url("/open-apis/bot/v2/hook"), "token": "feishu-hook-0123"},
        {"name": "mail", "kind": "email", "host": "127.0.0.1", "port": smtp[0].port, "security": "none",
         "sender": "lantern@example.com", "to": ["duty@example.com"]},
        {"name": "group", "kind": "dingtalk", "url": robot.url("/group/send"), "token": "group-token-0123456789"}]
    routes = [{"name": "p1-oncall", "tiers": ["P1"], "roles": ["oncall"], "must_act": True,
               "channels": ["ding", "wx", "fs", "mail"]},
              {"name": "p1-group", "tiers": ["P1"], "must_act": True, "channels": ["group"]}]
    svc = await make_services(settings_for(tmp_path, channels=channels, routes=routes), Clock())
    tokens = {}
    for name, role, display in (("li", "oncall", "李娜"), ("wang", "manager", "王经理"), ("zhao", "agent", "赵六")):
        _, tokens[name] = await add_user(svc, name, role, display_name=display)
    await svc.db.write(lambda db: contacts.save(db, contacts.parse("li", {
        "dingtalk_id": "li-ding", "wecom_id": "li-wx", "feishu_id": "ou_3f9a1c2b4d5e6f70", "email": "li@example.com"}),
        actor="user:li", now=T0))
    client = await aiohttp_client(create_app(svc, manage_lifecycle=False))
    yield {"svc": svc, "client": client, "robot": robot, "inbox": smtp[1],
           "as": {n: {"Authorization": f"Bearer {t}"} for n, t in tokens.items()}}
    await svc.alerts.stop()
    svc.db.close()


async def open_p1(svc: Any) -> int:
    await store_mention(svc, title="鲜味楼门店卫生一般", tier="P4", negative=0.2, sentiment="neutral")
    m = await store_mention(svc, title=HEADLINE, text=POST, tier="P1", reach=8_000_000, source="央视新闻",
                            categories=("food_safety", "media_exposure"))
    m = m.__class__(**{**m.__dict__, "reasons": ("负面 0.97", "央视来源", "评分 88 → P1")})
    await svc.db.write(lambda db: db.execute("update mentions set reasons = ?, author = ? where id = ?",
                                             ['["负面 0.97", "央视来源", "评分 88 → P1"]', "央视新闻", m.id]).rowcount)
    return int((await svc.incidents.on_mentions([m]))[0].incident_id)


def posted(robot: Robot, path: str) -> list[dict[str, Any]]:
    return [r["json"] for r in robot.requests if r["path"].startswith(path)]


def links(text: str) -> dict[str, str]:
    return {label: url for label, url in re.findall(r"\[([^\]]+)\]\((http[^)]+)\)", text)}


async def test_cards_name_categories_show_a_safe_sample_the_reason_and_personal_links(env: dict[str, Any]) -> None:
    svc, robot = env["svc"], env["robot"]
    iid = await open_p1(svc)
    await svc.alerts.tick(T0)  # a new P1: no group wait
    ding = posted(robot, "/robot/send")[0]
    assert ding["msgtype"] == "markdown" and ding["at"]["atUserIds"] == ["li-ding"]
    text = ding["markdown"]["text"]
    assert "食品安全、监管/媒体曝光" in text and "food_safety" not in text
    assert "定级依据" in text and "评分 88 → P1" in text and "央视来源" in text
    assert "提及**：1 条" in text
    sample = next(line for line in text.splitlines() if "样例" in line)
    assert "央视新闻" in sample and "过期食材重新贴标" in sample
    # the post's own markup is inert: no link, no heading, no HTML, one line
    assert "](http://evil" not in text and "<b>" not in text and "\n### 假标题" not in text
    assert "**老鼠**" not in text and "【新事件·P1】" in ding["markdown"]["title"]
    found = links(text)
    assert set(found) == {"确认处理：李娜", "确认处理：其他人", "查看详情"}
    assert urlsplit(found["查看详情"]).path == f"/incidents/{iid}"
    assert found["确认处理：李娜"] != found["确认处理：其他人"]
    group = posted(robot, "/group/send")[0]  # a robot naming nobody: one button for anyone, and the details
    assert group["msgtype"] == "actionCard"
    assert [b["title"] for b in group["actionCard"]["btns"]] == ["确认处理", "查看详情"]
    assert "食品安全" in group["actionCard"]["text"]
    wecom = posted(robot, "/cgi-bin/webhook/send")[0]
    assert wecom["msgtype"] == "text" and wecom["text"]["mentioned_list"] == ["li-wx"]
    content = wecom["text"]["content"]
    assert "食品安全、监管/媒体曝光" in content and "确认处理：李娜: http" in content and "样例" in content
    feishu = posted(robot, "/open-apis/bot/v2/hook")[0]
    rows = feishu["content"]["post"]["zh_cn"]["content"]
    anchors = [cell["text"] for row in rows for cell in row if cell["tag"] == "a"]
    assert anchors == ["确认处理：李娜", "确认处理：其他人", "查看详情"]
    assert any("食品安全" in cell.get("text", "") for row in rows for cell in row)
    (to, mail), = env["inbox"].messages
    body = mail.get_content()
    assert "li@example.com" in to and "食品安全、监管/媒体曝光" in body and "确认处理：李娜" in body


async def test_a_personal_link_records_the_person_and_the_comment_reaches_everyone(env: dict[str, Any]) -> None:
    svc, robot, client = env["svc"], env["robot"], env["client"]
    iid = await open_p1(svc)
    await svc.alerts.tick(T0)
    personal = urlsplit(links(posted(robot, "/robot/send")[0]["markdown"]["text"])["确认处理：李娜"]).path
    page = await (await client.get(personal)).text()
    assert "确认人：李娜" in page and 'name="comment"' in page and 'name="who"' not in page
    svc.clock.now = T0 + 60
    done = await client.post(personal, data={"comment": "我负责，10 分钟内联系门店"})
    assert done.status == 200 and "李娜" in await done.text()
    detail = await (await client.get(f"/api/incidents/{iid}", headers=env["as"]["wang"])).json()
    assert detail["state"] == "acknowledged" and detail["acknowledged_by"] == "user:li"
    assert detail["acknowledged_by_label"] == "李娜" and detail["ack_comment"] == "我负责，10 分钟内联系门店"
    event = next(e for e in detail["events"] if e["kind"] == "acknowledged")
    assert event["detail"]["via"] == "personal_link" and event["detail"]["comment"] == "我负责，10 分钟内联系门店"
    ding = [d for d in detail["deliveries"] if d["channel"] == "ding"]
    assert ding[-1]["status"] == "acknowledged" and ding[-1]["acked_by"] == "user:li"
    before = len(robot.requests)
    await svc.alerts.tick(T0 + 61)  # at once, not after group_interval: everyone sees who owns it
    news = [r["json"] for r in robot.requests[before:] if r["path"].startswith("/group/send")]
    assert news and "已有人确认" in news[0]["markdown"]["title"]
    assert "确认人**：李娜，备注：我负责，10 分钟内联系门店" in news[0]["markdown"]["text"]
    assert "确认处理" not in news[0]["markdown"]["text"]  # nothing left to acknowledge
    assert (await client.post(personal)).status == 410


async def test_a_group_link_asks_who_and_takes_a_picked_name_only_from_the_list(env: dict[str, Any]) -> None:
    svc, robot, client = env["svc"], env["robot"], env["client"]
    iid = await open_p1(svc)
    await svc.alerts.tick(T0)
    group = urlsplit(posted(robot, "/group/send")[0]["actionCard"]["btns"][0]["actionURL"]).path
    page = await (await client.get(group)).text()
    assert "请说明您是谁" in page and 'name="who"' in page
    assert f"/login?next=%2Fack%2F{group.rsplit('/', 1)[1]}" in page
    assert ">李娜<" in page and ">王经理<" in page and ">赵六<" not in page  # agents do not act on alerts
    refused = await client.post(group, data={"comment": "x"})
    assert refused.status == 400
    assert (await client.post(group, data={"who": "zhao"})).status == 400
    assert (await svc.db.read(lambda db: db.execute("select state from incidents where id = ?",
                                                     [iid]).fetchone()))[0] == "open"
    done = await client.post(group, data={"who": "wang", "comment": "我来"})
    assert done.status == 200 and "王经理" in await done.text()
    detail = await (await client.get(f"/api/incidents/{iid}", headers=env["as"]["wang"])).json()
    assert detail["acknowledged_by"] == "user:wang" and detail["ack_comment"] == "我来"
    assert next(e for e in detail["events"] if e["kind"] == "acknowledged")["detail"]["via"] == "picked_name"


async def test_a_group_link_in_a_signed_in_browser_acknowledges_as_that_person(env: dict[str, Any]) -> None:
    svc, robot, client = env["svc"], env["robot"], env["client"]
    iid = await open_p1(svc)
    await svc.alerts.tick(T0)
    group = urlsplit(posted(robot, "/group/send")[0]["actionCard"]["btns"][0]["actionURL"]).path

    def session(db: Any) -> str:
        user = users.find_user(db, "wang")
        assert user is not None
        return users.create_session(db, user, now=svc.clock(), ttl_s=3600)

    cookie = {"Cookie": f"{SESSION_COOKIE}={await svc.db.write(session)}"}
    page = await (await client.get(group, headers=cookie)).text()
    assert "确认人：王经理" in page and 'name="who"' not in page
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page)
    assert csrf is not None
    done = await client.post(group, headers=cookie, data={"_csrf": csrf.group(1), "who": "li"})
    assert done.status == 200
    detail = await (await client.get(f"/api/incidents/{iid}", headers=env["as"]["wang"])).json()
    assert detail["acknowledged_by"] == "user:wang"  # the session, not a name typed into the form
    assert next(e for e in detail["events"] if e["kind"] == "acknowledged")["detail"]["via"] == "signed_in"


async def test_a_forged_person_is_refused(env: dict[str, Any]) -> None:
    svc, robot, client = env["svc"], env["robot"], env["client"]
    await open_p1(svc)
    await svc.alerts.tick(T0)
    personal = urlsplit(links(posted(robot, "/robot/send")[0]["markdown"]["text"])["确认处理：李娜"]).path
    delivery, nonce, _who, sig = personal.rsplit("/", 1)[1].split(".")
    forged = f"/ack/{delivery}.{nonce}.d2FuZw.{sig}"  # "wang", with li's signature
    assert (await client.post(forged)).status == 404


async def test_details_link_survives_sign_in(env: dict[str, Any]) -> None:
    client = env["client"]
    anonymous = await client.get("/incidents/7", allow_redirects=False)
    assert anonymous.status == 302
    location = urlsplit(anonymous.headers["Location"])
    assert location.path == "/login" and parse_qs(location.query) == {"next": ["/incidents/7"]}
    signed = await client.get("/incidents/7", headers=env["as"]["li"], allow_redirects=False)
    assert signed.status == 302 and signed.headers["Location"] == "/console#/incidents/7"


async def test_console_acknowledgement_carries_a_comment(env: dict[str, Any]) -> None:
    svc, client = env["svc"], env["client"]
    iid = await open_p1(svc)
    bad = await client.post(f"/api/incidents/{iid}/ack", headers=env["as"]["li"], json={"comment": 5})
    assert bad.status == 400
    resp = await client.post(f"/api/incidents/{iid}/ack", headers=env["as"]["li"], json={"comment": " 联系门店中 "})
    body = await resp.json()
    assert resp.status == 200 and body["incident"]["ack_comment"] == "联系门店中"
    assert body["incident"]["acknowledged_by_label"] == "李娜"
    listed = await (await client.get("/api/incidents", headers=env["as"]["wang"])).json()
    assert listed["items"][0]["acknowledged_by_label"] == "李娜"


def test_mask_path_hides_tokens_inside_a_login_next() -> None:
    assert mask_path("/login?next=%2Fack%2F12.abc.d2FuZw.0f0f") == "/login?next=%2Fack%2F***"
    assert mask_path("/ack/12.abc.d2FuZw.0f0f") == "/ack/***"


async def test_my_alerts_lists_what_reached_me_one_item_per_incident(env: dict[str, Any]) -> None:
    svc, client = env["svc"], env["client"]
    iid = await open_p1(svc)
    await svc.alerts.tick(T0)
    assert (await client.get("/api/alerts/inbox")).status == 401
    assert (await client.get("/api/alerts/inbox", headers=env["as"]["zhao"])).status == 403  # agents get no alerts
    mine = (await (await client.get("/api/alerts/inbox", headers=env["as"]["li"])).json())["items"]
    # li was alerted in the console and on four channels that named her (the group robot named nobody): one item
    assert [i["incident_id"] for i in mine] == [iid] and mine[0]["count"] == 5
    assert mine[0]["tier"] == "P1" and mine[0]["state"] == "open" and mine[0]["title"].startswith("央视曝光")
    assert (await (await client.get("/api/alerts/inbox", headers=env["as"]["wang"])).json())["items"] == []
    await client.post(f"/api/incidents/{iid}/ack", headers=env["as"]["li"], json={"comment": "我来"})
    after = (await (await client.get("/api/alerts/inbox", headers=env["as"]["li"])).json())["items"][0]
    assert (after["state"], after["acknowledged_by_label"], after["ack_comment"]) == ("acknowledged", "李娜", "我来")


def test_english_cards_name_categories_in_english() -> None:
    from monitor.alerting.messages import render

    payload = {"incident": {"id": 3, "title": "t", "tier": "P1", "state": "open", "mention_count": 2,
                            "negative_share": 1.0, "categories": ["food_safety"], "volume_1h": 2,
                            "sample": {"author": "CCTV", "source": "rss", "text": "post"}, "reason": "评分 88 → P1"}}
    message = render("open", "P1", payload, must_act=True, recipient="x", ack_url="http://h/ack/1",
                     console_url="http://h/incidents/3", lang="en", ack_links=(("Li", "http://h/ack/1.p"),))
    assert "food safety" in message.text and "Why this tier" in message.text and "Sample** (CCTV, rss)" in message.text
    assert [label for label, _ in message.links()] == ["Acknowledge: Li", "Acknowledge: someone else", "Details"]
