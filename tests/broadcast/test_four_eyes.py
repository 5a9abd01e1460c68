"""Four-eyes over the HTTP API (#12): no single person takes a script from draft to published.

The people who count as a version's authors are whoever wrote it (a person's edit makes a new version)
and everyone who submitted it.  Every path to publish is tried by one person alone: a fresh draft, a
plan-drafted one, a rejected and resubmitted one, the edit of an approved version, the edit of a live
one (re-publishing) and a new version after a retraction.  Real server on 127.0.0.1, SQLite in tmp_path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from broadcast.errors import ApprovalError
from tests.conftest import Account, add_account
from tests.web.api.test_scripts import BODY, Env, make_env

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
async def env(tmp_path: Any) -> AsyncIterator[Env]:
    async for value in make_env(tmp_path, broadcast__approvals_critical=["pr", "service"]):
        yield value


async def plan_draft(env: Env, priority: str = "critical") -> int:
    return await env.services.scripts.draft_for_plan(incident_id=5, title="预案口径", body=BODY, priority=priority,
                                                     author="预案:食品安全")


async def alone_cannot_publish(env: Env, who: Account, sid: int) -> None:
    """``who`` submits the current draft and then cannot approve or publish it."""
    script = await env.call("GET", f"/api/scripts/{sid}", who)
    assert script["state"] == "draft", script
    await env.call("POST", f"/api/scripts/{sid}/submit", who, json={"version": script["version"]})
    refused = await env.call("POST", f"/api/scripts/{sid}/approve", who, 403, json={"version": script["version"]})
    assert refused["error"] == "self_approval", refused
    assert "四眼原则" in refused["message_zh"] and "four-eyes" in refused["message_en"]
    await env.call("POST", f"/api/scripts/{sid}/publish", who, 409, json={"version": script["version"]})
    assert (await env.call("GET", f"/api/scripts/{sid}", who))["state"] == "in_review"


async def approve_by_others(env: Env, sid: int, version: int) -> dict[str, Any]:
    """zhao (pr) and li (service) approve: the two team slots of a critical script."""
    await env.call("POST", f"/api/scripts/{sid}/approve", env.zhao, json={"version": version})
    await env.call("POST", f"/api/scripts/{sid}/approve", env.li, json={"version": version})
    return await env.call("POST", f"/api/scripts/{sid}/publish", env.li, json={"version": version})


async def test_plan_drafted_script_cannot_be_submitted_approved_and_published_by_one_manager(env: Env) -> None:
    sid = await plan_draft(env)
    await alone_cannot_publish(env, env.wang, sid)
    published = await approve_by_others(env, sid, 1)
    assert published["state"] == "published" and published["author"] == "预案:食品安全"
    audit = await env.call("GET", f"/api/scripts/{sid}/audit", env.wang)
    assert [e["actor"] for e in audit["entries"] if e["action"] in ("submit", "approve_partial", "approve")] == [
        "wang", "zhao", "li"]


async def test_submitter_of_a_plan_draft_counts_even_when_another_edits_nothing(env: Env) -> None:
    """The scenario of the report: one manager submits the plan's text unchanged and approves it alone."""
    sid = await plan_draft(env, priority="normal")
    await env.call("POST", f"/api/scripts/{sid}/submit", env.wang, json={"version": 1})
    await env.call("POST", f"/api/scripts/{sid}/approve", env.wang, 403, json={"version": 1})
    done = await env.call("POST", f"/api/scripts/{sid}/approve", env.li, json={"version": 1})
    assert done["state"] == "approved"


async def test_editor_of_a_plan_draft_is_the_author_of_the_new_version(env: Env) -> None:
    sid = await plan_draft(env)
    edited = await env.call("PUT", f"/api/scripts/{sid}", env.wang, json={"body": BODY + "（王经理修改）"})
    assert edited["version"] == 2 and edited["author"] == "wang"
    # li submits wang's edit: both are authors now, neither may approve.
    await env.call("POST", f"/api/scripts/{sid}/submit", env.li, json={"version": 2})
    for who in (env.wang, env.li):
        await env.call("POST", f"/api/scripts/{sid}/approve", who, 403, json={"version": 2})
    script = await env.call("GET", f"/api/scripts/{sid}", env.zhao)
    assert [a["name"] for a in script["authors"]] == ["wang", "li"]
    assert script["approval"]["missing"] == ["pr", "service"] and script["approval"]["can_approve"] is True
    await env.call("POST", f"/api/scripts/{sid}/approve", env.zhao, json={"version": 2})
    # The service slot is open, but li (service) submitted it: someone else from service must approve.
    again = await env.call("GET", f"/api/scripts/{sid}", env.li)
    assert again["approval"]["missing"] == ["service"] and again["approval"]["can_approve"] is False
    assert again["approval"]["reason_code"] == "self_approval"
    sun = await add_account(env.services, "sun", "manager", "service")
    await env.call("POST", f"/api/scripts/{sid}/approve", sun, json={"version": 2})
    assert (await env.call("POST", f"/api/scripts/{sid}/publish", env.wang))["body"] == BODY + "（王经理修改）"


async def test_rejected_and_resubmitted_version_keeps_every_submitter_as_author(env: Env) -> None:
    sid = await plan_draft(env, priority="high")
    await env.call("POST", f"/api/scripts/{sid}/submit", env.wang, json={"version": 1})
    await env.call("POST", f"/api/scripts/{sid}/reject", env.li, json={"version": 1, "comment": "再看看"})
    await env.call("POST", f"/api/scripts/{sid}/submit", env.li, json={"version": 1})
    for who in (env.wang, env.li):
        await env.call("POST", f"/api/scripts/{sid}/approve", who, 403, json={"version": 1})
    assert (await env.call("POST", f"/api/scripts/{sid}/approve", env.zhao, json={"version": 1}))["state"] == "approved"


async def test_no_path_lets_one_person_publish(env: Env) -> None:
    """Edit of an approved version, edit of a live one, a new version after retraction, an admin alone."""
    root = await add_account(env.services, "root", "admin", "ops")
    for who in (env.wang, root):
        created = await env.call("POST", "/api/scripts", who, 201, json={"title": "口径", "body": BODY,
                                                                          "priority": "critical"})
        await alone_cannot_publish(env, who, created["id"])
    sid = (await env.live(title="在播口径", priority="normal"))["id"]  # v1 live: wang wrote it, li approved it
    # li edits the live version and tries to re-publish the edit alone.
    await env.call("PUT", f"/api/scripts/{sid}", env.li, json={"body": BODY + "（更新）"})
    await alone_cannot_publish(env, env.li, sid)
    await env.call("POST", f"/api/scripts/{sid}/approve", env.wang, json={"version": 2})
    # li edits the approved v2 (approval starts over), alone again.
    await env.call("PUT", f"/api/scripts/{sid}", env.li, json={"body": BODY + "（再更新）"})
    await alone_cannot_publish(env, env.li, sid)
    # Retract everything; a new version after the retraction needs approval again.
    await env.call("POST", f"/api/scripts/{sid}/retract", env.li, json={"reason": "撤回"})
    revived = await env.call("PUT", f"/api/scripts/{sid}", env.li, json={"body": BODY + "（重新发布）"})
    assert revived["version"] == 4 and revived["state"] == "draft"
    await alone_cannot_publish(env, env.li, sid)
    await env.call("POST", f"/api/scripts/{sid}/approve", env.wang, json={"version": 4})
    assert (await env.call("POST", f"/api/scripts/{sid}/publish", env.li))["body"] == BODY + "（重新发布）"


async def test_a_plan_cannot_submit_or_approve(env: Env) -> None:
    sid = await plan_draft(env)
    with pytest.raises(ApprovalError):
        await env.services.scripts.submit(sid, "预案:食品安全")
    with pytest.raises(ApprovalError):
        await env.services.scripts.submit(sid, env.agent.user)


async def test_submit_refuses_a_stale_version_or_text_the_client_did_not_save(env: Env) -> None:
    sid = await plan_draft(env)
    original = await env.call("GET", f"/api/scripts/{sid}", env.wang)
    edited = await env.call("PUT", f"/api/scripts/{sid}", env.wang, json={"body": "改过的正文"})
    # What the broken editor did: submit v1 while the screen shows the edit.
    stale = await env.call("POST", f"/api/scripts/{sid}/submit", env.wang, 409, json={"version": 1})
    assert stale["error"] == "stale_version" and "请刷新" in stale["message_zh"]
    wrong = await env.call("POST", f"/api/scripts/{sid}/submit", env.wang, 409,
                           json={"version": 2, "content_hash": original["content_hash"]})
    assert wrong["error"] == "stale_version" and "请先保存修改" in wrong["message_zh"]
    bad = await env.call("POST", f"/api/scripts/{sid}/submit", env.wang, 400, json={"version": 2, "content_hash": 5})
    assert "content_hash" in bad["message_en"]
    assert (await env.call("GET", f"/api/scripts/{sid}", env.wang))["state"] == "draft"  # nothing was submitted
    done = await env.call("POST", f"/api/scripts/{sid}/submit", env.wang,
                          json={"version": 2, "content_hash": edited["content_hash"]})
    assert done["state"] == "in_review" and done["body"] == "改过的正文"


async def test_script_view_says_what_is_missing_with_display_names(env: Env) -> None:
    def rename(db: Any) -> None:
        db.execute("update users set display_name = '王经理' where name = 'wang'")
        db.execute("update users set display_name = '赵经理' where name = 'zhao'")

    await env.services.db.write(rename)
    sid = await plan_draft(env)
    await env.call("POST", f"/api/scripts/{sid}/submit", env.wang, json={"version": 1})
    mine = await env.call("GET", f"/api/scripts/{sid}", env.wang)
    assert mine["authors"] == [{"id": env.wang.user.id, "name": "wang", "display_name": "王经理"}]
    assert mine["approval"]["required"] == ["pr", "service"] and mine["approval"]["missing"] == ["pr", "service"]
    assert mine["approval"]["can_approve"] is False and "四眼原则" in mine["approval"]["reason_zh"]
    await env.call("POST", f"/api/scripts/{sid}/approve", env.zhao, json={"version": 1, "comment": "同意"})
    other_pr = await env.call("GET", f"/api/scripts/{sid}", env.zhao)
    assert other_pr["approval"]["missing"] == ["service"] and other_pr["approval"]["approved"] == 1
    assert other_pr["approval"]["can_approve"] is False and other_pr["approval"]["reason_zh"] == "您已审批过此版本"
    assert other_pr["approvals"][0]["approver_display_name"] == "赵经理"
    service = await env.call("GET", f"/api/scripts/{sid}", env.li)
    assert service["approval"]["can_approve"] is True and service["approval"]["reason"] == ""
