"""The ticker hub: the core plus the connected sockets.  Writes never await.

A connection is anything with the :class:`Sink` methods (the aiohttp adapter
wraps a transport).  Fan-out encodes a delta once, skips closing sockets and
drops a socket whose write buffer has grown past ``max_buffer`` - that client
reconnects with its last revision and resyncs; nobody else waits for it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .frames import PING_FRAME, PONG_FRAME, text_frame
from .model import Viewer
from .ticker import Delta, TickerCore

log = logging.getLogger("lantern.broadcast.hub")
Clock = Callable[[], float]
Receipt = tuple[str, int, int, int, str, float]
MAX_RECEIPT_MEMORY = 512
MAX_COPIES_PER_CONNECTION = 1000  # copies are counted each time; a runaway client cannot inflate them forever


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...

    def buffered(self) -> int: ...

    def is_closing(self) -> bool: ...

    def abort(self) -> None: ...


class Relay(Protocol):
    """Orders deltas across nodes (Redis); calls back :meth:`TickerHub.apply_remote`."""

    async def publish(self, kind: str, item: dict[str, Any]) -> None: ...


@dataclass(eq=False)
class Connection:
    viewer: Viewer
    sink: Sink
    last_seen: float
    reported: set[tuple[str, int, int]] = field(default_factory=set)
    copies: int = 0


@dataclass
class HubStats:
    delivered: int = 0
    dropped_slow: int = 0
    dropped_idle: int = 0
    bad_messages: int = 0


class TickerHub:
    def __init__(self, *, clock: Clock, history: int = 2000, withdrawn_s: float = 120.0,
                 max_buffer: int = 1_000_000, ping_timeout_s: float = 75.0, stale_after_s: float | None = None) -> None:
        self.clock = clock
        self.core = TickerCore(history=history, withdrawn_s=withdrawn_s, stale_after_s=stale_after_s)
        self.max_buffer = max_buffer
        self.ping_timeout_s = ping_timeout_s
        self.connections: set[Connection] = set()
        self.relay: Relay | None = None
        self.receipts: list[Receipt] = []
        self.stats = HubStats()
        self.on_reset: list[Callable[[], Awaitable[None]]] = []
        # Observers of each fan-out: (seconds spent writing, frames written); metrics hook in here.
        self.on_fanout: list[Callable[[float, int], None]] = []

    # -- connections ---------------------------------------------------------------
    def connect(self, viewer: Viewer, sink: Sink, since: int | None = None, epoch: str | None = None) -> Connection:
        """Register a socket and write its snapshot (or missed deltas) in the same step: nothing is lost."""
        now = self.clock()
        conn = Connection(viewer, sink, now)
        for payload in self.core.connect(viewer, now, since, epoch):
            sink.write(text_frame(payload))
        self.connections.add(conn)
        return conn

    def disconnect(self, conn: Connection) -> None:
        self.connections.discard(conn)

    def viewers(self) -> list[Viewer]:
        return [c.viewer for c in self.connections if not c.sink.is_closing()]

    async def all_viewers(self) -> list[Viewer]:
        """Viewers on every node when a relay knows them, else this node's."""
        across = getattr(self.relay, "viewers", None)
        return list(await across()) if across is not None else self.viewers()

    # -- inbound -------------------------------------------------------------------
    def on_message(self, conn: Connection, text: str) -> None:
        """Handle one client frame: heartbeats and receipts; anything else is counted and ignored."""
        conn.last_seen = self.clock()
        try:
            message = json.loads(text)
            kind = message["type"]
        except (ValueError, TypeError, KeyError):
            self.stats.bad_messages += 1
            return
        if kind == "ping":
            self._write(conn, PONG_FRAME)
        elif kind in ("displayed", "ack", "copied"):
            self._receipt(conn, kind, message)
        elif kind != "pong":
            self.stats.bad_messages += 1

    def _receipt(self, conn: Connection, kind: str, message: dict[str, Any]) -> None:
        script_id, version = message.get("id"), message.get("version")
        if not (isinstance(script_id, int) and isinstance(version, int)) or isinstance(script_id, bool):
            self.stats.bad_messages += 1
            return
        entry = self.core.entries.get(script_id)
        if entry is None or not (1 <= version <= int(entry.item["version"])):
            return  # not something this client could have been shown
        if kind == "copied":  # every copy counts (the agent reused the script again)
            if conn.copies >= MAX_COPIES_PER_CONNECTION:
                return
            conn.copies += 1
        else:
            key = (kind, script_id, version)
            if key in conn.reported or len(conn.reported) >= MAX_RECEIPT_MEMORY:
                return
            conn.reported.add(key)
        self.receipts.append((kind, script_id, version, conn.viewer.user_id, conn.viewer.team, self.clock()))

    def drain_receipts(self) -> list[Receipt]:
        batch, self.receipts = self.receipts, []
        return batch

    # -- outbound ------------------------------------------------------------------
    async def send(self, kind: str, item: dict[str, Any]) -> None:
        """Broadcast a change: through the relay when there is one (every node applies it), else here."""
        if self.relay is not None:
            await self.relay.publish(kind, item)
        else:
            self.deliver(self.core.apply(kind, item, now=self.clock()))

    def apply_remote(self, kind: str, item: dict[str, Any], rev: int) -> None:
        """A delta ordered by the relay; raises ticker.Gap if one was missed."""
        self.deliver(self.core.apply(kind, item, now=self.clock(), rev=rev))

    def deliver(self, delta: Delta) -> None:
        started = time.perf_counter()
        written = 0
        frames: dict[int, bytes] = {}
        for conn in list(self.connections):
            payload = delta.payload_for(conn.viewer)
            if payload is None:
                continue
            frame = frames.get(id(payload))
            if frame is None:
                frame = frames[id(payload)] = text_frame(payload)
            if self._write(conn, frame):
                written += 1
        self.stats.delivered += written
        elapsed = time.perf_counter() - started
        for observer in self.on_fanout:
            observer(elapsed, written)

    def resync_all(self) -> None:
        """After a reset: every connection gets a fresh snapshot."""
        now = self.clock()
        for conn in list(self.connections):
            self._write(conn, text_frame(self.core.snapshot(conn.viewer, now)))

    def _write(self, conn: Connection, frame: bytes) -> bool:
        sink = conn.sink
        if sink.is_closing():
            self.connections.discard(conn)
            return False
        if sink.buffered() > self.max_buffer:
            self.stats.dropped_slow += 1
            self.connections.discard(conn)
            sink.abort()  # the client reconnects with since/epoch and resyncs
            return False
        sink.write(frame)
        return True

    # -- timers ----------------------------------------------------------------------
    def tick(self) -> None:
        """Heartbeat: ping everyone, drop the silent, forget withdrawn items past their display time."""
        now = self.clock()
        for conn in list(self.connections):
            if now - conn.last_seen > self.ping_timeout_s:
                self.stats.dropped_idle += 1
                self.connections.discard(conn)
                conn.sink.abort()
            else:
                self._write(conn, PING_FRAME)
        self.core.prune(now)
