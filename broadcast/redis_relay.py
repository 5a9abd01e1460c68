"""Scale-out: several nodes share one ticker through Redis.

Redis holds the shared state - ``<prefix>:meta`` (epoch, rev) and
``<prefix>:items`` (id -> item JSON) - and orders every change: a Lua script
bumps the revision, updates the items and PUBLISHes ``epoch|rev|kind|item``
on ``<prefix>:events`` in one step.  Every node (the publisher included)
applies changes as they arrive on the channel, so all nodes number them
alike and a client may resume on any node.

Recovery is by snapshot, never by guessing: a node that sees a revision gap,
a new epoch, or loses its connection reloads meta + items, resets its core
and sends every local client a fresh snapshot.  While Redis is down a node
keeps serving its own clients under a local epoch and replays what it
published once Redis is back; if Redis lost its data the first node to
notice seeds it from its database.

The subscribing, reconnecting and quiet-channel checks are
:class:`infra.redis.Subscription`'s; this module says what a change means.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from redis.asyncio.client import PubSub
from redis.exceptions import RedisError, ResponseError

from infra.redis import REDIS_DOWN, RedisLink, Subscription

from .hub import TickerHub
from .model import Viewer
from .service import ScriptService
from .ticker import Gap, new_epoch, visible

log = logging.getLogger("lantern.broadcast.redis")

_PUBLISH = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return redis.error_reply('NOEPOCH') end
local rev = redis.call('HINCRBY', KEYS[1], 'rev', 1)
if ARGV[1] == 'expire' then redis.call('HDEL', KEYS[2], ARGV[2]) else redis.call('HSET', KEYS[2], ARGV[2], ARGV[3]) end
redis.call('PUBLISH', ARGV[4], epoch .. '|' .. rev .. '|' .. ARGV[1] .. '|' .. ARGV[3])
return rev
"""

_SEED = """
if redis.call('HEXISTS', KEYS[1], 'epoch') == 1 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'rev', 0)
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
return 1
"""


class RedisRelay(Subscription):
    """The ticker's end of ``<prefix>:events``: changes go out through a Lua script, come back in order."""

    lost_on: tuple[type[BaseException], ...] = (*REDIS_DOWN, Gap)  # a gap: reload by snapshot

    def __init__(self, hub: TickerHub, scripts: ScriptService, link: RedisLink, *, check_s: float = 2.0,
                 retry_s: float = 0.5) -> None:
        super().__init__(link, channel="events", name="ticker", log=log, meanwhile="serving local clients only",
                         retry_s=retry_s, check_s=check_s)
        self.hub, self.scripts = hub, scripts
        self.meta, self.items = link.key("meta"), link.key("items")
        self.presence_interval_s = 10.0
        self._presence_at = float("-inf")
        self.pending: list[tuple[str, dict[str, Any]]] = []  # published while Redis was away
        self.resyncs = 0

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        self.hub.relay = self
        await super().start()

    async def stop(self) -> None:
        self.hub.relay = None
        await super().stop()

    # -- publishing ----------------------------------------------------------------
    async def publish(self, kind: str, item: dict[str, Any]) -> None:
        if kind == "retract":
            item = {**item, "state": "retracted",
                    "withdrawn_until": self.hub.clock() + self.hub.core.withdrawn_s}
        if self.connected.is_set() and self.redis is not None:
            try:
                await self._eval_publish(kind, item)
                return
            except RedisError as exc:
                self.disconnected(exc)
        self.pending.append((kind, item))
        self.hub.deliver(self.hub.core.apply(kind, item, now=self.hub.clock()))

    async def _eval_publish(self, kind: str, item: dict[str, Any]) -> int:
        assert self.redis is not None
        args = [kind, str(item["id"]), json.dumps(item, ensure_ascii=False, separators=(",", ":")), self.channel]
        try:
            return int(await self.redis.eval(_PUBLISH, 2, self.meta, self.items, *args))  # type: ignore[misc]
        except ResponseError as exc:
            if "NOEPOCH" not in str(exc):
                raise
            await self._seed()
            return int(await self.redis.eval(_PUBLISH, 2, self.meta, self.items, *args))  # type: ignore[misc]

    async def _seed(self) -> None:
        """Redis has no state (first start or data lost): seed it from our database."""
        assert self.redis is not None
        args: list[str] = [new_epoch()]
        for item in await self.scripts.active_items():
            args += [str(item["id"]), json.dumps(item, ensure_ascii=False, separators=(",", ":"))]
        if await self.redis.eval(_SEED, 2, self.meta, self.items, *args):  # type: ignore[misc]
            log.info("seeded the shared ticker state in Redis (%d items)", (len(args) - 1) // 2)

    def disconnected(self, exc: BaseException) -> None:
        if self.connected.is_set():
            self.hub.core.epoch = "local-" + new_epoch()  # local revisions must never mix with shared ones
        super().disconnected(exc)

    # -- receiving -------------------------------------------------------------------
    async def subscribed(self) -> None:
        """Subscribed (first, so nothing falls in between): replay what was published meanwhile, then load."""
        for kind, item in self.pending:
            await self._eval_publish(kind, item)
        self.pending.clear()
        await self.reload()

    async def turned(self) -> None:
        if asyncio.get_running_loop().time() - self._presence_at >= self.presence_interval_s:
            await self.write_presence()

    async def on_message(self, data: str) -> None:
        epoch, rev_text, kind, body = data.split("|", 3)
        rev, core = int(rev_text), self.hub.core
        if epoch == core.epoch and rev <= core.rev:
            return  # already part of the state we loaded
        if epoch != core.epoch or rev != core.rev + 1:
            await self.reload()
            return
        self.hub.apply_remote(kind, json.loads(body), rev)

    async def quiet(self, pubsub: PubSub) -> None:
        """Quiet channel: make sure no change slipped past (e.g. a silently re-opened connection).

        A change published just after the quiet wait ended is already counted in Redis's revision while its
        message is still on the way: take the messages that arrive within a moment before deciding to reload,
        so such a change reaches clients as itself (a ``publish``), not as a needless full snapshot.
        """
        assert self.redis is not None
        epoch, rev = await self.redis.hmget(self.meta, ["epoch", "rev"])  # type: ignore[misc]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        while (epoch is not None and epoch == self.hub.core.epoch and self.hub.core.rev < int(rev or 0)
               and loop.time() < deadline):
            message = await pubsub.get_message(timeout=0.2)
            if message is not None and message.get("type") == "message":
                await self.on_message(str(message["data"]))
        if epoch is None or epoch != self.hub.core.epoch or int(rev or 0) != self.hub.core.rev:
            await self.reload()

    async def reload(self) -> None:
        """Replace the local state with Redis's and send every local client a snapshot."""
        assert self.redis is not None
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.meta)
            pipe.hgetall(self.items)
            meta, raw_items = await pipe.execute()
        if not meta.get("epoch"):
            await self._seed()
            return await self.reload()
        now = self.hub.clock()
        items = [i for i in (json.loads(v) for v in raw_items.values()) if visible(i, now)]
        stale = [k for k, v in raw_items.items() if not visible(json.loads(v), now)]
        if stale:
            await self.redis.hdel(self.items, *stale)  # type: ignore[misc]
        core = self.hub.core
        if meta["epoch"] == core.epoch and int(meta["rev"]) == core.rev:
            return
        core.reset(epoch=meta["epoch"], rev=int(meta["rev"]), items=items)
        self.resyncs += 1
        self.hub.resync_all()

    # -- presence (for coverage across nodes) --------------------------------------------
    async def write_presence(self) -> None:
        """Publish who is connected here, so coverage on any node counts every node's agents."""
        assert self.redis is not None
        self._presence_at = asyncio.get_running_loop().time()
        viewers = {v.user_id: [v.role, v.team, sorted(v.skills), sorted(v.sites), v.shift] for v in self.hub.viewers()}
        await self.redis.set(self.link.key("presence", self.node), json.dumps(viewers, ensure_ascii=False),
                             ex=int(max(30, 3 * self.presence_interval_s)))

    async def viewers(self) -> list[Viewer]:
        """Connected viewers on every node (this node's live, the others' as of their last report)."""
        local = self.hub.viewers()
        if not self.connected.is_set() or self.redis is None:
            return local
        try:
            await self.write_presence()
            keys = [k async for k in self.redis.scan_iter(self.link.key("presence", "*"), count=500)]
            reports = await self.redis.mget(keys) if keys else []
        except RedisError:
            return local
        merged = {v.user_id: v for v in local}
        for report in reports:
            for user_id, (role, team, skills, sites, *rest) in json.loads(report or "{}").items():
                shift = str(rest[0]) if rest else ""  # nodes of an older version report no shift
                merged.setdefault(int(user_id),
                                  Viewer(int(user_id), role, team, frozenset(skills), frozenset(sites), shift))
        return list(merged.values())
