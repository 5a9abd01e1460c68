"""Source health: backoff, failing/silent alerts once per episode, recovery, logging on first failure only."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from monitor.source_health import SourceState, check_silence, duration_en, duration_zh, record_success
from tests.support_monitor import Clock, FakeClassifier, FeedServer, Harness, Route, fixture_bytes, open_db


@pytest.fixture
def harness(tmp_path: Path) -> Any:
    h = Harness(open_db(tmp_path / "l.db"), Clock(), FakeClassifier())
    yield h
    h.db.close()


async def test_failures_back_off_alert_once_and_recover(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lantern.monitor")
    async with FeedServer() as srv:
        srv.routes["/feed"] = Route(status=500)
        service = harness.service([{"name": "flaky", "kind": "rss", "url": srv.url("/feed"), "interval_s": 60}],
                                  failure_alert_after=3)
        delays = []
        for _ in range(4):
            [r] = await service.poll_once()
            assert not r.ok
            state = service._states["flaky"]
            delays.append(state.next_attempt_at - harness.clock())  # type: ignore[operator]
            harness.clock.advance(10)
        assert delays[0] < delays[2] < delays[3]  # exponential with jitter
        assert [a[1] for a in harness.alerts] == ["failing"]
        assert "连续失败 3 次" in harness.alerts[0][2]
        srv.routes["/feed"] = Route(status=429, headers={"Retry-After": "600"})
        await service.poll_once()
        assert service._states["flaky"].next_attempt_at >= harness.clock() + 600  # type: ignore[operator]
        srv.routes["/feed"] = Route(body=fixture_bytes("atom.xml"), content_type="application/atom+xml")
        [ok] = await service.poll_once()
        assert ok.ok and ok.new == 2
    assert [a[1] for a in harness.alerts] == ["failing", "recovered"]
    logged = [r.getMessage() for r in caplog.records if r.name == "lantern.monitor"]
    assert sum("抓取失败" in m for m in logged) == 1  # first failure only, not every retry
    assert sum("已恢复" in m for m in logged) == 1
    health = (await service.list_sources())[0]["health"]
    assert health["status"] == "ok" and health["consecutive_failures"] == 0 and health["last_error"]


def test_silence_alert_after_the_usual_rhythm() -> None:
    state = SourceState("quiet")
    now = 1000.0
    for _ in range(8):  # seven gaps of 5 minutes: 35 minutes of rhythm watched
        record_success(state, now=now, items_seen=1, new=1, duplicates=0)
        now += 300
    assert state.mean_gap_s == pytest.approx(300)
    assert check_silence(state, now=now + 600, interval_s=60, factor=6) is None
    event = check_silence(state, now=now + 3 * 3600, interval_s=60, factor=6)
    assert event is not None and event.kind == "silent"
    assert "已 3.1 小时没有新内容，平时约每 5 分钟一条" in event.message and "usually one every 5 min" in event.message
    assert check_silence(state, now=now + 4 * 3600, interval_s=60, factor=6) is None  # once per episode
    events = record_success(state, now=now + 5 * 3600, items_seen=1, new=1, duplicates=0)
    assert [e.kind for e in events] == ["recovered"] and state.alert is None


def test_a_short_burst_teaches_no_rhythm() -> None:
    """Issue 12: the demo's 90-second burst (an item every 2-second poll) then quiet was called a silence."""
    state = SourceState("demo")
    now = 1000.0
    for _ in range(45):
        record_success(state, now=now, items_seen=1, new=1, duplicates=0)
        now += 2
    assert state.mean_gap_s == pytest.approx(2)
    assert check_silence(state, now=now + 720, interval_s=2, factor=6) is None
    assert check_silence(state, now=now + 6 * 3600, interval_s=2, factor=6) is None  # still only 90 s watched


def test_durations_read_as_a_person_says_them() -> None:
    assert [duration_zh(s) for s in (0.4, 2, 59, 90, 3000, 3600 * 1.25, 3600 * 30)] == [
        "1 秒", "2 秒", "59 秒", "2 分钟", "50 分钟", "1.2 小时", "30 小时"]
    assert duration_en(2) == "2 s" and duration_en(720) == "12 min"


async def test_the_demo_replay_ending_is_not_a_silence(harness: Harness) -> None:
    service = harness.service([{"name": "demo", "kind": "demo", "speed": 1000.0}])
    state = SourceState("demo", last_new_at=harness.clock(), mean_gap_s=2.0, arrivals=100, learned_s=7200)
    service._states["demo"] = state
    harness.clock.advance(12 * 3600)
    await service.check_health()
    assert harness.alerts == [] and state.alert is None


async def test_scheduler_retries_a_failed_source_sooner_with_backoff(harness: Harness) -> None:
    async with FeedServer() as srv:
        srv.routes["/down"] = Route(status=502)
        service = harness.service([{"name": "down", "kind": "rss", "url": srv.url("/down"), "interval_s": 3600}])
        await service.start()
        try:
            before = time.time()
            await service._scheduled_run("down", before)  # what the scheduler's job calls
            next_run = service.scheduler.next_run("down")
            assert next_run is not None and before + 20 <= next_run <= before + 40  # ~30 s, not an hour
            assert service.lateness and service._states["down"].last_lateness_s is not None
        finally:
            await service.stop()


async def test_push_source_going_silent_raises_a_health_alert(harness: Harness) -> None:
    service = harness.service([{"name": "hook", "kind": "push", "token": "t" * 24}])
    for i in range(6):
        item = {"id": f"p{i}", "text": f"鲜味楼第 {i} 条普通的用户评价，编号 {i * 7919}"}
        result = await service.ingest("hook", [item])
        assert result.accepted == 1
        harness.clock.advance(600)
    await service.check_health()
    assert harness.alerts == []
    harness.clock.advance(6 * 3600)
    await service.check_health()
    await service.check_health()
    assert [(a[0], a[1]) for a in harness.alerts] == [("hook", "silent")]
    assert (await service.list_sources())[0]["health"]["status"] == "silent"
    await service.ingest("hook", [{"id": "late", "text": "鲜味楼又有新的评价了，这是一条新的内容"}])
    assert [a[1] for a in harness.alerts] == ["silent", "recovered"]

