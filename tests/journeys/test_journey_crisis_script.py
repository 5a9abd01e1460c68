"""The journey the product exists for (#12), on a fresh ``lantern demo`` process, in headless Chromium.

The replayed crisis reaches P1 and the 食品安全曝光预案 plan drafts a critical script.  The PR manager
edits it and presses 提交审批; being its author, they cannot approve it.  The service manager and a
second PR manager approve (``broadcast.approvals_critical = ["pr", "service"]``) and it is published.
An agent's ticker shows exactly the edited text within a second of the click on 发布 (measured in the
browser: the click on one page, the text appearing on the other); the agent acknowledges it; the
coverage view names who displayed and acknowledged it by display name; on-call acknowledges the
incident from 我的告警 with a comment; an agent who signs in later sees it.  Screenshots of every step go
to ``test-artifacts/journey-*.png``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.journeys.support import WATCH, Demo, api_get, run_demo, sign_in
from tests.support_browser import BROWSER_MARKS, browser, shot, toast

__all__ = ["browser"]
pytestmark = BROWSER_MARKS

PLAN_TITLE = "食品安全事件统一口径"
ADDED = "今晚 20:00 前我们会在官方微博公布调查进展。"
PUBLISH_TO_SCREEN_MS = 1000


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    async for running in run_demo(tmp_path, "--speed", "60"):
        yield running


async def plan_draft(page: Any, timeout_s: float = 90) -> dict[str, Any]:
    """The script the plan drafted once the replayed crisis reached P1/P2."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for item in (await api_get(page, "/api/scripts"))["items"]:
            if item["title"] == PLAN_TITLE:
                return dict(item)
        await asyncio.sleep(0.5)
    raise AssertionError("the plan drafted no script within the replay")


async def test_plan_drafted_script_edited_approved_by_two_published_and_seen(demo: Demo, browser: Any) -> None:
    names = {a["role"] + ":" + a["team"]: n for n, a in demo.accounts.items()}
    assert {"manager:pr", "manager:service", "agent:hotline", "oncall:ops", "admin:ops"} <= set(names)
    pr_managers = [n for n, a in demo.accounts.items() if a["role"] == "manager" and a["team"] == "pr"]
    assert len(pr_managers) == 2, demo.accounts
    author, second_pr, service = pr_managers[0], pr_managers[1], names["manager:service"]
    agents = [n for n, a in demo.accounts.items() if a["role"] == "agent"]
    assert len(agents) >= 2

    # 1. The PR manager finds the plan's draft, edits it and submits.
    wang = await sign_in(browser, demo, author)
    draft = await plan_draft(wang)
    sid = draft["id"]
    assert draft["state"] == "draft" and draft["author"].startswith("预案:")
    await wang.goto(f"{demo.url}/#/scripts/{sid}")
    body = wang.locator("form.editor textarea[name=body]")
    await body.wait_for()
    edited = (await body.input_value()) + ADDED
    await body.fill(edited)
    await shot(wang, "journey-01-manager-edits-plan-draft")
    await wang.locator("button.submit").click()
    assert await toast(wang) == "修改已保存为 v2，并已提交审批"
    await wang.locator(".review .approve").wait_for()
    assert await wang.locator(".review .approve").is_disabled()
    assert "还需 2 个审批：pr 团队 1 人、service 团队 1 人" in str(
        await wang.locator(".review .approval-progress").text_content())
    await shot(wang, "journey-02-author-cannot-approve")

    # An agent is watching before it goes out.
    agent = await sign_in(browser, demo, agents[0])
    assert agent.url.endswith("/ticker")
    await agent.locator(".lt-track .lt-item").first.wait_for()  # the demo's welcome notice
    await agent.evaluate(WATCH, [sid, edited])

    # 2. The service manager and the other PR manager approve from the queue.
    li = await sign_in(browser, demo, service)
    await li.goto(f"{demo.url}/#/approvals")
    card = li.locator(f".review[data-script-id='{sid}']")
    await card.locator(".approve").click()
    assert await toast(li) == "已记录您的批准，还需 pr 团队 1 人"
    zhou = await sign_in(browser, demo, second_pr)
    await zhou.goto(f"{demo.url}/#/approvals")
    card = zhou.locator(f".review[data-script-id='{sid}']")
    await card.locator(".approve").click()
    assert await toast(zhou) == "已批准：审批已齐，现在可以发布"

    # 3. Publish; the agent's ticker shows exactly the edited text within a second of the click.
    await zhou.goto(f"{demo.url}/#/scripts/{sid}")
    publish = zhou.locator("button.publish")
    await publish.wait_for()
    await shot(zhou, "journey-03-approved-ready-to-publish")
    await publish.evaluate("b => b.addEventListener('click', () => { window.__clicked = Date.now(); }, "
                           "{ capture: true })")
    await publish.click()
    await agent.wait_for_function("() => window.__seen !== null", timeout=10_000)
    clicked = await zhou.evaluate("() => window.__clicked")
    seen = await agent.evaluate("() => window.__seen")
    print(f"publish_to_screen_ms={seen - clicked}")
    assert 0 <= seen - clicked < PUBLISH_TO_SCREEN_MS, seen - clicked
    assert await toast(zhou) == "v2 已发布到坐席走马灯"
    item = agent.locator(f".lt-item[data-id='{sid}']")
    assert await item.locator(".lt-body").text_content() == edited
    await shot(agent, "journey-04-agent-ticker-shows-the-edit")

    # 4. The agent acknowledges it.
    await agent.locator(".lt-pause").press("Space")
    await item.click()
    await agent.locator(".lt-detail .lt-ack").click()
    await agent.locator(".lt-detail .lt-ack:disabled").wait_for()
    await shot(agent, "journey-05-agent-acknowledged")

    # 5. Coverage names who displayed and acknowledged it, by display name.
    display = demo.accounts[agents[0]]["display"]
    row = zhou.locator(".coverage-people tbody tr", has_text=display)
    deadline = time.monotonic() + 15
    while True:
        await zhou.reload()
        await zhou.locator(".coverage").wait_for()
        if await row.count() and "—" not in str(await row.locator("td").nth(3).text_content()):
            break
        assert time.monotonic() < deadline, "the acknowledgement never reached the coverage view"
        await asyncio.sleep(0.5)
    cells = await row.locator("td").all_text_contents()
    assert cells[0] == display and cells[1] == "hotline" and "—" not in cells[2] + cells[3], cells
    assert agents[0] not in str(await zhou.locator(".coverage").text_content())  # no login names
    await shot(zhou, "journey-06-coverage-names-the-agent")

    # 6. On-call acknowledges the incident from their inbox, with a comment everyone sees.
    oncall = await sign_in(browser, demo, names["oncall:ops"])
    await oncall.goto(f"{demo.url}/#/inbox")
    alert = oncall.locator("article.inbox-item", has=oncall.locator(f"a[href='#/incidents/{draft['incident_id']}']"))
    await alert.locator("form.inbox-ack input[name=comment]").fill("我来跟进，口径已发布")
    await shot(oncall, "journey-07-oncall-inbox")
    await alert.locator("form.inbox-ack button[type=submit]").click()
    assert await toast(oncall) == "已确认，升级已停止"
    note = alert.locator(".ack-note")
    await note.wait_for()
    assert "我来跟进，口径已发布" in str(await note.text_content())
    assert f"已由 {demo.accounts[names['oncall:ops']]['display']} 确认" in str(await note.text_content())
    await shot(oncall, "journey-08-oncall-acknowledged")

    # 7. An agent who signs in later sees the active script.
    later = await sign_in(browser, demo, agents[1])
    late_item = later.locator(f".lt-item[data-id='{sid}'] .lt-body")
    await late_item.wait_for()
    assert await late_item.text_content() == edited
    await shot(later, "journey-09-later-login-sees-it")
    for page in (wang, agent, li, zhou, oncall, later):
        assert page.errors == [], page.errors
