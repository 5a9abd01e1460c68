"""The pure parts of the front-end (ticker model, reconnect backoff, script diff) run in Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tests.support_browser import ARGS, BROWSER_MARKS, CHROMIUM, playwright_api
from web.app import create_app
from web.auth import users
from web.compose import build_services
from web.platform.settings import load_settings

pytestmark = BROWSER_MARKS


@pytest.fixture
async def page(tmp_path: Path, cheap_password_hashing: None) -> AsyncIterator[Any]:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"))
    services = await build_services(settings, parts=())

    def seed(db: Any) -> str:
        user = users.add_user(db, "mgr", "manager", "manager-password", now=1.0)
        return users.create_token(db, user, "t", now=1.0)

    token = await services.db.write(seed)
    server = TestServer(create_app(services, manage_lifecycle=False), host="127.0.0.1")
    await server.start_server()
    try:
        async with playwright_api.async_playwright() as p:
            browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            context = await browser.new_context(extra_http_headers={"Authorization": f"Bearer {token}"})
            page = await context.new_page()
            # A page with the data block the console modules read; its own ticker module is not needed.
            await page.route("**/static/ticker-page.js", lambda route: route.fulfill(
                body="", content_type="text/javascript"))
            await page.goto(str(server.make_url("/ticker")))
            yield page
            await browser.close()
    finally:
        await server.close()
        services.db.close()


async def run(page: Any, module: str, body: str) -> Any:
    return await page.evaluate(f"async () => {{ const m = await import('/static/{module}'); {body} }}")


async def test_diff_chars(page: Any) -> None:
    assert await run(page, "diff.js", "return m.diffChars('门店已停业', '门店已停业整改');") == [
        ["same", "门店已停业"], ["add", "整改"]]
    assert await run(page, "diff.js", "return m.diffChars('abc', 'axc');") == [
        ["same", "a"], ["del", "b"], ["add", "x"], ["same", "c"]]
    assert await run(page, "diff.js", "return m.diffChars('', '新');") == [["add", "新"]]
    assert await run(page, "diff.js", "return m.diffChars('同', '同');") == [["same", "同"]]
    html = await run(page, "diff.js", "return m.renderDiff('a', 'a<img src=x>').innerHTML;")
    assert html == "<span>a</span><ins>&lt;img src=x&gt;</ins>"


async def test_backoff_grows_to_a_cap_with_jitter(page: Any) -> None:
    delays = await run(page, "ticker-core.js",
                       "return [0, 1, 2, 6, 20].map((a) => m.backoffDelay(a, () => 0.5));")
    assert delays == [500, 1000, 2000, 30000, 30000]
    low, high = await run(page, "ticker-core.js",
                          "return [m.backoffDelay(3, () => 0), m.backoffDelay(3, () => 0.999999)];")
    assert low == 3200 and 4790 < high <= 4800


async def test_ticker_model_follows_the_protocol(page: Any) -> None:
    result = await run(page, "ticker-core.js", """
        const model = new m.TickerModel();
        const item = (id, priority, extra) => ({id, version: 1, title: 't' + id, body: 'b', priority,
                                                published_at: 100 + id, expires_at: null, state: 'published',
                                                ...extra});
        const log = [];
        const order = () => model.sorted(1000).map((i) => `${i.id}:${i.state}`).join(',');
        model.apply({type: 'snapshot', epoch: 'e1', rev: 4, items: [item(1, 'normal'), item(2, 'critical')]});
        log.push(order(), model.rev, model.epoch);
        model.apply({type: 'publish', rev: 5, item: item(3, 'high')});
        log.push(order());
        model.apply({type: 'retract', rev: 6, item: {...item(2, 'critical'), state: 'retracted',
                                                     withdrawn_until: 1100}});
        log.push(order());
        log.push(model.sorted(1200).map((i) => i.id).join(','));
        model.apply({type: 'expire', rev: 7, id: 1});
        log.push(order(), model.rev);
        model.apply({type: 'update', rev: 8, item: item(3, 'high', {expires_at: 900})});
        log.push(order());
        model.apply({type: 'resumed', epoch: 'e1', rev: 8});
        log.push(model.apply({type: 'nonsense'}), model.rev);
        return log;
    """)
    assert result == [
        "2:published,1:published", 4, "e1",
        "2:published,3:published,1:published",   # critical first, then high, then normal
        "3:published,1:published,2:retracted",   # a withdrawn script goes last, without leaving at once
        "3,1",                                   # ... and is gone after withdrawn_until
        "3:published,2:retracted", 7,
        "2:retracted",                           # expired by its own expires_at
        False, 8,
    ]
