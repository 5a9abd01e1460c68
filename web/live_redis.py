"""Console events across nodes: the same Redis the broadcast uses, one pub/sub channel.

Each node publishes the events of its own producers on ``<prefix>:console``
as ``{"node", "kind", "data"}`` and delivers what other nodes publish to its
own consoles (numbered by its own hub, so ``Last-Event-ID`` stays per node: a
console that reconnects to another node gets a ``resync``).

Pub/sub does not keep messages, so whenever this node's subscription has to
be re-established (Redis restarted, the connection broke) every local
console is told to ``resync``.  Events produced while Redis is away wait in a
bounded outbox and are sent once it is back; producers never wait on Redis.
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
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .live import KINDS, LiveHub

log = logging.getLogger("lantern.console.redis")


class RedisFanout:
    def __init__(self, hub: LiveHub, *, url: str, channel: str, retry_s: float = 0.5, check_s: float = 2.0,
                 outbox: int = 1000) -> None:
        self.hub, self.url, self.channel = hub, url, channel
        self.retry_s, self.check_s = retry_s, check_s
        self.node = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.client_name = f"lantern-console-{self.node}"
        self.outbox: deque[str] = deque(maxlen=outbox)
        self.connected = asyncio.Event()
        self.sessions = 0  # subscriptions established since start
        self.lost = 0  # outgoing events dropped because the outbox overflowed while Redis was away
        self.redis: aioredis.Redis | None = None
        self._send_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        self.redis = aioredis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5,
                                       retry=Retry(NoBackoff(), 0), decode_responses=True,
                                       client_name=self.client_name)
        self.hub.forward = self.forward
        self._tasks = [asyncio.create_task(self._receive(), name="console-redis-receive"),
                       asyncio.create_task(self._send(), name="console-redis-send")]
        with contextlib.suppress(TimeoutError):  # serve local consoles if Redis is not there yet
            await asyncio.wait_for(self.connected.wait(), timeout=3)

    async def stop(self) -> None:
        self.hub.forward = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.redis is not None:
            await self.redis.aclose()

    # -- sending ---------------------------------------------------------------------
    def forward(self, kind: str, data: dict[str, Any]) -> None:
        if len(self.outbox) == self.outbox.maxlen:
            self.lost += 1  # the oldest goes; the other nodes resync after the outage anyway
        self.outbox.append(json.dumps({"node": self.node, "kind": kind, "data": data}, ensure_ascii=False,
                                      separators=(",", ":")))
        self._send_wake.set()

    async def _send(self) -> None:
        while True:
            await self._send_wake.wait()
            self._send_wake.clear()
            while self.outbox:
                assert self.redis is not None
                message = self.outbox.popleft()
                try:
                    await self.redis.publish(self.channel, message)
                except (RedisError, OSError):
                    if len(self.outbox) < (self.outbox.maxlen or 0):
                        self.outbox.appendleft(message)  # kept for the next try
                    else:
                        self.lost += 1
                    await asyncio.sleep(self.retry_s)  # the receiving side logs the outage

    # -- receiving -------------------------------------------------------------------
    async def _receive(self) -> None:
        while True:
            try:
                await self._session()
            except (RedisError, OSError) as exc:
                self._lost_connection(exc)
            await asyncio.sleep(self.retry_s)

    async def _session(self) -> None:
        assert self.redis is not None
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            if self.sessions:
                self.hub.resync_all()  # other nodes' events of the outage are gone
            self.sessions += 1
            self.connected.set()
            while True:
                message = await pubsub.get_message(timeout=self.check_s)
                if message is None:
                    await pubsub.ping()  # a quiet channel: make sure the connection still lives
                elif message.get("type") == "message":
                    self._on_message(str(message["data"]))
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    def _on_message(self, text: str) -> None:
        try:
            message = json.loads(text)
            node, kind, data = message["node"], message["kind"], message["data"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed console event on %s", self.channel)
            return
        if node == self.node or kind not in KINDS or not isinstance(data, dict):
            return  # our own (already delivered here) or not ours to interpret
        self.hub.deliver(kind, data)

    def _lost_connection(self, exc: BaseException) -> None:
        if self.connected.is_set():
            log.warning("console fan-out through Redis lost (%s); local consoles only until it is back",
                        type(exc).__name__)
        self.connected.clear()
