"""The console's live event hub: small invalidation hints pushed to every open console.

An event says *what* changed, never the data itself, so a console refreshes
only the view it shows, through the same role-checked API as always::

    incident  {"id", "tier", "count", "state", "change"}   an incident opened, grew, was re-tiered or moved on
    alert     {"incidents": [id | null, ...]}               alert deliveries of these incidents changed
    script    {"id", "version", "state"}                    a script changed (the approval queue may have)
    source    {"name", "status"}                            a source's health changed, or it was added/paused/removed
    account   {"action": "end" | "reconnect", "reason"}     last event before the server ends the stream: the
                                                            user's sign-in ended (sign in again) or their
                                                            account changed (reload); never numbered or replayed

Every event gets an id ``<epoch>-<seq>``: the epoch is new for each process,
so an id from another process (a restart, another node) is never mistaken for
one of ours.  The last ``history`` events stay in a ring; a console that
reconnects with ``Last-Event-ID`` gets what it missed, or a ``resync`` event
(refresh everything) when that fell out of the ring or came from elsewhere.

Each connection has a bounded queue.  A console that cannot keep up (its
queue is full) is dropped - its connection closed - rather than letting the
server buffer without limit; its browser reconnects and resumes.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from web.platform.settings import Settings

KINDS = ("incident", "alert", "script", "source")
RESYNC = "resync"
READY = "ready"


@dataclass(frozen=True)
class LiveEvent:
    seq: int
    kind: str
    data: dict[str, Any]


class Subscriber:
    """One open stream: events waiting to be written, at most ``limit`` of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pending: deque[LiveEvent] = deque()
        self.closed = False
        self.dropped = False
        self.on_drop: Callable[[], None] | None = None  # closes the connection of a dropped subscriber
        self.final = b""  # written after the last event when the stream is ended on purpose (end_with)
        self._wake = asyncio.Event()

    def offer(self, event: LiveEvent) -> None:
        if self.closed:
            return
        if len(self.pending) >= self.limit:
            self.drop()
            return
        self.pending.append(event)
        self._wake.set()

    def drop(self) -> None:
        """Too slow: stop queueing and close its connection (the browser reconnects and resumes)."""
        if self.closed:
            return
        self.dropped = True
        self.close()
        if self.on_drop is not None:
            self.on_drop()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    def end_with(self, final: bytes) -> None:
        """End the stream after what is queued and then ``final`` (e.g. an :func:`account_event`)."""
        if not self.closed:
            self.final = final
        self.close()

    async def next_batch(self, wait_s: float) -> list[LiveEvent] | None:
        """Everything queued, waiting up to ``wait_s`` s (``[]``: time for a heartbeat); None once closed."""
        if not self.pending and not self.closed:
            try:
                async with asyncio.timeout(wait_s):
                    await self._wake.wait()
            except TimeoutError:
                pass
        self._wake.clear()
        if self.dropped or (self.closed and not self.pending):
            return None
        batch = list(self.pending)
        self.pending.clear()
        return batch


class LiveHub:
    def __init__(self, *, history: int = 1000, queue_limit: int = 256, epoch: str | None = None) -> None:
        self.epoch = epoch or secrets.token_hex(4)
        self.seq = 0
        self.ring: deque[LiveEvent] = deque(maxlen=max(1, history))
        self.queue_limit = max(1, queue_limit)
        self.subscribers: set[Subscriber] = set()
        self.dropped = 0  # subscribers dropped for being too slow, since start
        # Set by a fan-out (Redis) to forward events published here to the other nodes.
        self.forward: Callable[[str, dict[str, Any]], None] | None = None
        self.hello: dict[str, Any] = {}  # the data of ready and resync events (the console's live settings)

    # -- producing ---------------------------------------------------------------
    def publish(self, kind: str, data: dict[str, Any]) -> LiveEvent:
        """An event of this node: deliver it here and hand it to the fan-out, if any."""
        event = self.deliver(kind, data)
        if self.forward is not None:
            self.forward(kind, data)
        return event

    def deliver(self, kind: str, data: dict[str, Any]) -> LiveEvent:
        """Number, keep and queue an event for every local subscriber (also events from other nodes)."""
        if kind not in KINDS:
            raise ValueError(f"unknown console event kind {kind!r}")
        return self._append(kind, data)

    def resync_all(self) -> LiveEvent:
        """Events may have been missed (the fan-out was away): every console refreshes everything.

        The resync is numbered and kept like any event, so a console resuming
        from before it gets it too.
        """
        return self._append(RESYNC, self.hello)

    def _append(self, kind: str, data: dict[str, Any]) -> LiveEvent:
        self.seq += 1
        event = LiveEvent(self.seq, kind, data)
        self.ring.append(event)
        for subscriber in list(self.subscribers):
            subscriber.offer(event)
            if subscriber.dropped:
                self._forget(subscriber)
                self.dropped += 1
        return event

    # -- consuming -----------------------------------------------------------------
    def event_id(self, seq: int) -> str:
        return f"{self.epoch}-{seq}"

    def subscribe(self, last_event_id: str | None) -> tuple[Subscriber, list[LiveEvent]]:
        """A new subscriber and what it must be sent first: missed events, or a resync, or a ready event.

        Registration and the replay happen in one step (no ``await``), so no
        event falls between the two.
        """
        subscriber = Subscriber(self.queue_limit)
        self.subscribers.add(subscriber)
        if not last_event_id:
            return subscriber, [LiveEvent(self.seq, READY, self.hello)]
        missed = self.since(last_event_id)
        if missed is None:
            return subscriber, [LiveEvent(self.seq, RESYNC, self.hello)]
        resumed_at = missed[0].seq - 1 if missed else self.seq
        return subscriber, [LiveEvent(resumed_at, READY, self.hello), *missed]

    def since(self, last_event_id: str) -> list[LiveEvent] | None:
        """Events after ``last_event_id``, or None when they cannot all be told."""
        epoch, _, seq_text = last_event_id.strip().rpartition("-")
        if epoch != self.epoch or not seq_text.isdigit():
            return None
        seq = int(seq_text)
        oldest = self.ring[0].seq if self.ring else self.seq + 1
        if seq > self.seq or seq < oldest - 1:
            return None
        return [e for e in self.ring if e.seq > seq]

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscriber.close()
        self._forget(subscriber)

    def _forget(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def close(self) -> None:
        """Shutting down: every stream ends (browsers reconnect to whatever serves next)."""
        for subscriber in list(self.subscribers):
            subscriber.close()
        self.subscribers.clear()

    # -- wire format -------------------------------------------------------------------
    def encode(self, event: LiveEvent) -> bytes:
        data = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
        return f"id: {self.event_id(event.seq)}\nevent: {event.kind}\ndata: {data}\n\n".encode()


HEARTBEAT = b": keep-alive\n\n"


def account_event(action: str, reason: str) -> bytes:
    """The last event of a stream its user's sign-in ended ("end") or changed ("reconnect"); it has no id."""
    data = json.dumps({"action": action, "reason": reason}, separators=(",", ":"))
    return f"event: account\ndata: {data}\n\n".encode()


class LiveOwner(Protocol):
    """Where the process's hub is kept (``web.compose.Services``)."""

    live: LiveHub | None

    @property
    def settings(self) -> Settings: ...


def for_services(services: LiveOwner) -> LiveHub:
    """The process's hub (``services.live``), created on first use from the ``console.*`` settings."""
    if services.live is not None:
        return services.live
    settings = services.settings
    hub = LiveHub(history=int(settings["console.live_history"]), queue_limit=int(settings["console.live_queue"]))
    services.live = hub
    return hub
