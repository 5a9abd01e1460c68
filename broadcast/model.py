"""Scripts, audiences and viewers: plain values, validation and the content hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import InvalidScript

PRIORITIES = ("critical", "high", "normal")
PRIORITY_RANK = {p: i for i, p in enumerate(PRIORITIES)}
MAX_TITLE = 120
MAX_BODY = 4000
_AUDIENCE_KEYS = ("teams", "skills", "sites", "shifts")
SUPERVISOR_ROLES = frozenset({"manager", "admin", "oncall"})


@dataclass(frozen=True)
class Audience:
    """Who sees a script: everyone, or anyone in one of the teams / skill groups / sites / shifts.

    A shift targets the agents whose account belongs to it (``lantern user add
    --shift``), whether or not the shift is on at the moment.
    """

    teams: frozenset[str] = frozenset()
    skills: frozenset[str] = frozenset()
    sites: frozenset[str] = frozenset()
    shifts: frozenset[str] = frozenset()

    @property
    def everyone(self) -> bool:
        return not (self.teams or self.skills or self.sites or self.shifts)

    def matches(self, viewer: Viewer) -> bool:
        if self.everyone or viewer.role in SUPERVISOR_ROLES:
            return True
        return ((viewer.team in self.teams) or bool(self.skills & viewer.skills) or bool(self.sites & viewer.sites)
                or (bool(viewer.shift) and viewer.shift in self.shifts))

    def as_dict(self) -> dict[str, Any]:
        if self.everyone:
            return {"everyone": True}
        return {"everyone": False, **{k: sorted(getattr(self, k)) for k in _AUDIENCE_KEYS}}

    @classmethod
    def parse(cls, raw: Any) -> Audience:
        """From ``None``/``"everyone"``/``{"everyone": true}``/``{"teams": [...], ...}``."""
        if raw is None or raw == "everyone" or raw == {}:
            return cls()
        if not isinstance(raw, Mapping):
            raise InvalidScript("audience must be 'everyone' or an object with teams/skills/sites/shifts",
                                "受众必须是 everyone，或包含 teams/skills/sites/shifts 的对象")
        unknown = set(raw) - {"everyone", *_AUDIENCE_KEYS}
        if unknown:
            raise InvalidScript(f"unknown audience keys: {', '.join(sorted(unknown))}",
                                f"未知的受众字段：{', '.join(sorted(unknown))}")
        parts: dict[str, frozenset[str]] = {}
        for key in _AUDIENCE_KEYS:
            values = raw.get(key) or []
            if isinstance(values, str):
                values = [values]
            if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
                raise InvalidScript(f"audience.{key} must be a list of names", f"受众 {key} 必须是名称列表")
            parts[key] = frozenset(v.strip() for v in values)
        audience = cls(**parts)
        if raw.get("everyone") and not audience.everyone:
            raise InvalidScript("audience cannot be everyone and also name groups", "受众不能既是全体又指定分组")
        return audience


@dataclass(frozen=True)
class Viewer:
    """Someone watching the ticker (what targeting needs to know about them)."""

    user_id: int
    role: str
    team: str = ""
    skills: frozenset[str] = field(default_factory=frozenset)
    sites: frozenset[str] = field(default_factory=frozenset)
    shift: str = ""


class Broadcaster(Protocol):
    """What the script service and receipts need of the ticker hub: send a change, list who is connected."""

    async def send(self, kind: str, item: dict[str, Any]) -> None: ...

    async def all_viewers(self) -> list[Viewer]: ...


@dataclass(frozen=True)
class Draft:
    """Validated content of one script version."""

    title: str
    body: str
    priority: str
    audience: Audience
    incident_id: int | None
    expires_at: float | None
    review_by: float | None = None  # the author's "review by" time; None: the priority's default applies

    def content_hash(self) -> str:
        return content_hash(self.title, self.body, self.priority, self.audience, self.incident_id, self.expires_at,
                            self.review_by)


def content_hash(title: str, body: str, priority: str, audience: Audience, incident_id: int | None,
                 expires_at: float | None, review_by: float | None = None) -> str:
    """SHA-256 over a canonical JSON of everything an agent is shown or targeted by.

    ``review_by`` is covered only when set, so versions written before it existed keep their hash.
    """
    fields: dict[str, Any] = {"title": title, "body": body, "priority": priority, "audience": audience.as_dict(),
                              "incident_id": incident_id, "expires_at": expires_at}
    if review_by is not None:
        fields["review_by"] = review_by
    canonical = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _future_time(value: Any, name: str, name_zh: str, now: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidScript(f"{name} must be epoch seconds", f"{name_zh}必须是秒级时间戳")
    if value <= now:
        raise InvalidScript(f"{name} is in the past", f"{name_zh}已经过去")
    return float(value)


# A note left in a drafted text for a manager to replace (a plan writes 【请改写：…】 where the incident's
# headline would go): a version still holding one cannot be submitted for approval.
REWRITE_MARK = "【请改写"


def needs_rewrite(title: str, body: str) -> bool:
    return REWRITE_MARK in title or REWRITE_MARK in body


def validate(title: Any, body: Any, priority: Any = "normal", audience: Any = None, incident_id: Any = None,
             expires_at: Any = None, review_by: Any = None, *, now: float) -> Draft:
    """Check user input; raises InvalidScript with a bilingual message naming the field."""
    if not isinstance(title, str) or not title.strip():
        raise InvalidScript("title is required", "标题不能为空")
    if len(title.strip()) > MAX_TITLE:
        raise InvalidScript(f"title is longer than {MAX_TITLE} characters", f"标题不能超过 {MAX_TITLE} 个字符")
    if not isinstance(body, str) or not body.strip():
        raise InvalidScript("body is required", "正文不能为空")
    if len(body) > MAX_BODY:
        raise InvalidScript(f"body is longer than {MAX_BODY} characters", f"正文不能超过 {MAX_BODY} 个字符")
    if priority not in PRIORITIES:
        raise InvalidScript(f"priority must be one of {', '.join(PRIORITIES)}",
                            f"优先级必须是 {', '.join(PRIORITIES)} 之一")
    if incident_id is not None and (isinstance(incident_id, bool) or not isinstance(incident_id, int)):
        raise InvalidScript("incident_id must be an integer", "关联事件编号必须是整数")
    return Draft(title=title.strip(), body=body.replace("\r\n", "\n").strip(), priority=priority,
                 audience=Audience.parse(audience), incident_id=incident_id,
                 expires_at=_future_time(expires_at, "expires_at", "过期时间", now),
                 review_by=_future_time(review_by, "review_by", "复核期限", now))
