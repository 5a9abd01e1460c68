"""The alert engine's settings (built by the web layer from ``[incidents]``) and its per-tick report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time

from .nflog import Timing
from .sender import SendReport


@dataclass
class AlertConfig:
    timing: Timing = field(default_factory=Timing)
    escalate_minutes: dict[str, float] = field(default_factory=lambda: {"P1": 5, "P2": 15, "P3": 60})
    remind_minutes: dict[str, float] = field(default_factory=lambda: {"P1": 10, "P2": 30, "P3": 120})
    quiet_hours: tuple[time, time] | None = None
    quiet_on_holidays: bool = False  # rest days (statutory holidays, weekends but not 调休 workdays) are quiet
    digest_at: time = time(9, 0)
    timezone: str = "Asia/Shanghai"
    max_attempts: int = 8
    overflow_after_s: float = 60
    tick_s: float = 1.0
    ack_ttl_s: float = 72 * 3600
    public_url: str = "http://127.0.0.1:8080"
    language: str = "zh-CN"


@dataclass
class TickReport:
    planned: int = 0
    escalated: int = 0
    reminded: int = 0
    sent: SendReport = field(default_factory=SendReport)
    incidents: set[int | None] = field(default_factory=set)  # whose deliveries the planning added or folded
