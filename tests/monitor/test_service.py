"""MonitorService against real feed servers and a real SQLite file: store, dedupe, resume, health, runtime changes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import SourceConfigError, SourceExistsError, UnknownSourceError
from monitor.sources.demo import load_stream
from tests.support_monitor import (
    Clock,
    FakeClassifier,
    FeedServer,
    Harness,
    Route,
    fixture_bytes,
    open_db,
    wait_until,
)

EXPOSE = ("【暗访】鲜味楼后厨老鼠乱窜、过期食材重新贴标再使用 新京报记者历时两个月卧底鲜味楼北京、上海多家门店"
          "后厨发现：夜间老鼠在操作台上乱窜，员工将过期三天的鸭血、牛蛙重新贴上当日标签继续使用")


def rss(items: list[tuple[str, str]], *, link: str = "https://weibo.com/u/") -> bytes:
    body = "".join(
        f"<item><title>{text[:20]}</title><description><![CDATA[{text}]]></description><guid>{guid}</guid>"
        f"<link>{link}{guid}</link><pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate></item>" for guid, text in items)
    head = '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>'
    return f"{head}{body}</channel></rss>".encode()


@pytest.fixture
def harness(tmp_path: Path) -> Any:
    h = Harness(open_db(tmp_path / "l.db"), Clock(), FakeClassifier())
    yield h
    h.db.close()


async def test_rss_poll_stores_classifies_announces_and_uses_etag(harness: Harness) -> None:
    async with FeedServer() as srv:
        srv.routes["/weibo/keyword/鲜味楼"] = Route(body=fixture_bytes("rsshub_weibo_keyword.xml"), etag='"a1"')
        service = harness.service([{"name": "wb", "kind": "rss", "url": srv.url("/weibo/keyword/鲜味楼"),
                                    "query": "鲜味楼 NOT 招聘"}])
        [first] = await service.poll_once()
        assert first.ok and first.items == 4 and first.filtered == 1 and first.new == 3, str(first)
        assert first.near_duplicates == 1  # the //@新京报 repost of the first post
        [second] = await service.poll_once()
        assert second.ok and second.new == 0 and second.items == 0  # 304
        assert srv.routes["/weibo/keyword/鲜味楼"].seen_headers[1]["If-None-Match"] == '"a1"'
        srv.routes["/weibo/keyword/鲜味楼"].etag = None  # a server without validators: exact dedupe
        [third] = await service.poll_once()
        assert third.new == 0 and third.duplicates == 3
    rows = harness.rows()
    assert len(rows) == 3 and all(r["classified_at"] and r["notified_at"] for r in rows)
    assert [m.id for m in harness.announced] == [r["id"] for r in rows]
    assert harness.announced[0].tier == "P2" and harness.announced[0].mention.author == "吃货小王"
    repost = next(m for m in harness.announced if m.duplicate_of is not None)
    assert repost.duplicate_of == rows[0]["id"] and repost.mention.author == "深夜放毒狂魔"
    assert "✓ wb: 3 条新提及" in str(first)


async def test_reposts_across_sources_link_to_the_original(harness: Harness) -> None:
    async with FeedServer() as srv:
        srv.routes["/media"] = Route(body=rss([("m1", EXPOSE)], link="https://news.example.cn/"))
        srv.routes["/weibo"] = Route(body=rss([("w1", f"太恶心了 //@新京报: {EXPOSE}"),
                                               ("w2", "鲜味楼的酸菜鱼真不错，推荐推荐推荐")]))
        srv.routes["/tousu"] = Route(body=rss([("t1", f"{EXPOSE} http://t.cn/xyz")], link="https://tousu.example.cn/"))
        service = harness.service([
            {"name": "media", "kind": "rss", "url": srv.url("/media")},
            {"name": "weibo", "kind": "rss", "url": srv.url("/weibo")},
            {"name": "tousu", "kind": "rss", "url": srv.url("/tousu")},
        ])
        await service.poll_once("media")
        results = await service.poll_once()
    assert sum(r.new for r in results) == 3  # media re-polled: nothing new; weibo 2; tousu 1
    rows = {r["external_id"]: r for r in harness.rows()}
    original = rows["m1"]["id"]
    assert rows["m1"]["duplicate_of"] is None and rows["w2"]["duplicate_of"] is None
    assert rows["w1"]["duplicate_of"] == original and rows["t1"]["duplicate_of"] == original
    dupes = [m for m in harness.announced if m.duplicate_of == original]
    assert len(dupes) == 2  # they count for volume


async def test_crash_mid_poll_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    clock = Clock()
    db = open_db(tmp_path / "l.db")
    crashed = Harness(db, clock, FakeClassifier())
    options = {"items": "data.list", "cursor_param": "cursor", "next_cursor": "data.next_cursor",
               "fields": {"id": "mid", "url": "scheme", "text": "text_raw", "author": "user.screen_name",
                          "author_reach": "user.followers_count", "published_at": "created_at"}}
    async with FeedServer() as srv:
        for page, cursor in ((1, ""), (2, "c2"), (3, "c3")):
            srv.routes[f"/api/search?cursor={cursor}" if cursor else "/api/search"] = Route(
                body=fixture_bytes(f"json_api_page{page}.json"), content_type="application/json")
        cfg = {"name": "api", "kind": "json", "url": srv.url("/api/search"), **options}
        service = crashed.service([cfg])
        stuck = asyncio.Event()

        async def hang(batch: Any) -> None:  # the process "dies" while announcing page 1
            stuck.set()
            await asyncio.Event().wait()

        service.pipeline.on_new_mentions = hang
        task = asyncio.create_task(service.poll_once())
        await stuck.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await service.fetcher.close()
        assert len(crashed.rows()) == 2  # page 1 stored with its cursor, classified, not announced
        assert all(r["notified_at"] is None for r in crashed.rows())

        restarted = Harness(db, clock, FakeClassifier())
        service2 = restarted.service([cfg])
        await service2.start(schedule=False)  # resumes the unannounced mentions
        assert sorted(m.mention.external_id for m in restarted.announced) == ["5012345678901234", "5012345678901235"]
        [result] = await service2.poll_once()
        await service2.stop()
    assert result.ok and result.new == 1, str(result)  # page 2 only; page 3 is empty
    assert srv.routes["/api/search"].hits == 1  # page 1 was not fetched again
    ids = [r["external_id"] for r in restarted.rows()]
    assert len(ids) == 3 == len(set(ids))
    assert [m.mention.author_reach for m in restarted.announced] == [5230, 12000, 88]
    state = db.read_sync(lambda d: d.execute("SELECT cursor FROM source_state WHERE name='api'").fetchone())
    assert state[0] == "c3"


async def test_unclassified_mentions_are_picked_up_on_the_next_run(harness: Harness) -> None:
    async with FeedServer() as srv:
        srv.routes["/tousu"] = Route(body=fixture_bytes("rsshub_sina_tousu.xml"), etag='"t"')
        service = harness.service([{"name": "tousu", "kind": "rss", "url": srv.url("/tousu")}])
        harness.classifier.fail = True
        [first] = await service.poll_once()
        assert first.ok and first.new == 2 and "稍后重试" in (first.warning or "")
        assert [r["classified_at"] for r in harness.rows()] == [None, None]
        assert harness.announced == []
        harness.classifier.fail = False
        [second] = await service.poll_once()
        assert second.new == 0
    assert all(r["classified_at"] for r in harness.rows())
    assert len(harness.announced) == 2


async def test_hanging_server_and_malformed_feed_fail_only_their_source(harness: Harness) -> None:
    async with FeedServer() as srv:
        srv.routes["/hang"] = Route(hang=True)
        srv.routes["/bad"] = Route(body=fixture_bytes("malformed.xml"))
        srv.routes["/good"] = Route(body=fixture_bytes("rsshub_zhihu_hot.xml"))
        service = harness.service([
            {"name": "hang", "kind": "rss", "url": srv.url("/hang"), "timeout_s": 0.3},
            {"name": "bad", "kind": "rss", "url": srv.url("/bad")},
            {"name": "good", "kind": "rss", "url": srv.url("/good")},
        ])
        results = {r.source: r for r in await service.poll_once()}
    assert "超时" in results["hang"].error and "XML 格式错误" in results["bad"].error  # type: ignore[operator]
    assert results["good"].ok and results["good"].new == 3


async def test_runtime_source_changes_without_restart(harness: Harness) -> None:
    async with FeedServer() as srv:
        srv.routes["/zhihu/hot"] = Route(body=fixture_bytes("rsshub_zhihu_hot.xml"))
        slow = {"name": "slow", "kind": "rss", "url": srv.url("/zhihu/hot"), "interval_s": 3600}
        service = harness.service([slow])
        await service.start()
        try:
            assert service.scheduler.jobs() == ["health check", "slow"]
            added = await service.add_source({"name": "fast", "kind": "rss", "url": srv.url("/zhihu/hot"),
                                              "interval_s": 1, "jitter_s": 0, "query": "鲜味楼"})
            assert added["name"] == "fast" and service.scheduler.has("fast")
            await wait_until(lambda: len(harness.announced) >= 2)  # the scheduler ran it
            with pytest.raises(SourceExistsError):
                await service.add_source({"name": "fast", "kind": "rss", "url": srv.url("/x")})
            await service.update_source("fast", {"interval_s": 7200, "query": "老鼠"})
            assert service.scheduler.next_run("fast") is not None
            await service.pause_source("fast")
            assert service.scheduler.next_run("fast") is None
            listed = {s["name"]: s for s in await service.list_sources()}
            assert listed["fast"]["paused"] and listed["fast"]["interval_s"] == 7200
            await service.resume_source("fast")
            assert service.scheduler.next_run("fast") is not None
            await service.remove_source("fast")
            assert not service.scheduler.has("fast")
            with pytest.raises(UnknownSourceError):
                await service.pause_source("fast")
            await service.add_source({"name": "kept", "kind": "rss", "url": srv.url("/zhihu/hot"),
                                      "interval_s": 3600})
            await service.pause_source("slow")
        finally:
            await service.stop()
    again = harness.service([slow])
    listed = {s["name"]: s for s in await again.list_sources()}
    assert set(listed) == {"slow", "kept"} and listed["slow"]["paused"]  # API source and pause persisted


async def test_config_errors_are_clear(harness: Harness) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "x", "kind": "nope"}, "未知的来源类型"),
        ({"name": "bad name!", "kind": "rss", "url": "http://a"}, "name 无效"),
        ({"name": "x", "kind": "rss", "url": "ftp://a"}, "http"),
        ({"name": "x", "kind": "rss", "url": "http://a", "query": "(a OR b"}, "缺少右括号"),
        ({"name": "x", "kind": "rss", "url": "http://a", "interval_s": 0}, "interval_s"),
        ({"name": "x", "kind": "html", "url": "http://a"}, "item selector"),
        ({"name": "x", "kind": "json", "url": "http://a", "cursor_param": "c"}, "next_cursor"),
        ({"name": "x", "kind": "push"}, "token"),
        ({"name": "x", "kind": "rss", "url": "http://a", "encoding": "klingon"}, "未知编码"),
    ]
    for cfg, fragment in cases:
        with pytest.raises(SourceConfigError) as info:
            harness.service([cfg])
        assert fragment in str(info.value)
    with pytest.raises(SourceConfigError, match="重复"):
        harness.service([{"name": "a", "kind": "demo"}, {"name": "a", "kind": "demo"}])


async def test_demo_replay_is_deterministic_and_builds_a_crisis(tmp_path: Path) -> None:
    runs = []
    for n in range(2):
        h = Harness(open_db(tmp_path / f"d{n}.db"), Clock(), FakeClassifier())
        service = h.service([{"name": "demo", "kind": "demo", "speed": 50}])
        [first] = await service.poll_once()
        assert first.ok and first.new == 0  # nothing has offset 0
        h.clock.advance(4)  # 200 s of stream
        [quiet] = await service.poll_once()
        h.clock.advance(30)  # 1500 s of stream: everything
        [crisis] = await service.poll_once()
        rows = h.rows()
        runs.append([(r["external_id"], r["text"], r["duplicate_of"]) for r in rows])
        assert 0 < quiet.new < 40 and crisis.near_duplicates > 20
        records = load_stream()
        assert 150 <= len(records) <= 250
        assert quiet.new + crisis.new + crisis.duplicates == len(records)
        expose = next(r for r in rows if r["author"] == "新京报")
        assert sum(1 for r in rows if r["duplicate_of"] == expose["id"]) >= 10
        assert any("立案调查" in r["text"] for r in rows)
        h.db.close()
    assert runs[0] == runs[1]
