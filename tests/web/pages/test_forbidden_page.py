"""An agent who opens a console page (a 查看详情 link forwarded to them, /console typed in) sees a page in
their language saying it needs another role, with a link to their ticker - not the API's raw JSON
``{"error": "forbidden", "message": "requires role: manager or oncall"}`` (found by QA on ``lantern demo``)."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.support_browser import BROWSER_MARKS, browser, shot
from tests.web.pages.test_ticker import Site, console_site, sign_in
from web.platform import i18n

__all__ = ["browser", "console_site"]  # fixtures used below (alerting built: its pages are mounted)
pytestmark = BROWSER_MARKS


async def test_agent_opening_console_pages_gets_a_readable_403_with_a_way_back(console_site: Site,
                                                                                browser: Any) -> None:
    site = console_site
    page = await sign_in(browser, site, "agent1")
    assert page.url.endswith("/ticker")
    for path in ("/console", "/incidents/1"):
        response = await page.goto(site.url(path))
        assert response.status == 403
        body = str(await page.locator("body").inner_text())
        assert i18n.t("zh-CN", "common.forbidden") in body, body
        assert "requires role" not in body and "{" not in body
    await shot(page, "forbidden-page-agent-zh")
    await page.get_by_role("link", name=i18n.t("zh-CN", "nav.ticker")).click()
    await page.wait_for_url("**/ticker")

    await page.goto(site.url("/console?lang=en"))
    body = str(await page.locator("body").inner_text())
    assert i18n.t("en", "common.forbidden") in body and i18n.t("en", "nav.ticker") in body
    assert await page.locator("html").get_attribute("lang") == "en"
    await shot(page, "forbidden-page-agent-en")


async def test_the_api_still_answers_json(console_site: Site) -> None:
    site = console_site
    async with aiohttp.ClientSession() as http, http.get(site.url("/api/incidents"),
                                                         headers=site.headers("agent1")) as resp:
        assert resp.status == 403 and (await resp.json())["error"] == "forbidden"
