"""The ticker core, sans I/O: the active items, a revision counter and the recent deltas.

Commands in (a change, a client connecting with its last revision), messages
out (JSON bytes).  No sockets, no clock reads, no event loop: the caller
passes ``now``.

Recovery follows Centrifugo's offset + epoch: a client that comes back with
``since`` and the same ``epoch`` gets exactly the deltas after ``since`` if
every one of them is still in the history, otherwise a fresh snapshot -
never a partial replay.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .frames import encode
from .model import SUPERVISOR_ROLES, Audience, Viewer

KINDS = ("publish", "update", "retract", "expire")


class Gap(Exception):
    """A remote delta does not follow the local revision: the caller must resync."""


@dataclass
class Entry:
    item: dict[str, Any]
    audience: Audience


@dataclass
class Delta:
    rev: int
    kind: str
    id: int
    audience: Audience
    payload: bytes  # what viewers in ``audience`` receive
    removal: bytes | None = None  # what viewers who only matched the previous audience receive
    prev_audience: Audience | None = None
    frames: dict[int, bytes] = field(default_factory=dict)  # cache: id(payload) -> frame

    def payload_for(self, viewer: Viewer) -> bytes | None:
        if self.audience.matches(viewer):
            return self.payload
        if self.prev_audience is not None and self.prev_audience.matches(viewer):
            return self.removal
        return None


def new_epoch() -> str:
    return secrets.token_hex(6)


def visible(item: dict[str, Any], now: float) -> bool:
    expires = item.get("expires_at")
    if expires is not None and expires <= now:
        return False
    until = item.get("withdrawn_until")
    return not (item.get("state") == "retracted" and until is not None and until <= now)


class TickerCore:
    def __init__(self, *, epoch: str | None = None, history: int = 2000, withdrawn_s: float = 120.0,
                 stale_after_s: float | None = None) -> None:
        self.epoch = epoch or new_epoch()
        # Told to clients in snapshot/resumed: warn the agent after this long without any message.
        self.hints: dict[str, Any] = {} if stale_after_s is None else {"stale_after_s": stale_after_s}
        self.rev = 0
        self.entries: dict[int, Entry] = {}
        self.history: deque[Delta] = deque(maxlen=history)
        self.withdrawn_s = withdrawn_s
        # Snapshots are encoded once per kind of viewer and revision (a reconnect storm of
        # 10,000 agents of four teams costs four encodings, not 10,000).
        self._snapshots: dict[tuple[Any, ...], tuple[int, str, float, bytes]] = {}

    # -- changes -------------------------------------------------------------
    def apply(self, kind: str, item: dict[str, Any], *, now: float, rev: int | None = None) -> Delta:
        """Record one change; ``rev`` is given for deltas ordered elsewhere (Redis) and must be next."""
        if kind not in KINDS:
            raise ValueError(f"unknown delta kind {kind!r}")
        if rev is not None and rev != self.rev + 1:
            raise Gap(f"expected rev {self.rev + 1}, got {rev}")
        self.rev = self.rev + 1
        script_id = int(item["id"])
        audience = Audience.parse(item.get("audience"))
        old = self.entries.get(script_id)
        prev = old.audience if old is not None and old.audience != audience else None
        removal = encode({"type": "expire", "rev": self.rev, "id": script_id}) if prev is not None else None
        if kind == "expire":
            self.entries.pop(script_id, None)
            payload = encode({"type": "expire", "rev": self.rev, "id": script_id})
        else:
            if kind == "retract":
                until = item.get("withdrawn_until") or now + self.withdrawn_s  # set once, by the publisher
                item = {**item, "state": "retracted", "withdrawn_until": until}
            self.entries[script_id] = Entry(item, audience)
            payload = encode({"type": kind, "rev": self.rev, "item": item})
        delta = Delta(self.rev, kind, script_id, audience, payload, removal, prev)
        self.history.append(delta)
        return delta

    def reset(self, *, epoch: str, rev: int, items: Iterable[dict[str, Any]]) -> None:
        """Replace the whole state (resync from the shared store); history starts over."""
        self.epoch, self.rev = epoch, rev
        self.entries = {int(i["id"]): Entry(i, Audience.parse(i.get("audience"))) for i in items}
        self.history.clear()
        self._snapshots.clear()

    def prune(self, now: float) -> None:
        """Forget withdrawn and expired items no snapshot would show any more."""
        for script_id in [k for k, e in self.entries.items() if not visible(e.item, now)]:
            del self.entries[script_id]

    # -- reads ---------------------------------------------------------------
    def items_for(self, viewer: Viewer, now: float) -> list[dict[str, Any]]:
        return [e.item for e in self.entries.values() if e.audience.matches(viewer) and visible(e.item, now)]

    def snapshot(self, viewer: Viewer, now: float) -> bytes:
        key = (viewer.role in SUPERVISOR_ROLES, viewer.team, viewer.skills, viewer.sites, viewer.shift)
        cached = self._snapshots.get(key)
        if cached is not None and cached[0] == self.rev and cached[1] == self.epoch and now < cached[2]:
            return cached[3]
        payload = encode({"type": "snapshot", "epoch": self.epoch, "rev": self.rev,
                          "items": self.items_for(viewer, now), **self.hints})
        if len(self._snapshots) > 1000:
            self._snapshots.clear()
        self._snapshots[key] = (self.rev, self.epoch, self._next_change(now), payload)
        return payload

    def _next_change(self, now: float) -> float:
        """When the visible set changes without a delta (an expiry or the end of a withdrawn display)."""
        times = [t for e in self.entries.values() for t in (e.item.get("expires_at"), e.item.get("withdrawn_until"))
                 if t is not None and t > now]
        return min(times, default=float("inf"))

    def can_resume(self, since: int | None, epoch: str | None) -> bool:
        if since is None or epoch != self.epoch or since < 0 or since > self.rev:
            return False
        return since == self.rev or (bool(self.history) and self.history[0].rev <= since + 1)

    def connect(self, viewer: Viewer, now: float, since: int | None = None,
                epoch: str | None = None) -> list[bytes]:
        """What a (re)connecting viewer receives first: the missed deltas and ``resumed``, or a snapshot."""
        if not self.can_resume(since, epoch):
            return [self.snapshot(viewer, now)]
        assert since is not None
        missed: list[bytes] = []
        for delta in reversed(self.history):  # cost follows what was missed, not the history size
            if delta.rev <= since:
                break
            payload = delta.payload_for(viewer)
            if payload is not None:
                missed.append(payload)
        missed.reverse()
        return [*missed, encode({"type": "resumed", "epoch": self.epoch, "rev": self.rev, **self.hints})]
