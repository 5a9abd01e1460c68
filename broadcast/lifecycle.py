"""The script lifecycle as a pure state machine, and the four-eyes approval rule.

Each *version* of a script moves through::

    draft ──submit──▶ in_review ──approve (enough)──▶ approved ──publish──▶ published
      ▲                  │                              │                    │  │
      └─────reject───────┘                              │                retract expire
                                                        │                    ▼  ▼
    draft / in_review / approved ──retract──▶ retracted  └─expire─▶ expired  retracted / expired
    any non-final version ──supersede──▶ superseded   (a newer version was created or published)

Nothing here does I/O or reads the clock: callers pass what happened, the
functions answer with the next state or raise.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .errors import ApprovalError, IllegalTransition, SelfApproval


class State(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    PUBLISHED = "published"
    RETRACTED = "retracted"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"


class Action(StrEnum):
    SUBMIT = "submit"
    APPROVE = "approve"  # the approval that completes the set
    REJECT = "reject"
    PUBLISH = "publish"
    RETRACT = "retract"
    EXPIRE = "expire"
    SUPERSEDE = "supersede"


FINAL = frozenset({State.RETRACTED, State.EXPIRED, State.SUPERSEDED})

_MOVES: dict[tuple[State, Action], State] = {
    (State.DRAFT, Action.SUBMIT): State.IN_REVIEW,
    (State.IN_REVIEW, Action.APPROVE): State.APPROVED,
    (State.IN_REVIEW, Action.REJECT): State.DRAFT,
    (State.APPROVED, Action.PUBLISH): State.PUBLISHED,
    (State.DRAFT, Action.RETRACT): State.RETRACTED,
    (State.IN_REVIEW, Action.RETRACT): State.RETRACTED,
    (State.APPROVED, Action.RETRACT): State.RETRACTED,
    (State.PUBLISHED, Action.RETRACT): State.RETRACTED,
    (State.APPROVED, Action.EXPIRE): State.EXPIRED,
    (State.PUBLISHED, Action.EXPIRE): State.EXPIRED,
    (State.DRAFT, Action.SUPERSEDE): State.SUPERSEDED,
    (State.IN_REVIEW, Action.SUPERSEDE): State.SUPERSEDED,
    (State.APPROVED, Action.SUPERSEDE): State.SUPERSEDED,
    (State.PUBLISHED, Action.SUPERSEDE): State.SUPERSEDED,
}

_ZH = {
    State.DRAFT: "草稿", State.IN_REVIEW: "审核中", State.APPROVED: "已批准", State.PUBLISHED: "已发布",
    State.RETRACTED: "已撤回", State.EXPIRED: "已过期", State.SUPERSEDED: "已被新版本取代",
}
_ACTION_ZH = {
    Action.SUBMIT: "提交审核", Action.APPROVE: "批准", Action.REJECT: "驳回", Action.PUBLISH: "发布",
    Action.RETRACT: "撤回", Action.EXPIRE: "过期", Action.SUPERSEDE: "取代",
}


def transition(state: State, action: Action) -> State:
    """The state after ``action``, or IllegalTransition."""
    try:
        return _MOVES[(state, action)]
    except KeyError:
        raise IllegalTransition(
            f"cannot {action.value} a script version that is {state.value}",
            f"无法对{_ZH[state]}状态的话术执行“{_ACTION_ZH[action]}”",
        ) from None


def allowed_actions(state: State) -> list[str]:
    return [action.value for (st, action) in _MOVES if st is state]


ANY_TEAM = "*"
APPROVER_ROLES = frozenset({"manager", "admin"})


@dataclass(frozen=True)
class Approver:
    """Who approves: a user id (None for a non-person author such as a plan), role and team."""

    id: int | None
    name: str
    role: str
    team: str = ""


@dataclass(frozen=True)
class ApprovalPolicy:
    """Approvals each priority needs: one slot per approver, a slot names a team or ``*`` (anyone).

    ``critical=("pr", "service")`` means one approver from team pr and another
    from team service.  Approvers are managers or admins, never the author,
    never twice on one version.
    """

    slots: Mapping[str, Sequence[str]]

    @classmethod
    def default(cls) -> ApprovalPolicy:
        return cls({"normal": (ANY_TEAM,), "high": (ANY_TEAM,), "critical": (ANY_TEAM, ANY_TEAM)})

    def required(self, priority: str) -> tuple[str, ...]:
        slots = tuple(self.slots.get(priority) or (ANY_TEAM,))
        return tuple(s or ANY_TEAM for s in slots)


def assign_slots(required: Sequence[str], approvers: Iterable[Approver]) -> list[str | None]:
    """The slot each approver fills (team-specific slots first), None where no slot is left."""
    open_slots = list(required)
    assigned: list[str | None] = []
    for approver in approvers:
        slot: str | None = None
        if approver.team and approver.team in open_slots and approver.team != ANY_TEAM:
            slot = approver.team
        elif ANY_TEAM in open_slots:
            slot = ANY_TEAM
        if slot is not None:
            open_slots.remove(slot)
        assigned.append(slot)
    return assigned


def missing_slots(required: Sequence[str], approvers: Iterable[Approver]) -> list[str]:
    """The slots no approver has filled yet (team names first, ``*`` last), e.g. ``["service", "*"]``."""
    open_slots = list(required)
    for slot in assign_slots(required, approvers):
        if slot is not None:
            open_slots.remove(slot)
    return sorted(open_slots, key=lambda s: (s == ANY_TEAM, s))


def _teams_text(slots: Sequence[str]) -> tuple[str, str]:
    teams = sorted({s for s in slots if s != ANY_TEAM})
    return ", ".join(teams) or "any team", "、".join(teams) or "任意团队"


def check_approval(policy: ApprovalPolicy, priority: str, authors: Collection[int], previous: Sequence[Approver],
                   approver: Approver) -> bool:
    """Validate one more approval; True when it completes the set.  Pure: raises ApprovalError.

    ``authors`` are the people who wrote the version (its creator, or the person whose edit made it) and
    everyone who submitted it: none of them may approve it, so a version drafted by a plan (no person)
    still passes two pairs of eyes - the submitter's and an approver's.
    """
    if approver.role not in APPROVER_ROLES or approver.id is None:
        raise ApprovalError("only managers or admins may approve scripts", "只有主管或管理员可以审批话术")
    if approver.id in authors:
        raise SelfApproval("you wrote, edited or submitted this version, so you cannot approve it (four-eyes rule)",
                           "您撰写、修改或提交了此版本，按四眼原则不能审批")
    if any(p.id == approver.id for p in previous):
        raise ApprovalError("you have already approved this version", "您已审批过此版本")
    required = policy.required(priority)
    slots = assign_slots(required, [*previous, approver])
    if slots[-1] is None:
        en, zh = _teams_text(missing_slots(required, previous))
        raise ApprovalError(
            f"this version still needs an approver from team(s): {en} (you are in team {approver.team or '-'})",
            f"此版本仍需以下团队的审批人：{zh}（您所在团队：{approver.team or '无'}）",
        )
    return len([s for s in slots if s is not None]) >= len(required)


def approval_status(policy: ApprovalPolicy, priority: str, state: str, authors: Collection[int],
                    previous: Sequence[Approver], viewer: Approver | None = None) -> dict[str, Any]:
    """What a version's approval still needs, and whether ``viewer`` may give the next one (and why not).

    ``missing`` lists the open slots (a team name, or ``*`` for any approver); ``can_approve`` is None
    without a viewer, else True or False with ``reason``/``reason_zh`` saying why not.
    """
    required = policy.required(priority)
    missing = missing_slots(required, previous) if state in (State.DRAFT, State.IN_REVIEW) else []
    status: dict[str, Any] = {"required": list(required), "approved": len(previous), "missing": missing,
                              "can_approve": None, "reason": "", "reason_zh": "", "reason_code": ""}
    if viewer is None:
        return status
    try:
        if state != State.IN_REVIEW:
            raise IllegalTransition("only a version in review can be approved", "只有审核中的版本可以审批")
        check_approval(policy, priority, authors, previous, viewer)
    except (ApprovalError, IllegalTransition) as exc:
        return {**status, "can_approve": False, "reason": exc.message, "reason_zh": exc.message_zh,
                "reason_code": exc.code}
    return {**status, "can_approve": True}
