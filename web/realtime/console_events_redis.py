"""Console events across nodes: one pub/sub channel on the shared Redis (``[redis]``).

Each node publishes the events of its own producers on ``<prefix>:console``
as ``{"node", "kind", "data"}`` and delivers what other nodes publish to its
own consoles (numbered by its own hub, so ``Last-Event-ID`` stays per node: a
console that reconnects to another node gets a ``resync``).

Pub/sub does not keep messages, so whenever this node's subscription has to
be re-established (Redis restarted, the connection broke) every local
console is told to ``resync``.  Events produced while Redis is away wait in a
bounded outbox and are sent once it is back; producers never wait on Redis
(the channel itself: :class:`infra.redis.PubSubChannel`).
"""

from __future__ import annotations

import logging
from typing import Any

from infra.redis import PubSubChannel, RedisLink
from web.realtime.console_events import KINDS, LiveHub

log = logging.getLogger("lantern.console.redis")


class RedisFanout(PubSubChannel):
    def __init__(self, hub: LiveHub, link: RedisLink, *, retry_s: float = 0.5, check_s: float = 2.0,
                 outbox: int = 1000) -> None:
        super().__init__(link, channel="console", name="console", log=log, meanwhile="local consoles only",
                         outbox=outbox, retry_s=retry_s, check_s=check_s)
        self.hub = hub

    async def start(self) -> None:
        self.hub.forward = self.forward
        await super().start()

    async def stop(self) -> None:
        self.hub.forward = None
        await super().stop()

    def forward(self, kind: str, data: dict[str, Any]) -> None:
        """An event of this node's producers, for the other nodes' consoles."""
        self.send({"kind": kind, "data": data})

    def overflowed(self) -> None:
        """Counted in ``lost`` only: the other nodes' consoles resync after the outage anyway."""

    async def handle(self, message: dict[str, Any]) -> None:
        kind, data = message["kind"], message["data"]
        if kind in KINDS and isinstance(data, dict):  # else not ours to interpret
            self.hub.deliver(kind, data)

    async def resubscribed(self) -> None:
        self.hub.resync_all()  # other nodes' events of the outage are gone
