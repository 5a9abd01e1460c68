"""The composition root: parts are built as named, and a polled page reaches the approval queue as a draft."""

from __future__ import annotations

from pathlib import Path

from monitor.incidents import queries
from tests.fixtures.alerts.helpers import settings_for
from tests.support_crash import rss
from tests.support_monitor import Clock, FakeClassifier, FeedServer, Route
from web.compose import Part, build_services

PLAN = {"name": "食品安全预案", "categories": ["food_safety"], "tiers": ["P1", "P2"], "checklist": ["通知法务"],
        "scripts": [{"title": "食品安全口径：{title}", "body": "您好，{brand}已第一时间核查。"}]}
STORY = "鲜味楼后厨老鼠乱窜，过期食材重新贴标"


async def test_only_the_named_parts_are_built(tmp_path: Path) -> None:
    services = await build_services(settings_for(tmp_path), clock=Clock(), parts={Part.BROADCAST})
    try:
        assert services.scripts is not None and services.hub is not None and services.runtime is not None
        assert (services.incidents, services.alerts, services.plans, services.monitor, services.classifier) == \
               (None, None, None, None, None)
        assert services.mention_sinks == []
    finally:
        services.db.close()


async def test_a_polled_page_becomes_a_draft_script_linked_to_its_incident(tmp_path: Path) -> None:
    async with FeedServer() as feed:
        feed.routes["/feed"] = Route(body=rss([{"title": STORY, "text": STORY, "guid": "https://example.com/1"}]))
        settings = settings_for(tmp_path, plans=[PLAN], monitor__enabled=False, incidents__group_wait_s=0,
                                sources=[{"name": "rss", "kind": "rss", "url": feed.url("/feed"), "brand": "鲜味楼"}])
        services = await build_services(settings, clock=Clock(), classifier=FakeClassifier(),
                                        parts={Part.BROADCAST, Part.ALERTS, Part.MONITOR})
        assert services.monitor is not None and services.scripts is not None
        try:
            (result,) = await services.monitor.poll_once("rss")
            assert result.new == 1, result
            (draft,) = await services.scripts.list()
            detail = await services.db.read(lambda db: queries.detail(db, int(draft["incident_id"])))
            assert detail["plans"] == ["食品安全预案"] and detail["script_ids"] == [draft["id"]]
            assert draft["state"] == "draft" and draft["author"] == "预案:食品安全预案"
            assert draft["title"] == f"食品安全口径：{STORY}" and draft["body"] == "您好，鲜味楼已第一时间核查。"
        finally:
            await services.monitor.stop()
            services.db.close()
