"""DingTalk group robot: markdown, or an actionCard with an acknowledge button; signed with ``sign``.

``sign`` = base64(HMAC-SHA256(key=secret, msg=f"{timestamp_ms}\\n{secret}")), URL-encoded,
sent as ``&timestamp=..&sign=..``.  20 messages per minute per robot.  The robot
answers HTTP 200 with ``{"errcode": 0}``; any other errcode is a failure
(130101 rate limited, 310000 sign / keyword / IP mismatch, -1 busy).

People a route selects are @-mentioned: ``at.atUserIds`` (their DingTalk userId) or
``at.atMobiles`` (their mobile), each also written as ``@id`` / ``@mobile`` in the
text, which is where DingTalk shows the mention.  Only ``text`` and ``markdown``
messages can @ someone, so such an alert is markdown with the acknowledge link
inline instead of an actionCard button.

Config: ``token`` (access_token) or a full ``url`` with ``access_token=``; ``secret`` (optional).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any, ClassVar

import aiohttp

from .base import Channel, Message, check_code, dumps, post

DEFAULT_URL = "https://oapi.dingtalk.com/robot/send"


def sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def render(message: Message) -> dict[str, Any]:
    people = [m for m in message.mentions if m.user_id or m.mobile]
    if people:
        tags = " ".join(f"@{m.user_id or m.mobile}" for m in people)
        return {"msgtype": "markdown",
                "markdown": {"title": message.title, "text": f"### {message.title}\n\n{message.markdown()}\n\n{tags}"},
                "at": {"atUserIds": [m.user_id for m in people if m.user_id],
                       "atMobiles": [m.mobile for m in people if not m.user_id], "isAtAll": False}}
    if message.ack_url:
        btns = [{"title": label, "actionURL": url} for label, url in message.links()]
        return {"msgtype": "actionCard", "actionCard": {
            "title": message.title, "text": f"### {message.title}\n\n{message.text}", "btnOrientation": "1",
            "btns": btns}}
    return {"msgtype": "markdown", "markdown": {"title": message.title,
                                                "text": f"### {message.title}\n\n{message.markdown()}"}}


class DingTalk(Channel):
    kind = "dingtalk"
    rate_per_minute = 20
    default_url = DEFAULT_URL
    options: ClassVar[dict[str, str]] = {
        "url": "The robot's Webhook address, copied from DingTalk (群设置 → 机器人 → 添加机器人 → 自定义 → "
               "Webhook), e.g. https://oapi.dingtalk.com/robot/send?access_token=xxxx. Kept secret: never "
               "logged or shown. Give either url or token.",
        "token": "Only the access_token=... part of that address, instead of url.",
        "secret": "The robot's signing secret (安全设置 → 加签, starts with SEC). Recommended; without it the "
                  "robot must use a keyword or an IP allow-list, and a message without the keyword is refused.",
    }

    def __init__(self, name: str, config: dict[str, Any], *, clock: Any = time.time) -> None:
        super().__init__(name, config)
        if not config.get("token") and "access_token=" not in str(config.get("url") or ""):
            self.require("token", alternative="url")
        self.clock = clock

    async def send(self, message: Message, http: aiohttp.ClientSession) -> None:
        params: dict[str, str] = {}
        if self.config.get("token"):
            params["access_token"] = str(self.config["token"])
        if self.config.get("secret"):
            ts = int(self.clock() * 1000)
            params.update(timestamp=str(ts), sign=sign(str(self.config["secret"]), ts))
        _, data = await post(http, self, str(self.config.get("url") or DEFAULT_URL), body=dumps(render(message)),
                             params=params)
        check_code(self, data, keys=("errcode",), retryable_codes=frozenset({-1}),
                   rate_codes=frozenset({130101, 130102}))
