"""The only place that knows APScheduler: one job per source.

* one ``IntervalTrigger`` job per source; it first runs at once (within a second), so a restart never
  leaves a source unpolled for a whole interval (issue 12);
* ``jitter_s`` spreads sources by running each poll up to that much *early*, never late: two polls of
  a source are never more than ``interval_s`` apart, so an item waits at most one interval to be seen;
* ``max_instances=1``: a source never runs twice at once;
* ``coalesce=True``: runs missed while the loop was busy collapse into one;
* ``retry_at`` moves a source's next run (backoff, Retry-After);
* add / change / pause / resume / remove at runtime.

The job calls ``run(name, scheduled_at)``; ``scheduled_at`` (epoch seconds)
is the time the run was due, so the poller can measure its lateness.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

RunSource = Callable[[str, float], Awaitable[None]]


class EarlyJitter(IntervalTrigger):
    """Every ``seconds``, each run up to ``early`` seconds before its time (APScheduler's jitter only delays)."""

    def __init__(self, seconds: float, early: float, rng: random.Random) -> None:
        super().__init__(seconds=seconds, timezone=UTC)
        self.early = early
        self.rng = rng

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        due: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        if due is None or previous_fire_time is None or self.early <= 0:
            return due
        return due - timedelta(seconds=self.rng.uniform(0, self.early))


class PollScheduler:
    def __init__(self, run: RunSource, *, rng: random.Random | None = None) -> None:
        self._run = run
        self._rng = rng or random.Random()
        self._scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})
        self._scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        self._due: dict[str, float] = {}

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        if not self._scheduler.running:
            self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        if event.scheduled_run_times:
            self._due[event.job_id] = event.scheduled_run_times[-1].timestamp()

    async def _job(self, name: str) -> None:
        due = self._due.pop(name, None)
        await self._run(name, due if due is not None else datetime.now(UTC).timestamp())

    def _trigger(self, interval_s: float, jitter_s: float) -> IntervalTrigger:
        return EarlyJitter(interval_s, min(jitter_s, interval_s / 2), self._rng)

    def add(self, name: str, interval_s: float, jitter_s: float = 0.0, *, paused: bool = False,
            first_run_in: float | None = None) -> None:
        """Schedule ``name``; the first run comes after ``first_run_in`` s (default: at once, within 1 s)."""
        delay = first_run_in if first_run_in is not None else self._rng.uniform(0, min(interval_s, 1.0))
        first = datetime.now(UTC) + timedelta(seconds=delay)
        self._scheduler.add_job(self._job, self._trigger(interval_s, jitter_s), args=[name], id=name,
                                name=name, replace_existing=True, next_run_time=None if paused else first,
                                misfire_grace_time=max(int(interval_s), 30))

    def has(self, name: str) -> bool:
        return self._scheduler.get_job(name) is not None

    def update(self, name: str, interval_s: float, jitter_s: float = 0.0) -> None:
        job = self._scheduler.get_job(name)
        if job is None:
            self.add(name, interval_s, jitter_s)
            return
        paused = job.next_run_time is None
        job.reschedule(self._trigger(interval_s, jitter_s))
        if paused:
            job.pause()

    def pause(self, name: str) -> None:
        if self.has(name):
            self._scheduler.pause_job(name)

    def resume(self, name: str) -> None:
        if self.has(name):
            self._scheduler.resume_job(name)

    def remove(self, name: str) -> None:
        try:
            self._scheduler.remove_job(name)
        except JobLookupError:
            pass
        self._due.pop(name, None)

    def retry_at(self, name: str, when: float) -> None:
        """Run ``name`` next at epoch ``when`` (backoff after a failure, or a server's Retry-After)."""
        job = self._scheduler.get_job(name)
        if job is not None and job.next_run_time is not None:
            job.modify(next_run_time=datetime.fromtimestamp(when, UTC))

    def next_run(self, name: str) -> float | None:
        job = self._scheduler.get_job(name)
        if job is None or job.next_run_time is None:
            return None
        return float(job.next_run_time.timestamp())

    def jobs(self) -> list[str]:
        return sorted(job.id for job in self._scheduler.get_jobs())
