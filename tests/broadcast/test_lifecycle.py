"""The script lifecycle state machine and the four-eyes rule: pure, no event loop."""

from __future__ import annotations

import pytest

from broadcast.errors import ApprovalError, IllegalTransition, InvalidScript, SelfApproval
from broadcast.lifecycle import (
    Action,
    ApprovalPolicy,
    Approver,
    State,
    approval_status,
    check_approval,
    missing_slots,
    transition,
)
from broadcast.model import Audience, Viewer, validate

A = Approver(1, "wang", "manager", "pr")
B = Approver(2, "li", "manager", "service")
C = Approver(3, "zhao", "manager", "pr")
AGENT = Approver(4, "zhang", "agent", "hotline")


def test_happy_path() -> None:
    state = State.DRAFT
    for action in (Action.SUBMIT, Action.APPROVE, Action.PUBLISH, Action.RETRACT):
        state = transition(state, action)
    assert state is State.RETRACTED


@pytest.mark.parametrize(("state", "action"), [
    (State.DRAFT, Action.PUBLISH),
    (State.DRAFT, Action.APPROVE),
    (State.IN_REVIEW, Action.PUBLISH),
    (State.PUBLISHED, Action.APPROVE),
    (State.RETRACTED, Action.PUBLISH),
    (State.EXPIRED, Action.RETRACT),
    (State.SUPERSEDED, Action.SUBMIT),
    (State.PUBLISHED, Action.SUBMIT),
])
def test_illegal_moves_are_refused(state: State, action: Action) -> None:
    with pytest.raises(IllegalTransition) as info:
        transition(state, action)
    assert info.value.message_zh and info.value.message


def test_reject_returns_to_draft_and_expiry_ends_published() -> None:
    assert transition(State.IN_REVIEW, Action.REJECT) is State.DRAFT
    assert transition(State.PUBLISHED, Action.EXPIRE) is State.EXPIRED
    assert transition(State.PUBLISHED, Action.SUPERSEDE) is State.SUPERSEDED


def test_author_cannot_approve_own_version() -> None:
    with pytest.raises(SelfApproval):
        check_approval(ApprovalPolicy.default(), "normal", {A.id}, [], A)


def test_agents_cannot_approve_and_nobody_twice() -> None:
    policy = ApprovalPolicy.default()
    with pytest.raises(ApprovalError):
        check_approval(policy, "normal", {A.id}, [], AGENT)
    with pytest.raises(ApprovalError):
        check_approval(policy, "critical", {A.id}, [B], B)


def test_default_needs_one_for_normal_two_for_critical() -> None:
    policy = ApprovalPolicy.default()
    assert check_approval(policy, "normal", {A.id}, [], B) is True
    assert check_approval(policy, "critical", {A.id}, [], B) is False
    assert check_approval(policy, "critical", {A.id}, [B], C) is True


def test_team_slots_for_critical() -> None:
    policy = ApprovalPolicy({"critical": ("pr", "service")})
    assert check_approval(policy, "critical", {99}, [], A) is False  # pr slot
    with pytest.raises(ApprovalError) as info:
        check_approval(policy, "critical", {99}, [A], C)  # a second pr approver fills nothing
    assert "service" in info.value.message
    assert check_approval(policy, "critical", {99}, [A], B) is True


def test_plan_drafted_version_is_approved_by_anyone_but_its_submitter() -> None:
    assert check_approval(ApprovalPolicy.default(), "high", {B.id}, [], A) is True  # plan wrote it, B submitted
    with pytest.raises(SelfApproval) as info:
        check_approval(ApprovalPolicy.default(), "high", {A.id}, [], A)
    assert "提交" in info.value.message_zh and "submitted" in info.value.message


def test_a_non_person_never_approves() -> None:
    with pytest.raises(ApprovalError):
        check_approval(ApprovalPolicy.default(), "normal", set(), [], Approver(None, "预案:x", "manager"))


def test_missing_slots_name_the_teams_still_needed() -> None:
    required = ("pr", "service")
    assert missing_slots(required, []) == ["pr", "service"]
    assert missing_slots(required, [B]) == ["pr"]
    assert missing_slots(required, [B, C]) == []
    assert missing_slots(("*", "*"), [A]) == ["*"]
    assert missing_slots(("*", "pr"), [B]) == ["pr"]  # the any-team slot went to the service approver


def test_approval_status_says_what_is_missing_and_why_a_viewer_cannot_approve() -> None:
    policy = ApprovalPolicy({"critical": ("pr", "service")})
    status = approval_status(policy, "critical", "in_review", {A.id}, [])
    assert status["missing"] == ["pr", "service"] and status["can_approve"] is None
    mine = approval_status(policy, "critical", "in_review", {A.id}, [], A)
    assert mine["can_approve"] is False and mine["reason_code"] == "self_approval" and "四眼" in mine["reason_zh"]
    other_pr = approval_status(policy, "critical", "in_review", {A.id}, [C], Approver(5, "sun", "manager", "pr"))
    assert other_pr["can_approve"] is False and "service" in other_pr["reason"] and other_pr["missing"] == ["service"]
    assert approval_status(policy, "critical", "in_review", {A.id}, [C], B)["can_approve"] is True
    draft = approval_status(policy, "critical", "draft", set(), [], B)
    assert draft["can_approve"] is False and draft["reason_code"] == "illegal_transition"
    assert approval_status(policy, "critical", "published", {A.id}, [B, C], B)["missing"] == []


def test_validation_messages() -> None:
    with pytest.raises(InvalidScript, match="title"):
        validate("", "body", now=0)
    with pytest.raises(InvalidScript, match="priority"):
        validate("t", "b", "urgent", now=0)
    with pytest.raises(InvalidScript, match="past"):
        validate("t", "b", expires_at=5, now=10)
    with pytest.raises(InvalidScript, match="audience"):
        validate("t", "b", audience={"queues": ["x"]}, now=0)
    draft = validate(" t ", "b\r\nc", "critical", {"teams": ["hotline"]}, 7, 100, now=0)
    assert (draft.title, draft.body, draft.incident_id) == ("t", "b\nc", 7)
    assert draft.content_hash() != validate("t", "b\nc", "critical", None, 7, 100, now=0).content_hash()


def test_audience_matching() -> None:
    audience = Audience.parse({"teams": ["hotline"], "sites": ["chengdu"]})
    assert audience.matches(Viewer(1, "agent", "hotline"))
    assert audience.matches(Viewer(2, "agent", "vip", sites=frozenset({"chengdu"})))
    assert not audience.matches(Viewer(3, "agent", "vip"))
    assert audience.matches(Viewer(4, "manager", "pr"))  # supervisors see everything
    assert Audience.parse("everyone").matches(Viewer(5, "agent"))
