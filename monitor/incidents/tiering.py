"""The tier of an incident as it grows: volume per hour, a spike test, the mentions' own tiers.

``volume_tier`` maps mentions in the last hour to a tier through thresholds
such as ``P4:1, P3:10, P2:30, P1:300``.  ``spike`` compares the last hour of
the incident's sources with their usual hourly volume over 14 days (mean +
k·sigma, as Huginn's peak detector does); a spike raises the tier by one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import InvalidTierError
from .model import TIERS, bump, most_severe, rank

BASELINE_DAYS = 14


def parse_tier_map(items: Sequence[str], *, setting: str) -> dict[str, float]:
    """``["P1:5", "P2:15"]`` -> ``{"P1": 5.0, "P2": 15.0}`` with a clear error on bad input."""
    result: dict[str, float] = {}
    for item in items:
        tier, _, value = str(item).partition(":")
        tier = tier.strip().upper()
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if tier not in TIERS or math.isnan(number) or number < 0:
            raise InvalidTierError(f"{setting}: {item!r} 不是 TIER:数值 格式 (expected TIER:NUMBER, e.g. P1:5)")
        result[tier] = number
    return result


def volume_tier(volume_1h: int, thresholds: dict[str, float]) -> str | None:
    reached = [tier for tier, minimum in thresholds.items() if volume_1h >= minimum]
    return most_severe(*reached)


def is_spike(last_hour: int, hourly_counts: Sequence[int], *, sigma: float, minimum: int) -> bool:
    """True when ``last_hour`` is far above the usual hourly volume.

    ``hourly_counts`` are the counts of every earlier hour of the baseline
    period (zeros included).  With no history at all (a source added today)
    nothing is called a spike: there is nothing to compare against, and the
    volume thresholds still apply.
    """
    if last_hour < minimum or not any(hourly_counts):
        return False
    n = len(hourly_counts)
    mean = sum(hourly_counts) / n
    var = sum((c - mean) ** 2 for c in hourly_counts) / n
    return last_hour > mean + sigma * math.sqrt(var) and last_hour > mean


def combine(*, mention_tier: str | None, volume: str | None, model: str | None, spike: bool) -> str:
    """The incident's automatic tier: the most severe signal, one level up on a spike."""
    tier = most_severe(mention_tier, volume, model) or "P4"
    return bump(tier) if spike else tier


def climbs(new: str, old: str | None) -> bool:
    return rank(new) < rank(old)


def model_verdict(result: object) -> tuple[str | None, dict[str, Any] | None]:
    """A tier model's answer: a tier, or a mapping with ``tier`` and the score's signals."""
    if isinstance(result, Mapping):
        tier = result.get("tier")
        return (str(tier) if tier in TIERS else None), dict(result)
    return (str(result) if result in TIERS else None), None


def explain(*, tier: str, auto: str, held: str | None, mention_tier: str | None, volume_1h: int,
            previous_1h: int, volume_thresholds: dict[str, float], model: dict[str, Any] | None,
            spike: bool, manual: dict[str, Any] | None = None) -> dict[str, Any]:
    """Why the incident has ``tier``: each input's own tier (the most severe decides), spike, hold, manual.

    ``previous_1h`` is the volume of the hour before the last (velocity = volume_1h / max(1, previous_1h)).
    ``held`` is the automatic tier reached earlier when it is more severe than
    what the signals give now (automatic tiers only climb).
    """
    vol_tier = volume_tier(volume_1h, volume_thresholds)
    inputs: list[dict[str, Any]] = [
        {"signal": "mention_tier", "tier": mention_tier},
        {"signal": "volume_rule", "tier": vol_tier, "value": volume_1h, "thresholds": dict(volume_thresholds)},
    ]
    if model is not None:
        inputs.append({"signal": "model", **model})
    best = most_severe(*(i["tier"] for i in inputs))
    for item in inputs:
        item["decisive"] = best is not None and item["tier"] == best
    return {"tier": tier, "auto": auto, "inputs": inputs, "spike": spike,
            "held": held if held is not None and rank(held) < rank(combine(
                mention_tier=mention_tier, volume=vol_tier, model=model.get("tier") if model else None,
                spike=spike)) else None,
            "volume_1h": volume_1h, "previous_1h": previous_1h, "velocity": round(volume_1h / max(1, previous_1h), 2),
            "manual": manual}
