"""Browser tests: the console's incident board follows the live stream, and polls only when that is down.

Headless Chromium signs in as a manager (cookie session, as on the floor);
mentions arrive through the real push endpoint and the real classifier.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.support_browser import BROWSER_MARKS, browser, shot
from web.app import create_app
from web.auth import users
from web.compose import Services, build_services
from web.platform.settings import load_settings

PUSH_TOKEN = "browser-live-push-token-0123"
PASSWORD = "pw-manager-browser-live"

__all__ = ["browser"]  # fixture used below
pytestmark = [*BROWSER_MARKS, pytest.mark.usefixtures("cheap_password_hashing")]


@dataclass
class Site:
    services: Services
    server: TestServer

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def push(self, item: dict[str, Any]) -> None:
        async with aiohttp.ClientSession() as http, http.post(
                self.url("/api/ingest"), json={"items": [item]},
                headers={"Authorization": f"Bearer {PUSH_TOKEN}"}) as response:
            body = await response.json()
            assert response.status == 200 and body["accepted"] == 1, body


async def open_site(tmp_path: Path, **overrides: Any) -> AsyncIterator[Site]:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), monitor__enabled=False,
                                                    **overrides).with_lists(
        sources=[{"name": "weibo-push", "kind": "push", "token": PUSH_TOKEN, "query": "鲜味楼"}])
    services = await build_services(settings)
    await services.db.write(lambda db: users.add_user(db, "mgr", "manager", PASSWORD, team="pr", now=time.time()))
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        yield Site(services, server)
    finally:
        await server.close()
        services.db.close()


async def sign_in(browser: Any, site: Site) -> Any:
    page = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.incident_lists = 0

    def count(request: Any) -> None:
        if request.url.split("?")[0].endswith("/api/incidents"):
            page.incident_lists += 1

    page.on("request", count)
    await page.goto(site.url("/login"))
    await page.fill("input[name=name]", "mgr")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state("networkidle")
    return page


def mention(n: int) -> dict[str, Any]:
    return {"id": f"m{n}", "url": f"https://weibo.com/1/m{n}", "author": "央视新闻", "author_reach": 90_000_000,
            "title": f"央视曝光鲜味楼后厨老鼠乱窜，过期食材重新贴标继续卖（{n}）",
            "text": "央视3·15晚会曝光：鲜味楼多家门店后厨老鼠乱窜、过期食材更换标签继续使用。太恶心了，必须严查！"}


async def test_board_shows_a_new_incident_by_push_without_reload_or_polling(tmp_path: Path, browser: Any) -> None:
    async for site in open_site(tmp_path, console__fallback_polling=False):
        page = await sign_in(browser, site)
        await page.wait_for_selector(".board .muted")  # the empty board
        hint = page.locator(".live-hint[data-mode='live']")
        await hint.wait_for()
        assert await hint.text_content() == "实时"
        assert page.incident_lists == 1
        await page.evaluate("window.loadedOnce = true")

        await site.push(mention(1))
        card = page.locator(".incident-card")
        await card.wait_for()  # the test's normal wait; no reload, no timer
        assert "老鼠" in (await card.text_content() or "")
        assert await page.evaluate("window.loadedOnce") is True  # the same page, not reloaded
        assert page.incident_lists == 2  # the first render and the one refresh the event asked for
        await shot(page, "12-console-board-live")

        # The stream is gone and polling is off: the hint says so, and nothing polls.
        await page.evaluate("window.lanternLive.stop()")
        assert await page.locator(".live-hint").get_attribute("data-mode") == "offline"
        assert await page.locator(".live-hint").text_content() == "未连接"
        assert page.errors == []

        english = await sign_in(browser, site)
        await english.goto(site.url("/?lang=en#/incidents"))
        await english.locator(".live-hint[data-mode='live']").wait_for()
        assert await english.locator(".live-hint").text_content() == "live"


async def test_board_polls_while_the_stream_is_down_and_goes_live_again(tmp_path: Path, browser: Any) -> None:
    async for site in open_site(tmp_path):
        page = await sign_in(browser, site)
        await page.route("**/api/live*", lambda route: route.abort())
        await page.goto(site.url("/#/incidents"))
        await page.reload()
        hint = page.locator(".live-hint[data-mode='polling']")
        await hint.wait_for()
        assert await hint.text_content() == "轮询"

        await site.push(mention(2))
        await page.locator(".incident-card").wait_for()  # found by the 5 s poll
        await shot(page, "13-console-board-polling")

        await page.unroute("**/api/live*")  # the stream comes back: the browser reconnects by itself
        await page.locator(".live-hint[data-mode='live']").wait_for()
        assert await page.locator(".live-hint").text_content() == "实时"
        assert page.errors == []
