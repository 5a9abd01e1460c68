"""A batch whose announce failed is announced again by the running service (issue #11 point 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.config import Defaults
from monitor.mentions import StoredMention
from monitor.service import MonitorService
from tests.support_monitor import Clock, FakeClassifier, open_db, wait_until

TOKEN = "push-token-0123456789abcdef"


class FlakyListener:
    """The incident engine's place: fails the first ``failures`` batches (its write refused, say)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.batches: list[list[int]] = []

    async def __call__(self, batch: list[StoredMention]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("incident write failed")
        self.batches.append([m.id for m in batch])


@pytest.fixture
def db(tmp_path: Path) -> Any:
    database = open_db(tmp_path / "l.db")
    yield database
    database.close()


def service(db: Any, listener: FlakyListener, **kw: Any) -> MonitorService:
    return MonitorService(db, FakeClassifier(), Clock(), sources=[
        {"name": "hook", "kind": "push", "token": TOKEN, "query": "鲜味楼"}], defaults=Defaults(),
        on_new_mentions=listener, **kw)


def unannounced(db: Any) -> int:
    return int(db.read_sync(lambda d: d.execute(
        "select count(*) from mentions where notified_at is null").fetchone()[0]))


async def test_a_push_whose_announce_failed_is_retried_without_another_push_or_a_restart(db: Any) -> None:
    listener = FlakyListener(failures=2)
    svc = service(db, listener, retry_pending_s=0.05)
    await svc.start(schedule=False)  # monitor.enabled = false: push still works, and so does the retry
    try:
        items = [{"id": f"p{i}", "text": f"鲜味楼 第{i}条投诉：菜里有异物"} for i in range(3)]
        result = await svc.ingest("hook", items)
        assert result.accepted == 3
        assert unannounced(db) == 3 and "hook" in svc.pipeline.pending_sources
        await wait_until(lambda: unannounced(db) == 0, timeout=5)
    finally:
        await svc.stop()
    assert listener.failures == 0 and len(listener.batches) == 1 and len(listener.batches[0]) == 3
    assert svc.pipeline.pending_sources == set()


async def test_the_next_push_of_the_source_announces_the_leftovers_first(db: Any) -> None:
    listener = FlakyListener(failures=1)
    svc = service(db, listener, retry_pending_s=3600)
    await svc.start(schedule=False)
    try:
        await svc.ingest("hook", [{"id": "a", "text": "鲜味楼 第一条投诉"}])
        assert unannounced(db) == 1
        await svc.ingest("hook", [{"id": "b", "text": "鲜味楼 第二条投诉"}])
    finally:
        await svc.stop()
    assert unannounced(db) == 0 and len(listener.batches) == 2
    first, second = listener.batches
    assert first < second  # the failed push's mention went out before the new one
