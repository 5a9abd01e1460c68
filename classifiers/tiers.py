"""Severity tiers P1 (most severe) .. P4 from interpretable signals.

The score is a sum of points, each with a reason::

    risk     = negativity + category
    exposure = authority + reach + volume + velocity
    score    = risk + exposure * (1 if risk >= risk_gate else non_risk_exposure_factor)
    tier     = P1 if score >= p1, P2 if >= p2, P3 if >= p3, else P4

    negativity = negativity_points * max(0, (p_neg - 0.5) / 0.5)     # 0 below 50 % negative
    category   = max(category_points[c]) + extra_category_points * (n_categories - 1), capped
    authority  = authority_points[source authority]                   # central > provincial > ...
                 # the strongest of the author, the channel (feed) title and the source's name
    reach      = reach_points_per_decade * max(0, log10(author_reach) - reach_floor_log10), capped
    volume     = volume_points_per_decade * log10(1 + volume_1h), capped
    velocity   = velocity_points_per_doubling * log2(velocity) when velocity > 1, capped

Exposure amplifies risk: a much-shared *positive* 央视 story stays P4/P3
because without risk its exposure counts at ``non_risk_exposure_factor``.
Every weight, threshold and authority list is a field of :class:`TierPolicy`,
overridable from a ``[tier]`` table (``TierPolicy.from_dict``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .categories import CATEGORIES

AUTHORITIES = ("central_media", "provincial_media", "industry_media", "verified", "ordinary")
AUTHORITY_LABELS = {
    "central_media": "中央媒体",
    "provincial_media": "省级/地方媒体",
    "industry_media": "行业媒体",
    "verified": "认证大V",
    "ordinary": "普通用户",
}
TIERS = ("P1", "P2", "P3", "P4")


def _default_sources() -> dict[str, tuple[str, ...]]:
    return {
        "central_media": (
            "央视", "cctv", "中央电视台", "中央广播电视总台", "央广", "中国之声", "新华社", "新华网",
            "新华视点", "人民日报", "人民网", "光明日报", "经济日报", "中国日报", "中国新闻网", "中新网",
            "中新社", "环球时报", "法治日报", "工人日报", "中国青年报", "求是", "国务院", "中国政府网",
        ),
        "provincial_media": (
            "卫视", "新京报", "澎湃", "南方都市报", "南方日报", "北京青年报", "北京日报", "广州日报",
            "羊城晚报", "新民晚报", "扬子晚报", "钱江晚报", "楚天都市报", "华商报", "大河报", "潇湘晨报",
            "齐鲁晚报", "封面新闻", "红星新闻", "极目新闻", "上游新闻", "九派新闻", "紫牛新闻", "大象新闻",
            "都市报", "晚报", "日报", "电视台", "广播电视台", "融媒体",
        ),
        "industry_media": (
            "第一财经", "财新", "21世纪经济报道", "经济观察报", "每日经济新闻", "证券时报", "中国经营报",
            "界面新闻", "中国消费者报", "中国质量报", "中国食品报", "中国市场监管报", "36氪", "虎嗅",
            "钛媒体", "晚点", "黑猫投诉", "消费保", "财经",
        ),
        "verified": ("大v", "官方认证", "博主", "(v)", "(v)"),
    }


@dataclass(frozen=True)
class TierPart:
    """One signal of the score: ``signal`` is negativity|category|authority|reach|volume|velocity."""

    signal: str
    points: float
    label: str  # zh-CN reason, e.g. "央视来源"
    value: Any = None  # the input: probability, category codes, authority code, followers, count, ratio
    detail: str | None = None  # authority: the source-list entry that matched (e.g. "央视")

    def as_dict(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"signal": self.signal, "points": round(self.points, 1), "label": self.label, "value": value,
                "detail": self.detail}


@dataclass(frozen=True)
class TierBreakdown:
    parts: tuple[TierPart, ...]
    score: float
    tier: str
    exposure_factor: float  # 1, or non_risk_exposure_factor when the risk is below the gate
    thresholds: Mapping[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {"tier": self.tier, "score": round(self.score, 1), "exposure_factor": self.exposure_factor,
                "thresholds": dict(self.thresholds), "parts": [p.as_dict() for p in self.parts]}


@dataclass(frozen=True)
class TierPolicy:
    """Weights, thresholds and source lists of the tier formula (see module docstring)."""

    negativity_points: float = 30.0
    category_points: Mapping[str, float] = field(
        default_factory=lambda: {
            "food_safety": 25.0,
            "personal_safety": 25.0,
            "media_exposure": 20.0,
            "privacy": 20.0,
            "legal": 15.0,
            "fraud_pricing": 15.0,
            "product_defect": 12.0,
            "service": 8.0,
        }
    )
    extra_category_points: float = 5.0
    max_category_points: float = 40.0
    authority_points: Mapping[str, float] = field(
        default_factory=lambda: {
            "central_media": 30.0,
            "provincial_media": 20.0,
            "industry_media": 12.0,
            "verified": 8.0,
            "ordinary": 0.0,
        }
    )
    sources: Mapping[str, Sequence[str]] = field(default_factory=_default_sources)
    verified_suffixes: Sequence[str] = ("v",)  # "某某V": a name ending in V is a verified account
    reach_floor_log10: float = 3.0  # fewer than 1,000 followers add nothing
    reach_points_per_decade: float = 3.0
    max_reach_points: float = 15.0
    volume_points_per_decade: float = 6.0
    max_volume_points: float = 25.0
    velocity_points_per_doubling: float = 7.0
    max_velocity_points: float = 15.0
    risk_gate: float = 10.0
    non_risk_exposure_factor: float = 0.3
    p1: float = 75.0
    p2: float = 55.0
    p3: float = 30.0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TierPolicy:
        """Defaults overridden by ``d``; mapping fields merge key by key, unknown keys raise."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"未知键 {', '.join(sorted(unknown))} (unknown tier setting); "
                             f"可用的键 (valid keys): {', '.join(f.name for f in fields(cls))}")
        base = cls()
        changes: dict[str, Any] = {}
        for key, value in d.items():
            current = getattr(base, key)
            if isinstance(current, Mapping):
                merged = dict(current)
                for k, v in dict(value).items():
                    merged[k] = tuple(v) if key == "sources" else float(v)
                changes[key] = merged
            elif isinstance(current, tuple):
                changes[key] = tuple(value)
            else:
                changes[key] = float(value)
        policy = replace(base, **changes)
        if not policy.p1 >= policy.p2 >= policy.p3:
            raise ValueError("tier thresholds must satisfy p1 >= p2 >= p3")
        return policy

    def authority_of(self, source_name: str | None) -> tuple[str, str | None]:
        """(authority, matched list entry) inferred from an outlet / account name."""
        if not source_name:
            return "ordinary", None
        name = source_name.strip().lower()
        for authority in AUTHORITIES[:-1]:
            for entry in self.sources.get(authority, ()):
                if entry.lower() in name:
                    return authority, entry
        if any(name.endswith(s.lower()) for s in self.verified_suffixes):
            return "verified", None
        return "ordinary", None

    def authority_among(self, names: Sequence[str | None]) -> tuple[str, str | None]:
        """The strongest authority any of ``names`` (author, channel title, source name) carries.

        An RSS ``<author>`` of 央视新闻 counts as central media as much as a
        source named 央视新闻; on a tie the first name wins (its entry names the reason).
        """
        best: tuple[str, str | None] = ("ordinary", None)
        for name in names:
            authority, entry = self.authority_of(name)
            if self.authority_points.get(authority, 0.0) > self.authority_points.get(best[0], 0.0):
                best = (authority, entry)
        return best

    def breakdown(self, negative_probability: float, categories: Sequence[str], signals: Any) -> TierBreakdown:
        """Every signal with its points (after the exposure factor), the score and the tier."""
        parts: list[TierPart] = []
        neg = self.negativity_points * max(0.0, (negative_probability - 0.5) / 0.5)
        if negative_probability >= 0.5:
            parts.append(TierPart("negativity", neg, f"负面 {negative_probability:.2f}",
                                  round(negative_probability, 4)))
        cats = [c for c in categories if c in CATEGORIES]
        cat_pts = 0.0
        if cats:
            ranked = sorted(cats, key=lambda c: -self.category_points.get(c, 0.0))
            cat_pts = self.category_points.get(ranked[0], 0.0) + self.extra_category_points * (len(ranked) - 1)
            cat_pts = min(cat_pts, self.max_category_points)
            parts.append(TierPart("category", cat_pts, "、".join(CATEGORIES[c] for c in ranked), tuple(ranked)))
        risk = neg + cat_pts

        exposure: list[TierPart] = []
        if signals is not None:
            authority = signals.source_authority
            entry: str | None = None
            if authority is None:
                authority, entry = self.authority_among(
                    (getattr(signals, "author", None), getattr(signals, "channel", None), signals.source_name))
            if authority not in AUTHORITIES:
                raise ValueError(f"unknown source_authority {authority!r}; one of {', '.join(AUTHORITIES)}")
            pts = self.authority_points.get(authority, 0.0)
            if pts > 0:
                label = f"{entry}来源" if entry and authority != "verified" else AUTHORITY_LABELS[authority]
                exposure.append(TierPart("authority", pts, label if label.endswith("来源") else f"{label}来源",
                                         authority, entry))
            if signals.author_reach:
                decades = math.log10(max(1, signals.author_reach)) - self.reach_floor_log10
                pts = min(self.max_reach_points, self.reach_points_per_decade * max(0.0, decades))
                if pts > 0:
                    exposure.append(TierPart("reach", pts, f"影响力 {_count(signals.author_reach)} 粉丝",
                                             int(signals.author_reach)))
            if signals.volume_1h:
                pts = min(self.max_volume_points, self.volume_points_per_decade * math.log10(1 + signals.volume_1h))
                exposure.append(TierPart("volume", pts, f"1 小时内 {signals.volume_1h} 条", int(signals.volume_1h)))
            if signals.velocity and signals.velocity > 1:
                pts = min(self.max_velocity_points, self.velocity_points_per_doubling * math.log2(signals.velocity))
                exposure.append(TierPart("velocity", pts, f"增速 {signals.velocity:.1f} 倍",
                                         round(float(signals.velocity), 2)))
        factor = 1.0 if risk >= self.risk_gate else self.non_risk_exposure_factor
        parts.extend(replace(p, points=p.points * factor) for p in exposure)
        parts.sort(key=lambda p: -p.points)
        total = sum(p.points for p in parts)
        return TierBreakdown(tuple(parts), total, self.tier_of(total), factor,
                             {"P1": self.p1, "P2": self.p2, "P3": self.p3})

    def score(
        self, negative_probability: float, categories: Sequence[str], signals: Any
    ) -> tuple[float, tuple[str, ...]]:
        """The tier score and its reasons (zh-CN), strongest signals first."""
        result = self.breakdown(negative_probability, categories, signals)
        return result.score, tuple(p.label for p in result.parts)

    def tier_of(self, score: float) -> str:
        if score >= self.p1:
            return "P1"
        if score >= self.p2:
            return "P2"
        if score >= self.p3:
            return "P3"
        return "P4"


def _count(n: int) -> str:
    if n >= 100_000_000:
        return f"{n / 100_000_000:.1f}亿"
    if n >= 10_000:
        return f"{n / 10_000:.0f}万"
    return str(n)
