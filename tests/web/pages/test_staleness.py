"""Browser tests: the ticker warns when its scripts may be out of date, and reports every copy.

Headless Chromium on the real /ticker page over a real server (heartbeat every
second, warning after 3 s of silence): a connected, quiet ticker shows no
warning; once the server is stopped the warning appears; a script past its
review-by time is marked and warned about; copies reach the coverage figures,
including one made while the socket was down.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.support_browser import BROWSER_MARKS, browser, shot
from tests.web.pages.test_ticker import Site, _site, api, sign_in
from web.compose import Part

__all__ = ["browser"]
pytestmark = [*BROWSER_MARKS, pytest.mark.usefixtures("cheap_password_hashing")]


@pytest.fixture
async def quick_site(tmp_path: Path) -> AsyncIterator[Site]:
    async for running in _site(tmp_path, {Part.BROADCAST}, broadcast__ping_interval_s=1,
                               broadcast__stale_after_s=3):
        yield running


async def publish(site: Site, title: str, body: str, **extra: Any) -> dict[str, Any]:
    script = await api(site, "alice", "POST", "/api/scripts", {"title": title, "body": body, **extra})
    await api(site, "alice", "POST", f"/api/scripts/{script['id']}/submit", {"version": 1})
    await api(site, "bob", "POST", f"/api/scripts/{script['id']}/approve", {"version": 1})
    return dict(await api(site, "bob", "POST", f"/api/scripts/{script['id']}/publish", {"version": 1}))


async def copies(site: Site, script_id: int) -> int:
    await site.services.runtime.flush_receipts()
    coverage = await api(site, "alice", "GET", f"/api/scripts/{script_id}/coverage")
    return int(coverage["copies"])


async def test_copies_are_reported_and_the_warning_appears_when_the_server_is_gone(
        quick_site: Site, browser: Any) -> None:
    site = quick_site
    script = await publish(site, "门店回应", "您好，涉事门店已停业整改。")
    agent = await sign_in(browser, site, "agent1", permissions=["clipboard-read", "clipboard-write"])
    item = agent.locator(f".lt-item[data-id='{script['id']}']")
    await item.wait_for(state="visible")
    await agent.locator(".lt-pause").click()

    # Copy from the crawl's detail and from the list below it: two copies.
    await item.click()
    await agent.locator(".lt-detail .lt-copy").click()
    await agent.locator(".lt-detail .lt-copy", has_text="已复制").wait_for()  # the copy is asynchronous
    await agent.locator("#lantern-active .active-copy").click()
    await agent.wait_for_function("() => document.querySelector('#lantern-active .active-copy')"
                                  ".textContent === '已复制'")
    assert await agent.evaluate("navigator.clipboard.readText()") == "您好，涉事门店已停业整改。"
    await agent.wait_for_function("() => window.lanternTicker.pendingCopies.length === 0")
    for _ in range(50):
        if await copies(site, script["id"]) == 2:
            break
        await agent.wait_for_timeout(100)
    assert await copies(site, script["id"]) == 2

    # A copy made while the socket is down is sent once the ticker is back.
    await agent.evaluate("""() => { const t = window.lanternTicker; t.ws.close();
        t.reportCopy([...t.model.items.values()][0]); }""")
    assert await agent.evaluate("window.lanternTicker.pendingCopies.length") == 1
    await agent.wait_for_function("() => window.lanternTicker.connected && "
                                  "window.lanternTicker.pendingCopies.length === 0")
    for _ in range(50):
        if await copies(site, script["id"]) == 3:
            break
        await agent.wait_for_timeout(100)
    assert await copies(site, script["id"]) == 3

    # Connected and quiet for longer than the threshold: the heartbeats keep the warning away.
    warning = agent.locator(".lt-stale")
    await agent.wait_for_timeout(4000)
    assert await warning.is_hidden()

    # The server goes away: the disconnected banner at once, the stale warning after 3 s of silence.
    await site.server.close()
    await agent.locator(".lt-status").wait_for(state="visible")
    await warning.wait_for(state="visible", timeout=6000)
    text = await warning.text_content() or ""
    assert "话术可能已过期，请刷新/联系主管" in text and "秒未收到服务器消息" in text
    assert await warning.get_attribute("data-reason") == "silent"
    assert await agent.locator("#lantern-ticker.lt-is-outdated").count() == 1
    await shot(agent, "20-ticker-stale-server-gone")
    assert agent.dialogs == []


async def test_a_script_past_its_review_time_is_marked_and_warned_about(quick_site: Site, browser: Any) -> None:
    site = quick_site
    # Signed in first: on a loaded machine a sign-in can take longer than the 4 s the script has left.
    agent = await sign_in(browser, site, "agent1")
    fresh = await publish(site, "长期口径", "请耐心解释退款流程。")
    due = await publish(site, "限时口径", "门店今日停业。", review_by=time.time() + 4)
    overdue = agent.locator(f".lt-item[data-id='{due['id']}']")
    await overdue.wait_for(state="visible")
    warning = agent.locator(".lt-stale")
    assert await warning.is_hidden() and await overdue.locator(".lt-review").count() == 0

    await agent.locator(f".lt-item.lt-overdue[data-id='{due['id']}']").wait_for(timeout=8000)
    await warning.wait_for(state="visible")
    text = await warning.text_content() or ""
    assert "话术可能已过期，请刷新/联系主管" in text and "已过复核时间：「限时口径」" in text
    assert await warning.get_attribute("data-reason") == "review"
    assert await overdue.locator(".lt-review").text_content() == "待复核"
    assert await agent.locator(f".lt-item.lt-overdue[data-id='{fresh['id']}']").count() == 0
    assert await agent.locator(".lt-status").is_hidden()  # still connected: only the review warning
    await shot(agent, "21-ticker-review-overdue")

    # The same in English, and a refresh does not hide a warning that is still true.
    await agent.goto(site.url("/ticker?lang=en"))
    await warning.wait_for(state="visible")
    assert "Scripts may be out of date: refresh or contact your supervisor" in (await warning.text_content() or "")
    await warning.locator("button.lt-refresh").click()
    await agent.wait_for_function("() => window.lanternTicker.connected")
    await agent.wait_for_timeout(1200)
    assert await warning.is_visible()
    assert await overdue.locator(".lt-review").text_content() == "Review due"

    # A new version of the script (its review time renewed) clears the warning.
    await api(site, "alice", "PUT", f"/api/scripts/{due['id']}", {"review_by": time.time() + 3600})
    await api(site, "alice", "POST", f"/api/scripts/{due['id']}/submit", {"version": 2})
    await api(site, "bob", "POST", f"/api/scripts/{due['id']}/approve", {"version": 2})
    await api(site, "bob", "POST", f"/api/scripts/{due['id']}/publish", {"version": 2})
    await warning.wait_for(state="hidden")
    assert await agent.locator(".lt-item.lt-overdue").count() == 0
    assert agent.dialogs == []


async def test_a_copy_in_the_crm_widget_is_counted(quick_site: Site, browser: Any) -> None:
    site = quick_site
    script = await publish(site, "CRM 提示", "请安抚客户情绪")
    crm_html = (f'<!doctype html><html><body><h1>CRM</h1><script src="{site.url("/widget.js")}" '
                f'data-token="{site.tokens["agent1"]}"></script></body></html>')

    async def crm(request: web.Request) -> web.Response:
        return web.Response(text=crm_html, content_type="text/html")

    crm_app = web.Application()
    crm_app.router.add_get("/", crm)
    crm_server = TestServer(crm_app, host="127.0.0.1")
    await crm_server.start_server()
    try:
        context = await browser.new_context(permissions=["clipboard-read", "clipboard-write"])
        page = await context.new_page()
        await page.goto(str(crm_server.make_url("/")))
        item = page.locator(f".lantern-widget .lt-item[data-id='{script['id']}']")
        await item.wait_for(state="visible")
        await page.locator(".lantern-widget .lt-pause").click()
        await item.click()
        await page.locator(".lantern-widget .lt-detail .lt-copy").click()
        await page.locator(".lantern-widget .lt-detail .lt-copy", has_text="已复制").wait_for()
        for _ in range(50):
            if await copies(site, script["id"]) == 1:
                break
            await page.wait_for_timeout(100)
        assert await copies(site, script["id"]) == 1
    finally:
        await crm_server.close()
