"""The storage contract (issue #11 point 4): a database function returns data, never a connection-bound object.

A cursor handed back by a write function used to reach the event-loop thread and be freed there while the
writer thread re-ran the same cached statement; SQLite then answered ``InterfaceError: bad parameter or other
API misuse`` and the batch's write was lost.
"""

from __future__ import annotations

import asyncio
import queue
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlite_utils

from monitor.mentions import Mention
from monitor.pipeline import Pipeline
from monitor.schema import migrations as monitor_migrations
from tests.support_monitor import FakeClassifier
from web.platform.storage import ConnectionBoundResult, Database

T = TypeVar("T")


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(tmp_path / "t.db")
    db.migrate([monitor_migrations])
    db.write_sync(lambda d: d.execute("create table notes (id integer primary key, body text)").close())
    yield db
    db.close()


class ReleasingStore:
    """The real database, but whatever a function returns is let go by another thread at a random moment.

    That is what the event loop does with a result in production (it drops it whenever the awaiting coroutine
    is done with it); here it happens often enough to hit the writer re-running the same statement.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._held: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stop = False
        self._thread = threading.Thread(target=self._release, daemon=True)
        self._thread.start()

    def _release(self) -> None:
        rng = random.Random(11)
        while not self._stop:
            try:
                held = self._held.get(timeout=0.05)
            except queue.Empty:
                continue
            time.sleep(rng.random() / 5000)
            del held

    async def read(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        return await self.db.read(fn)

    async def write(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        result = await self.db.write(fn)
        self._held.put(result)
        return result

    def close(self) -> None:
        self._stop = True
        self._thread.join()


async def test_sixteen_concurrent_batches_store_classify_and_announce_every_mention(database: Database) -> None:
    store = ReleasingStore(database)
    announced: list[int] = []

    async def on_new(batch: list[Any]) -> None:
        announced.extend(m.id for m in batch)

    pipeline = Pipeline(store, FakeClassifier(), time.time, tz=UTC, on_new_mentions=on_new)
    rng = random.Random(5)
    errors: list[BaseException] = []
    total = 0
    try:
        for round_ in range(60):
            async def batch(b: int, round_: int = round_) -> None:
                mentions = [Mention(source=f"s{b}", external_id=f"{round_}-{b}-{i}", url="", title="",
                                    text=f"鲜味楼 第{round_}轮 第{b}批 第{i}条 投诉", published_at=datetime.now(UTC),
                                    author=f"u{i}", author_reach=1, raw={}) for i in range(rng.randint(1, 4))]
                outcome = await pipeline.store_page(mentions)
                await pipeline.classify_and_announce(outcome.stored)

            sizes_before = total
            results = await asyncio.gather(*(batch(b) for b in range(16)), return_exceptions=True)
            errors.extend(r for r in results if isinstance(r, BaseException))
            total = await database.read(lambda d: d.execute("select count(*) from mentions").fetchone()[0])
            assert total > sizes_before
    finally:
        store.close()
    assert errors == []
    left = await database.read(lambda d: d.execute(
        "select count(*) from mentions where classified_at is null or notified_at is null").fetchone()[0])
    assert left == 0
    assert sorted(announced) == sorted(set(announced)) and len(announced) == total


@pytest.mark.parametrize("make", [
    lambda d: d.conn.executemany("insert into notes (body) values (?)", [("a",), ("b",)]),
    lambda d: d.execute("insert into notes (body) values ('a')"),
    lambda d: d.table("notes").insert({"body": "a"}),
    lambda d: d.query("select 1"),
    lambda d: d,
    lambda d: [d.execute("insert into notes (body) values ('a')")],
    lambda d: {"cursor": d.conn.cursor()},
])
async def test_a_write_returning_a_connection_bound_object_is_refused_and_rolled_back(
        database: Database, make: Callable[[sqlite_utils.Database], Any]) -> None:
    with pytest.raises(ConnectionBoundResult, match="return data instead"):
        await database.write(make)
    assert await database.read(lambda d: d.execute("select count(*) from notes").fetchone()[0]) == 0
    # The writer keeps working, and data results pass.
    assert await database.write(lambda d: d.execute("insert into notes (body) values ('kept')").rowcount) == 1
    assert await database.write(lambda d: d.execute("select body from notes").fetchall()) == [("kept",)]


async def test_a_read_returning_a_cursor_or_row_is_refused(database: Database) -> None:
    with pytest.raises(ConnectionBoundResult, match=r"sqlite3\.Cursor"):
        await database.read(lambda d: d.execute("select 1"))

    def row(d: sqlite_utils.Database) -> Any:
        cur = d.conn.cursor()
        cur.row_factory = sqlite3.Row
        return cur.execute("select 1 as one").fetchone()

    with pytest.raises(ConnectionBoundResult, match=r"sqlite3\.Row"):
        await database.read(row)
    assert await database.read(lambda d: list(d.query("select 1 as one"))) == [{"one": 1}]


def test_the_error_names_the_function(database: Database) -> None:
    def forgot_rowcount(d: sqlite_utils.Database) -> Any:
        return d.execute("update notes set body = 'x'")

    with pytest.raises(ConnectionBoundResult, match="forgot_rowcount"):
        database.write_sync(forgot_rowcount)
