"""Send due outbox rows: per-channel budgets by priority, retries with backoff for retryable failures only.

Rows are sent most severe first; a channel's rows go one at a time, channels
in parallel.  A row is marked ``sending`` before the network call and
``sent`` / ``queued`` (retry) / ``failed`` after it; rows left ``sending`` by a
crash are queued again at start (at-least-once delivery).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aiohttp

from monitor import faults
from monitor.channels.base import Channel, Message
from monitor.channels.budget import Budget, SharedBudget
from monitor.channels.errors import DeliveryError
from monitor.shared_limits import RedisLimits
from monitor.store import Store

log = logging.getLogger(__name__)

BACKOFF_BASE = 10.0
BACKOFF_MAX = 600.0


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """10 s, 20 s, 40 s ... capped at 10 min; never sooner than the service asked."""
    delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    return max(delay, retry_after or 0.0)


@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    waiting: int = 0  # held back by a budget
    errors: list[str] = field(default_factory=list)


class Sender:
    def __init__(self, store: Store, channels: dict[str, Channel], *, render: Callable[[dict[str, Any]], Message],
                 redact: Callable[[str], str], max_attempts: int = 8,
                 on_change: Callable[[set[int | None]], Awaitable[None]] | None = None,
                 limits: RedisLimits | None = None) -> None:
        self.store = store
        self.channels = channels
        self.render = render
        self.redact = redact
        self.max_attempts = max_attempts
        self.on_change = on_change  # told the incidents of each batch whose rows changed status
        self.budgets = {name: budget_for(name, c, limits) for name, c in channels.items()}
        self.denied_since: dict[int, float] = {}  # delivery id -> first time a budget held it back
        self._inflight: dict[str, asyncio.Task[None]] = {}

    async def recover(self, now: float) -> None:
        """After a restart: re-queue rows a crash left ``sending``; seed budgets with the last minute's sends."""
        def txn(db: Any) -> list[tuple[str, float]]:
            db.execute("update alert_deliveries set status = 'queued' where status = 'sending'")
            return db.execute("select channel, sent_at from alert_deliveries where status in ('sent', 'acknowledged') "
                              "and sent_at > ?", [now - 60]).fetchall()
        recent = await self.store.write(txn)
        by_channel: dict[str, list[float]] = defaultdict(list)
        for channel, sent_at in recent:
            by_channel[channel].append(sent_at)
        for name, times in by_channel.items():
            if name in self.budgets:
                self.budgets[name].seed(times)

    async def send_due(self, now: float, http: aiohttp.ClientSession, *, wait: bool = True) -> SendReport:
        """Send what is due, one task per channel.

        A channel whose previous batch is still in flight (a slow or hanging
        robot) is skipped, so it never holds up the others.  With ``wait``
        (tests, shutdown) earlier batches are awaited first, and this batch and
        any batch the timer loop started meanwhile are awaited too; the timer
        loop passes ``wait=False``.
        """
        if wait:
            pending = [t for t in self._inflight.values() if not t.done()]
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        rows = await self.store.read(lambda db: list(db.query(
            "select * from alert_deliveries where status = 'queued' and coalesce(next_attempt_at, 0) <= ? "
            "and coalesce(deliver_after, 0) <= ? order by tier, id limit 1000", [now, now])))
        by_channel: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            by_channel[row["channel"]].append(row)
        report = SendReport()
        started, busy = [], []
        for name, items in by_channel.items():
            running = self._inflight.get(name)
            if running is not None and not running.done():
                busy.append(running)  # a batch started meanwhile (the timer loop) already holds these rows
                continue
            task = asyncio.create_task(self._channel(name, items, now, http, report), name=f"lantern-send-{name}")
            self._inflight[name] = task
            started.append(task)
        if wait:
            if busy:
                await asyncio.gather(*busy, return_exceptions=True)
            if started:
                await asyncio.gather(*started)
        return report

    async def close(self) -> None:
        """Cancel batches in flight; their rows stay ``sending`` and are re-queued at the next start."""
        tasks = [t for t in self._inflight.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._inflight.clear()

    async def _channel(self, name: str, rows: list[dict[str, Any]], now: float, http: aiohttp.ClientSession,
                       report: SendReport) -> None:
        before = (report.sent, report.retried, report.failed)
        await self._send_batch(name, rows, now, http, report)
        if self.on_change is not None and (report.sent, report.retried, report.failed) != before:
            await self.on_change({r["incident_id"] for r in rows})

    async def _send_batch(self, name: str, rows: list[dict[str, Any]], now: float, http: aiohttp.ClientSession,
                          report: SendReport) -> None:
        channel = self.channels.get(name)
        budget = self.budgets.get(name)
        if channel is not None and channel.kind == "console":
            # In-app: the row is the message; mark the whole batch sent in one write.
            await self.store.write(partial(_mark_all_sent, ids=[r["id"] for r in rows], now=now))
            report.sent += len(rows)
            return
        for row in rows:
            if channel is None:
                await self._finish(row, now, error=f"渠道 {name} 未配置 (channel not configured)", retryable=False,
                                   report=report)
                continue
            place = None
            if budget is not None and (place := await budget.acquire(now, row["tier"])) is None:
                self.denied_since.setdefault(row["id"], now)
                report.waiting += 1
                continue
            self.denied_since.pop(row["id"], None)
            if not await self.store.write(partial(_claim, delivery_id=row["id"])):
                if budget is not None and place is not None:
                    await budget.give_back(place)
                continue  # another tick or node took it (or it was cancelled / acknowledged meanwhile)
            try:
                await channel.send(self.render(row), http)
            except DeliveryError as exc:
                await self._finish(row, now, error=self.redact(str(exc)), retryable=exc.retryable,
                                   retry_after=exc.retry_after, report=report)
            except Exception as exc:  # a bug in a channel must not stop the others; keep the row for a retry
                log.error("channel %s crashed: %s", name, self.redact(f"{type(exc).__name__}: {exc}"))
                await self._finish(row, now, error=f"{name}: 内部错误 ({type(exc).__name__})", retryable=True,
                                   report=report)
            else:
                faults.reached("alerts.posted")
                await self.store.write(partial(_mark_sent, delivery_id=row["id"], now=now))
                report.sent += 1

    async def _finish(self, row: dict[str, Any], now: float, *, error: str, retryable: bool, report: SendReport,
                      retry_after: float | None = None) -> None:
        attempts = row["attempts"] + 1
        if retryable and attempts < self.max_attempts:
            status, next_at = "queued", now + backoff(attempts, retry_after)
            report.retried += 1
        else:
            status, next_at = "failed", None
            report.failed += 1
        report.errors.append(error)
        log.warning("alert %s to %s via %s: %s (%s, attempt %d)", row["id"], row["recipient_label"], row["channel"],
                    error, status, attempts)
        await self.store.write(partial(_mark_attempt, delivery_id=row["id"], status=status, attempts=attempts,
                                       next_at=next_at, error=error))


def budget_for(name: str, channel: Channel, limits: RedisLimits | None) -> Budget:
    """The channel's budget: shared across nodes through Redis when ``limits`` is given and it has a limit."""
    budget = Budget(channel.per_minute, channel.per_second)
    if limits is None or not budget.limited:
        return budget
    return SharedBudget(channel.per_minute, channel.per_second, limits=limits, key=f"channel:{name}")


def payload_of(row: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(row["payload"] or "{}"))


def _claim(db: Any, *, delivery_id: int) -> bool:
    cursor = db.execute("update alert_deliveries set status = 'sending' where id = ? and status = 'queued'",
                        [delivery_id])
    return bool(cursor.rowcount)


def _mark_attempt(db: Any, *, delivery_id: int, status: str, attempts: int, next_at: float | None,
                  error: str) -> None:
    db.execute("update alert_deliveries set status = ?, attempts = ?, next_attempt_at = ?, last_error = ? where id = ?",
               [status, attempts, next_at, error, delivery_id])


def _mark_sent(db: Any, *, delivery_id: int, now: float) -> None:
    db.execute("update alert_deliveries set status = 'sent', sent_at = ?, attempts = attempts + 1, "
               "last_error = null where id = ? and status = 'sending'", [now, delivery_id])


def _mark_all_sent(db: Any, *, ids: list[int], now: float) -> None:
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        db.execute(f"update alert_deliveries set status = 'sent', sent_at = ?, attempts = attempts + 1 "
                   f"where status = 'queued' and id in ({','.join('?' for _ in chunk)})", [now, *chunk])
