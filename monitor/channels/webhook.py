"""Generic webhook: the alert as JSON, the body signed with HMAC-SHA256.

Headers: ``X-Lantern-Timestamp`` (epoch seconds) and ``X-Lantern-Signature:
sha256=<hex HMAC-SHA256(secret, f"{timestamp}." + body)>`` when a ``secret`` is
configured; receivers should reject stale timestamps.  2xx is success; 408,
429 and 5xx are retried (honouring ``Retry-After``); other statuses are final.

Config: ``url``; ``secret`` (optional); ``headers`` (optional table, e.g. an
``Authorization`` value, treated as secret).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any, ClassVar

import aiohttp

from .base import Channel, Message, dumps, post
from .errors import ChannelConfigError


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def render(message: Message, sent_at: float) -> dict[str, Any]:
    return {"event": message.kind, "title": message.title, "text": message.text, "tier": message.tier,
            "incident_id": message.incident_id, "must_act": message.must_act, "ack_url": message.ack_url or None,
            "ack_links": [{"person": person, "url": url} for person, url in message.ack_links],
            "console_url": message.console_url or None, "recipient": message.recipient,
            "incident": message.data, "sent_at": sent_at}


class Webhook(Channel):
    kind = "webhook"
    options: ClassVar[dict[str, str]] = {
        "url": "Your endpoint (required, http:// or https://): each alert is POSTed to it as JSON (event, "
               "title, text, tier, incident_id, must_act, ack_url, console_url, recipient, incident, sent_at).",
        "secret": "Signing key: each request then carries X-Lantern-Timestamp and X-Lantern-Signature = "
                  "sha256=HEX(HMAC-SHA256(secret, timestamp + \".\" + body)); reject old timestamps.",
        "headers": 'Extra request headers, e.g. { Authorization = "Bearer ..." }. Kept secret.',
    }

    def __init__(self, name: str, config: dict[str, Any], *, clock: Any = time.time) -> None:
        super().__init__(name, config)
        self.require("url")
        if not str(config["url"]).startswith(("http://", "https://")):
            raise ChannelConfigError(f"[[channels]] {name!r}: url 必须以 http:// 或 https:// 开头 "
                                     "(url must be http(s))")
        self.clock = clock

    def secrets(self) -> list[str]:
        headers = self.config.get("headers") or {}
        return [*super().secrets(), *(str(v) for v in headers.values())]

    async def send(self, message: Message, http: aiohttp.ClientSession) -> None:
        now = self.clock()
        body = dumps(render(message, now))
        headers = {str(k): str(v) for k, v in (self.config.get("headers") or {}).items()}
        timestamp = str(int(now))
        headers["X-Lantern-Timestamp"] = timestamp
        if self.config.get("secret"):
            headers["X-Lantern-Signature"] = signature(str(self.config["secret"]), timestamp, body)
        await post(http, self, str(self.config["url"]), body=body, headers=headers)
