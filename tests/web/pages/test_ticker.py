"""Browser tests: headless Chromium drives the real console and ticker over a real server.

Flow: a manager approves (in the console) a script another manager drafted,
publishes it, and an agent's ticker shows it scrolling within a second;
pause works from the keyboard; a script body that is HTML shows as text and
runs nothing; retracting takes the script off the ticker.  Screenshots go to
``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.support_browser import BROWSER_MARKS, CHROMIUM, browser, shot
from web.app import create_app
from web.auth import users
from web.compose import Part, Services, build_services
from web.platform.settings import load_settings

XSS = "<img src=x onerror=alert(1)>"

__all__ = ["CHROMIUM", "browser", "shot"]  # the other browser tests import them from here
pytestmark = [*BROWSER_MARKS, pytest.mark.usefixtures("cheap_password_hashing")]


@dataclass
class Site:
    services: Services
    server: TestServer
    tokens: dict[str, str]
    ids: dict[str, int] = field(default_factory=dict)  # what a fixture made for its tests (script_id, incident_id)

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def headers(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


PEOPLE = {"alice": ("manager", "pr"), "bob": ("manager", "service"), "agent1": ("agent", "queue-a"),
          "root": ("admin", "ops")}


def password(name: str) -> str:
    return f"pw-{name}-browser"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async for running in _site(tmp_path, {Part.BROADCAST}):
        yield running


@pytest.fixture
async def console_site(tmp_path: Path) -> AsyncIterator[Site]:
    """With the monitor (sources, its scheduler off: nothing is polled) and alerting (routes, plans)."""
    async for running in _site(tmp_path, {Part.BROADCAST, Part.ALERTS, Part.MONITOR},
                               monitor__enabled=False):
        yield running


@contextlib.asynccontextmanager
async def serving(services: Services, people: Mapping[str, tuple[str, Mapping[str, str]]]) -> AsyncIterator[Site]:
    """The app of ``services`` on 127.0.0.1 with ``people`` (name -> role, account fields) and their API tokens;
    the server and the database are closed after."""
    now = time.time()

    def seed(db: Any) -> dict[str, str]:
        tokens = {}
        for name, (role, fields) in people.items():
            user = users.add_user(db, name, role, password(name), now=now, **fields)
            tokens[name] = users.create_token(db, user, "browser-test", now=now)
        return tokens

    tokens = await services.db.write(seed)
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        yield Site(services, server, tokens)
    finally:
        await server.close()
        services.db.close()


def by_team(people: Mapping[str, tuple[str, str]]) -> dict[str, tuple[str, dict[str, str]]]:
    return {name: (role, {"team": team}) for name, (role, team) in people.items()}


async def _site(tmp_path: Path, parts: Collection[Part], **overrides: Any) -> AsyncIterator[Site]:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"),
                                                    broadcast__withdrawn_s=60, **overrides)
    async with serving(await build_services(settings, parts=parts), by_team(PEOPLE)) as site:
        yield site


async def api(site: Site, who: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    async with aiohttp.ClientSession() as session, session.request(
            method, site.url(path), json=body, headers=site.headers(who)) as response:
        data = await response.json()
        assert response.status < 300, data
        return data


async def sign_in(browser: Any, site: Site, name: str, **context: Any) -> Any:
    page = await (await browser.new_context(viewport={"width": 1280, "height": 800}, **context)).new_page()
    page.dialogs = []
    page.accept_dialogs = False

    async def answer(dialog: Any) -> None:
        page.dialogs.append(dialog.message)
        await (dialog.accept() if page.accept_dialogs else dialog.dismiss())

    page.on("dialog", answer)
    await page.goto(site.url("/login"))
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", password(name))
    await page.click("button[type=submit]")
    await page.wait_for_load_state("networkidle")
    return page


async def track_offset(page: Any) -> str:
    return str(await page.eval_on_selector(".lt-track", "el => getComputedStyle(el).transform"))


async def test_approve_publish_ticker_pause_xss_retract(site: Site, browser: Any) -> None:
    draft = await api(site, "alice", "POST", "/api/scripts", {
        "title": "门店食品安全回应", "body": "您好，我们已关注到相关报道，涉事门店已停业整改，感谢您的监督。",
        "priority": "high"})
    await api(site, "alice", "POST", f"/api/scripts/{draft['id']}/submit", {"version": 1})

    agent = await sign_in(browser, site, "agent1")
    assert agent.url.endswith("/ticker")
    await agent.wait_for_selector(".lt-empty:not([hidden])")
    assert await agent.is_hidden(".lt-status")  # connected: no stale warning

    manager = await sign_in(browser, site, "bob")
    await manager.goto(site.url("/#/approvals"))
    card = manager.locator(f"[data-script-id='{draft['id']}']")
    await card.wait_for()
    await shot(manager, "01-approval-queue")
    async with manager.expect_response(lambda r: r.url.endswith("/approve")) as approved:
        await card.locator("button.approve").click()
    assert (await approved.value).status == 200  # leave the page only once the approval is stored
    await manager.goto(site.url(f"/#/scripts/{draft['id']}"))
    publish = manager.locator("button.publish")
    await publish.wait_for()
    async with manager.expect_response(lambda r: r.url.endswith("/publish")) as published:
        await publish.click()
    assert (await published.value).status == 200

    # The agent's ticker shows it (how fast is measured by benchmarks.publish_to_screen), and it moves.
    item = agent.locator(f".lt-track .lt-item[data-id='{draft['id']}']")
    await item.wait_for(state="visible")
    box = await item.bounding_box()
    assert box is not None and box["x"] < 1280 and box["x"] + box["width"] > 0
    first = await track_offset(agent)
    await agent.wait_for_function("t => getComputedStyle(document.querySelector('.lt-track')).transform !== t",
                                  arg=first)
    await shot(agent, "02-agent-ticker-scrolling")

    # Pause from the keyboard: Tab reaches the pause button, Enter presses it.
    for _ in range(10):
        await agent.keyboard.press("Tab")
        if await agent.evaluate("document.activeElement.classList.contains('lt-pause')"):
            break
    else:
        pytest.fail("the pause button is not reachable with Tab")
    await agent.keyboard.press("Enter")
    assert await agent.get_attribute(".lt-pause", "aria-pressed") == "true"
    frozen = await track_offset(agent)
    await agent.wait_for_timeout(400)
    assert await track_offset(agent) == frozen
    await agent.keyboard.press("Enter")
    assert await agent.get_attribute(".lt-pause", "aria-pressed") == "false"

    # A script whose body is markup shows as text and runs nothing.
    evil = await api(site, "alice", "POST", "/api/scripts", {"title": "测试 <b>标题</b>", "body": XSS})
    await api(site, "alice", "POST", f"/api/scripts/{evil['id']}/submit", {"version": 1})
    await api(site, "bob", "POST", f"/api/scripts/{evil['id']}/approve", {"version": 1})
    await api(site, "bob", "POST", f"/api/scripts/{evil['id']}/publish", {"version": 1})
    evil_item = agent.locator(f".lt-item[data-id='{evil['id']}']")
    await evil_item.wait_for(state="visible")
    assert await evil_item.locator(".lt-body").text_content() == XSS
    assert await agent.locator("#lantern-ticker img, #lantern-ticker b").count() == 0
    await agent.locator(".lt-pause").press("Space")  # hold the crawl still, then expand the item
    await evil_item.click()
    assert await agent.locator(".lt-detail-body").text_content() == XSS
    assert await agent.locator(".lt-detail img").count() == 0
    await shot(agent, "03-agent-detail-markup-as-text")
    assert agent.dialogs == [] and manager.dialogs == []

    # Retract (from the console): the script leaves the ticker, marked withdrawn meanwhile.
    await manager.goto(site.url(f"/#/scripts/{draft['id']}"))
    await manager.reload()
    async with manager.expect_response(lambda r: r.url.endswith("/retract")) as retracted:
        await manager.locator("button.retract").click()
    assert (await retracted.value).status == 200
    await agent.locator(f".lt-track button.lt-item[data-id='{draft['id']}']").wait_for(state="detached")
    withdrawn = agent.locator(f".lt-withdrawn[data-id='{draft['id']}']")
    await withdrawn.wait_for()
    assert "已撤回" in (await withdrawn.text_content() or "")
    assert "停业整改" not in (await agent.locator("#lantern-ticker").text_content() or "")
    await shot(agent, "04-agent-after-retract")
    await shot(manager, "05-console-script-retracted")
    assert agent.dialogs == []


async def test_reduced_motion_flips_instead_of_scrolling(site: Site, browser: Any) -> None:
    for title in ("第一条话术", "第二条话术"):
        script = await api(site, "alice", "POST", "/api/scripts", {"title": title, "body": f"{title}的正文"})
        await api(site, "alice", "POST", f"/api/scripts/{script['id']}/submit", {"version": 1})
        await api(site, "bob", "POST", f"/api/scripts/{script['id']}/approve", {"version": 1})
        await api(site, "bob", "POST", f"/api/scripts/{script['id']}/publish", {"version": 1})
    agent = await sign_in(browser, site, "agent1", reduced_motion="reduce")
    await agent.wait_for_selector(".lt-root.lt-reduced .lt-item")
    assert await track_offset(agent) == "none"
    visible = await agent.locator(".lt-track .lt-item:visible").count()
    assert visible == 1  # one at a time
    await shot(agent, "06-agent-reduced-motion")


async def test_disconnected_banner_and_reconnect(site: Site, browser: Any) -> None:
    agent = await sign_in(browser, site, "agent1")
    await agent.wait_for_selector(".lt-empty:not([hidden])")
    await agent.evaluate("window.lanternTicker.ws.close()")
    banner = agent.locator(".lt-status")
    await banner.wait_for(state="visible")
    assert "连接已断开，话术可能已过期" in (await banner.text_content() or "")
    await shot(agent, "07-agent-disconnected")
    await banner.wait_for(state="hidden")  # reconnected by itself (first retry after ~0.5 s)


async def test_widget_on_another_origin(site: Site, browser: Any, tmp_path: Path) -> None:
    script = await api(site, "alice", "POST", "/api/scripts", {"title": "CRM 提示", "body": "请安抚客户情绪"})
    await api(site, "alice", "POST", f"/api/scripts/{script['id']}/submit", {"version": 1})
    await api(site, "bob", "POST", f"/api/scripts/{script['id']}/approve", {"version": 1})
    await api(site, "bob", "POST", f"/api/scripts/{script['id']}/publish", {"version": 1})
    widget_src = site.url("/widget.js")
    crm_html = (f'<!doctype html><html><body><h1>CRM</h1>'
                f'<script src="{widget_src}" data-token="{site.tokens["agent1"]}"></script></body></html>')

    async def crm(request: web.Request) -> web.Response:
        return web.Response(text=crm_html, content_type="text/html")

    crm_app = web.Application()
    crm_app.router.add_get("/", crm)
    crm_server = TestServer(crm_app, host="127.0.0.1")
    await crm_server.start_server()
    try:
        page = await (await browser.new_context()).new_page()
        page_errors: list[str] = []
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        await page.goto(str(crm_server.make_url("/")))
        item = page.locator(f".lantern-widget .lt-item[data-id='{script['id']}']")
        await item.wait_for(state="visible")
        assert "请安抚客户情绪" in (await item.text_content() or "")
        assert page_errors == []
        await shot(page, "08-crm-widget")
    finally:
        await crm_server.close()


async def test_console_adds_and_edits_a_source_and_ticker_lists_scripts(console_site: Site, browser: Any) -> None:
    site = console_site
    manager = await sign_in(browser, site, "bob")
    await manager.goto(site.url("/#/sources"))
    form = manager.locator("form.add-source")
    await form.wait_for()

    # A bad query is refused by the API and its message is shown next to the form.
    await form.locator("input[name=name]").fill("微博-关键词")
    await form.locator("select[name=kind]").select_option("rss")
    await form.locator("input[name=url]").fill("http://127.0.0.1:9/feed?token=s3cret-value")
    await form.locator("input[name=interval_s]").fill("120")
    await form.locator("input[name=query]").fill("(海底捞 OR HDL) AND")
    async with manager.expect_response(lambda r: r.url.endswith("/api/sources")) as refused:
        await form.locator("button[type=submit]").click()
    assert (await refused.value).status == 400
    error = form.locator(".form-error")
    await manager.wait_for_function("el => el.textContent.includes('查询语法错误')", arg=await error.element_handle())
    assert await manager.locator("[data-source='微博-关键词']").count() == 0

    await form.locator("input[name=query]").fill("(海底捞 OR HDL) AND 老鼠")
    async with manager.expect_response(lambda r: r.url.endswith("/api/sources")) as created:
        await form.locator("button[type=submit]").click()
    assert (await created.value).status == 201
    await manager.locator("[data-source='微博-关键词']").wait_for()
    stored = {s["name"]: s for s in await site.services.monitor.list_sources()}["微博-关键词"]
    assert stored["kind"] == "rss" and stored["interval_s"] == 120 and stored["query"] == "(海底捞 OR HDL) AND 老鼠"
    assert "s3cret-value" not in (await manager.locator("#view").text_content() or "")  # masked by the API

    # Edit the interval only: the masked URL is not sent back, so the real one is kept.
    row = manager.locator("tr", has=manager.locator("[data-source='微博-关键词']"))
    await row.locator("button.edit").click()
    edit = manager.locator("form.edit-source")
    await edit.locator("input[name=interval_s]").fill("600")
    async with manager.expect_response(lambda r: "/api/sources/" in r.url) as patched:
        await edit.locator("button[type=submit]").click()
    assert (await patched.value).status == 200
    await manager.locator("form.edit-source").wait_for(state="detached")
    config = site.services.monitor._configs["微博-关键词"]
    assert config.interval_s == 600 and "s3cret-value" in config.url
    await shot(manager, "09-console-sources")

    # Delete asks first: dismissed, the source stays; accepted, it goes.
    await row.locator("button.danger").click()
    assert len(manager.dialogs) == 1 and "微博-关键词" in manager.dialogs[0]
    assert "微博-关键词" in {s["name"] for s in await site.services.monitor.list_sources()}
    manager.accept_dialogs = True
    async with manager.expect_response(lambda r: r.request.method == "DELETE") as deleted:
        await row.locator("button.danger").click()
    assert (await deleted.value).status == 204
    await manager.locator("[data-source='微博-关键词']").wait_for(state="detached")
    manager.dialogs.clear()

    # The agent's /ticker lists the active scripts in full below the crawl, as text.
    for title, body in (("门店回应", "您好，涉事门店已停业整改。"), ("标记测试", XSS)):
        script = await api(site, "alice", "POST", "/api/scripts", {"title": title, "body": body, "priority": "high"})
        await api(site, "alice", "POST", f"/api/scripts/{script['id']}/submit", {"version": 1})
        await api(site, "bob", "POST", f"/api/scripts/{script['id']}/approve", {"version": 1})
        await api(site, "bob", "POST", f"/api/scripts/{script['id']}/publish", {"version": 1})
    agent = await sign_in(browser, site, "agent1")
    cards = agent.locator("#lantern-active .active-script")
    await cards.nth(1).wait_for()
    assert await cards.count() == 2
    bodies = await agent.locator("#lantern-active .active-body").all_text_contents()
    assert sorted(bodies) == sorted(["您好，涉事门店已停业整改。", XSS])
    assert await agent.locator("#lantern-active img").count() == 0
    first = cards.filter(has_text="门店回应")
    await first.locator("button.active-ack").click()
    assert await first.locator("button.active-ack").is_disabled()
    await shot(agent, "10-ticker-active-list")
    assert agent.dialogs == [] and manager.dialogs == []


async def test_admin_edits_routes_as_json_and_sees_the_servers_reason(console_site: Site, browser: Any) -> None:
    site = console_site
    manager = await sign_in(browser, site, "bob")
    await manager.goto(site.url("/#/routing"))
    await manager.locator("h2", has_text="告警路由").wait_for()
    assert await manager.locator("textarea").count() == 0  # read-only for managers

    admin = await sign_in(browser, site, "root")
    await admin.goto(site.url("/#/routing"))
    editor = admin.locator("details.editor", has=admin.locator("form.edit-routes"))
    await editor.locator("summary").click()
    area = editor.locator("textarea")
    routes = json.loads(await area.input_value())
    assert routes and all("plan" not in r for r in routes)  # pre-filled with what PUT accepts
    error = editor.locator(".form-error")

    await area.fill("[{")
    await editor.locator("button[type=submit]").click()
    assert "不是有效的 JSON" in (await error.text_content() or "")

    await area.fill(json.dumps([{**routes[0], "channels": ["nowhere"]}], ensure_ascii=False))
    async with admin.expect_response(lambda r: r.url.endswith("/api/routing") and r.request.method == "PUT") as put:
        await editor.locator("button[type=submit]").click()
    assert (await put.value).status == 400
    await admin.wait_for_function("el => el.textContent.includes('未配置的渠道')", arg=await error.element_handle())

    changed = [{**routes[0], "name": "值班经理优先"}]
    await area.fill(json.dumps(changed, ensure_ascii=False))
    async with admin.expect_response(lambda r: r.url.endswith("/api/routing") and r.request.method == "PUT") as put:
        await editor.locator("button[type=submit]").click()
    assert (await put.value).status == 200
    await admin.locator("td", has_text="值班经理优先").wait_for()
    names = [(r.name, r.builtin) for r in site.services.alerts.routes]
    assert names[0] == ("值班经理优先", False) and all(builtin for _, builtin in names[1:])  # defaults fill the rest
    await shot(admin, "11-console-routing-editor")
