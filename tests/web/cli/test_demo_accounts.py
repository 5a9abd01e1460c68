"""``lantern demo`` seeds people enough for every approval rule and prints a walkthrough that names them (#12).

The walk itself, in Chromium on a real demo process, is ``tests/journeys/test_journey_crisis_script.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from broadcast.errors import SelfApproval
from web.auth import users
from web.cli.demo import DEMO_ACCOUNTS, announcement, demo_settings, seed
from web.compose import Part, build_services

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


async def test_demo_people_take_a_critical_plan_draft_through_every_approval_rule(tmp_path: Path) -> None:
    settings = demo_settings(tmp_path, host="127.0.0.1", port=8080, speed=None)
    assert settings["broadcast.approvals_critical"] == ["pr", "service"]
    services = await build_services(settings, parts={Part.BROADCAST})
    try:
        passwords = await seed(services)
        assert set(passwords) == {a.name for a in DEMO_ACCOUNTS}
        people = await services.db.read(lambda db: {a.name: users.find_user(db, a.name) for a in DEMO_ACCOUNTS})
        assert {u.role for u in people.values() if u} == {"manager", "agent", "oncall", "admin"}
        scripts = services.scripts
        assert scripts is not None
        welcome = (await scripts.active_items())[0]
        assert welcome["state"] == "published"

        sid = await scripts.draft_for_plan(incident_id=1, title="食品安全事件统一口径", body="正文",
                                           priority="critical", author="预案:食品安全")
        await scripts.edit(sid, people["wang.pr"], body="王经理修改后的正文")
        await scripts.submit(sid, people["wang.pr"], 2)
        with pytest.raises(SelfApproval):
            await scripts.approve(sid, 2, people["wang.pr"])
        await scripts.approve(sid, 2, people["li.service"])
        approved = await scripts.approve(sid, 2, people["zhou.pr"])
        assert approved["state"] == "approved"
        published = await scripts.publish(sid, people["zhou.pr"])
        assert published["body"] == "王经理修改后的正文"
    finally:
        services.db.close()


def test_announcement_lists_every_account_and_walks_each_role_in_both_languages() -> None:
    passwords = {a.name: f"demo-{i:08x}" for i, a in enumerate(DEMO_ACCOUNTS)}
    text = announcement("http://127.0.0.1:8080", passwords)
    for account in DEMO_ACCOUNTS:
        line = next(line for line in text.splitlines() if line.strip().startswith(account.name + " "))
        assert passwords[account.name] in line and account.role in line and account.display_name in line
    steps = [line for line in text.splitlines() if re.match(r"\s+\d+\. ", line)]
    assert len(steps) >= 7
    named = set(re.findall(r"\b([a-z]+\.[a-z]+|admin)\b", text))
    assert {a.name for a in DEMO_ACCOUNTS} <= named  # each role's walk names its account
    assert "提交审批" in text and "Submit for approval" in text and "http://127.0.0.1:8080/login" in text
    assert re.search(r"[\u4e00-\u9fff]", text) and "Sign in as" in text
