"""Browser tests (issue 12): on-call acknowledges from a robot's group link after signing in, with a comment
everyone then sees; 查看详情 survives the sign-in; on-call works their alerts from 我的告警 without a 403.

A real server with the real alert engine running, a fake DingTalk robot on 127.0.0.1, headless Chromium.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.fixtures.alerts.helpers import Robot, store_mention
from tests.support_browser import BROWSER_MARKS, browser, shot
from tests.web.pages.test_ticker import Site, password, serving
from web.compose import Part, build_services
from web.platform.settings import Settings, load_settings

__all__ = ["browser"]
pytestmark = [*BROWSER_MARKS, pytest.mark.usefixtures("cheap_password_hashing")]

PEOPLE = {"li": ("oncall", "李娜"), "wang": ("manager", "王经理")}
STORY = "央视曝光鲜味楼后厨老鼠乱窜，过期食材重新贴标继续售卖"


@pytest.fixture
async def alert_site(tmp_path: Path, robot: Robot) -> AsyncIterator[Site]:
    base = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), monitor__enabled=False)
    lists = {**base.lists, "channels": [{"name": "group", "kind": "dingtalk", "url": robot.url("/group/send"),
                                         "token": "group-token-0123456789"}],
             "routes": [{"name": "p1-people", "tiers": ["P1"], "roles": ["oncall", "manager"], "must_act": True},
                        {"name": "p1-group", "tiers": ["P1"], "must_act": True, "channels": ["group"]}]}
    services = await build_services(Settings(base.as_dict(), lists, None),
                                    parts={Part.BROADCAST, Part.ALERTS, Part.MONITOR})
    people = {name: (role, {"display_name": display}) for name, (role, display) in PEOPLE.items()}
    async with serving(services, people) as site:  # starting the server starts the alert engine's loop
        yield site


async def open_p1(site: Site, robot: Robot) -> int:
    m = await store_mention(site.services, title=STORY, tier="P1", categories=("food_safety", "media_exposure"),
                            at=time.time())
    iid = int((await site.services.incidents.on_mentions([m]))[0].incident_id)
    for _ in range(100):  # a new P1 goes out at once (no group wait)
        if robot.requests:
            return iid
        await asyncio.sleep(0.05)
    raise AssertionError("no robot message")


async def new_page(browser: Any) -> Any:
    page = await (await browser.new_context(viewport={"width": 1100, "height": 800})).new_page()
    page.refused = []
    page.on("response", lambda r: page.refused.append(r.url) if r.status == 403 else None)
    return page


async def test_group_link_sign_in_then_acknowledge_with_a_comment(alert_site: Site, robot: Robot,
                                                                  browser: Any) -> None:
    site = alert_site
    iid = await open_p1(site, robot)
    card = robot.requests[0]["json"]["actionCard"]
    assert "食品安全、监管/媒体曝光" in card["text"]
    ack, details = (site.url(urlsplit(b["actionURL"]).path) for b in card["btns"])
    page = await new_page(browser)
    await page.goto(ack)
    assert "请说明您是谁" in await page.inner_text("main")
    await shot(page, "12-ack-group-link")
    await page.click("text=登录后确认")
    await page.fill("input[name=name]", "li")
    await page.fill("input[name=password]", password("li"))
    await page.click("button[type=submit]")
    await page.wait_for_load_state("networkidle")
    assert urlsplit(page.url).path == urlsplit(ack).path  # back at the link after signing in
    assert "确认人：李娜" in await page.inner_text("main")
    await page.fill("textarea[name=comment]", "我负责，10 分钟内联系门店")
    await shot(page, "12-ack-signed-in")
    await page.click("button[type=submit]")
    assert "已由 李娜 确认" in await page.inner_text("main")
    inc = await site.services.db.read(lambda db: db.execute(
        "select acknowledged_by, ack_comment from incidents where id = ?", [iid]).fetchone())
    assert tuple(inc) == ("user:li", "我负责，10 分钟内联系门店")
    # 查看详情 from the robot, in a browser that is not signed in: the sign-in keeps the incident
    other = await new_page(browser)
    await other.goto(details)
    await other.fill("input[name=name]", "wang")
    await other.fill("input[name=password]", password("wang"))
    await other.click("button[type=submit]")
    await other.wait_for_selector(".ack-note")
    assert urlsplit(other.url).fragment == f"/incidents/{iid}"
    note = await other.inner_text(".ack-note")
    assert "已由 李娜 确认" in note and "我负责，10 分钟内联系门店" in note
    await shot(other, "12-incident-ack-comment")
    assert page.refused == [] and other.refused == []


async def test_oncall_acknowledges_from_my_alerts(alert_site: Site, robot: Robot, browser: Any) -> None:
    site = alert_site
    iid = await open_p1(site, robot)
    page = await new_page(browser)
    await page.goto(site.url("/login"))
    await page.fill("input[name=name]", "li")
    await page.fill("input[name=password]", password("li"))
    await page.click("button[type=submit]")
    await page.wait_for_load_state("networkidle")
    await page.click("a[data-nav=inbox]")
    item = page.locator(".inbox-item", has_text=f"#{iid}")
    await item.wait_for()
    text = await item.inner_text()
    assert "新事件" in text and "P1" in text and "经 控制台" in text
    await shot(page, "12-inbox-oncall")
    await item.locator("input[name=comment]").fill("已联系门店店长")
    await item.locator("button[type=submit]").click()
    await page.wait_for_selector(".inbox-item .ack-note")
    note = await page.inner_text(".inbox-item .ack-note")
    assert "已由 李娜 确认" in note and "已联系门店店长" in note
    assert await item.locator("button[type=submit]").count() == 0  # nothing left to acknowledge
    await shot(page, "12-inbox-acknowledged")
    state = await site.services.db.read(lambda db: db.execute(
        "select state, acknowledged_by, ack_comment from incidents where id = ?", [iid]).fetchone())
    assert tuple(state) == ("acknowledged", "user:li", "已联系门店店长")
    assert page.refused == []  # the inbox makes no call on-call may not make
