"""``lantern alert test CHANNEL [--config FILE] [--to ADDRESS]``: send a test message through a channel.

The message goes through the same channel code as real alerts (signing, rate
limits aside), and the service's answer is reported: a robot answering HTTP 200
with a non-zero error code is a failure, as it is for alerts.  Exit status 0 when
the message was accepted, 1 when not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from typing import Any

from monitor.channels.base import Channel, Mention, Message, open_session
from monitor.channels.errors import ChannelConfigError, DeliveryError
from monitor.channels.registry import build_channels
from web.cli._common import add_config_argument, settings_from
from web.configure import network_policy
from web.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("alert", help="alert channels: send a test message")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    test = actions.add_parser("test", help="send a test message through a [[channels]] entry and show the answer")
    test.add_argument("channel", help="name of the channel in [[channels]]")
    test.add_argument("--to", action="append", default=[], metavar="ADDRESS",
                      help="e-mail channels: also send to this address (repeatable)")
    add_config_argument(test)
    test.set_defaults(func=run_test)


def test_message(channel: str) -> Message:
    host = socket.gethostname()
    text = (f"这是一条来自 Lantern 走马灯的测试消息：渠道 **{channel}** 可以收到告警。无需处理。\n\n"
            f"This is a test message from Lantern: channel {channel} can receive alerts. Nothing to do. ({host})")
    return Message(title="Lantern 测试消息 (test message)", text=text, tier="P4", kind="test")


def _reply(channel: Channel) -> str:
    if channel.last_reply is None:
        return ""
    status, data = channel.last_reply
    body = json.dumps(data, ensure_ascii=False)[:200] if data is not None else "(no JSON body)"
    return f"HTTP {status} {body}"


def _masked(channel: Channel, text: str) -> str:
    for secret in sorted(channel.secrets(), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


async def send_test(channel: Channel, extra_to: list[str]) -> tuple[bool, str]:
    message = test_message(channel.name)
    if extra_to:
        message = Message(**{**message.__dict__, "mentions": tuple(Mention(label=a, email=a) for a in extra_to)})
    async with open_session(channel.network) as session:
        try:
            await channel.send(message, session)
        except DeliveryError as exc:
            answer = _reply(channel)
            detail = f"; 服务回复 (answer): {answer}" if answer else ""
            return False, _masked(channel, f"✗ 发送失败 (not delivered): {exc}{detail}")
    answer = _reply(channel)
    done = f"服务回复 (answer): {answer}" if answer else "服务已接受 (accepted)"
    return True, _masked(channel, f"✓ 已发送到 {channel.name} ({channel.kind}) (sent): {done}")


def run_test(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    try:
        channels: dict[str, Any] = build_channels(settings.lists["channels"], network=network_policy(settings))
    except ChannelConfigError as exc:
        raise ConfigError(str(exc)) from None
    channel = channels.get(args.channel)
    if channel is None:
        names = ", ".join(n for n in channels if n != "console") or "(none)"
        raise ConfigError(f"没有名为 {args.channel!r} 的渠道 (no such channel); [[channels]]: {names}")
    if channel.kind == "console":
        print("· console 渠道是控制台内的提醒，没有可发送的外部消息 (the console channel is the in-app inbox; "
              "nothing leaves Lantern)")
        return 0
    ok, line = asyncio.run(send_test(channel, list(args.to)))
    print(line)
    return 0 if ok else 1
