"""Background work of the broadcast part: heartbeats, receipt flushing and on-time expiry.

Each loop sleeps with ``asyncio.sleep`` (real time) but decides with the
injected clock, so tests drive the same steps by calling them directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from .hub import TickerHub
from .service import ScriptService

log = logging.getLogger("lantern.broadcast")


class Runtime:
    def __init__(self, scripts: ScriptService, hub: TickerHub, *, ping_interval_s: float = 25.0,
                 flush_interval_s: float = 0.5, expiry_poll_s: float = 1.0) -> None:
        self.scripts = scripts
        self.hub = hub
        self.ping_interval_s = ping_interval_s
        self.flush_interval_s = flush_interval_s
        self.expiry_poll_s = expiry_poll_s
        self._tasks: list[asyncio.Task[None]] = []
        # One flush at a time: a flush that finds the buffer empty because the periodic one has just taken
        # it must still return only once those receipts are stored (shutdown, tests, coverage right after).
        self._flushing = asyncio.Lock()

    async def load(self) -> None:
        """Fill the hub from the database (published, unexpired versions)."""
        items = await self.scripts.active_items()
        self.hub.core.reset(epoch=self.hub.core.epoch, rev=self.hub.core.rev, items=items)

    async def flush_receipts(self) -> int:
        async with self._flushing:
            batch = self.hub.drain_receipts()
            try:
                return await self.scripts.record_receipts(batch)
            except Exception:
                self.hub.receipts[:0] = batch  # keep them for the next attempt
                raise

    async def expire_now(self) -> int:
        """Expire what is due (a cheap read first: the write happens only when something is due)."""
        due = await self.scripts.next_expiry()
        if due is None or due > self.scripts.clock():
            return 0
        return len(await self.scripts.expire_due())

    async def start(self) -> None:
        await self.load()
        self._tasks = [
            asyncio.create_task(self._every(self.ping_interval_s, self._tick), name="ticker-heartbeat"),
            asyncio.create_task(self._every(self.flush_interval_s, self.flush_receipts), name="ticker-receipts"),
            asyncio.create_task(self._every(self.expiry_poll_s, self.expire_now), name="script-expiry"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await self.flush_receipts()

    async def _tick(self) -> None:
        self.hub.tick()

    @staticmethod
    async def _every(interval: float, step: Callable[[], Awaitable[object]]) -> None:
        failing = False
        while True:
            await asyncio.sleep(interval)
            try:
                await step()
            except Exception:
                if not failing:
                    log.exception("broadcast background step %s failed", getattr(step, "__name__", step))
                failing = True
            else:
                if failing:
                    log.info("broadcast background step %s recovered", getattr(step, "__name__", step))
                failing = False
