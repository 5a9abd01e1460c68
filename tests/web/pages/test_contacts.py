"""Browser test: an admin edits a person's alert contacts on the users page; the server's reason shows inline."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.alerting import contacts
from tests.web.pages.test_ticker import CHROMIUM, Site, browser, console_site, shot, sign_in

__all__ = ["browser", "console_site"]  # fixtures used below

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")]


async def test_admin_edits_contacts_with_inline_errors(console_site: Site, browser: Any) -> None:
    site = console_site
    admin = await sign_in(browser, site, "root")
    await admin.goto(site.url("/#/users"))
    row = admin.locator("tr", has_text="alice")
    await row.locator("button", has_text="联系方式").click()
    form = admin.locator("form.contacts-form")
    await form.wait_for()
    await form.locator("input[name=email]").fill("alice@example.com")
    await form.locator("input[name=mobile]").fill("+86 139 0000 1111")
    await form.locator("input[name=prefer]").fill("dingtalk, email")
    async with admin.expect_response(lambda r: r.url.endswith("/api/users/alice/contacts")
                                     and r.request.method == "PUT") as put:
        await form.locator("button[type=submit]").click()
    assert (await put.value).status == 200
    await admin.wait_for_function("el => el.value === '13900001111'",
                                  arg=await form.locator("input[name=mobile]").element_handle())
    saved = await site.services.db.read(lambda db: contacts.get(db, "alice"))
    assert (saved.email, saved.mobile, saved.prefer) == ("alice@example.com", "13900001111", ("dingtalk", "email"))

    await form.locator("input[name=mobile]").fill("12345")
    async with admin.expect_response(lambda r: r.url.endswith("/api/users/alice/contacts")
                                     and r.request.method == "PUT") as put:
        await form.locator("button[type=submit]").click()
    assert (await put.value).status == 400
    error = form.locator(".form-error")
    await admin.wait_for_function("el => el.textContent.includes('手机号无效')", arg=await error.element_handle())
    assert (await site.services.db.read(lambda db: contacts.get(db, "alice"))).mobile == "13900001111"  # kept
    await shot(admin, "12-console-contacts")
    assert admin.dialogs == []
