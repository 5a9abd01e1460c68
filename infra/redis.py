"""The one Redis layer of Lantern: how a node reaches the Redis the nodes share, and how it listens there.

Everything that crosses nodes goes through here (``[redis]`` in the settings):

* :class:`RedisLink` - one per node: the URL, the prefix of every key and channel, the node's id and the
  only place a Redis client is made (:meth:`RedisLink.client`, named ``lantern-<purpose>-<node>`` so
  ``CLIENT LIST`` shows which node and which feature a connection belongs to);
* :class:`Subscription` - a node's end of one pub/sub channel: a receiving task that subscribes, checks a
  quiet channel every ``check_s``, and reconnects every ``retry_s`` while Redis is away (one warning when it
  goes, none while it stays away).  Subclasses say what a message means and what to catch up on once
  subscribed again (pub/sub keeps nothing for a node that was away).  The ticker relay
  (:mod:`broadcast.redis_relay`) is one;
* :class:`PubSubChannel` - a :class:`Subscription` that also sends: JSON messages ``{"node", ...}`` through
  a bounded outbox, so producers never wait on Redis; its own messages are skipped when they come back.
  The console events and the revocation fan-out are two.

This module imports nothing of Lantern, so every package may build on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

# What "Redis went away" looks like from redis-py: its own errors, or the socket's.
REDIS_DOWN: tuple[type[BaseException], ...] = (RedisError, OSError)


def new_node_id() -> str:
    """A name for one node (host, process, and a random part: two nodes may share a process in tests)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RedisLink:
    """This node's way to the shared Redis: where it is, the prefix of its keys, and who this node is."""

    url: str
    prefix: str
    node: str = field(default_factory=new_node_id)

    def key(self, *parts: str) -> str:
        """A key or channel name under the shared prefix: ``key("limits", "x")`` is ``<prefix>:limits:x``."""
        return ":".join((self.prefix, *parts))

    def client_name(self, purpose: str) -> str:
        return f"lantern-{purpose}-{self.node}"

    def client(self, purpose: str, *, connect_timeout_s: float = 2.0, timeout_s: float = 5.0) -> aioredis.Redis:
        """A new client (strings in, strings out) that fails at once instead of retrying: callers decide."""
        return aioredis.from_url(self.url, socket_connect_timeout=connect_timeout_s, socket_timeout=timeout_s,
                                 retry=Retry(NoBackoff(), 0), decode_responses=True,
                                 client_name=self.client_name(purpose))


class Subscription(ABC):
    """A node's end of one Redis pub/sub channel: subscribe, watch a quiet channel, reconnect while Redis is away."""

    # Errors that mean the subscription is lost (a subclass may add its own, e.g. a gap in a sequence).
    lost_on: tuple[type[BaseException], ...] = REDIS_DOWN

    def __init__(self, link: RedisLink, *, channel: str, name: str, log: logging.Logger, meanwhile: str,
                 retry_s: float = 0.5, check_s: float = 2.0) -> None:
        """``channel`` is under the link's prefix; ``name`` goes into the client and task names;
        ``meanwhile`` ends the warning logged when Redis goes."""
        self.link, self.channel, self.name, self.log, self.meanwhile = link, link.key(channel), name, log, meanwhile
        self.retry_s, self.check_s = retry_s, check_s
        self.node = link.node
        self.client_name = link.client_name(name)
        self.connected = asyncio.Event()
        self.sessions = 0  # subscriptions established since start
        self.redis: aioredis.Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False  # the loops end at their next turn even if redis-py swallowed the cancellation

    # -- what a subclass says ------------------------------------------------------
    @abstractmethod
    async def on_message(self, data: str) -> None:
        """A message on the channel (this node's own too: pub/sub sends it to every subscriber)."""

    async def subscribed(self) -> None:  # noqa: B027 - a hook: nothing to catch up on by default
        """The subscription is (again) established, before :attr:`connected` is set; ``sessions`` counts it.

        Raising one of :attr:`lost_on` gives the subscription up and tries again ``retry_s`` later."""

    async def quiet(self, pubsub: PubSub) -> None:
        """Nothing arrived for ``check_s``: make sure the connection still lives."""
        await pubsub.ping()

    async def turned(self) -> None:  # noqa: B027 - a hook: nothing to do by default
        """After each message or quiet check, while subscribed."""

    def disconnected(self, exc: BaseException) -> None:
        """The subscription (or a command) failed: warn once per outage."""
        if self.connected.is_set():
            self.log.warning("%s fan-out through Redis lost (%s); %s until it is back", self.name,
                             type(exc).__name__, self.meanwhile)
        self.connected.clear()

    def _loops(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        return [("receive", self._receive())]

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        self.redis = self.link.client(self.name)
        self._tasks = [asyncio.create_task(loop, name=f"{self.name}-redis-{what}") for what, loop in self._loops()]
        with contextlib.suppress(TimeoutError):  # serve on (this node only) if Redis is not there yet
            await asyncio.wait_for(self.connected.wait(), timeout=3)

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            while not task.done():
                # redis-py can swallow a cancellation that lands inside a command (it comes out as a
                # ConnectionError, which the loops retry): ask again until the task has really ended.
                await asyncio.wait({task}, timeout=max(self.retry_s, 0.02))
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.redis is not None:
            await self.redis.aclose()

    # -- receiving -------------------------------------------------------------------
    async def _receive(self) -> None:
        while not self._stopping:
            try:
                await self._session()
            except self.lost_on as exc:
                self.disconnected(exc)
            await asyncio.sleep(self.retry_s)

    async def _session(self) -> None:
        assert self.redis is not None
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)  # subscribe first, then catch up: nothing falls in between
            self.sessions += 1
            await self.subscribed()
            self.connected.set()
            while not self._stopping:
                message = await pubsub.get_message(timeout=self.check_s)
                if message is None:
                    await self.quiet(pubsub)
                elif message.get("type") == "message":
                    await self.on_message(str(message["data"]))
                await self.turned()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()


class PubSubChannel(Subscription):
    """A :class:`Subscription` that also publishes JSON messages, through an outbox that never waits on Redis.

    While Redis is away messages wait, in order, and the oldest goes when the outbox is full
    (counted in :attr:`lost`, :meth:`overflowed`).  Messages that are not JSON objects with a ``node`` are ignored
    with a warning, this node's own are skipped (they were applied here), and a failing handler is logged
    without stopping the others.
    """

    def __init__(self, link: RedisLink, *, channel: str, name: str, log: logging.Logger, meanwhile: str,
                 outbox: int, retry_s: float = 0.5, check_s: float = 2.0) -> None:
        super().__init__(link, channel=channel, name=name, log=log, meanwhile=meanwhile, retry_s=retry_s,
                         check_s=check_s)
        self.outbox: deque[str] = deque(maxlen=outbox)
        self.lost = 0  # outgoing messages dropped because the outbox overflowed while Redis was away
        self._send_wake = asyncio.Event()

    # -- what a fan-out says -------------------------------------------------------
    @abstractmethod
    async def handle(self, message: dict[str, Any]) -> None:
        """A message another node published; raise ValueError, KeyError or TypeError when it is malformed."""

    @abstractmethod
    async def resubscribed(self) -> None:
        """Subscribed again after a loss: catch up on what the other nodes published meanwhile."""

    @abstractmethod
    def overflowed(self) -> None:
        """The outbox was full while Redis was away: its oldest message was dropped (counted in ``lost``)."""

    def _loops(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        return [*super()._loops(), ("send", self._send())]

    # -- sending ---------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        """Queue ``message`` (with this node's id) for the other nodes; never waits on Redis."""
        if len(self.outbox) == self.outbox.maxlen:
            self._drop()  # the oldest goes: the other nodes catch up after the outage anyway
        self.outbox.append(json.dumps({"node": self.node, **message}, ensure_ascii=False, separators=(",", ":")))
        self._send_wake.set()

    def _drop(self) -> None:
        self.lost += 1
        self.overflowed()

    async def _send(self) -> None:
        while not self._stopping:
            await self._send_wake.wait()
            self._send_wake.clear()
            while self.outbox and not self._stopping:
                assert self.redis is not None
                message = self.outbox.popleft()
                try:
                    await self.redis.publish(self.channel, message)
                except REDIS_DOWN:
                    if len(self.outbox) < (self.outbox.maxlen or 0):
                        self.outbox.appendleft(message)  # kept for the next try
                    else:
                        self._drop()  # the outbox filled up meanwhile: this one is the oldest
                    await asyncio.sleep(self.retry_s)  # the receiving side logs the outage

    # -- receiving -------------------------------------------------------------------
    async def subscribed(self) -> None:
        if self.sessions > 1:
            try:
                await self.resubscribed()
            except Exception:
                self.log.exception("catching up after the Redis outage failed (%s fan-out)", self.name)

    async def on_message(self, data: str) -> None:
        try:
            message = json.loads(data)
            if message["node"] == self.node:
                return  # ours: already applied here
            await self.handle(message)
        except (ValueError, KeyError, TypeError):
            self.log.warning("ignored a malformed message on %s", self.channel)
        except Exception:  # one bad message must not stop the others
            self.log.exception("handling a message on %s failed", self.channel)
