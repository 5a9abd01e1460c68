"""Principal and source changes across nodes: one pub/sub channel on the broadcast's Redis.

With ``broadcast.redis_url`` each node publishes on ``<prefix>:changes``

* ``{"node", "type": "principal", "change": {...}}`` - a :class:`web.revocation.PrincipalChange` made here
  (deactivation, token revocation, logout, password, role/team/skills/site): every other node applies it
  (cache entries go, the user's affected ticker websockets and console streams close);
* ``{"node", "type": "source", "name"}`` - a source's stored settings changed here (added, edited - a rotated
  push token too -, paused, resumed, removed): every other node reloads it from the shared database.

Messages carry ids and digests, never a token or a session id.  Producers
never wait on Redis: messages wait in a bounded outbox while it is away.
Pub/sub keeps nothing, so whenever this node's subscription is established
again after a loss it re-checks every open connection against the database
and reloads every source (:func:`web.revocation.recheck`,
:meth:`monitor.service.MonitorService.reload_sources`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from . import revocation
from .revocation import PrincipalChange

log = logging.getLogger("lantern.revocation.redis")


class ChangeFanout:
    def __init__(self, *, url: str, channel: str, on_change: Callable[[PrincipalChange], object],
                 on_source: Callable[[str], Awaitable[None]], on_missed: Callable[[], Awaitable[object]],
                 retry_s: float = 0.5, check_s: float = 2.0, outbox: int = 10_000) -> None:
        self.url, self.channel = url, channel
        self.on_change, self.on_source, self.on_missed = on_change, on_source, on_missed
        self.retry_s, self.check_s = retry_s, check_s
        self.node = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.client_name = f"lantern-changes-{self.node}"
        self.outbox: deque[str] = deque(maxlen=outbox)
        self.connected = asyncio.Event()
        self.sessions = 0  # subscriptions established since start
        self.received = 0  # messages of other nodes applied here
        self.redis: aioredis.Redis | None = None
        self._send_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        self.redis = aioredis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5,
                                       retry=Retry(NoBackoff(), 0), decode_responses=True,
                                       client_name=self.client_name)
        self._tasks = [asyncio.create_task(self._receive(), name="changes-redis-receive"),
                       asyncio.create_task(self._send(), name="changes-redis-send")]
        with contextlib.suppress(TimeoutError):  # serve on if Redis is not there yet
            await asyncio.wait_for(self.connected.wait(), timeout=3)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.redis is not None:
            await self.redis.aclose()

    # -- sending ---------------------------------------------------------------------
    def forward_change(self, change: PrincipalChange) -> None:
        self._queue({"type": "principal", "change": change.as_dict()})

    async def forward_source(self, name: str) -> None:
        self._queue({"type": "source", "name": name})

    def _queue(self, message: dict[str, Any]) -> None:
        if len(self.outbox) == self.outbox.maxlen:
            log.warning("change outbox full while Redis is away: the oldest change is dropped "
                        "(other nodes re-check everything once they reconnect)")
        self.outbox.append(json.dumps({"node": self.node, **message}, ensure_ascii=False, separators=(",", ":")))
        self._send_wake.set()

    async def _send(self) -> None:
        while True:
            await self._send_wake.wait()
            self._send_wake.clear()
            while self.outbox:
                assert self.redis is not None
                message = self.outbox[0]
                try:
                    await self.redis.publish(self.channel, message)
                except (RedisError, OSError):
                    await asyncio.sleep(self.retry_s)  # kept for the next try; the receiving side logs the outage
                    continue
                if self.outbox and self.outbox[0] is message:
                    self.outbox.popleft()

    # -- receiving -------------------------------------------------------------------
    async def _receive(self) -> None:
        while True:
            try:
                await self._session()
            except (RedisError, OSError) as exc:
                if self.connected.is_set():
                    log.warning("change fan-out through Redis lost (%s); changes apply on this node only until it "
                                "is back", type(exc).__name__)
                self.connected.clear()
            await asyncio.sleep(self.retry_s)

    async def _session(self) -> None:
        assert self.redis is not None
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            self.sessions += 1
            if self.sessions > 1:
                await self._missed()
            self.connected.set()
            while True:
                message = await pubsub.get_message(timeout=self.check_s)
                if message is None:
                    await pubsub.ping()  # a quiet channel: make sure the connection still lives
                elif message.get("type") == "message":
                    await self._on_message(str(message["data"]))
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _missed(self) -> None:
        try:
            await self.on_missed()
        except Exception:
            log.exception("re-checking after the Redis outage failed")

    async def _on_message(self, text: str) -> None:
        try:
            message = json.loads(text)
            node, kind = message["node"], message["type"]
            if node == self.node:
                return  # ours: already applied here
            if kind == "principal":
                change = PrincipalChange.from_dict(message["change"])
            elif kind == "source" and isinstance(message.get("name"), str):
                name = message["name"]
            else:
                raise ValueError(kind)
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed change message on %s", self.channel)
            return
        self.received += 1
        try:
            if kind == "principal":
                self.on_change(change)
            else:
                await self.on_source(name)
        except Exception:  # one bad change must not stop the others
            log.exception("applying a %s change from node %s failed", kind, node)


async def wire(services: Any) -> None:
    """With ``broadcast.redis_url``: principal changes and source changes reach every node."""
    settings = services.settings
    if not settings["broadcast.redis_url"]:
        return
    monitor = services.monitor

    async def reload_source(name: str) -> None:
        if monitor is not None:
            await monitor.reload_source(name)

    async def missed() -> None:
        await revocation.recheck(services)
        if monitor is not None:
            await monitor.reload_sources()

    fanout = ChangeFanout(url=settings["broadcast.redis_url"], channel=f"{settings['broadcast.redis_prefix']}:changes",
                          on_change=lambda change: revocation.apply(services, change), on_source=reload_source,
                          on_missed=missed)
    services.extras["principal_fanout"] = fanout
    if monitor is not None:
        monitor.config_listeners.append(fanout.forward_source)
    services.on_start.append(fanout.start)
    services.on_stop.insert(0, fanout.stop)
