"""WeCom (企业微信) group robot: markdown up to 4096 bytes, the key in the URL.

20 messages per minute per robot.  Answers ``{"errcode": 0}``; 45009 means
rate limited (retry later), -1 busy; other codes (93000 bad key, 40058 bad
content) are not worth retrying.

Config: ``key`` (or ``token``) or a full ``url`` with ``key=``.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from .base import Channel, Message, check_code, dumps, post, truncate_bytes

DEFAULT_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
MAX_MARKDOWN = 4096


def render(message: Message) -> dict[str, Any]:
    color = "warning" if message.tier in ("P1", "P2") else "comment"
    content = f'## <font color="{color}">{message.title}</font>\n{message.markdown()}'
    return {"msgtype": "markdown", "markdown": {"content": truncate_bytes(content, MAX_MARKDOWN)}}


class WeCom(Channel):
    kind = "wecom"
    rate_per_minute = 20

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        super().__init__(name, config)
        if not (config.get("key") or config.get("token")) and "key=" not in str(config.get("url") or ""):
            self.require("key")

    async def send(self, message: Message, http: aiohttp.ClientSession) -> None:
        key = self.config.get("key") or self.config.get("token")
        params = {"key": str(key)} if key else None
        _, data = await post(http, self, str(self.config.get("url") or DEFAULT_URL), body=dumps(render(message)),
                             params=params)
        check_code(self, data, keys=("errcode",), retryable_codes=frozenset({-1}), rate_codes=frozenset({45009}))
