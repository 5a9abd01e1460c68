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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

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


def check_approval(policy: ApprovalPolicy, priority: str, author_id: int | None,
                   previous: Sequence[Approver], approver: Approver) -> bool:
    """Validate one more approval; True when it completes the set.  Pure: raises ApprovalError."""
    if approver.role not in APPROVER_ROLES:
        raise ApprovalError("only managers or admins may approve scripts", "只有主管或管理员可以审批话术")
    if author_id is not None and approver.id == author_id:
        raise SelfApproval("the author cannot approve their own version (four-eyes rule)",
                           "作者不能审批自己的版本（四眼原则）")
    if any(p.id == approver.id for p in previous):
        raise ApprovalError("you have already approved this version", "您已审批过此版本")
    required = policy.required(priority)
    slots = assign_slots(required, [*previous, approver])
    if slots[-1] is None:
        missing = [s for s in required if s not in slots[:-1] or slots.count(s) < required.count(s)]
        teams = "、".join(sorted({s for s in missing if s != ANY_TEAM})) or "?"
        raise ApprovalError(
            f"this version still needs an approver from team(s): {teams}",
            f"此版本仍需以下团队的审批人：{teams}",
        )
    return len([s for s in slots if s is not None]) >= len(required)
