"""Browser test: the admin users screen, and what its actions do to an agent's open ticker at once.

An admin moves an agent to another team (the agent's ticker reconnects into the new audience), gives
the agent an API token (shown once, through the push-token dialog) and revokes it, deactivates the
agent (the open ticker says 已退出 and goes to the login page) and reactivates them.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.support_browser import BROWSER_MARKS, browser, shot
from tests.web.pages.test_ticker import Site, api, password, sign_in, site

__all__ = ["browser", "site"]  # fixtures used below
pytestmark = BROWSER_MARKS
SHOWS_ONLY_B = ("() => [...document.querySelectorAll('#lantern-ticker .lt-title')].map(e => e.textContent).join()"
                " === 'B队口径'")


async def publish(site: Site, title: str, team: str) -> None:
    made = await api(site, "alice", "POST", "/api/scripts",
                     {"title": title, "body": f"{title}：您好", "audience": {"teams": [team]}})
    await api(site, "alice", "POST", f"/api/scripts/{made['id']}/submit")
    await api(site, "bob", "POST", f"/api/scripts/{made['id']}/approve")
    await api(site, "alice", "POST", f"/api/scripts/{made['id']}/publish")


async def me_status(site: Site, token: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(site.url("/api/me"),
                                                         headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status


async def test_admin_edits_an_agent_manages_tokens_and_deactivates_with_the_ticker_following(
        site: Site, browser: Any) -> None:
    await publish(site, "A队口径", "queue-a")
    await publish(site, "B队口径", "queue-b")
    agent = await sign_in(browser, site, "agent1")
    await agent.goto(site.url("/ticker"))
    titles = agent.locator("#lantern-ticker .lt-title")
    await agent.wait_for_function("() => document.querySelectorAll('#lantern-ticker .lt-title').length === 1")
    assert await titles.all_text_contents() == ["A队口径"]

    admin = await sign_in(browser, site, "root", permissions=["clipboard-read", "clipboard-write"])
    admin.accept_dialogs = True
    await admin.goto(site.url("/#/users"))
    row = admin.locator("tr", has=admin.locator("[data-user='agent1']"))
    await row.locator("button.edit-user").click()
    form = admin.locator("form.edit-user-form")
    await form.wait_for()
    assert await form.locator("input[name=team]").input_value() == "queue-a"
    await form.locator("input[name=team]").fill("queue-b")
    await form.locator("input[name=skills]").fill("售后，投诉")
    await form.locator("input[name=site]").fill("成都")
    async with admin.expect_response(lambda r: r.request.method == "PATCH") as patched:
        await form.locator("button[type=submit]").click()
    assert (await (await patched.value).json())["user"]["skills"] == ["售后", "投诉"]
    await row.get_by_text("售后, 投诉").wait_for()
    assert "成都" in (await row.text_content() or "")
    # The agent's open ticker reconnected by itself and now shows the new team's script only.
    await agent.wait_for_function(SHOWS_ONLY_B)
    await shot(admin, "13-users-edit")

    # A token: created in the panel, shown once in the push-token dialog, then revoked from the same panel.
    await row.locator("button.tokens").click()
    panel = admin.locator("section.tokens-panel")
    await panel.locator("input[name=label]").fill("CRM 挂件")
    async with admin.expect_response(lambda r: r.url.endswith("/tokens") and r.request.method == "POST") as made:
        await panel.locator("button[type=submit]").click()
    token = (await (await made.value).json())["token"]
    dialog = admin.locator("dialog.token-once")
    await dialog.wait_for()
    assert await dialog.locator("input.token-value").input_value() == token
    assert "agent1" in (await dialog.locator("h2").text_content() or "")
    assert "Authorization: Bearer" in (await dialog.text_content() or "")
    await dialog.locator("button.copy-token").click()
    await dialog.get_by_text("已复制").wait_for()
    assert await admin.evaluate("navigator.clipboard.readText()") == token
    await shot(admin, "14-users-token-once")
    await dialog.locator("button.close-token").click()
    await dialog.wait_for(state="detached")
    assert token not in await admin.content()
    assert await me_status(site, token) == 200
    token_row = panel.locator("tr", has_text="CRM 挂件")
    await token_row.locator("button.revoke-token").click()
    await panel.locator("tr", has_text="CRM 挂件").locator(".token-state.revoked").wait_for()
    assert await me_status(site, token) == 401
    assert any("CRM 挂件" in message for message in admin.dialogs)  # asked before revoking

    # A duplicate name: the server's reason shows under the add form, nothing is lost.
    add = admin.locator("form.add-user")
    await add.locator("input[name=name]").fill("agent1")
    await add.locator("input[name=password]").fill("long-enough-password")
    await add.locator("button[type=submit]").click()
    await add.locator(".form-error", has_text="已存在").wait_for()
    assert await add.locator("input[name=name]").input_value() == "agent1"

    # Deactivation: the agent's open ticker says 已退出 at once and goes to the login page.
    await row.locator("button.deactivate").click()
    status = agent.locator("#lantern-ticker .lt-status")
    await status.get_by_text("已退出").wait_for()
    assert await agent.locator("#lantern-ticker .lt-title").count() == 0  # no script stays on screen
    await shot(agent, "15-ticker-signed-out")
    await agent.wait_for_url("**/login?next=%2Fticker")
    await admin.locator("[data-user='agent1']").wait_for(state="detached")

    # Reactivation, from the list of deactivated users; the agent signs in again with their password.
    await admin.locator("label.show-inactive input").check()
    inactive = admin.locator("tr", has=admin.locator("[data-user='agent1']"))
    await inactive.get_by_text("已停用").wait_for()
    await inactive.locator("button.reactivate").click()
    await admin.locator("tr", has=admin.locator("[data-user='agent1']")).get_by_text("正常").wait_for()
    await agent.fill("input[name=name]", "agent1")
    await agent.fill("input[name=password]", password("agent1"))
    await agent.click("button[type=submit]")
    await agent.wait_for_url("**/ticker")
    await agent.wait_for_function(SHOWS_ONLY_B)
