"""Incident states, tiers and the change events listeners receive (pure, no I/O)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import IllegalTransitionError, InvalidTierError

TIERS = ("P1", "P2", "P3", "P4")  # P1 is the most severe


class State(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    MITIGATING = "mitigating"
    RESOLVED = "resolved"


# open -> acknowledged -> mitigating -> resolved; steps may be skipped forward, never back.
_ORDER = [State.OPEN, State.ACKNOWLEDGED, State.MITIGATING, State.RESOLVED]


def check_transition(current: str, target: State) -> None:
    """Raise :class:`IllegalTransitionError` unless ``current -> target`` moves forward."""
    cur = State(current)
    if _ORDER.index(target) <= _ORDER.index(cur):
        raise IllegalTransitionError(
            f"事件已处于「{cur.value}」状态，不能再变为「{target.value}」"
            f" (cannot go from {cur.value} to {target.value})")


def check_tier(tier: str) -> str:
    if tier not in TIERS:
        raise InvalidTierError(f"级别必须是 P1、P2、P3 或 P4 (tier must be one of {', '.join(TIERS)}), got {tier!r}")
    return tier


def rank(tier: str | None) -> int:
    """1 for P1 ... 4 for P4; 5 for no tier (less severe than everything)."""
    return TIERS.index(tier) + 1 if tier in TIERS else 5


def most_severe(*tiers: str | None) -> str | None:
    best = min((t for t in tiers if t in TIERS), key=rank, default=None)
    return best


def bump(tier: str, levels: int = 1) -> str:
    """One level more severe (P3 -> P2), never beyond P1."""
    return TIERS[max(0, rank(tier) - 1 - levels)]


@dataclass(frozen=True)
class IncidentChange:
    """What happened to an incident; ``kind`` is one of KINDS."""

    incident_id: int
    kind: str
    tier: str
    previous_tier: str | None = None
    actor: str = ""

    @property
    def upward(self) -> bool:
        return self.previous_tier is not None and rank(self.tier) < rank(self.previous_tier)


KINDS = ("opened", "grew", "retiered", "acknowledged", "mitigating", "resolved")
