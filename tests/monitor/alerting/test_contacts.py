"""The contact directory: validation, the contacts API, and routes reaching people through robots and e-mail.

End to end: real SQLite, a local robot server for DingTalk / WeCom / Feishu (the posted JSON is checked),
aiosmtpd for e-mail, the aiohttp app in-process.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from monitor.alerting import contacts
from monitor.alerting.contacts import Contact, mask_mobile, mask_text
from monitor.alerting.errors import ContactError
from monitor.alerting.outbox import list_deliveries
from monitor.alerting.routing import Recipient
from tests.fixtures.alerts.helpers import T0, Clock, Robot, add_user, make_services, settings_for, store_mention
from tests.support_servers import Inbox
from web.app import create_app

OPEN_ID = "ou_7d8a6e6df7621556ce0d21922b676706"
WANG_MOBILE = "13812345678"
STORY = "鲜味楼外卖吃出异物，顾客投诉无人处理"


# -- validation --------------------------------------------------------------------------------------------
def test_parse_normalizes_and_keeps_what_is_valid() -> None:
    c = contacts.parse("wang", {"email": " wang@example.com ", "mobile": "+86 138-1234-5678", "dingtalk_id": "manager7",
                                "wecom_id": "WangJingLi", "feishu_id": OPEN_ID, "prefer": ["feishu", "email"]})
    assert (c.email, c.mobile, c.dingtalk_id, c.wecom_id, c.feishu_id) == (
        "wang@example.com", WANG_MOBILE, "manager7", "WangJingLi", OPEN_ID)
    assert c.prefer == ("feishu", "email")
    assert contacts.parse("wang", {"mobile": "008613812345678", "prefer": "wecom, email"}).mobile == WANG_MOBILE
    assert contacts.parse("wang", {}) == Contact("wang")


@pytest.mark.parametrize(("body", "field", "zh", "en"), [
    ({"email": "wang@"}, "email", "电子邮箱", "e-mail"),
    ({"email": "a@b.com>\nBcc: x@y.com"}, "email", "电子邮箱", "e-mail"),  # no header injection
    ({"mobile": "1381234567"}, "mobile", "手机号", "mobile"),  # 10 digits
    ({"mobile": "23812345678"}, "mobile", "手机号", "mobile"),
    ({"mobile": "12812345678"}, "mobile", "手机号", "mobile"),  # no 12x numbers
    ({"mobile": 13812345678}, "mobile", "字符串", "string"),
    ({"feishu_id": "wang"}, "feishu_id", "ou_", "ou_"),
    ({"dingtalk_id": 'a" onclick="x'}, "dingtalk_id", "字母", "letters"),
    ({"prefer": ["sms"]}, "prefer", "sms", "sms"),
    ({"prefer": ["email", "email"]}, "prefer", "重复", "twice"),
    ({"phone": "1"}, "phone", "未知字段", "unknown"),
])
def test_parse_refuses_with_clear_chinese_and_english(body: dict[str, Any], field: str, zh: str, en: str) -> None:
    with pytest.raises(ContactError) as info:
        contacts.parse("wang", body)
    assert info.value.field == field
    assert zh in info.value.message_zh and en in info.value.message_en


def test_masking() -> None:
    assert mask_mobile(WANG_MOBILE) == "138****5678"
    assert mask_text(f"errmsg: {WANG_MOBILE} not in group, 8613900001111, order 213812345678") == (
        "errmsg: 138****5678 not in group, 8613900001111, order 213812345678")  # only standalone numbers


def test_plan_follows_the_preferred_order_and_reports_missing_contacts() -> None:
    kinds = {"ding": "dingtalk", "wx": "wecom", "fs": "feishu", "mail": "email", "hook": "webhook"}
    found = [Recipient(f"channel:{c}", c, c, True, 0, False, "r", ("wang", "li", "zhao")) for c in kinds]
    directory = {"wang": Contact("wang", mobile=WANG_MOBILE, email="wang@example.com"),
                 "li": Contact("li", dingtalk_id="li7", feishu_id=OPEN_ID, prefer=("feishu", "dingtalk"))}
    plan = contacts.plan(found, kinds, directory, [{"name": "wang", "display_name": "王经理"}, {"name": "li"}])
    assert plan.mention == {"ding": ("wang",), "wx": ("wang",), "fs": ("li",), "mail": ("wang",)}
    assert plan.missing == {"wang": ("fs",), "li": ("wx", "mail"), "zhao": ("ding", "wx", "fs", "mail")}
    ding = found[0]
    assert plan.payload(ding) == {"mention": [{"user": "wang", "label": "王经理"}]}
    assert plan.note(ding) == "已@ (mentioned): 王经理 <138****5678>; 无联系方式 (no contact): zhao (zhao)"
    assert plan.note(found[3]) == ("收件人 (mailed to): 王经理 <wang@example.com>; "
                                   "无联系方式 (no contact): li (li), zhao (zhao)")
    assert plan.note(found[4]) is None and plan.payload(found[4]) == {}  # a webhook names nobody
    person = Recipient("user:zhao", "zhao", "console", True, 0, False, "r")
    assert plan.note(person) == "无联系方式的渠道 (no contact for): ding, wx, fs, mail"


# -- end to end ------------------------------------------------------------------------------------------
@pytest.fixture
async def robot() -> AsyncIterator[Robot]:
    r = await Robot().start()
    r.check = lambda request, body: (200, {"code": 0, "msg": "success"}) if "/hook/" in request.path else None
    yield r
    await r.close()


@pytest.fixture
async def env(tmp_path: Path, robot: Robot, smtp: tuple[Controller, Inbox], aiohttp_client: Any,
              ) -> AsyncIterator[dict[str, Any]]:
    channels = [
        {"name": "ding", "kind": "dingtalk", "url": robot.url("/robot/send"), "token": "ding-token-0123456789"},
        {"name": "wx", "kind": "wecom", "url": robot.url("/cgi-bin/webhook/send"), "key": "wecom-key-0123456789"},
        {"name": "fs", "kind": "feishu", "url": robot.url("/open-apis/bot/v2/hook"), "token": "feishu-hook-0123"},
        {"name": "mail", "kind": "email", "host": "127.0.0.1", "port": smtp[0].port, "security": "none",
         "sender": "lantern@example.com", "to": ["duty@example.com"]}]
    routes = [{"name": "p2-managers", "tiers": ["P2"], "roles": ["manager"], "must_act": True,
               "channels": ["ding", "wx", "fs", "mail"]}]
    svc = await make_services(settings_for(tmp_path, channels=channels, routes=routes, incidents__group_wait_s=0),
                              Clock())
    tokens = {}
    for name, role, display in (("wang", "manager", "王经理"), ("li", "manager", "李主管"), ("zhao", "manager", "赵六"),
                                ("boss", "admin", "")):
        _, tokens[name] = await add_user(svc, name, role, display_name=display)
    client = await aiohttp_client(create_app(svc, manage_lifecycle=False))
    yield {"svc": svc, "client": client, "robot": robot, "inbox": smtp[1],
           "as": {n: {"Authorization": f"Bearer {t}"} for n, t in tokens.items()}}
    await svc.alerts.stop()
    svc.db.close()


async def open_incident(svc: Any) -> int:
    m = await store_mention(svc, title=STORY, tier="P2", categories=("food_safety",))
    return int((await svc.incidents.on_mentions([m]))[0].incident_id)


def posted(robot: Robot, path: str) -> list[dict[str, Any]]:
    return [r["json"] for r in robot.requests if r["path"].startswith(path)]


async def test_contacts_api_roles_validation_and_nothing_lost(env: dict[str, Any]) -> None:
    client, who = env["client"], env["as"]
    assert (await client.get("/api/users/wang/contacts")).status == 401
    empty = await (await client.get("/api/users/wang/contacts", headers=who["wang"])).json()
    assert empty["contact"]["mobile"] == "" and empty["kinds"] == ["dingtalk", "wecom", "feishu", "email"]
    resp = await client.put("/api/users/wang/contacts", headers=who["wang"],
                            json={"email": "wang@example.com", "mobile": "138 1234 5678", "prefer": ["dingtalk"]})
    assert resp.status == 200 and (await resp.json())["contact"]["mobile"] == WANG_MOBILE
    assert resp.headers["Cache-Control"] == "no-store"
    bad = await client.put("/api/users/wang/contacts", headers=who["wang"], json={"mobile": "1234"})
    assert bad.status == 400
    error = await bad.json()
    assert error["field"] == "mobile" and "手机号" in error["message_zh"] and "mobile" in error["message_en"]
    kept = await (await client.get("/api/users/wang/contacts", headers=who["boss"])).json()
    assert kept["contact"]["mobile"] == WANG_MOBILE and kept["contact"]["prefer"] == ["dingtalk"]  # nothing lost
    other = await client.put("/api/users/wang/contacts", headers=who["li"], json={"mobile": "13900001111"})
    assert other.status == 403 and "admin" in (await other.json())["message"]
    assert (await client.get("/api/users/wang/contacts", headers=who["li"])).status == 403
    assert (await client.get("/api/users/nobody/contacts", headers=who["boss"])).status == 404
    assert (await client.put("/api/users/li/contacts", headers=who["boss"],
                             json={"dingtalk_id": "li7", "feishu_id": OPEN_ID})).status == 200
    assert (await client.put("/api/users/li/contacts", headers=who["boss"], data="[1]")).status == 400
    cleared = await client.put("/api/users/li/contacts", headers=who["boss"], json={})
    assert (await cleared.json())["contact"]["dingtalk_id"] == ""
    assert (await env["svc"].db.read(contacts.load_all)).keys() == {"wang"}  # empty rows go


async def put(env: dict[str, Any], name: str, body: dict[str, Any]) -> None:
    resp = await env["client"].put(f"/api/users/{name}/contacts", headers=env["as"]["boss"], json=body)
    assert resp.status == 200, await resp.text()


async def test_a_route_mentions_its_people_in_every_robots_format(env: dict[str, Any]) -> None:
    svc, robot, inbox = env["svc"], env["robot"], env["inbox"]
    await put(env, "wang", {"mobile": WANG_MOBILE, "email": "wang@example.com"})
    await put(env, "li", {"dingtalk_id": "li7", "wecom_id": "LiZhuGuan", "feishu_id": OPEN_ID, "prefer": ["feishu"]})
    iid = await open_incident(svc)
    await svc.alerts.tick(T0 + 1)

    (ding,) = posted(robot, "/robot/send")
    assert ding["msgtype"] == "markdown"
    assert ding["at"] == {"atUserIds": [], "atMobiles": [WANG_MOBILE], "isAtAll": False}  # li prefers Feishu
    assert ding["markdown"]["text"].endswith(f"@{WANG_MOBILE}") and "/ack/" in ding["markdown"]["text"]
    (wx,) = posted(robot, "/cgi-bin/webhook/send")
    assert wx["msgtype"] == "text"
    assert (wx["text"]["mentioned_list"], wx["text"]["mentioned_mobile_list"]) == ([], [WANG_MOBILE])
    (fs,) = posted(robot, "/open-apis/bot/v2/hook")
    ats = [i for line in fs["content"]["post"]["zh_cn"]["content"] for i in line if i["tag"] == "at"]
    assert ats == [{"tag": "at", "user_id": OPEN_ID, "user_name": "李主管"}]
    ((rcpts, mail),) = inbox.messages
    assert rcpts == ["duty@example.com", "wang@example.com"] and "鲜味楼" in mail["Subject"]

    rows = {r["recipient"]: r for r in await svc.db.read(lambda db: list_deliveries(db, incident_id=iid))}
    assert {k for k, r in rows.items() if r["status"] == "sent"} == {
        "channel:ding", "channel:wx", "channel:fs", "channel:mail", "user:wang", "user:li", "user:zhao"}
    assert rows["channel:ding"]["note"] == "已@ (mentioned): 王经理 <138****5678>; 无联系方式 (no contact): 赵六 (zhao)"
    assert rows["channel:fs"]["note"] == ("已@ (mentioned): 李主管 <feishu id>; "
                                          "无联系方式 (no contact): 王经理 (wang), 赵六 (zhao)")
    assert rows["channel:mail"]["note"].startswith("收件人 (mailed to): 王经理 <wang@example.com>")
    assert rows["user:zhao"]["note"] == "无联系方式的渠道 (no contact for): ding, wx, fs, mail"  # console only
    assert rows["user:li"]["note"] == "无联系方式的渠道 (no contact for): mail"

    log = await env["client"].get(f"/api/alerts?incident_id={iid}", headers=env["as"]["wang"])
    text = await log.text()
    assert log.status == 200 and "138****5678" in text and WANG_MOBILE not in text  # masked in the delivery log
    stored = await svc.db.read(lambda db: [r[0] for r in db.execute("select payload from alert_deliveries")])
    assert not any(WANG_MOBILE in p for p in stored)  # deliveries keep names, contacts are read at send time

    await svc.alerts.tick(T0 + 30 * 60 + 2)  # P2 reminder (30 min): the robots name the same people again
    reminders = posted(robot, "/robot/send")
    assert len(reminders) == 2 and reminders[1]["at"]["atMobiles"] == [WANG_MOBILE]


async def test_mobiles_never_reach_logs_or_stored_errors(env: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    svc, robot = env["svc"], env["robot"]
    await put(env, "wang", {"mobile": WANG_MOBILE})
    robot.replies.append((200, {"errcode": 400105, "errmsg": f"atMobiles {WANG_MOBILE} is not a group member"}))
    iid = await open_incident(svc)
    with caplog.at_level(logging.DEBUG):
        await svc.alerts.tick(T0 + 1)
    (ding,) = [r for r in await svc.db.read(lambda db: list_deliveries(db, incident_id=iid))
               if r["recipient"] == "channel:ding"]
    assert ding["status"] == "failed" and "138****5678 is not a group member" in ding["last_error"]
    assert WANG_MOBILE not in json.dumps(ding, ensure_ascii=False)
    assert "138****5678" in caplog.text and WANG_MOBILE not in caplog.text


async def test_routing_shows_the_holiday_setting(env: dict[str, Any]) -> None:
    body = await (await env["client"].get("/api/routing", headers=env["as"]["wang"])).json()
    assert body["quiet_on_holidays"] is False and body["holiday_calendar"] is None

