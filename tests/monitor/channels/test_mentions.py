"""Robots @-mention people in each service's own format; e-mail adds their addresses (real local servers)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiosmtpd.controller import Controller

from monitor.channels import feishu
from monitor.channels.base import Mention, Message
from monitor.channels.errors import DeliveryError
from monitor.channels.registry import build_channels
from tests.fixtures.alerts.helpers import Robot
from tests.support_servers import Inbox

OPEN_ID = "ou_7d8a6e6df7621556ce0d21922b676706"
WANG = Mention(label="王经理", mobile="13812345678")
LI = Mention(label="李主管", user_id="li.zhu")


def message(**kw: Any) -> Message:
    base: dict[str, Any] = {
        "title": "【新事件·P1】事件 #7：后厨老鼠", "text": "- **级别**：P1 一级（重大）\n\n> 需要您确认处理",
        "tier": "P1", "kind": "open", "incident_id": 7, "ack_url": "http://lantern.test/ack/1.n.s",
        "console_url": "http://lantern.test/c", "must_act": True, "recipient": "ops"}
    base.update(kw)
    return Message(**base)


async def test_dingtalk_mentions_by_user_id_or_mobile_in_markdown(robot: Robot, http: aiohttp.ClientSession) -> None:
    channel = build_channels([{"name": "ding", "kind": "dingtalk", "url": robot.url("/robot/send"),
                               "token": "dingtalk-access-token-abcdef"}])["ding"]
    await channel.send(message(mentions=(WANG, LI)), http)
    sent = robot.requests[0]["json"]
    assert sent["msgtype"] == "markdown"  # actionCard cannot @ anyone
    assert sent["at"] == {"atUserIds": ["li.zhu"], "atMobiles": ["13812345678"], "isAtAll": False}
    text = sent["markdown"]["text"]
    assert text.endswith("@13812345678 @li.zhu")  # DingTalk shows the mention where the text says @...
    assert "[确认处理](http://lantern.test/ack/1.n.s)" in text  # the acknowledge link stays, inline
    await channel.send(message(), http)
    assert robot.requests[1]["json"]["msgtype"] == "actionCard" and "at" not in robot.requests[1]["json"]


async def test_wecom_mentions_need_a_text_message(robot: Robot, http: aiohttp.ClientSession) -> None:
    channel = build_channels([{"name": "wx", "kind": "wecom", "url": robot.url("/cgi-bin/webhook/send"),
                               "key": "wecom-key-1234-5678"}])["wx"]
    await channel.send(message(mentions=(WANG, LI), text="很长的正文" * 400), http)
    sent = robot.requests[0]["json"]
    assert sent["msgtype"] == "text"
    assert sent["text"]["mentioned_list"] == ["li.zhu"]
    assert sent["text"]["mentioned_mobile_list"] == ["13812345678"]
    content = sent["text"]["content"]
    assert len(content.encode()) <= 2048
    assert content.startswith("【新事件·P1】事件 #7：后厨老鼠")
    assert content.endswith("确认处理: http://lantern.test/ack/1.n.s\n查看详情: http://lantern.test/c")  # never cut
    assert "**" not in content
    await channel.send(message(), http)
    assert robot.requests[1]["json"]["msgtype"] == "markdown"


async def test_feishu_mentions_by_open_id_in_a_signed_post(robot: Robot, http: aiohttp.ClientSession) -> None:
    robot.default = (200, {"code": 0, "msg": "success"})
    channel = build_channels([{"name": "fs", "kind": "feishu", "url": robot.url("/open-apis/bot/v2/hook"),
                               "token": "feishu-hook-id-7777", "secret": "feishu-sign-secret-xyz"}],
                             clock=lambda: 1_773_626_400.0)["fs"]
    await channel.send(message(mentions=(Mention(label="赵总", user_id=OPEN_ID), WANG)), http)
    sent = robot.requests[0]["json"]
    assert sent["msg_type"] == "post"
    assert sent["sign"] == feishu.sign("feishu-sign-secret-xyz", 1_773_626_400)
    post = sent["content"]["post"]["zh_cn"]
    assert post["title"] == "【新事件·P1】事件 #7：后厨老鼠"
    flat = [item for line in post["content"] for item in line]
    assert [i for i in flat if i["tag"] == "at"] == [{"tag": "at", "user_id": OPEN_ID, "user_name": "赵总"}]
    assert {"tag": "a", "text": "确认处理", "href": "http://lantern.test/ack/1.n.s"} in flat
    assert "13812345678" not in json.dumps(sent)  # Feishu robots cannot @ a mobile: it is never sent
    await channel.send(message(mentions=(WANG,)), http)
    assert robot.requests[1]["json"]["msg_type"] == "interactive"  # nobody Feishu can @: the usual card


async def test_email_adds_the_peoples_addresses(smtp: tuple[Controller, Inbox], http: aiohttp.ClientSession) -> None:
    controller, inbox = smtp
    config = {"name": "mail", "kind": "email", "host": "127.0.0.1", "port": controller.port, "security": "none",
              "sender": "lantern@example.com", "to": ["duty@example.com"]}
    channel = build_channels([config])["mail"]
    people = (Mention(label="王经理", email="wang@example.com"), Mention(label="值班", email="DUTY@example.com"),
              Mention(label="李主管", user_id="li.zhu"))
    await channel.send(message(mentions=people), http)
    rcpts, mail = inbox.messages[0]
    assert rcpts == ["duty@example.com", "wang@example.com"]
    assert mail["To"] == "duty@example.com, wang@example.com"
    only_people = build_channels([{**config, "to": []}])["mail"]
    await only_people.send(message(mentions=people[:1]), http)
    assert inbox.messages[1][0] == ["wang@example.com"]
    with pytest.raises(DeliveryError) as info:
        await only_people.send(message(), http)
    assert not info.value.retryable and "no recipients" in str(info.value)
