"""WeCom (企业微信) group robot: markdown up to 4096 bytes, the key in the URL.

20 messages per minute per robot.  Answers ``{"errcode": 0}``; 45009 means
rate limited (retry later), -1 busy; other codes (93000 bad key, 40058 bad
content) are not worth retrying.

People a route selects are @-mentioned.  Only ``text`` messages carry
``mentioned_list`` (WeCom userids) and ``mentioned_mobile_list`` (mobiles), so
such an alert is sent as plain text (at most 2048 bytes) with its links written out.

Config: ``key`` (or ``token``) or a full ``url`` with ``key=``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import aiohttp

from .base import Channel, Message, check_code, dumps, post, truncate_bytes

DEFAULT_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
MAX_MARKDOWN = 4096
MAX_TEXT = 2048


def render(message: Message) -> dict[str, Any]:
    people = [m for m in message.mentions if m.user_id or m.mobile]
    if people:
        return {"msgtype": "text", "text": {
            "content": message.plain(MAX_TEXT),
            "mentioned_list": [m.user_id for m in people if m.user_id],
            "mentioned_mobile_list": [m.mobile for m in people if not m.user_id]}}
    color = "warning" if message.tier in ("P1", "P2") else "comment"
    content = f'## <font color="{color}">{message.title}</font>\n{message.markdown()}'
    return {"msgtype": "markdown", "markdown": {"content": truncate_bytes(content, MAX_MARKDOWN)}}


class WeCom(Channel):
    kind = "wecom"
    rate_per_minute = 20
    default_url = DEFAULT_URL
    options: ClassVar[dict[str, str]] = {
        "url": "The group robot's Webhook address, copied from WeCom (群聊 → 添加群机器人 → Webhook 地址), "
               "e.g. https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=xxxx. Kept secret: never logged "
               "or shown. Give either url or key.",
        "key": "Only the key=... part of that address, instead of url.",
        "token": "Another name for key.",
    }

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        super().__init__(name, config)
        if not (config.get("key") or config.get("token")) and "key=" not in str(config.get("url") or ""):
            self.require("key", alternative="url")

    async def send(self, message: Message, http: aiohttp.ClientSession) -> None:
        key = self.config.get("key") or self.config.get("token")
        params = {"key": str(key)} if key else None
        _, data = await post(http, self, str(self.config.get("url") or DEFAULT_URL), body=dumps(render(message)),
                             params=params)
        check_code(self, data, keys=("errcode",), retryable_codes=frozenset({-1}), rate_codes=frozenset({45009}))
