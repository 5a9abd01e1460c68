"""Browser test: shifts from the admin users screen to a shift-targeted script and its coverage in the console.

An admin puts an agent on the shift that is on now (a wrong shift name is refused with the server's
reason); a script targeted at that shift reaches the agent's ticker; the agent copies it; the
manager's coverage table shows the on-shift agents next to the connected ones and the copy count.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support_browser import BROWSER_MARKS, browser, shot
from tests.web.pages.test_ticker import PEOPLE, Site, api, by_team, serving, sign_in
from web.compose import Part, build_services
from web.platform.settings import load_settings

__all__ = ["browser"]
pytestmark = [*BROWSER_MARKS, pytest.mark.usefixtures("cheap_password_hashing")]


def shifts_around_now() -> list[dict[str, Any]]:
    """当班: from two hours ago to two hours from now (Shanghai time, every day); 休班: the rest of the day."""
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    start, end = (now - timedelta(hours=2)).strftime("%H:%M"), (now + timedelta(hours=2)).strftime("%H:%M")
    return [{"name": "当班", "start": start, "end": end}, {"name": "休班", "start": end, "end": start}]


@pytest.fixture
async def shift_site(tmp_path: Path) -> AsyncIterator[Site]:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"))
    services = await build_services(settings.with_lists(shifts=shifts_around_now()), parts={Part.BROADCAST})
    async with serving(services, by_team(PEOPLE)) as site:
        yield site


async def test_shift_set_by_admin_targets_a_script_and_coverage_counts_it(shift_site: Site, browser: Any) -> None:
    site = shift_site
    admin = await sign_in(browser, site, "root")
    await admin.goto(site.url("/#/users"))
    row = admin.locator("tr", has=admin.locator("[data-user='agent1']"))
    await row.locator("button.edit-user").click()
    form = admin.locator("form.edit-user-form")
    await form.locator("input[name=shift]").fill("午班")
    async with admin.expect_response(lambda r: r.request.method == "PATCH") as refused:
        await form.locator("button[type=submit]").click()
    assert (await refused.value).status == 400
    await form.locator(".form-error", has_text="unknown shift '午班'").wait_for()
    await form.locator("input[name=shift]").fill("当班")
    async with admin.expect_response(lambda r: r.request.method == "PATCH") as patched:
        await form.locator("button[type=submit]").click()
    assert (await (await patched.value).json())["user"]["shift"] == "当班"
    await row.get_by_text("当班").wait_for()
    await shot(admin, "22-users-shift")

    agent = await sign_in(browser, site, "agent1", permissions=["clipboard-read", "clipboard-write"])
    script = await api(site, "alice", "POST", "/api/scripts", {
        "title": "当班口径", "body": "您好，当班同事请统一这样答复。", "audience": {"shifts": ["当班"]}})
    await api(site, "alice", "POST", f"/api/scripts/{script['id']}/submit", {"version": 1})
    await api(site, "bob", "POST", f"/api/scripts/{script['id']}/approve", {"version": 1})
    await api(site, "bob", "POST", f"/api/scripts/{script['id']}/publish", {"version": 1})
    item = agent.locator(f".lt-item[data-id='{script['id']}']")
    await item.wait_for(state="visible")
    await agent.locator("#lantern-active .active-copy").click()
    await agent.wait_for_function("() => document.querySelector('#lantern-active .active-copy')"
                                  ".textContent === '已复制'")
    for _ in range(100):  # receipts are written in batches (every 0.5 s)
        coverage = await api(site, "alice", "GET", f"/api/scripts/{script['id']}/coverage")
        if coverage["copies"] == 1 and coverage["displayed_on_shift"] == 1:
            break
        await agent.wait_for_timeout(100)
    assert coverage["on_shift"] == 1 and coverage["shifts_on"] == ["当班"] and coverage["copied_agents"] == 1

    manager = await sign_in(browser, site, "bob")
    await manager.goto(site.url(f"/#/scripts/{script['id']}"))
    table = manager.locator(".coverage > table")
    await table.wait_for()
    headers = await table.locator("th").all_text_contents()
    assert headers[1:3] == ["在线坐席", "当班坐席（发布时）"] and headers[-1] == "复制使用"
    first = await table.locator("tbody tr").first.locator("td").all_text_contents()
    assert first[0] == "全部目标坐席（v1）" and first[1] == "1" and first[2] == "1 · 已展示 100% · 已确认 0%"
    assert first[-1] == "1 次 · 1 人"
    assert "发布时在班：当班" in (await manager.locator(".shifts-on").text_content() or "")
    assert "v1 1 次 · 1 人" in (await manager.locator(".copies-by-version").text_content() or "")
    assert await manager.locator("input[name=shifts]").input_value() == "当班"
    await shot(manager, "23-console-coverage-shifts-copies")
    assert admin.dialogs == [] and manager.dialogs == [] and agent.dialogs == []
