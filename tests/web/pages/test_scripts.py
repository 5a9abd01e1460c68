"""Browser tests of the script editor and the approval card (#12), in headless Chromium on a real server.

- Editing a plan-drafted script and pressing 提交审批 saves the edit as a new version first and submits
  exactly that version; the toast says so (the old editor submitted v1 and said 已保存).
- The page says how many approvals are missing and from which team; the author's 批准 button is
  disabled with the reason; the other managers approve; labels are Chinese, English via ``?lang=en``.
- Publishing with unsaved edits in the form is refused instead of publishing the older approved text.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from broadcast.service import ScriptService
from tests.support_browser import BROWSER_MARKS, browser, shot, toast
from web.app import create_app
from web.auth import users
from web.compose import Part, Services, build_services
from web.platform.settings import load_settings

__all__ = ["browser"]
pytestmark = [*BROWSER_MARKS, pytest.mark.usefixtures("cheap_password_hashing")]

PEOPLE = {"wang": ("manager", "pr", "王经理"), "zhou": ("manager", "pr", "周经理"),
          "li": ("manager", "service", "李经理")}
PLAN_BODY = "您好，感谢您的关注。涉事门店已停业整改。"
EDITED = "您好，非常抱歉。涉事门店已停业整改，如您身体不适请提供订单信息，我们全程负责。"


@dataclass
class Site:
    services: Services
    server: TestServer

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))


def drafts(site: Site) -> ScriptService:
    """The site's script service (contingency-plan drafts are made through it)."""
    assert site.services.scripts is not None
    return site.services.scripts


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"),
                                                    broadcast__approvals_critical=["pr", "service"])
    services = await build_services(settings, parts={Part.BROADCAST})
    now = time.time()

    def seed(db: Any) -> None:
        for name, (role, team, display) in PEOPLE.items():
            users.add_user(db, name, role, f"pw-{name}-browser", team=team, display_name=display, now=now)

    await services.db.write(seed)
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        yield Site(services, server)
    finally:
        await server.close()
        services.db.close()


async def sign_in(browser: Any, site: Site, name: str, lang: str = "") -> Any:
    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    await page.goto(site.url("/login" + (f"?lang={lang}" if lang else "")))
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", f"pw-{name}-browser")
    await page.click("button[type=submit]")
    await page.wait_for_load_state("networkidle")
    return page


async def open_script(page: Any, site: Site, sid: int) -> None:
    url = site.url(f"/#/scripts/{sid}")
    await (page.reload() if page.url == url else page.goto(url))  # a hash-only goto would not re-render
    await page.locator("form.editor textarea[name=body]").wait_for()
    await page.wait_for_load_state("networkidle")


async def test_edit_then_submit_sends_the_edit_and_the_author_cannot_approve(site: Site, browser: Any) -> None:
    sid = await drafts(site).draft_for_plan(incident_id=9, title="食品安全事件统一口径", body=PLAN_BODY,
                                            priority="critical", author="预案:食品安全")
    wang = await sign_in(browser, site, "wang")
    await open_script(wang, site, sid)
    assert "提交后还需 2 个审批" in str(await wang.locator(".approval-progress").text_content())
    await wang.fill("textarea[name=body]", EDITED)
    await wang.locator("button.submit").click()
    assert await toast(wang) == "修改已保存为 v2，并已提交审批"
    script = site.services.scripts
    stored = await script.get(sid)
    assert (stored["version"], stored["state"], stored["body"]) == (2, "in_review", EDITED)
    assert [v["state"] for v in stored["versions"]] == ["in_review", "superseded"]

    # The author sees what is missing and a disabled 批准 with the reason.
    await wang.locator(".review .approve").wait_for()
    progress = str(await wang.locator(".review .approval-progress").text_content())
    assert progress == "已批准 0/2 · 还需 2 个审批：pr 团队 1 人、service 团队 1 人", progress
    assert await wang.locator(".review .approve").is_disabled()
    reason = str(await wang.locator(".review .approve-reason").text_content())
    assert "四眼原则" in reason and await wang.get_attribute(".review .approve", "title") == reason
    assert "王经理" in str(await wang.locator(".review .approval-authors").text_content())
    await shot(wang, "scripts-01-author-submitted-cannot-approve")

    # zhou (pr) approves from the queue: one slot left, the toast names it.
    zhou = await sign_in(browser, site, "zhou")
    await zhou.goto(site.url("/#/approvals"))
    card = zhou.locator(f".review[data-script-id='{sid}']")
    await card.locator(".approve").wait_for()
    assert not await card.locator(".approve").is_disabled()
    assert "非常抱歉" in "".join(await card.locator(".diff-body ins").all_text_contents())  # the edit under review
    await card.locator(".approve").click()
    assert await toast(zhou) == "已记录您的批准，还需 service 团队 1 人"
    await zhou.goto(site.url(f"/#/scripts/{sid}"))
    await zhou.locator(".review .approve-reason").wait_for()
    assert await zhou.locator(".review .approve-reason").text_content() == "您已审批过此版本"
    assert "周经理（pr）批准" in str(await zhou.locator(".review .approvals").text_content())

    # li (service) reads the same page in English, approves and publishes.
    li = await sign_in(browser, site, "li", lang="en")
    await open_script(li, site, sid)
    progress_en = str(await li.locator(".review .approval-progress").text_content())
    assert progress_en == "Approved 1/2 · 1 more approval(s) needed: 1 from team service", progress_en
    assert await li.locator(".review .approve").text_content() == "Approve"
    await shot(li, "scripts-02-second-approver-english")
    await li.locator(".review .approve").click()
    assert await toast(li) == "Approved: all approvals are in, it can be published now"
    await li.locator("button.publish").click()
    assert await toast(li) == "v2 is live on the agents' tickers"
    assert [i["body"] for i in await script.active_items()] == [EDITED]
    assert wang.errors == zhou.errors == li.errors == []


async def test_unchanged_submit_and_publish_with_unsaved_edits(site: Site, browser: Any) -> None:
    sid = int((await drafts(site).create_draft("预案:服务", "普通口径", PLAN_BODY, "normal"))["id"])
    wang = await sign_in(browser, site, "wang")
    await open_script(wang, site, sid)
    await wang.locator("button.save").click()
    assert await toast(wang) == "没有修改：v1 保持不变"
    await wang.locator("button.submit").click()
    assert await toast(wang) == "v1 已提交审批"
    assert (await site.services.scripts.get(sid))["state"] == "in_review"
    await site.services.scripts.approve(sid, 1, await site.services.db.read(lambda db: users.find_user(db, "li")))

    await open_script(wang, site, sid)
    await wang.fill("textarea[name=body]", EDITED)  # an edit typed after the approval, not saved
    await wang.locator("button.publish").click()
    assert "未保存的修改，未发布" in await toast(wang)
    assert await site.services.scripts.active_items() == []
    await shot(wang, "scripts-03-publish-refused-unsaved")


async def test_an_edit_saved_but_refused_for_review_says_both_and_shows_the_saved_version(site: Site,
                                                                                       browser: Any) -> None:
    """A plan's 【请改写…】 note left in the body: the edit is saved, the submission refused, and the page says so."""
    view = await drafts(site).create_draft("预案:服务", "口径", "您好，关于【请改写：事件标题】，我们已核查。",
                                           "normal")
    sid = int(view["id"])
    wang = await sign_in(browser, site, "wang")
    await open_script(wang, site, sid)
    await wang.fill("input[name=title]", "门店口径")  # the title edited, the note left in the body
    await wang.locator("button.submit").click()
    said = await toast(wang)
    assert said.startswith("修改已保存为 v2，但未能提交审批：") and "请改写" in said, said
    stored = await site.services.scripts.get(sid)
    assert (stored["version"], stored["state"], stored["title"]) == (2, "draft", "门店口径")
    await wang.locator("h1", has_text="门店口径").wait_for()  # the page shows the saved version
    await wang.locator("button.submit").click()  # unchanged now: no third version
    assert "请改写" in await toast(wang)
    assert (await site.services.scripts.get(sid))["version"] == 2
