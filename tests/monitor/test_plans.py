"""Contingency plans: checklist attached, draft scripts queued and linked, plan recipients notified."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from monitor.alerting.errors import AlertConfigError
from monitor.incidents import queries
from monitor.plans import fill, fill_body, parse_plans
from tests.fixtures.alerts.helpers import T0, Clock, add_user, make_services, settings_for, store_mention

PLAN = {
    "name": "食品安全预案", "categories": ["food_safety"], "tiers": ["P1", "P2"],
    "checklist": ["通知法务与公关", "涉事门店停业自查", "准备监管沟通材料"],
    "notify": {"roles": ["manager"], "must_act": True},
    "scripts": [{"title": "食品安全口径：{title}",
                 "body": "您好，关于{title}，{brand}已第一时间核查。{unknown}"}],
}
STORY = "鲜味楼后厨老鼠乱窜，过期食材重新贴标"


class RecordedDrafts:
    """The plan runner's DraftScripts: records each draft it is asked for, ids from 101."""

    def __init__(self) -> None:
        self.made: list[dict[str, Any]] = []

    async def draft_for_plan(self, **kw: Any) -> int:
        self.made.append(kw)
        return 100 + len(self.made)


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[Any]:
    services = await make_services(settings_for(tmp_path, incidents__group_wait_s=0, plans=[PLAN],
                                                routes=[{"tiers": ["P4"], "roles": ["admin"]}]), Clock())
    services.plans.drafts = RecordedDrafts()
    yield services
    await services.alerts.stop()
    services.db.close()


async def open_incident(svc: Any, tier: str, categories: tuple[str, ...] = ("food_safety",),
                        title: str = STORY) -> int:
    m = await store_mention(svc, title=title, tier=tier, categories=categories)
    return int((await svc.incidents.on_mentions([m]))[0].incident_id)


async def test_matching_incident_starts_the_plan_once(svc: Any) -> None:
    iid = await open_incident(svc, "P2")
    detail = await svc.db.read(lambda db: queries.detail(db, iid))
    assert detail["plans"] == ["食品安全预案"]
    assert [c["item"] for c in detail["checklist"]] == PLAN["checklist"]
    assert detail["script_ids"] == [101]
    (draft,) = svc.plans.drafts.made
    assert draft == {"incident_id": iid, "title": f"食品安全口径：{STORY}",
                     "body": f"您好，关于【请改写：用一句话向客户说明事件，勿照搬标题「{STORY}」】，"
                             "已第一时间核查。{unknown}",
                     "priority": "high",
                     "author": "预案:食品安全预案"}
    kinds = [e["kind"] for e in detail["events"]]
    assert kinds.index("plan_started") < kinds.index("script_drafted")
    more = await store_mention(svc, title=STORY + "，又一家门店", tier="P2", categories=("food_safety",))
    await svc.incidents.on_mentions([more])
    assert len(svc.plans.drafts.made) == 1


async def test_plan_recipients_are_notified_must_act(svc: Any) -> None:
    await add_user(svc, "wang", "manager")
    iid = await open_incident(svc, "P2")
    await svc.alerts.tick(T0)
    rows = await svc.db.read(lambda db: list(db.query("select recipient, must_act, payload from alert_deliveries")))
    assert [(r["recipient"], r["must_act"]) for r in rows] == [("user:wang", 1)]
    assert "食品安全预案" in rows[0]["payload"]
    assert iid


async def test_plan_waits_for_its_tier_and_category(svc: Any) -> None:
    other = await open_incident(svc, "P1", categories=("service",), title="客服电话打不通，退款一直拖延")
    iid = await open_incident(svc, "P3")
    assert svc.plans.drafts.made == []
    await svc.incidents.retier(iid, "P1", "user:wang")
    assert [d["incident_id"] for d in svc.plans.drafts.made] == [iid]
    assert svc.plans.drafts.made[0]["priority"] == "high"
    assert other != iid


async def test_failed_draft_keeps_the_checklist_and_says_so(svc: Any) -> None:
    class Broken:
        async def draft_for_plan(self, **kw: Any) -> int:
            raise RuntimeError("broadcast down")

    svc.plans.drafts = Broken()
    iid = await open_incident(svc, "P1")
    detail = await svc.db.read(lambda db: queries.detail(db, iid))
    assert len(detail["checklist"]) == 3 and detail["script_ids"] == []
    assert "script_failed" in [e["kind"] for e in detail["events"]]


async def test_checklist_items_can_be_ticked(svc: Any) -> None:
    iid = await open_incident(svc, "P1")
    detail = await svc.db.read(lambda db: queries.detail(db, iid))
    item = detail["checklist"][0]["id"]
    await svc.db.write(lambda db: queries.check_item(db, iid, item, True, "user:wang", T0))
    detail = await svc.db.read(lambda db: queries.detail(db, iid))
    assert detail["checklist"][0]["done"] is True and detail["checklist"][0]["done_by"] == "user:wang"


@pytest.mark.parametrize(("table", "needle"), [
    ({"checklist": ["x"]}, "name"),
    ({"name": "a", "tiers": ["P7"]}, "tiers"),
    ({"name": "a", "scripts": [{"title": "t"}]}, "body"),
    ({"name": "a", "notify": {"channels": ["nowhere"]}}, "nowhere"),
    ({"name": "a", "checklist": "一项"}, "checklist"),
    ({"name": "a", "owner": "x"}, "owner"),
    ({"name": "a", "scripts": [{"title": "t", "body": "b", "audience": "x"}]}, "valid keys): title, body, priority"),
    ({"name": "a", "scripts": [{"title": "t", "body": "事件 #{id}（{tier}）"}]}, "{id}, {tier}"),
    ({"name": "a", "scripts": [{"title": "t", "body": "b", "priority": "urgent"}]}, "priority"),
])
def test_bad_plans_are_clear_errors(table: dict[str, Any], needle: str) -> None:
    with pytest.raises(AlertConfigError) as info:
        parse_plans([table], ["console"])
    assert needle in str(info.value)


def test_duplicate_plan_names_and_placeholders() -> None:
    with pytest.raises(AlertConfigError):
        parse_plans([{"name": "a"}, {"name": "a"}], [])
    inc = {"id": 3, "title": "标题", "tier": "P1", "brand": "鲜味楼", "categories": ["food_safety"], "mention_count": 9}
    assert fill("{brand}#{id} {mention_count} {x} {{title}} {categories}", inc) == "鲜味楼#3 9 {x} {标题} 食品安全"
    body = fill_body("关于{title}，{brand}向您致歉", inc)
    assert body == "关于【请改写：用一句话向客户说明事件，勿照搬标题「标题」】，鲜味楼向您致歉"


async def test_plan_drafts_reach_the_real_approval_queue(tmp_path: Path, aiohttp_client: Any) -> None:
    from web.app import create_app
    from web.compose import Part, build_services

    settings = settings_for(tmp_path, incidents__group_wait_s=0, plans=[PLAN])
    svc = await build_services(settings, clock=Clock(), parts={Part.BROADCAST, Part.ALERTS})
    try:
        _, token = await add_user(svc, "wang", "manager")
        iid = await open_incident(svc, "P1")
        client = await aiohttp_client(create_app(svc, manage_lifecycle=False))
        detail = await (await client.get(f"/api/incidents/{iid}", headers={"Authorization": f"Bearer {token}"})).json()
        (script,) = detail["scripts"]
        assert script["title"] == f"食品安全口径：{STORY}" and script["state"] == "draft"
        view = await svc.scripts.get(script["id"])
        assert view["incident_id"] == iid
        assert f"勿照搬标题「{STORY}」" in view["body"]  # the raw headline is quoted inside a note, never as text
        auth = {"Authorization": f"Bearer {token}"}
        refused = await client.post(f"/api/scripts/{script['id']}/submit", json={"version": view["version"]},
                                    headers=auth)
        assert refused.status == 400
        assert "请改写" in (await refused.json())["message"]
        assert (await svc.scripts.get(script["id"]))["state"] == "draft"
        edited = await client.put(f"/api/scripts/{script['id']}", headers=auth, json={
            "version": view["version"], "body": "您好，关于门店卫生问题，我们已第一时间核查。"})
        assert edited.status == 200, await edited.text()
        version = (await edited.json())["version"]
        submitted = await client.post(f"/api/scripts/{script['id']}/submit", json={"version": version}, headers=auth)
        assert submitted.status == 200, await submitted.text()
    finally:
        await svc.alerts.stop()
        svc.db.close()
