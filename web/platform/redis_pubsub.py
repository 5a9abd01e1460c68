"""One pub/sub channel between the nodes on the broadcast's Redis: what the web fan-outs share.

A :class:`PubSubChannel` subclass names its channel and says what to do with
a message of another node (:meth:`PubSubChannel.handle`) and what to catch
up on once a lost subscription is established again
(:meth:`PubSubChannel.resubscribed`: pub/sub keeps nothing for a node that
was away).  The class does the rest:

* one Redis client, named ``lantern-<name>-<node>`` (``CLIENT LIST`` shows
  which node and which fan-out a connection belongs to);
* a receiving task that subscribes, pings a quiet channel every ``check_s``
  to find a dead connection, and reconnects every ``retry_s`` while Redis is
  away (one warning when it goes, none while it stays away);
* a bounded outbox of JSON messages ``{"node", ...}`` with a sending task:
  producers never wait on Redis; while it is away messages wait, in order,
  and the oldest goes when the outbox is full (:attr:`PubSubChannel.lost`,
  :meth:`PubSubChannel.overflowed`);
* messages that are not JSON objects with a ``node`` are ignored with a
  warning, this node's own messages are skipped (they were applied here),
  and a failing handler is logged without stopping the others.
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
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError


class PubSubChannel(ABC):
    """A node's end of one Redis pub/sub channel: publish with an outbox, subscribe with reconnects."""

    def __init__(self, *, url: str, channel: str, name: str, log: logging.Logger, meanwhile: str, outbox: int,
                 retry_s: float = 0.5, check_s: float = 2.0) -> None:
        """``name`` goes into the client and task names; ``meanwhile`` ends the warning logged when Redis goes."""
        self.url, self.channel, self.name, self.log, self.meanwhile = url, channel, name, log, meanwhile
        self.retry_s, self.check_s = retry_s, check_s
        self.node = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.client_name = f"lantern-{name}-{self.node}"
        self.outbox: deque[str] = deque(maxlen=outbox)
        self.connected = asyncio.Event()
        self.sessions = 0  # subscriptions established since start
        self.lost = 0  # outgoing messages dropped because the outbox overflowed while Redis was away
        self.redis: aioredis.Redis | None = None
        self._send_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False  # the loops end at their next turn even if redis-py swallowed the cancellation

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

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        self.redis = aioredis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5,
                                       retry=Retry(NoBackoff(), 0), decode_responses=True,
                                       client_name=self.client_name)
        self._tasks = [asyncio.create_task(self._receive(), name=f"{self.name}-redis-receive"),
                       asyncio.create_task(self._send(), name=f"{self.name}-redis-send")]
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
                await asyncio.wait({task}, timeout=self.retry_s)
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.redis is not None:
            await self.redis.aclose()

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
                except (RedisError, OSError):
                    if len(self.outbox) < (self.outbox.maxlen or 0):
                        self.outbox.appendleft(message)  # kept for the next try
                    else:
                        self._drop()  # the outbox filled up meanwhile: this one is the oldest
                    await asyncio.sleep(self.retry_s)  # the receiving side logs the outage

    # -- receiving -------------------------------------------------------------------
    async def _receive(self) -> None:
        while not self._stopping:
            try:
                await self._session()
            except (RedisError, OSError) as exc:
                if self.connected.is_set():
                    self.log.warning("%s fan-out through Redis lost (%s); %s until it is back", self.name,
                                     type(exc).__name__, self.meanwhile)
                self.connected.clear()
            await asyncio.sleep(self.retry_s)

    async def _session(self) -> None:
        assert self.redis is not None
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            self.sessions += 1
            if self.sessions > 1:
                await self._catch_up()
            self.connected.set()
            while not self._stopping:
                message = await pubsub.get_message(timeout=self.check_s)
                if message is None:
                    await pubsub.ping()  # a quiet channel: make sure the connection still lives
                elif message.get("type") == "message":
                    await self._on_message(str(message["data"]))
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _catch_up(self) -> None:
        try:
            await self.resubscribed()
        except Exception:
            self.log.exception("catching up after the Redis outage failed (%s fan-out)", self.name)

    async def _on_message(self, text: str) -> None:
        try:
            message = json.loads(text)
            if message["node"] == self.node:
                return  # ours: already applied here
            await self.handle(message)
        except (ValueError, KeyError, TypeError):
            self.log.warning("ignored a malformed message on %s", self.channel)
        except Exception:  # one bad message must not stop the others
            self.log.exception("handling a message on %s failed", self.channel)
