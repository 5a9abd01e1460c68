"""Browser test: the incident page a PR manager acts on (headless Chromium, signed in as a manager).

A young incident (ten minutes of mentions, a central-media report among them, reposts, a contingency plan
with a drafted script) is opened on the real app with the real classifier: the page says why it is P1 with
each signal's points and the re-tier history, links the drafted script with its state, draws a per-minute
timeline with a time axis and a visible negative-share line, lists who carries the story, pages the mentions
with reposts folded, and lets the manager tick the plan's checklist (who and when shown).
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from monitor.incidents import queries
from tests.conftest import FakeClock
from tests.fixtures.alerts.helpers import store_mention
from tests.support_browser import BROWSER_MARKS, browser, shot
from web.app import create_app
from web.auth import users
from web.compose import Services, build_services
from web.platform.settings import load_settings

PASSWORD = "pw-manager-incident-page"
STORY = "鲜味楼后厨老鼠乱窜，过期食材重新贴标继续售卖"
XSS = '<img src=x onerror="window.__xss=1">'
PLAN = {"name": "食品安全曝光预案", "categories": ["food_safety"], "tiers": ["P1", "P2"],
        "checklist": ["核实涉事门店与批次", "联系监管部门说明情况"],
        "scripts": [{"title": "食品安全事件统一口径", "body": "您好，我们已关注到相关报道，涉事门店已停业整改。",
                     "priority": "critical"}]}

__all__ = ["browser"]  # fixture used below
pytestmark = [*BROWSER_MARKS, pytest.mark.usefixtures("cheap_password_hashing")]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[Services, TestServer, int]]:
    settings = load_settings(env={}).with_overrides(
        storage__path=str(tmp_path / "l.db"), monitor__enabled=False, incidents__group_wait_s=0).with_lists(
        plans=[PLAN])
    services = await build_services(settings)
    await services.db.write(lambda db: users.add_user(db, "mgr", "manager", PASSWORD, team="pr",
                                                      display_name="王经理", now=time.time()))
    now = services.clock()
    batch = [await store_mention(services, title=STORY, at=now - 600, reach=2_000, tier="P3",
                                 categories=("food_safety",))]
    original = await store_mention(services, title="央视曝光：" + STORY, at=now - 420, reach=50_000_000, tier="P2",
                                   categories=("food_safety", "media_exposure"))
    batch.append(original)
    for i in range(13):
        batch.append(await store_mention(services, title=f"//@网友{i}: 转发 央视曝光：{STORY}", at=now - 400 + i * 20,
                                         duplicate_of=original.id, tier="P4", sentiment="neutral", negative=0.3))
    for i in range(24):
        batch.append(await store_mention(services, title=f"{STORY}（第{i}位网友爆料）", at=now - 360 + i * 15,
                                         tier="P3", categories=("food_safety",),
                                         sentiment="negative" if i % 2 else "neutral",
                                         negative=0.9 if i % 2 else 0.3))
    xss = await store_mention(services, title=f"{STORY} {XSS}", at=now - 5, tier="P3", categories=("food_safety",))
    batch.append(xss)

    def authors(db: Any) -> None:
        db.execute("update mentions set author = '央视新闻' where id = ?", [original.id])
        db.execute("update mentions set author = ? where id = ?", [XSS, xss.id])
        for i, m in enumerate(batch[2:15]):
            db.execute("update mentions set author = ? where id = ?", [f"网友{i}", m.id])

    await services.db.write(authors)
    changes = await services.incidents.on_mentions(batch)
    assert {c.incident_id for c in changes} == {changes[0].incident_id}, changes
    await services.db.write(announced)
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        yield services, server, changes[0].incident_id
    finally:
        await server.close()
        services.db.close()


def announced(db: Any) -> None:
    """The mentions went to the engine (as the pipeline marks them), so start-up does not announce them again."""
    db.execute("update mentions set notified_at = fetched_at")


async def sign_in(browser: Any, server: TestServer, lang: str = "") -> Any:
    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    await page.goto(str(server.make_url("/login")))
    await page.fill("input[name=name]", "mgr")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state("networkidle")
    return page


async def test_incident_page_a_manager_can_act_on(site: tuple[Services, TestServer, int], browser: Any) -> None:
    services, server, iid = site
    page = await sign_in(browser, server)
    await page.goto(str(server.make_url(f"/#/incidents/{iid}")))
    await page.locator(".incident-mentions .mention").first.wait_for()

    assert "null" not in (await page.locator(".incident-top").text_content() or "")

    # Why P1: the signals and their points, and when it became P1.
    why = page.locator("section.why")
    assert (await why.locator("h2").text_content()) == "为什么是 P1"
    assert re.match(r"自动判定 P1：评分 \d+（P1 ≥ 75", await why.locator(".summary").text_content() or "")
    rows = [r.split("\t") for r in await why.locator("table.signals tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent).join('\\t'))")]
    signals = {r[0]: r for r in rows}
    assert signals["来源权威"][1:] == ["中央媒体（匹配「央视」）", "+30.0"]
    assert signals["风险类别"][1] == "食品安全、监管/媒体曝光" and signals["影响力"][1] == "5000万 粉丝"
    assert signals["声量"][1] == "1 小时内 40 条" and rows[-1][0] == "合计"
    assert signals["增速"][1] == "前一小时 0 条 → 近 1 小时 40 条"
    assert "决定级别" in (await why.locator(".why-input.decisive").text_content() or "")
    history = await page.locator(".tier-history li").all_text_contents()
    assert len(history) == 1 and "开启为 P1" in history[0] and "自动" in history[0]

    # The drafted script, its state and a link that opens it.
    script = page.locator(".scripts-linked li").first
    assert "食品安全事件统一口径" in (await script.text_content() or "")
    assert await script.locator(".script-state").text_content() == "草稿"

    # Per-minute buckets on a time axis, the negative share visible as a line with dots.
    assert "每根柱 = 1 分钟" in (await page.locator(".legend .bucket").text_content() or "")
    bars = await page.locator("svg.timeline rect.bar").count()
    assert 12 <= bars <= 13
    summary = await page.locator("svg.timeline").get_attribute("aria-label") or ""
    assert re.fullmatch(rf"声量与情感走势：共 {bars} 根柱，每根 = 1 分钟，最高 \d+ 条", summary), summary
    ticks = await page.locator("svg.timeline .time-label").all_text_contents()
    assert len(ticks) >= 3 and all(re.fullmatch(r"\d\d:\d\d", t) for t in ticks), ticks
    assert await page.locator("svg.timeline polyline.negative").count() == 1
    detail = await services.db.read(lambda db: queries.detail(db, iid, now=services.clock()))
    busy = sum(1 for p in detail["timeline"] if p["mentions"])
    assert busy >= 8 and await page.locator("svg.timeline circle.negative-dot").count() == busy
    heights = [float(h) for h in await page.locator("svg.timeline rect.bar").evaluate_all(
        "bars => bars.map(b => b.getAttribute('height'))")]
    assert sum(1 for h in heights if h > 0) == busy and len(set(heights)) > 2  # not one solid block

    # Who carries the story.
    first_author = await page.locator("section.carriers table").first.locator("tbody tr").first.text_content()
    assert first_author is not None and first_author.startswith("央视新闻中央媒体5000万")

    # Mentions: 20 per page, reposts folded under the original, authors shown.
    mentions = page.locator(".incident-mentions > ul.mentions > li.mention")
    assert await mentions.count() == 20
    assert await page.locator(".mentions-total").text_content() == "共 40 条提及：27 条原帖，其余 13 条为转发"
    assert (await page.locator(".view-incidents > .incident-top > p.muted").text_content() or "").startswith(
        "未处理 · 40 条提及 · 负面占比 38%")  # 15 of 40 negative
    await page.click(".incident-mentions .load-more")
    await mentions.nth(26).wait_for()
    assert await mentions.count() == 27 and await page.locator(".incident-mentions .load-more").is_hidden()
    toggle = page.locator(".reposts-toggle")
    assert await toggle.count() == 1 and await toggle.text_content() == "另有 13 条转发"
    await toggle.click()
    await page.locator(".mentions.reposts li").nth(12).wait_for()
    reposters = await page.locator(".mentions.reposts .byline").all_text_contents()
    assert [r.split(" · ")[0] for r in reposters] == [f"网友{i}" for i in range(13)]
    assert await toggle.text_content() == "收起转发"
    # Untrusted text is shown as text, never run.
    assert await page.evaluate("window.__xss") is None
    assert XSS in (await page.locator(".incident-mentions").text_content() or "")
    await shot(page, "incident-page-young-zh")

    # The plan's checklist: the manager ticks a step; who and when show.
    box = page.locator(".plan-checklist input[type=checkbox]").first
    await box.check()
    done = page.locator(".plan-checklist .done-by").first
    await done.wait_for()
    assert (await done.text_content() or "").startswith(" ✓ 王经理 于 ")
    row = await services.db.read(lambda db: db.execute(
        "select done, done_by from incident_checklist where incident_id = ? order by position", [iid]).fetchone())
    assert tuple(row) == (1, "user:mgr")

    # The page follows new mentions live, but not while the manager is typing a reason.
    header = page.locator(".incident-top > p.muted")

    async def one_more(n: int) -> None:
        m = await store_mention(services, title=f"{STORY}（追加{n}）", tier="P3", categories=("food_safety",))
        await services.incidents.on_mentions([m])
        await services.db.write(announced)

    await one_more(1)
    await page.locator(".incident-top > p.muted", has_text="41 条提及").wait_for()
    await page.select_option(".retier select", "P2")
    await page.fill(".retier-reason", "已核实为单店问题")
    await one_more(2)
    await page.wait_for_timeout(2500)  # the refresh would come after 1 s
    assert "41 条提及" in (await header.text_content() or "")
    assert await page.locator(".retier-reason").input_value() == "已核实为单店问题"

    # A person re-tiers with a reason: the explanation and the history say who and why.
    await page.click(".retier button")
    await page.locator(".tier-history li").nth(1).wait_for()
    last = await page.locator(".tier-history li").nth(1).text_content() or ""
    assert "42 条提及" in (await header.text_content() or "")
    assert "P1 → P2" in last and "王经理" in last and "已核实为单店问题" in last
    assert "人工调整为 P2：王经理" in (await page.locator(".why .manual").text_content() or "")
    assert page.errors == []
    await shot(page, "incident-page-retiered-zh")

    # The same page in English.
    english = await sign_in(browser, server)
    await english.goto(str(server.make_url(f"/?lang=en#/incidents/{iid}")))
    await english.locator(".incident-mentions .mention").first.wait_for()
    assert await english.locator("section.why h2").text_content() == "Why P2"
    signals_en = await english.locator("section.why table.signals").text_content() or ""
    assert "Central media (matched “央视”)" in signals_en and "50M followers" in signals_en
    assert "Food safety, Regulator / media exposure" in signals_en
    assert "One bar = 1 min" in (await english.locator(".legend .bucket").text_content() or "")
    assert await english.locator(".reposts-toggle").count() == 0  # on page 2
    assert english.errors == []
    await shot(english, "incident-page-young-en")


@pytest.mark.parametrize(("hours", "bucket_label", "tick"), [
    (10, "每根柱 = 10 分钟", r"\d\d:\d\d"),
    (72, "每根柱 = 2 小时", r"\d\d/\d\d \d\d:\d\d"),
])
async def test_older_incident_timeline_uses_longer_buckets(tmp_path: Path, browser: Any, hours: int,
                                                           bucket_label: str, tick: str) -> None:
    clock = FakeClock(time.time() - hours * 3600)  # the incident opened that long ago and grew since
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), monitor__enabled=False)
    services = await build_services(settings, clock=clock)
    await services.db.write(lambda db: users.add_user(db, "mgr", "manager", PASSWORD, now=time.time()))
    ids = set()
    for i in range(hours * 2):
        m = await store_mention(services, title=f"{STORY}（第{i}条）", tier="P3", categories=("food_safety",),
                                sentiment="negative" if i % 3 else "neutral")
        ids |= {c.incident_id for c in await services.incidents.on_mentions([m])}
        clock.advance(1800)
    (incident_id,) = ids
    await services.db.write(announced)
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        page = await sign_in(browser, server)
        await page.goto(str(server.make_url(f"/#/incidents/{incident_id}")))
        await page.locator("svg.timeline rect.bar").first.wait_for()
        assert bucket_label in (await page.locator(".legend .bucket").text_content() or "")
        assert 30 <= await page.locator("svg.timeline rect.bar").count() <= 61
        ticks = await page.locator("svg.timeline .time-label").all_text_contents()
        assert 3 <= len(ticks) <= 8 and all(re.fullmatch(tick, t) for t in ticks), ticks
        assert await page.locator("svg.timeline polyline.negative").count() == 1
        assert page.errors == []
        await shot(page, f"incident-page-{hours}h-timeline")
    finally:
        await server.close()
        services.db.close()
