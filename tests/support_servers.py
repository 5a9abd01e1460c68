"""Small real servers and helpers the tests share: a free local port, an aiosmtpd inbox, the local Redis."""

from __future__ import annotations

import socket
from email import message_from_bytes
from email.policy import default
from typing import Any

REDIS_URL = "redis://127.0.0.1:6379/0"  # the real Redis the `redis`-marked tests use


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    """aiosmtpd handler keeping every message it accepts as ``(recipients, parsed message)``."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=default)))
        return "250 OK"
