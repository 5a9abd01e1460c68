"""Robot channels against local servers that behave like DingTalk, WeCom, Feishu and a webhook receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import aiohttp
import pytest

from monitor.channels import dingtalk, feishu, webhook
from monitor.channels.base import Message
from monitor.channels.errors import ChannelConfigError, DeliveryError
from monitor.channels.registry import build_channels
from tests.fixtures.alerts.helpers import Robot

DING_SECRET = "SECdingtalk-signing-secret-0001"
DING_TOKEN = "dingtalk-access-token-abcdef"
FEISHU_SECRET = "feishu-sign-secret-xyz"
FEISHU_HOOK = "feishu-hook-id-7777"
WECOM_KEY = "wecom-key-1234-5678"
HOOK_SECRET = "webhook-hmac-secret-42"
FIXED = 1_773_626_400.0


def message(**kw: Any) -> Message:
    base = {"title": "【新事件·P1】事件 #7：后厨老鼠", "text": "- **级别**：P1", "tier": "P1", "kind": "open",
            "incident_id": 7, "ack_url": "http://lantern.test/ack/1.n.s", "console_url": "http://lantern.test/c",
            "must_act": True, "recipient": "ops"}
    base.update(kw)
    return Message(**base)


def ding_check(request: Any, body: bytes) -> tuple[int, Any] | None:
    ts = request.query.get("timestamp", "")
    expected = base64.b64encode(hmac.new(DING_SECRET.encode(), f"{ts}\n{DING_SECRET}".encode(),
                                         hashlib.sha256).digest()).decode()
    if request.query.get("access_token") != DING_TOKEN:
        return 200, {"errcode": 300001, "errmsg": "token is not exist"}
    if request.query.get("sign") != expected:
        return 200, {"errcode": 310000, "errmsg": "sign not match"}
    return None


def sign_config(robot: Robot, **kw: Any) -> dict[str, Any]:
    return {"name": "ding", "kind": "dingtalk", "url": robot.url("/robot/send"), "token": DING_TOKEN,
            "secret": DING_SECRET, **kw}


async def test_dingtalk_signed_action_card(robot: Robot, http: aiohttp.ClientSession) -> None:
    robot.check = ding_check
    channel = build_channels([sign_config(robot)], clock=lambda: FIXED)["ding"]
    await channel.send(message(), http)
    sent = robot.requests[0]
    assert sent["query"]["timestamp"] == str(int(FIXED * 1000))
    assert sent["json"]["msgtype"] == "actionCard"
    assert sent["json"]["actionCard"]["btns"][0]["actionURL"] == "http://lantern.test/ack/1.n.s"
    await channel.send(message(ack_url=""), http)
    assert robot.requests[1]["json"]["msgtype"] == "markdown"
    assert "查看详情" in robot.requests[1]["json"]["markdown"]["text"]


def test_dingtalk_sign_matches_the_documented_formula() -> None:
    expected = base64.b64encode(hmac.new(b"s3cret", b"1700000000000\ns3cret", hashlib.sha256).digest()).decode()
    assert dingtalk.sign("s3cret", 1700000000000) == expected


async def test_dingtalk_wrong_secret_is_a_final_failure_without_secrets(robot: Robot,
                                                                        http: aiohttp.ClientSession) -> None:
    robot.check = ding_check
    channel = build_channels([sign_config(robot, secret="SECwrong-secret-value")])["ding"]
    with pytest.raises(DeliveryError) as info:
        await channel.send(message(), http)
    assert not info.value.retryable
    assert "310000" in str(info.value)
    for secret in ("SECwrong-secret-value", DING_TOKEN, robot.url()):
        assert secret not in str(info.value)


@pytest.mark.parametrize(("reply", "retryable", "after"), [
    ((200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}), True, 60.0),
    ((200, {"errcode": 310000, "errmsg": "keywords not in content"}), False, None),
    ((200, {"errcode": -1, "errmsg": "system busy"}), True, None),
    ((503, {"errcode": -1}), True, None),
    ((404, {}), False, None),
])
async def test_dingtalk_error_codes(robot: Robot, http: aiohttp.ClientSession, reply: tuple[int, Any],
                                    retryable: bool, after: float | None) -> None:
    robot.replies.append(reply)
    channel = build_channels([sign_config(robot)])["ding"]
    with pytest.raises(DeliveryError) as info:
        await channel.send(message(), http)
    assert info.value.retryable is retryable
    assert info.value.retry_after == after


async def test_wecom_markdown_limit_and_codes(robot: Robot, http: aiohttp.ClientSession) -> None:
    channel = build_channels([{"name": "wx", "kind": "wecom", "url": robot.url("/cgi-bin/webhook/send"),
                               "key": WECOM_KEY}])["wx"]
    await channel.send(message(text="很长的正文" * 2000), http)
    sent = robot.requests[0]
    assert sent["query"]["key"] == WECOM_KEY
    content = sent["json"]["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096
    assert sent["json"]["msgtype"] == "markdown"
    robot.replies += [(200, {"errcode": 45009, "errmsg": "api freq out of limit"}),
                      (200, {"errcode": 93000, "errmsg": "invalid webhook url"})]
    with pytest.raises(DeliveryError) as limited:
        await channel.send(message(), http)
    assert limited.value.retryable and limited.value.retry_after == 60.0
    with pytest.raises(DeliveryError) as bad:
        await channel.send(message(), http)
    assert not bad.value.retryable
    assert WECOM_KEY not in str(bad.value)


def feishu_check(request: Any, body: bytes) -> tuple[int, Any] | None:
    data = json.loads(body)
    expected = base64.b64encode(hmac.new(f"{data.get('timestamp')}\n{FEISHU_SECRET}".encode(), b"",
                                         hashlib.sha256).digest()).decode()
    if data.get("sign") != expected:
        return 200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"}
    if len(body) > 20 * 1024:
        return 200, {"code": 9499, "msg": "request too large"}
    return 200, {"code": 0, "msg": "success", "data": {}}


async def test_feishu_signed_card_under_20kb(robot: Robot, http: aiohttp.ClientSession) -> None:
    robot.check = feishu_check
    channel = build_channels([{"name": "fs", "kind": "feishu", "url": robot.url("/open-apis/bot/v2/hook"),
                               "token": FEISHU_HOOK, "secret": FEISHU_SECRET}], clock=lambda: FIXED)["fs"]
    await channel.send(message(text="舆情" * 20000), http)
    sent = robot.requests[0]
    assert sent["path"] == f"/open-apis/bot/v2/hook/{FEISHU_HOOK}"
    assert sent["json"]["timestamp"] == str(int(FIXED))
    assert sent["json"]["msg_type"] == "interactive"
    assert len(sent["body"]) <= 20 * 1024
    buttons = sent["json"]["card"]["elements"][-1]["actions"]
    assert buttons[0]["url"] == "http://lantern.test/ack/1.n.s"
    assert feishu.sign("s", 1700000000) == base64.b64encode(
        hmac.new(b"1700000000\ns", b"", hashlib.sha256).digest()).decode()


async def test_feishu_bad_sign_and_rate_limit(robot: Robot, http: aiohttp.ClientSession) -> None:
    robot.check = feishu_check
    wrong = build_channels([{"name": "fs", "kind": "feishu", "url": robot.url("/hook"), "token": FEISHU_HOOK,
                             "secret": "not-the-secret"}])["fs"]
    with pytest.raises(DeliveryError) as info:
        await wrong.send(message(), http)
    assert not info.value.retryable and "19021" in str(info.value)
    assert FEISHU_HOOK not in str(info.value) and "not-the-secret" not in str(info.value)
    robot.check = None
    robot.replies.append((200, {"code": 11232, "msg": "frequency limited"}))
    with pytest.raises(DeliveryError) as limited:
        await wrong.send(message(), http)
    assert limited.value.retryable


async def test_webhook_hmac_signed_json(robot: Robot, http: aiohttp.ClientSession) -> None:
    robot.default = (204, None)
    channel = build_channels([{"name": "hook", "kind": "webhook", "url": robot.url("/hook"),
                               "secret": HOOK_SECRET}], clock=lambda: FIXED)["hook"]
    await channel.send(message(), http)
    sent = robot.requests[0]
    ts = sent["headers"]["X-Lantern-Timestamp"]
    assert sent["headers"]["X-Lantern-Signature"] == webhook.signature(HOOK_SECRET, ts, sent["body"])
    assert sent["headers"]["X-Lantern-Signature"] == "sha256=" + hmac.new(
        HOOK_SECRET.encode(), ts.encode() + b"." + sent["body"], hashlib.sha256).hexdigest()
    assert sent["json"]["incident_id"] == 7 and sent["json"]["event"] == "open"


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (401, False), (429, True), (500, True)])
async def test_webhook_status_classes(robot: Robot, http: aiohttp.ClientSession, status: int,
                                      retryable: bool) -> None:
    robot.default = (status, {"error": "x"})
    channel = build_channels([{"name": "hook", "kind": "webhook", "url": robot.url("/hook?token=abcdefgh123")}])
    with pytest.raises(DeliveryError) as info:
        await channel["hook"].send(message(), http)
    assert info.value.retryable is retryable
    assert "abcdefgh123" not in str(info.value) and "127.0.0.1" not in str(info.value)


async def test_unreachable_receiver_is_retryable_and_names_no_url(http: aiohttp.ClientSession) -> None:
    channel = build_channels([{"name": "hook", "kind": "webhook",
                               "url": "http://127.0.0.1:9/hook/secret-path-token"}])["hook"]
    with pytest.raises(DeliveryError) as info:
        await channel.send(message(), http)
    assert info.value.retryable
    assert "secret-path-token" not in str(info.value)


@pytest.mark.parametrize(("tables", "needle"), [
    ([{"kind": "webhook", "url": "http://x"}], "name"),
    ([{"name": "a", "kind": "pager"}], "kind"),
    ([{"name": "a", "kind": "webhook"}], "url"),
    ([{"name": "a", "kind": "webhook", "url": "ftp://x"}], "http"),
    ([{"name": "a", "kind": "dingtalk"}], "token"),
    ([{"name": "a", "kind": "email", "host": "h", "sender": "s@x", "to": ["t@x"], "security": "tls13"}],
     "security"),
    ([{"name": "a", "kind": "console"}, {"name": "a", "kind": "console"}], "duplicate"),
    ([{"name": "a", "kind": "wecom", "key": "k", "rate_per_minute": "many"}], "rate_per_minute"),
    ([{"name": "a", "kind": "email", "host": "h", "sender": "s@x", "to": ["t@x"], "port": "smtp"}], "port"),
])
def test_bad_channel_config_is_a_clear_error(tables: list[dict[str, Any]], needle: str) -> None:
    with pytest.raises(ChannelConfigError) as info:
        build_channels(tables)
    assert needle in str(info.value)


def test_describe_never_shows_secrets() -> None:
    channels = build_channels([
        {"name": "d", "kind": "dingtalk", "token": DING_TOKEN, "secret": DING_SECRET},
        {"name": "w", "kind": "webhook", "url": "https://hooks.example.com/services/T0/B0/XXXXsecretXXXX",
         "secret": HOOK_SECRET, "headers": {"Authorization": "Bearer header-secret-1"}},
        {"name": "m", "kind": "email", "host": "smtp.example.com", "sender": "a@x", "to": ["b@x"],
         "username": "a", "password": "smtp-password-9"},
    ])
    shown = json.dumps([c.describe() for c in channels.values()])
    for secret in (DING_TOKEN, DING_SECRET, "XXXXsecretXXXX", HOOK_SECRET, "header-secret-1", "smtp-password-9"):
        assert secret not in shown
    assert "console" in channels
