"""Principal and source changes across nodes: one pub/sub channel on the shared Redis (``[redis]``).

With ``redis.url`` each node publishes on ``<prefix>:changes``

* ``{"node", "type": "principal", "change": {...}}`` - a :class:`web.auth.revocation.PrincipalChange` made here
  (deactivation, token revocation, logout, password, role/team/skills/site): every other node applies it
  (cache entries go, the user's affected ticker websockets and console streams close);
* ``{"node", "type": "source", "name"}`` - a source's stored settings changed here (added, edited - a rotated
  push token too -, paused, resumed, removed): every other node reloads it from the shared database.

Messages carry ids and digests, never a token or a session id.  Producers
never wait on Redis: messages wait in a bounded outbox while it is away.
Pub/sub keeps nothing, so whenever this node's subscription is established
again after a loss it re-checks every open connection against the database
and reloads every source (:func:`web.auth.revocation.recheck`,
:meth:`monitor.service.MonitorService.reload_sources`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from infra.redis import PubSubChannel, RedisLink
from web.auth.revocation import PrincipalChange

log = logging.getLogger("lantern.revocation.redis")


class ChangeFanout(PubSubChannel):
    def __init__(self, link: RedisLink, *, on_change: Callable[[PrincipalChange], object],
                 on_source: Callable[[str], Awaitable[None]], on_missed: Callable[[], Awaitable[object]],
                 retry_s: float = 0.5, check_s: float = 2.0, outbox: int = 10_000) -> None:
        super().__init__(link, channel="changes", name="changes", log=log,
                         meanwhile="changes apply on this node only", outbox=outbox, retry_s=retry_s, check_s=check_s)
        self.on_change, self.on_source, self.on_missed = on_change, on_source, on_missed
        self.received = 0  # messages of other nodes applied here

    # -- sending ---------------------------------------------------------------------
    def forward_change(self, change: PrincipalChange) -> None:
        self.send({"type": "principal", "change": change.as_dict()})

    async def forward_source(self, name: str) -> None:
        self.send({"type": "source", "name": name})

    def overflowed(self) -> None:
        log.warning("change outbox full while Redis is away: the oldest change is dropped "
                    "(other nodes re-check everything once they reconnect)")

    # -- receiving -------------------------------------------------------------------
    async def resubscribed(self) -> None:
        await self.on_missed()

    async def handle(self, message: dict[str, Any]) -> None:
        node, kind = message["node"], message["type"]
        if kind == "principal":
            change = PrincipalChange.from_dict(message["change"])
        elif kind == "source" and isinstance(message.get("name"), str):
            name = message["name"]
        else:
            raise ValueError(kind)
        self.received += 1
        try:
            if kind == "principal":
                self.on_change(change)
            else:
                await self.on_source(name)
        except Exception:  # one bad change must not stop the others
            log.exception("applying a %s change from node %s failed", kind, node)


