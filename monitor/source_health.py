"""Source health, Home Assistant style: success / failure bookkeeping, backoff and alert decisions.

Pure functions over :class:`SourceState`; the service persists the state and
acts on the returned :class:`HealthEvent` (log line and/or alert).  Logging
happens on the first failure and on recovery only, never on every retry;
an alert (``failing``) is raised once a source has failed
``failure_alert_after`` times in a row, and a ``silent`` alert when no new
item arrived for ``silence_factor`` times its usual gap between new items.

The usual gap is only trusted once it was learnt from at least
``MIN_ARRIVALS_FOR_RHYTHM`` arrivals spread over ``MIN_RHYTHM_SPAN_S`` since the
process started (it is learnt anew after a restart; issue 12: a
90-second burst of the demo replay, one item per 2-second poll, made the demo
report "已 0.2 小时没有新内容，平时约每 0 分钟一条" once the replay ended).
Sources whose kind says silence is expected (the demo replay ends) are not checked.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, fields
from typing import Any

MIN_ARRIVALS_FOR_RHYTHM = 3
MIN_RHYTHM_SPAN_S = 1800.0  # arrivals must have been watched this long before a silence is judged


@dataclass
class SourceState:
    name: str
    etag: str | None = None
    last_modified: str | None = None
    cursor: str | None = None
    last_attempt_at: float | None = None
    last_success_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    consecutive_failures: int = 0
    items_seen: int = 0
    mentions_new: int = 0
    duplicates: int = 0
    last_new_at: float | None = None
    mean_gap_s: float | None = None
    next_attempt_at: float | None = None
    alert: str | None = None  # "failing" | "silent" while an alert is open
    last_lateness_s: float | None = None
    warning: str | None = None  # what the last successful poll or push stored with a caveat (refused items...)
    rejected: str | None = None  # JSON list of the most recently refused items: [{"item", "reason"}]
    rejected_count: int = 0  # how many items that poll or push refused
    rejected_at: float | None = None
    encoding: str | None = None  # text encoding of the last page, and how it was chosen
    encoding_source: str | None = None  # override | bom | http | xml | meta | utf-8 | detected | json
    arrivals: int = 0  # not persisted: arrivals learnt since start
    learned_s: float = 0.0  # not persisted: the time those arrivals span

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SourceState:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in names})

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("arrivals")
        row.pop("learned_s")
        return row

    def public(self) -> dict[str, Any]:
        """Health as shown in the API (no fetch validators)."""
        row = self.to_row()
        for key in ("name", "etag", "last_modified", "cursor"):
            row.pop(key)
        row["rejected"] = json.loads(self.rejected) if self.rejected else []
        row["status"] = status(self)
        return row


def status(state: SourceState) -> str:
    if state.alert:
        return state.alert
    if state.consecutive_failures:
        return "error"
    if state.last_success_at is None:
        return "pending"
    return "warning" if state.warning else "ok"


@dataclass(frozen=True)
class HealthEvent:
    kind: str  # "failing" | "silent" | "recovered" | "first_failure"
    message: str
    alert: bool  # send through the alert path (else log only)


def backoff_delay(failures: int, interval_s: float, *, rng: random.Random | None = None) -> float:
    """Delay before retrying after ``failures`` consecutive failures: exponential with ±20 % jitter.

    Starts at min(interval, 30 s) and doubles, capped at max(interval, 15 min).
    """
    base = min(interval_s, 30.0)
    cap = max(interval_s, 900.0)
    delay = min(cap, base * (2 ** max(0, failures - 1)))
    return delay * (rng or random).uniform(0.8, 1.2)


def record_success(state: SourceState, *, now: float, items_seen: int, new: int, duplicates: int,
                   warning: str | None = None, rejected: list[dict[str, Any]] | None = None,
                   max_rejected_shown: int = 20) -> list[HealthEvent]:
    """A poll or push that stored what it could; ``warning`` and ``rejected`` say what it could not."""
    events: list[HealthEvent] = []
    state.warning = warning
    if rejected:
        state.rejected = json.dumps(rejected[:max_rejected_shown], ensure_ascii=False)
        state.rejected_count = len(rejected)
        state.rejected_at = now
    if state.consecutive_failures:
        was_alerting = state.alert == "failing"
        events.append(HealthEvent("recovered", f"来源 {state.name} 已恢复（此前连续失败 "
                                  f"{state.consecutive_failures} 次）(source recovered)", alert=was_alerting))
        if was_alerting:
            state.alert = None
    state.consecutive_failures = 0
    state.last_success_at = now
    state.next_attempt_at = None
    state.items_seen += items_seen
    state.duplicates += duplicates
    if new:
        if state.last_new_at is not None and now > state.last_new_at:
            gap = now - state.last_new_at
            state.mean_gap_s = gap if state.mean_gap_s is None else 0.8 * state.mean_gap_s + 0.2 * gap
            state.arrivals += 1
            state.learned_s += gap
        state.mentions_new += new
        state.last_new_at = now
        if state.alert == "silent":
            state.alert = None
            events.append(HealthEvent("recovered", f"来源 {state.name} 重新有新内容 (source is producing again)",
                                      alert=True))
    return events


def record_failure(state: SourceState, *, now: float, error: str, interval_s: float, retry_after: float | None,
                   alert_after: int, rng: random.Random | None = None) -> list[HealthEvent]:
    state.consecutive_failures += 1
    state.warning = None
    state.last_error = error
    state.last_error_at = now
    delay = backoff_delay(state.consecutive_failures, interval_s, rng=rng)
    if retry_after is not None:
        delay = max(delay, retry_after)
    state.next_attempt_at = now + delay
    events: list[HealthEvent] = []
    if state.consecutive_failures == 1:
        events.append(HealthEvent("first_failure", f"来源 {state.name} 抓取失败：{error}", alert=False))
    if state.consecutive_failures >= alert_after and state.alert != "failing":
        state.alert = "failing"
        events.append(HealthEvent("failing", f"来源 {state.name} 已连续失败 {state.consecutive_failures} 次："
                                  f"{error}", alert=True))
    return events


def check_silence(state: SourceState, *, now: float, interval_s: float, factor: float) -> HealthEvent | None:
    """A ``silent`` alert when no new item came for far longer than the source's usual rhythm."""
    if state.alert or state.last_new_at is None or state.mean_gap_s is None:
        return None
    if state.arrivals < MIN_ARRIVALS_FOR_RHYTHM or state.learned_s < MIN_RHYTHM_SPAN_S:
        return None  # no rhythm known yet: a short burst says nothing about the usual pace
    limit = max(factor * state.mean_gap_s, 3 * interval_s, 600.0)
    silent_for = now - state.last_new_at
    if silent_for <= limit:
        return None
    state.alert = "silent"
    return HealthEvent("silent", f"来源 {state.name} 已 {duration_zh(silent_for)}没有新内容，平时约每 "
                       f"{duration_zh(state.mean_gap_s)}一条，请检查 Cookie、路由或关键词 (source went silent: "
                       f"nothing new for {duration_en(silent_for)}, usually one every "
                       f"{duration_en(state.mean_gap_s)})", alert=True)


def _duration(seconds: float, units: tuple[str, str, str]) -> str:
    """The unit a person would say (seconds, minutes, hours), never "0 minutes"."""
    if seconds < 60:
        return f"{max(1, round(seconds))} {units[0]}"
    if seconds < 3600:
        return f"{round(seconds / 60)} {units[1]}"
    hours = seconds / 3600
    return f"{hours:.0f} {units[2]}" if hours >= 10 else f"{hours:.1f} {units[2]}"


def duration_zh(seconds: float) -> str:
    """``90`` -> "2 分钟", ``7200`` -> "2.0 小时"."""
    return _duration(seconds, ("秒", "分钟", "小时"))


def duration_en(seconds: float) -> str:
    return _duration(seconds, ("s", "min", "h"))
