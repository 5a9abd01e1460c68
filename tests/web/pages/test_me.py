"""Browser test: every console user (manager, on-call, admin) edits their own alert contacts from the header."""

from __future__ import annotations

import time
from typing import Any

import pytest

from monitor.alerting import contacts
from tests.web.pages.test_ticker import CHROMIUM, Site, browser, console_site, password, shot, sign_in
from web.auth import users

__all__ = ["browser", "console_site"]  # fixtures used below

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")]


async def save(page: Any, name: str, form: Any) -> int:
    async with page.expect_response(lambda r: r.url.endswith(f"/api/users/{name}/contacts")
                                    and r.request.method == "PUT") as put:
        await form.locator("button[type=submit]").click()
    return int((await put.value).status)


async def test_a_manager_edits_own_contacts_from_the_header(console_site: Site, browser: Any) -> None:
    site = console_site
    page = await sign_in(browser, site, "alice")
    link = page.locator(".who a[href='#/me']")
    assert (await link.text_content()) == "我的联系方式"
    await link.click()
    form = page.locator(".view-me form.contacts-form")
    await form.wait_for()
    assert await page.locator("[data-nav=me].active").count() == 1
    await form.locator("input[name=email]").fill("alice@example.com")
    await form.locator("input[name=feishu_id]").fill("ou_7d8a6e6df7621556ce0d21922b676706")
    await form.locator("input[name=prefer]").fill("feishu，email")
    assert await save(page, "alice", form) == 200
    saved = await site.services.db.read(lambda db: contacts.get(db, "alice"))
    assert (saved.email, saved.feishu_id, saved.prefer) == (
        "alice@example.com", "ou_7d8a6e6df7621556ce0d21922b676706", ("feishu", "email"))

    await form.locator("input[name=email]").fill("alice@localhost")  # the browser accepts it, the server does not
    assert await save(page, "alice", form) == 400
    error = form.locator(".form-error")
    await page.wait_for_function("el => el.textContent.includes('邮箱')", arg=await error.element_handle())
    assert (await site.services.db.read(lambda db: contacts.get(db, "alice"))).email == "alice@example.com"
    await shot(page, "14-console-my-contacts")
    assert page.dialogs == []


async def test_on_call_in_english_and_an_admin_reach_their_own_contacts(console_site: Site, browser: Any) -> None:
    site = console_site
    await site.services.db.write(lambda db: users.add_user(db, "duty", "oncall", password("duty"), team="ops",
                                                           now=time.time()))
    duty = await sign_in(browser, site, "duty")
    await duty.goto(site.url("/?lang=en#/routing"))
    link = duty.locator(".who a[href='#/me']")
    assert (await link.text_content()) == "My contacts"
    await link.click()
    form = duty.locator(".view-me form.contacts-form")
    await form.wait_for()
    await form.locator("input[name=mobile]").fill("12345")
    assert await save(duty, "duty", form) == 400
    error = form.locator(".form-error")
    await duty.wait_for_function("el => /mobile/i.test(el.textContent)", arg=await error.element_handle())
    await form.locator("input[name=mobile]").fill("+86 139 0000 2222")
    assert await save(duty, "duty", form) == 200
    await duty.wait_for_function("el => el.value === '13900002222'",
                                 arg=await form.locator("input[name=mobile]").element_handle())
    assert (await site.services.db.read(lambda db: contacts.get(db, "duty"))).mobile == "13900002222"

    root = await sign_in(browser, site, "root")
    await root.goto(site.url("/#/me"))
    form = root.locator(".view-me form.contacts-form")
    await form.wait_for()
    await form.locator("input[name=dingtalk_id]").fill("root-ding")
    assert await save(root, "root", form) == 200
    assert (await site.services.db.read(lambda db: contacts.get(db, "root"))).dingtalk_id == "root-ding"
    assert (await site.services.db.read(lambda db: contacts.get(db, "duty"))).dingtalk_id == ""  # only their own
