"""Feishu / Lark custom bot: an interactive card with an acknowledge button, optionally signed.

``sign`` = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")), timestamp in
seconds, both sent in the JSON body.  100 messages per minute and 5 per second,
request body at most 20 KB.  Answers ``{"code": 0}`` (older: ``StatusCode``);
19021 bad sign, 19024 keyword mismatch are final; 9499 / 11232 rate limited.

People a route selects are @-mentioned by their ``open_id``: the alert is then a
rich-text ``post`` (``{"tag": "at", "user_id": "ou_..."}``, which custom bots may
send) with its links inline.  Feishu robots cannot @ a mobile number.

Config: ``token`` (the hook id, appended to ``url``) or a full ``url``; ``secret`` (optional).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import replace
from typing import Any, ClassVar

import aiohttp

from .base import Channel, Message, check_code, dumps, post, truncate_bytes

DEFAULT_URL = "https://open.feishu.cn/open-apis/bot/v2/hook"
MAX_BODY = 20 * 1024
TEMPLATES = {"P1": "red", "P2": "orange", "P3": "yellow", "P4": "blue"}


def sign(secret: str, timestamp_s: int) -> str:
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def render(message: Message, text: str | None = None) -> dict[str, Any]:
    elements: list[dict[str, Any]] = [{"tag": "div", "text": {"tag": "lark_md", "content": text or message.text}}]
    actions = [{"tag": "button", "text": {"tag": "plain_text", "content": label}, "type": "primary", "url": url}
               for label, url in message.ack_choices()]
    if message.console_url:
        actions.append({"tag": "button", "text": {"tag": "plain_text", "content": message.details_label},
                        "type": "default", "url": message.console_url})
    if actions:
        elements.append({"tag": "action", "actions": actions})
    return {"msg_type": "interactive", "card": {
        "config": {"wide_screen_mode": True},
        "header": {"title": {"tag": "plain_text", "content": message.title},
                   "template": TEMPLATES.get(message.tier, "blue")},
        "elements": elements}}


def render_post(message: Message, lines: list[str] | None = None) -> dict[str, Any]:
    """A ``post`` message that @-mentions ``message.mentions`` (those with an open_id)."""
    content: list[list[dict[str, Any]]] = [[{"tag": "text", "text": line}]
                                           for line in (message.plain_lines() if lines is None else lines)]
    links = [{"tag": "a", "text": label, "href": url} for label, url in message.links()]
    if links:
        content.append(links)
    content.append([{"tag": "at", "user_id": m.user_id, "user_name": m.label} for m in message.mentions
                    if m.user_id])
    locale = "en_us" if message.lang == "en" else "zh_cn"
    return {"msg_type": "post", "content": {"post": {locale: {"title": message.title, "content": content}}}}


class Feishu(Channel):
    kind = "feishu"
    rate_per_minute = 100
    rate_per_second = 5
    default_url = DEFAULT_URL
    options: ClassVar[dict[str, str]] = {
        "url": "The custom bot's Webhook address, copied from Feishu/Lark (群设置 → 群机器人 → 添加机器人 → "
               "自定义机器人), e.g. https://open.feishu.cn/open-apis/bot/v2/hook/xxxx (Lark: "
               "open.larksuite.com). Kept secret: never logged or shown. Give either url or token.",
        "token": "Only the hook id after /hook/, instead of url.",
        "secret": "The bot's signing secret (安全设置 → 签名校验), if it is turned on.",
    }

    def __init__(self, name: str, config: dict[str, Any], *, clock: Any = time.time) -> None:
        super().__init__(name, config)
        if not config.get("token") and "/hook/" not in str(config.get("url") or ""):
            self.require("token", alternative="url")
        self.clock = clock

    def body(self, message: Message) -> bytes:
        mentions = any(m.user_id for m in message.mentions)
        card = render_post(message) if mentions else render(message)
        body = dumps(card)
        if len(body) > MAX_BODY - 512:  # leave room for timestamp and sign
            cut = truncate_bytes(message.text, max(200, len(message.text.encode()) - (len(body) - MAX_BODY) - 1024))
            card = render_post(message, replace(message, text=cut).plain_lines()) if mentions else render(message, cut)
        if self.config.get("secret"):
            ts = int(self.clock())
            card = {"timestamp": str(ts), "sign": sign(str(self.config["secret"]), ts), **card}
        return dumps(card)

    def endpoint(self) -> str:
        url = str(self.config.get("url") or DEFAULT_URL)
        return url.rstrip("/") + "/" + str(self.config["token"]) if self.config.get("token") else url

    async def send(self, message: Message, http: aiohttp.ClientSession) -> None:
        _, data = await post(http, self, self.endpoint(), body=self.body(message))
        check_code(self, data, keys=("code", "StatusCode"), retryable_codes=frozenset({-1}),
                   rate_codes=frozenset({9499, 11232}))
