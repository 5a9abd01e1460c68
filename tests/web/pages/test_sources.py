"""Browser test: a push source's token is shown once after creation and after an admin rotates it."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.support_browser import BROWSER_MARKS, browser
from tests.web.pages.test_ticker import Site, console_site, shot, sign_in

__all__ = ["browser", "console_site"]  # fixtures used below
pytestmark = BROWSER_MARKS


async def push(site: Site, token: str) -> int:
    async with aiohttp.ClientSession() as http, http.post(
            site.url("/api/ingest"), headers={"X-Lantern-Source-Token": token},
            json={"items": [{"id": token[:6], "title": "测试", "text": "推送测试"}]}) as response:
        return response.status


async def test_push_token_is_shown_once_and_rotated_by_an_admin(console_site: Site, browser: Any) -> None:
    site = console_site
    manager = await sign_in(browser, site, "bob", permissions=["clipboard-read", "clipboard-write"])
    await manager.goto(site.url("/#/sources"))
    form = manager.locator("form.add-source")
    await form.wait_for()
    await form.locator("input[name=name]").fill("crm-push")
    await form.locator("select[name=kind]").select_option("push")
    await form.locator("input[name=url]").fill("")
    async with manager.expect_response(lambda r: r.url.endswith("/api/sources") and r.request.method == "POST") \
            as created:
        await form.locator("button[type=submit]").click()
    answer = await (await created.value).json()
    token = answer["source"]["token"]
    assert len(token) >= 16

    dialog = manager.locator("dialog.token-once")
    await dialog.wait_for()
    assert await dialog.locator("input.token-value").input_value() == token
    assert "只显示这一次" in (await dialog.locator(".token-warning").text_content() or "")
    await dialog.locator("button.copy-token").click()
    await dialog.get_by_text("已复制").wait_for()
    assert await manager.evaluate("navigator.clipboard.readText()") == token
    await shot(manager, "11-push-token-once")
    await dialog.locator("button.close-token").click()
    await dialog.wait_for(state="detached")
    assert token not in await manager.content()  # gone from the page for good
    await manager.locator("[data-source='crm-push']").wait_for()
    assert await manager.locator("button.rotate").count() == 0  # managers cannot rotate
    assert await push(site, token) == 200

    admin = await sign_in(browser, site, "root")
    admin.accept_dialogs = True
    await admin.goto(site.url("/#/sources"))
    row = admin.locator("tr", has=admin.locator("[data-source='crm-push']"))
    async with admin.expect_response(lambda r: r.url.endswith("/api/sources/crm-push/token")) as rotated:
        await row.locator("button.rotate").click()
    new_token = (await (await rotated.value).json())["token"]
    assert admin.dialogs and "crm-push" in admin.dialogs[0]  # asked first
    dialog = admin.locator("dialog.token-once")
    await dialog.wait_for()
    assert await dialog.locator("input.token-value").input_value() == new_token != token
    assert await push(site, token) == 401  # the old token stopped at once
    assert await push(site, new_token) == 200
    await admin.keyboard.press("Escape")
    await dialog.wait_for(state="detached")
    await admin.reload()
    await admin.locator("[data-source='crm-push']").wait_for()
    assert new_token not in await admin.content() and token not in await admin.content()
    assert manager.dialogs == []


async def test_sources_page_shows_refused_items_encoding_and_masked_secrets(console_site: Site, browser: Any) -> None:
    from tests.support_monitor import FeedServer, Route
    from tests.web.pages.test_ticker import api

    site = console_site
    text = "鲜味楼望京店被曝后厨老鼠乱窜，顾客投诉食材过期"
    page_json = ('{"items": [' + f'{{"id": "ok-1", "text": "{text} 一"}},'
                 f'{{"id": "bad-2", "text": "{text} 二", "author_reach": 1e400}},'
                 f'{{"id": "ok-3", "text": "{text} 三"}}' + "]}").encode("gbk")
    async with FeedServer() as srv:
        srv.routes["/api"] = Route(body=page_json, headers={"Content-Type": "application/json"})
        await api(site, "bob", "POST", "/api/sources", {
            "name": "gbk-api", "kind": "json", "items": "items", "query": "鲜味楼",
            "url": srv.url("/api") + "?apikey=APIKEYSECRET&q=1"})
        result = await api(site, "bob", "POST", "/api/sources/gbk-api/poll")
        assert result["result"]["new"] == 2, result
    manager = await sign_in(browser, site, "bob")
    await manager.goto(site.url("/#/sources"))
    row = manager.locator("tr", has=manager.locator("[data-source='gbk-api']"))
    await row.wait_for()
    assert (await row.locator(".health").text_content() or "") == "有警告"
    assert "拒收 1 条" in (await row.locator(".source-warning").text_content() or "")
    assert "gb18030" in (await row.locator(".source-encoding").text_content() or "")
    assert "自动检测" in (await row.locator(".source-encoding").text_content() or "")
    await row.locator(".source-rejected summary").click()
    refused = await row.locator(".source-rejected li").all_text_contents()
    assert len(refused) == 1 and refused[0].startswith("bad-2") and "有限" in refused[0]
    await row.locator("button.edit").click()
    url_input = manager.locator("form.edit-source input[name=url]")
    assert "apikey=***" in await url_input.input_value()
    assert "APIKEYSECRET" not in await manager.content()
    await shot(manager, "11-sources-refused-items-encoding")
