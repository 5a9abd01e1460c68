"""The console (in-app) channel: the delivery row itself is the message.

Users see their alerts in the console and through ``GET /api/alerts?mine=1``;
nothing leaves the process, so sending always succeeds.
"""

from __future__ import annotations

import aiohttp

from .base import Channel, Message


class Console(Channel):
    kind = "console"

    async def send(self, message: Message, http: aiohttp.ClientSession) -> None:
        return None
