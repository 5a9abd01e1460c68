"""Role-aware console in Chromium (#12): each role sees only what it can use, no 403 noise, readable Chinese.

On-call, a manager and an admin walk every view their navigation offers on a real server; the test
records every response and fails on any 403, on raw codes (approve_partial, food_safety), on JSON or
``null`` in the page, and on login names where display names belong.  A view typed into the address bar
that the role cannot use says so plainly and asks the server nothing.  Screenshots: test-artifacts/roles-*.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.alerts.helpers import store_mention
from tests.support_browser import BROWSER_MARKS, browser, shot
from tests.web.pages.test_ticker import Site, api, password, serving
from web.compose import Part, build_services
from web.platform.settings import load_settings

__all__ = ["browser"]
pytestmark = [*BROWSER_MARKS, pytest.mark.usefixtures("cheap_password_hashing")]

PEOPLE = {"wang": ("manager", "pr", "王经理"), "li": ("manager", "service", "李经理"),
          "zhao": ("oncall", "", "赵值班"), "root": ("admin", "ops", "系统管理员"),
          "agent1": ("agent", "queue-a", "坐席一")}
ROUTES = [{"name": "P1 食品安全", "tiers": ["P1"], "categories": ["food_safety"], "roles": ["oncall"],
           "must_act": True}]
PLANS = [{"name": "食品安全预案", "categories": ["food_safety"], "checklist": ["通知法务与公关", "涉事门店停业自查"],
          "notify": {"roles": ["manager"]},
          "scripts": [{"title": "统一口径：{title}", "body": "您好，关于{title}，{brand}已第一时间核查。",
                       "priority": "high"}]}]
NAV = ["incidents", "inbox", "alerts", "scripts", "approvals", "sources", "routing", "users"]
VISIBLE = {
    "zhao": ["incidents", "inbox", "alerts", "sources", "routing"],
    "wang": ["incidents", "inbox", "alerts", "scripts", "approvals", "sources", "routing"],
    "root": NAV,
}
RAW = ("approve_partial", "food_safety", "null", "undefined", '{"', "[object", "v1</td>")


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), monitor__enabled=False)
    settings = settings.with_lists(routes=ROUTES, plans=PLANS, sources=[
        {"name": "weibo", "kind": "rss", "url": "https://rsshub.example.com/weibo/keyword/x"}])
    services = await build_services(settings,
        parts={Part.BROADCAST, Part.ALERTS, Part.MONITOR})
    people = {name: (role, {"team": team, "display_name": display}) for name, (role, team, display) in PEOPLE.items()}
    now = time.time()
    async with serving(services, people) as running:
        # A critical script: wang writes and submits it, li approves in part, root completes, li publishes.
        draft = await api(running, "wang", "POST", "/api/scripts",
                          {"title": "门店卫生说明", "body": "您好，门店已停业整改。", "priority": "critical"})
        sid, version = draft["id"], draft["version"]
        await api(running, "wang", "POST", f"/api/scripts/{sid}/submit", {"version": version})
        await api(running, "li", "POST", f"/api/scripts/{sid}/approve", {"version": version, "comment": "同意"})
        await api(running, "root", "POST", f"/api/scripts/{sid}/approve", {"version": version})
        await api(running, "li", "POST", f"/api/scripts/{sid}/publish", {"version": version})
        await api(running, "zhao", "POST", "/api/silences", {"starts_at": now, "ends_at": now + 3600, "comment": "演练",
                                                             "matchers": {"tiers": ["P4"]}})
        running.ids["script_id"] = sid
        # A P1 food-safety incident: the plan starts and drafts a script linked to it.
        mention = await store_mention(services, title="鲜味楼后厨老鼠乱窜，过期食材重新贴标", tier="P1",
                                      categories=("food_safety",))
        changes = await services.incidents.on_mentions([mention])
        running.ids["incident_id"] = changes[0].incident_id
        yield running


async def signed_in(browser: Any, site: Site, name: str) -> Any:
    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    page.statuses = []
    page.on("response", lambda r: page.statuses.append((r.status, r.url)) if "/api/" in r.url else None)
    await page.goto(site.url("/login"))
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", password(name))
    await page.click("button[type=submit]")
    await page.wait_for_load_state("networkidle")
    return page


async def visit(page: Any, site: Site, hash_: str, heading: str) -> str:
    await page.goto(site.url(f"/{hash_}"))
    await page.locator("#view h1", has_text=heading).wait_for()
    await page.wait_for_load_state("networkidle")
    return str(await page.locator("#view").inner_text())


def clean(text: str, where: str) -> None:
    for raw in RAW:
        assert raw not in text, (where, raw, text[:2000])


@pytest.mark.parametrize("who", ["zhao", "wang", "root"])
async def test_each_role_sees_only_what_it_can_use(site: Site, browser: Any, who: str) -> None:
    page = await signed_in(browser, site, who)
    shown = [n for n in NAV if await page.locator(f"nav [data-nav={n}]").is_visible()]
    assert shown == VISIBLE[who]
    headings = {"incidents": "事件看板", "inbox": "我的告警", "alerts": "告警投递", "scripts": "话术",
                "approvals": "待审批", "sources": "数据源", "routing": "路由与预案", "users": "用户"}
    for nav in shown:
        text = await visit(page, site, f"#/{nav}", headings[nav])
        clean(text, f"{who} #{nav}")
        await shot(page, f"roles-{who}-{nav}")
    routing = await visit(page, site, "#/routing", "路由与预案")
    assert "默认" in routing and "食品安全" in routing and "值班" in routing  # the route and plan in words
    assert "默认路由补上了" in routing  # the defaults fill the tiers the configured route leaves out
    assert ("编辑告警路由" in routing) == (who == "root")
    sources = await visit(page, site, "#/sources", "数据源")
    assert ("添加" in sources) == (who != "zhao")  # on-call reads the sources but may not change them
    assert [s for s in page.statuses if s[0] == 403] == []  # no request the role cannot make


async def test_a_typed_url_says_no_permission_and_asks_nothing(site: Site, browser: Any) -> None:
    page = await signed_in(browser, site, "zhao")
    sid = site.ids["script_id"]
    for hash_, heading in ((f"#/scripts/{sid}", "话术"), ("#/approvals", "待审批"), ("#/users", "用户")):
        text = await visit(page, site, hash_, heading)
        assert "你没有权限查看此页面" in text and "尚未启用" not in text
    await shot(page, "roles-zhao-no-permission")
    assert not any("/api/scripts" in url or "/api/users" in url for _, url in page.statuses)


async def test_audit_and_coverage_read_as_words_with_display_names(site: Site, browser: Any) -> None:
    page = await signed_in(browser, site, "wang")
    sid = site.ids["script_id"]
    await page.goto(site.url(f"/#/scripts/{sid}"))
    await page.locator("h2", has_text="审计记录").wait_for()
    await page.wait_for_load_state("networkidle")
    text = str(await page.locator("#view").inner_text())
    for words in ("创建草稿", "提交审批", "部分批准（仍需其他审批）", "批准（审批完成）", "发布", "王经理", "李经理",
                  "同意", "全部目标坐席（v1）"):
        assert words in text, words
    audit = page.locator("h2:has-text('审计记录') + div table")
    assert "wang" not in str(await audit.inner_text()) and "li\t" not in str(await audit.inner_text())
    clean(text, "script page")
    await shot(page, "roles-wang-script-audit")

    await page.goto(site.url(f"/?lang=en#/scripts/{sid}"))
    await page.locator("h2", has_text="Audit").wait_for()
    await page.wait_for_load_state("networkidle")
    english = str(await page.locator("#view").inner_text())
    assert "Approved in part (more approvals needed)" in english and "All targeted agents (v1)" in english
    await shot(page, "roles-wang-script-audit-en")


async def test_the_routing_page_in_english(site: Site, browser: Any) -> None:
    page = await signed_in(browser, site, "root")
    await page.goto(site.url("/?lang=en#/routing"))
    await page.locator("#view h1", has_text="Routing & plans").wait_for()
    await page.wait_for_load_state("networkidle")
    text = str(await page.locator("#view").inner_text())
    for words in ("Alert routes", "told first", "escalation level 1", "Food safety", "On call", "Checklist",
                  "Wait before a new incident's first alert", "4 h", "Edit alert routes"):
        assert words in text, words
    for chinese in ("首先通知", "风险类别", "处置清单", "知悉"):
        assert chinese not in text, chinese
    clean(text, "routing en")
    await shot(page, "roles-root-routing-en")


async def test_on_call_works_an_incident_without_a_refused_request(site: Site, browser: Any) -> None:
    page = await signed_in(browser, site, "zhao")
    iid = site.ids["incident_id"]
    await page.goto(site.url(f"/#/incidents/{iid}"))
    await page.locator(".incident-scripts li").first.wait_for()
    await page.wait_for_load_state("networkidle")
    linked = page.locator(".incident-scripts li").first
    assert "统一口径" in str(await linked.inner_text())
    assert await linked.locator("a").count() == 0  # on-call cannot open scripts: the title is not a link
    assert await page.locator(".correct").count() == 0  # classifier corrections are the managers'
    clean(str(await page.locator("#view").inner_text()), "on-call incident")
    await shot(page, "roles-zhao-incident")
    assert [s for s in page.statuses if s[0] >= 400] == []
