"""Incident grouping, tiering and lifecycle on a real SQLite file with an injected clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.incidents import queries
from monitor.incidents.errors import IllegalTransitionError, InvalidTierError, UnknownIncidentError
from monitor.incidents.grouping import terms
from monitor.incidents.tiering import is_spike, parse_tier_map, volume_tier
from tests.fixtures.alerts.helpers import Clock, make_services, settings_for, store_mention

STORY = "央视曝光鲜味楼后厨老鼠乱窜，过期食材重新贴标继续售卖"
SAME_STORY = "转发：鲜味楼后厨老鼠乱窜、过期食材重新贴标，央视都曝光了，太恶心"
OTHER_STORY = "鲜味楼会员积分无法兑换，客服一直不回复，投诉无门"


@pytest.fixture
async def services(tmp_path: Path) -> Any:
    clock = Clock()
    svc = await make_services(settings_for(tmp_path, incidents__volume_tiers=["P4:1", "P3:3", "P2:5"]), clock)
    yield svc
    svc.db.close()


async def incident_of(services: Any, mention_id: int) -> int | None:
    row = await services.db.read(lambda db: db.execute("select incident_id from mentions where id = ?",
                                                       [mention_id]).fetchone())
    return row[0]


async def test_same_story_across_sources_joins_one_incident(services: Any) -> None:
    a = await store_mention(services, title=STORY, source="weibo", categories=("food_safety",), tier="P3")
    b = await store_mention(services, title=SAME_STORY, source="toutiao", categories=("food_safety",), tier="P3")
    c = await store_mention(services, title=OTHER_STORY, source="heimao", categories=("service",), tier="P4")
    changes = await services.incidents.on_mentions([a, b, c])
    assert [c.kind for c in changes] == ["opened", "opened"]
    first, second = await incident_of(services, a.id), await incident_of(services, b.id)
    assert first == second and first is not None
    assert await incident_of(services, c.id) not in (None, first)
    detail = await services.db.read(lambda db: queries.detail(db, first))
    assert detail["mention_count"] == 2
    assert detail["sources"] == ["toutiao", "weibo"]
    assert {s["source"] for s in detail["top_sources"]} == {"toutiao", "weibo"}
    assert detail["sentiment_share"] == {"negative": 1.0}
    assert detail["timeline"][-1]["mentions"] == 2 and detail["timeline"][-1]["negative"] == 2  # the last minute
    assert "terms" not in detail


async def test_reposts_follow_their_original_and_neutral_noise_opens_nothing(services: Any) -> None:
    a = await store_mention(services, title=STORY, categories=("food_safety",))
    await services.incidents.on_mentions([a])
    repost = await store_mention(services, title="//@某大V: 转发", duplicate_of=a.id, sentiment="neutral",
                                 negative=0.2, tier="P4")
    noise = await store_mention(services, title="鲜味楼新品上市，欢迎品尝", sentiment="positive", negative=0.02,
                                tier="P4")
    changes = await services.incidents.on_mentions([repost, noise])
    assert [c.kind for c in changes] == ["grew"]
    assert await incident_of(services, repost.id) == await incident_of(services, a.id)
    assert await incident_of(services, noise.id) is None


async def test_window_closes_the_story(services: Any) -> None:
    a = await store_mention(services, title=STORY, categories=("food_safety",))
    await services.incidents.on_mentions([a])
    services.clock.advance(361 * 60)
    b = await store_mention(services, title=STORY + "！", categories=("food_safety",))
    changes = await services.incidents.on_mentions([b])
    assert changes[0].kind == "opened"
    assert await incident_of(services, b.id) != await incident_of(services, a.id)


async def test_tier_climbs_with_volume_and_reports_retier(services: Any) -> None:
    kinds = []
    for i in range(5):
        m = await store_mention(services, title=f"{STORY}（第{i}条）", categories=("food_safety",), tier="P4")
        kinds += [(c.kind, c.tier, c.previous_tier) for c in await services.incidents.on_mentions([m])]
        services.clock.advance(60)
    assert kinds[0] == ("opened", "P4", None)
    assert ("retiered", "P3", "P4") in kinds
    assert kinds[-1] == ("retiered", "P2", "P3")
    items = await services.db.read(lambda db: queries.list_incidents(db, tier="P2"))
    assert len(items) == 1 and items[0]["volume_1h"] == 5


async def test_tiers_never_fall_back_when_the_hour_passes(services: Any) -> None:
    for i in range(5):
        m = await store_mention(services, title=f"{STORY}{i}", categories=("food_safety",), tier="P4")
        await services.incidents.on_mentions([m])
    services.clock.advance(3 * 3600)
    m = await store_mention(services, title=f"{STORY}后续", categories=("food_safety",), tier="P4")
    changes = await services.incidents.on_mentions([m])
    assert changes[0].tier == "P2"


async def test_spike_against_the_sources_baseline_raises_one_level(tmp_path: Path) -> None:
    clock = Clock()
    svc = await make_services(settings_for(tmp_path, incidents__volume_tiers=["P4:1"], incidents__spike_min=5), clock)
    try:
        # 14 days with one mention per hour on this source: the usual level.
        def history(db: Any) -> None:
            db.table("mentions").insert_all(
                {"source": "weibo", "external_id": f"h{h}", "fetched_at": clock.now - h * 3600 - 60,
                 "title": "日常", "sentiment": "neutral"} for h in range(1, 14 * 24))
        await svc.db.write(history)
        batch = [await store_mention(svc, title=f"{STORY}{i}", source="weibo", categories=("food_safety",),
                                     tier="P4") for i in range(8)]
        changes = await svc.incidents.on_mentions(batch)
        assert changes[0].tier == "P3"
        detail = await svc.db.read(lambda db: queries.detail(db, changes[0].incident_id))
        assert detail["spike"] == 1
    finally:
        svc.db.close()


def test_spike_rule_and_tier_maps() -> None:
    assert is_spike(9, [1] * 300, sigma=3, minimum=5)
    assert not is_spike(9, [8, 10, 9, 11] * 80, sigma=3, minimum=5)
    assert not is_spike(4, [0] * 300, sigma=3, minimum=5)
    assert not is_spike(50, [], sigma=3, minimum=5)
    assert volume_tier(30, parse_tier_map(["P4:1", "P3:10", "P2:30", "P1:300"], setting="x")) == "P2"
    assert volume_tier(0, {"P4": 1}) is None
    with pytest.raises(InvalidTierError):
        parse_tier_map(["P9:1"], setting="incidents.volume_tiers")
    with pytest.raises(InvalidTierError):
        parse_tier_map(["P1:lots"], setting="incidents.volume_tiers")


def test_terms_are_story_words() -> None:
    got = terms("央视曝光鲜味楼 KFC123 后厨老鼠")
    assert "老鼠" in got and "kfc123" in got and "转发" not in terms("转发微博")


async def test_lifecycle_moves_forward_only(services: Any) -> None:
    m = await store_mention(services, title=STORY, categories=("food_safety",))
    (opened,) = await services.incidents.on_mentions([m])
    iid = opened.incident_id
    await services.incidents.acknowledge(iid, "user:wang")
    with pytest.raises(IllegalTransitionError):
        await services.incidents.acknowledge(iid, "user:li")
    await services.incidents.mitigate(iid, "user:wang")
    await services.incidents.resolve(iid, "user:wang")
    with pytest.raises(IllegalTransitionError):
        await services.incidents.mitigate(iid, "user:wang")
    with pytest.raises(UnknownIncidentError):
        await services.incidents.acknowledge(99999, "user:wang")
    detail = await services.db.read(lambda db: queries.detail(db, iid))
    assert detail["state"] == "resolved" and detail["acknowledged_by"] == "user:wang"
    assert [e["kind"] for e in detail["events"]] == ["opened", "acknowledged", "mitigating", "resolved"]
    # A resolved story that comes back is a new incident.
    again = await store_mention(services, title=STORY, categories=("food_safety",))
    assert (await services.incidents.on_mentions([again]))[0].kind == "opened"


async def test_resolve_straight_from_open(services: Any) -> None:
    m = await store_mention(services, title=STORY, categories=("food_safety",))
    (opened,) = await services.incidents.on_mentions([m])
    change = await services.incidents.resolve(opened.incident_id, "user:wang")
    assert change.kind == "resolved"


async def test_manual_retier_pins_until_volume_climbs_past_it(services: Any) -> None:
    m = await store_mention(services, title=STORY, categories=("food_safety",), tier="P3")
    (opened,) = await services.incidents.on_mentions([m])
    iid = opened.incident_id
    with pytest.raises(InvalidTierError):
        await services.incidents.retier(iid, "P0", "user:wang")
    down = await services.incidents.retier(iid, "P4", "user:wang", "误报，影响很小")
    assert down.tier == "P4" and not down.upward
    m2 = await store_mention(services, title=STORY + "2", categories=("food_safety",), tier="P3")
    assert (await services.incidents.on_mentions([m2]))[0].tier == "P4"  # the person's decision holds
    for i in range(3):
        mi = await store_mention(services, title=f"{STORY}{i + 3}", categories=("food_safety",), tier="P3")
        last = await services.incidents.on_mentions([mi])
    assert last[0].kind == "retiered" and last[0].tier == "P2" and last[0].upward


async def test_classifier_tier_model_gets_incident_signals(tmp_path: Path) -> None:
    from web.compose import tier_model

    seen: list[Any] = []

    class FakeClassifier:
        def tier(self, p: float, categories: Any, signals: Any) -> tuple[str, tuple[str, ...]]:
            seen.append((p, categories, signals))
            return ("P1", ("央媒报道",)) if signals.author_reach and signals.author_reach > 1_000_000 else ("P4", ())

    clock = Clock()
    svc = await make_services(settings_for(tmp_path), clock)
    svc.incidents.tier_model = tier_model(FakeClassifier())
    try:
        m = await store_mention(svc, title=STORY, categories=("food_safety",), tier="P3", reach=50_000_000)
        (change,) = await svc.incidents.on_mentions([m])
        assert change.tier == "P1"
        p, categories, signals = seen[-1]
        assert p == pytest.approx(0.9) and categories == ("food_safety",)
        assert signals.volume_1h == 1 and signals.author_reach == 50_000_000
        # The source and the incident's widest-reaching authors (outlets such as 央视财经) name the origin.
        assert signals.source_name == f"weibo,{m.mention.author}"
    finally:
        svc.db.close()
