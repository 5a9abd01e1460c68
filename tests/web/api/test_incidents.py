"""The incident page's API: why the tier (signals, points, re-tier history), linked scripts with their state,
a timeline whose buckets fit the incident's age, top authors by authority, mentions paged with reposts folded,
the plan's checklist ticked by a named person.  In-process app, real SQLite, the real tier formula."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from classifiers.tiers import TierPolicy
from monitor.incidents import insight
from tests.fixtures.alerts.helpers import T0, Clock, add_user, settings_for, store_mention
from web.app import create_app
from web.compose import Part, build_services, tier_model

STORY = "鲜味楼后厨老鼠乱窜，过期食材重新贴标继续售卖"
PLAN = {"name": "食品安全预案", "categories": ["food_safety"], "tiers": ["P1", "P2", "P3"],
        "checklist": ["核实涉事门店", "联系监管部门"],
        "scripts": [{"title": "统一口径：{title}", "body": "您好，我们已关注到相关报道，正在核实。"}]}


class PolicyOnly:
    """The classifier's tier formula without loading the sentiment model."""

    def __init__(self) -> None:
        self.explain_tier = TierPolicy().breakdown


@pytest.fixture
async def env(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[dict[str, Any]]:
    clock = Clock()
    settings = settings_for(tmp_path, incidents__group_wait_s=0, plans=[PLAN])
    svc = await build_services(settings, clock=clock, parts={Part.BROADCAST, Part.ALERTS})
    svc.incidents.tier_model = tier_model(PolicyOnly())
    wang, manager = await add_user(svc, "wang", "manager", team="pr", display_name="王经理")
    li, _ = await add_user(svc, "li", "manager", team="service", display_name="李经理")
    _, agent = await add_user(svc, "zhang", "agent")
    client = await aiohttp_client(create_app(svc, manage_lifecycle=False))
    yield {"svc": svc, "clock": clock, "client": client, "wang": wang, "li": li,
           "manager": {"Authorization": f"Bearer {manager}"}, "agent": {"Authorization": f"Bearer {agent}"}}
    await svc.alerts.stop()
    svc.db.close()


async def mention(svc: Any, title: str = STORY, *, author: str | None = None, **kw: Any) -> Any:
    m = await store_mention(svc, title=title, categories=kw.pop("categories", ("food_safety",)), **kw)
    if author is not None:
        await svc.db.write(lambda db: db.execute("update mentions set author = ? where id = ?",
                                                 [author, m.id]).rowcount)
    return m


async def attach(svc: Any, *mentions: Any) -> int:
    changes = await svc.incidents.on_mentions(list(mentions))
    return int(changes[0].incident_id)


async def get(env: dict[str, Any], path: str, who: str = "manager", status: int = 200) -> Any:
    resp = await env["client"].get(path, headers=env[who])
    body = await resp.json()
    assert resp.status == status, body
    return body


async def test_why_this_tier_and_the_retier_history(env: dict[str, Any]) -> None:
    svc, clock = env["svc"], env["clock"]
    iid = await attach(svc, await mention(svc, tier="P3"))
    first = await get(env, f"/api/incidents/{iid}")
    assert first["tier"] == "P3"
    assert [(h["tier"], h["previous"], h["actor"]) for h in first["tier_history"]] == [("P3", None, "auto")]

    clock.advance(120)  # central media picks the story up
    cctv = await mention(svc, "央视曝光：" + STORY, author="央视新闻", reach=50_000_000, tier="P2",
                         categories=("food_safety", "media_exposure"))
    assert await attach(svc, cctv) == iid
    detail = await get(env, f"/api/incidents/{iid}")
    assert detail["tier"] == "P1"
    why = detail["tier_why"]
    assert why["tier"] == "P1" and why["auto"] == "P1"
    inputs = {i["signal"]: i for i in why["inputs"]}
    model = inputs["model"]
    assert model["tier"] == "P1" and model["decisive"] and model["score"] >= model["thresholds"]["P1"]
    parts = {p["signal"]: p for p in model["parts"]}
    assert parts["authority"]["value"] == "central_media" and parts["authority"]["detail"] == "央视"
    assert parts["authority"]["points"] == 30.0 and parts["reach"]["value"] == 50_000_000
    assert parts["category"]["value"] == ["food_safety", "media_exposure"] and parts["category"]["points"] == 30.0
    assert parts["negativity"]["value"] == pytest.approx(0.9) and parts["volume"]["value"] == 2
    assert parts["velocity"]["value"] == 2.0 and parts["velocity"]["points"] == 7.0
    assert (why["volume_1h"], why["previous_1h"], why["velocity"]) == (2, 0, 2.0)
    assert sum(p["points"] for p in model["parts"]) == pytest.approx(model["score"], abs=0.2)
    assert inputs["mention_tier"]["tier"] == "P2" and not inputs["mention_tier"]["decisive"]
    assert inputs["mention_tier"]["mention"]["author"] == "央视新闻"
    assert inputs["volume_rule"] == {"signal": "volume_rule", "tier": "P4", "value": 2, "decisive": False,
                                     "thresholds": {"P4": 1, "P3": 10, "P2": 30, "P1": 300}}
    history = detail["tier_history"]
    assert [(h["tier"], h["previous"]) for h in history] == [("P3", None), ("P1", "P3")]
    assert history[1]["at"] == T0 + 120 and history[1]["why"]["inputs"][2]["signal"] == "model"

    clock.advance(60)  # a person decides it is smaller than that
    resp = await env["client"].post(f"/api/incidents/{iid}/retier", headers=env["manager"],
                                    json={"tier": "P2", "reason": "已核实为单店问题"})
    assert resp.status == 200
    detail = await get(env, f"/api/incidents/{iid}")
    last = detail["tier_history"][-1]
    assert (last["tier"], last["previous"], last["actor"], last["reason"]) == ("P2", "P1", "user:wang",
                                                                               "已核实为单店问题")
    assert detail["tier_why"]["manual"] == {"tier": "P2", "actor": "user:wang", "reason": "已核实为单店问题",
                                            "at": T0 + 180}
    assert detail["tier_why"]["auto"] == "P1" and detail["actors"]["user:wang"] == "王经理"
    # A later mention keeps the person's tier and says so.
    clock.advance(60)
    await attach(svc, await mention(svc, "又一位网友说：" + STORY, tier="P3"))
    detail = await get(env, f"/api/incidents/{iid}")
    assert detail["tier"] == "P2" and detail["tier_why"]["manual"]["actor"] == "user:wang"
    assert len(detail["tier_history"]) == 3


async def test_linked_scripts_show_title_state_and_follow_the_lifecycle(env: dict[str, Any]) -> None:
    svc = env["svc"]
    iid = await attach(svc, await mention(svc, tier="P2"))
    detail = await get(env, f"/api/incidents/{iid}")
    (script,) = detail["scripts"]
    assert script["title"] == f"统一口径：{STORY}" and script["state"] == "draft" and script["version"] == 1
    await svc.scripts.submit(script["id"], env["wang"])
    detail = await get(env, f"/api/incidents/{iid}")
    assert detail["scripts"][0]["state"] == "in_review"


def test_bucket_sizes_follow_the_age() -> None:
    assert insight.bucket_for(10 * 60) == 60
    assert insight.bucket_for(60 * 60) == 60
    assert insight.bucket_for(61 * 60) == 120
    assert insight.bucket_for(10 * 3600) == 600
    assert insight.bucket_for(2 * 86400) == 3600
    assert insight.bucket_for(400 * 86400) == 86400


async def test_young_incident_timeline_is_in_minutes(env: dict[str, Any]) -> None:
    svc, clock = env["svc"], env["clock"]
    iid = await attach(svc, await mention(svc, tier="P3"))
    for i in range(1, 11):  # one negative and one neutral mention a minute for ten minutes
        clock.advance(60)
        await attach(svc, await mention(svc, f"{STORY} 第{i}条"),
                     await mention(svc, f"{STORY} 围观{i}", sentiment="neutral", negative=0.3))
    clock.advance(30)
    detail = await get(env, f"/api/incidents/{iid}")
    window, points = detail["timeline_window"], detail["timeline"]
    assert window["bucket_s"] == 60 and len(points) >= 12
    assert [p["t"] for p in points] == [window["start"] + 60 * i for i in range(len(points))]
    assert points[-1]["t"] <= clock.now < points[-1]["t"] + 60 == window["end"]
    assert sum(p["mentions"] for p in points) == detail["mention_count"] == 21
    busy = [p for p in points if p["mentions"]]
    assert len(busy) == 11 and all(p["negative_share"] == 0.5 for p in busy[1:])
    assert all(p["negative_share"] is None for p in points if not p["mentions"])


async def test_older_incident_timeline_is_in_longer_buckets_and_stops_at_resolution(env: dict[str, Any]) -> None:
    svc, clock = env["svc"], env["clock"]
    iid = await attach(svc, await mention(svc, tier="P3"))
    for i in range(10):
        clock.advance(3600)
        await attach(svc, await mention(svc, f"{STORY} 第{i}小时"))
    detail = await get(env, f"/api/incidents/{iid}")
    assert detail["timeline_window"]["bucket_s"] == 600 and len(detail["timeline"]) <= insight.MAX_BUCKETS + 1
    assert sum(p["mentions"] for p in detail["timeline"]) == 11
    assert (await env["client"].post(f"/api/incidents/{iid}/resolve", headers=env["manager"])).status == 200
    clock.advance(30 * 86400)
    later = await get(env, f"/api/incidents/{iid}")
    assert later["timeline_window"] == detail["timeline_window"]  # a resolved incident's chart stops growing


async def test_mentions_are_paged_with_reposts_folded_and_authors(env: dict[str, Any]) -> None:
    svc, clock = env["svc"], env["clock"]
    original = await mention(svc, tier="P2", author="新京报", reach=8_000_000)
    iid = await attach(svc, original)
    reposts = []
    for i in range(12):
        clock.advance(5)
        reposts.append(await mention(svc, f"//@网友{i}: 转发 {STORY}", duplicate_of=original.id,
                                     author=f"网友{i}", reach=100 + i))
    others = []
    for i in range(24):
        clock.advance(5)
        others.append(await mention(svc, f"{STORY}（第{i}位网友爆料）", author=f"爆料人{i}", tier="P3"))
    await attach(svc, *reposts, *others)

    page1 = await get(env, f"/api/incidents/{iid}/mentions?limit=20")
    assert page1["total"] == 37 and page1["groups"] == 25
    assert len(page1["items"]) == 20 and page1["next_before"] is not None
    assert [m["id"] for m in page1["items"]] == [m.id for m in reversed(others)][:20]
    page2 = await get(env, f"/api/incidents/{iid}/mentions?limit=20&before={page1['next_before']}")
    assert page2["next_before"] is None and len(page2["items"]) == 5
    head = page2["items"][-1]
    assert head["id"] == original.id and head["reposts"] == 12 and head["author"] == "新京报"
    assert head["authority"] == "provincial_media" and head["author_reach"] == 8_000_000
    seen = [m["id"] for m in page1["items"] + page2["items"]]
    assert len(seen) == len(set(seen)) == 25 and all(m["reposts"] == 0 for m in page1["items"])

    folded = await get(env, f"/api/incidents/{iid}/mentions/{original.id}/reposts?limit=5")
    assert [m["author"] for m in folded["items"]] == [f"网友{i}" for i in range(5)]
    rest = await get(env, f"/api/incidents/{iid}/mentions/{original.id}/reposts?after={folded['next_after']}")
    assert [m["author"] for m in rest["items"]] == [f"网友{i}" for i in range(5, 12)] and rest["next_after"] is None


async def test_top_authors_rank_authority_before_reach(env: dict[str, Any]) -> None:
    svc, clock = env["svc"], env["clock"]
    iid = await attach(svc, await mention(svc, tier="P3", author="吃货大王", reach=9_000_000))
    clock.advance(10)
    await attach(svc, await mention(svc, "央视曝光：" + STORY, author="央视新闻", reach=1_000_000, tier="P2"),
                 await mention(svc, "小编评：" + STORY, author="路人甲", reach=50))
    detail = await get(env, f"/api/incidents/{iid}")
    authors = detail["top_authors"]
    assert [(a["author"], a["authority"]) for a in authors] == [
        ("央视新闻", "central_media"), ("吃货大王", "ordinary"), ("路人甲", "ordinary")]
    assert authors[0]["reach"] == 1_000_000 and authors[0]["mentions"] == 1 and authors[0]["sources"] == ["weibo"]
    assert detail["top_sources"][0] == {"source": "weibo", "mentions": 3, "negative": 3, "reach": 9_000_000,
                                        "authority": "ordinary"}


async def test_checklist_ticks_record_who_and_when(env: dict[str, Any]) -> None:
    svc, clock = env["svc"], env["clock"]
    iid = await attach(svc, await mention(svc, tier="P2"))
    detail = await get(env, f"/api/incidents/{iid}")
    items = detail["checklist"]
    assert [c["item"] for c in items] == ["核实涉事门店", "联系监管部门"] and not any(c["done"] for c in items)
    clock.advance(90)
    resp = await env["client"].post(f"/api/incidents/{iid}/checklist/{items[0]['id']}", headers=env["manager"],
                                    json={"done": True})
    assert resp.status == 200
    detail = await get(env, f"/api/incidents/{iid}")
    done = detail["checklist"][0]
    assert done["done"] and done["done_by"] == "user:wang" and done["done_at"] == T0 + 90
    assert detail["actors"]["user:wang"] == "王经理"
    assert (await env["client"].post(f"/api/incidents/{iid}/checklist/{items[0]['id']}", headers=env["agent"],
                                     json={"done": False})).status == 403


async def test_roles_and_bad_input(env: dict[str, Any]) -> None:
    svc = env["svc"]
    iid = await attach(svc, await mention(svc, tier="P3"))
    await get(env, f"/api/incidents/{iid}/mentions", "agent", 403)
    await get(env, f"/api/incidents/{iid}/mentions/1/reposts", "agent", 403)
    assert (await env["client"].get(f"/api/incidents/{iid}/mentions")).status == 401
    await get(env, "/api/incidents/9999/mentions", status=404)
    body = await get(env, f"/api/incidents/{iid}/mentions?limit=abc", status=400)
    assert "limit" in body["message"]
    await get(env, f"/api/incidents/{iid}/mentions?before=-1", status=400)
    await get(env, f"/api/incidents/{iid}/mentions?limit=201", status=400)
