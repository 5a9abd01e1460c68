"""The broadcast runtime's receipt flushing: a flush returns only once every receipt taken before it is stored."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from broadcast.hub import Receipt, TickerHub
from broadcast.runtime import Runtime
from broadcast.service import ScriptService


class SlowStore:
    """Stores receipts only when the test lets it, like a database write that takes a while."""

    def __init__(self) -> None:
        self.stored: list[Receipt] = []
        self.release = asyncio.Event()

    async def record_receipts(self, batch: list[Receipt]) -> int:
        if not batch:  # as ScriptService does: nothing to write, nothing to wait for
            return 0
        await self.release.wait()
        self.stored += batch
        return len(batch)


async def test_flush_waits_for_the_flush_already_writing() -> None:
    hub, store = TickerHub(clock=lambda: 0.0), SlowStore()
    runtime = Runtime(cast(ScriptService, store), hub)
    receipt: Receipt = ("copied", 7, 1, 42, "hotline", 0.0)
    hub.receipts.append(receipt)
    periodic = asyncio.create_task(runtime.flush_receipts())  # the background loop took the buffer...
    await asyncio.sleep(0)
    explicit: Any = asyncio.create_task(runtime.flush_receipts())  # ...just before someone asks for a flush
    await asyncio.sleep(0.05)
    assert not explicit.done()  # it must not report "flushed" while the receipt is still being written
    store.release.set()
    await asyncio.gather(periodic, explicit)
    assert store.stored == [receipt]
