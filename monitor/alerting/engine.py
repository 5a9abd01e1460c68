"""The alert engine: hears incident changes, plans notifications through the stages, sends the outbox.

Every timer (group_wait, group_interval, repeat_interval, escalation,
reminders, retries, digests) is a timestamp in the database compared with the
injected clock inside :meth:`AlertEngine.tick`, so a restart resumes where it
stopped and tests drive time with ``await engine.tick(now)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import sqlite_utils

from monitor.channels.base import Channel, Message, open_session
from monitor.incidents import store_ops
from monitor.incidents.errors import UnknownIncidentError
from monitor.incidents.model import IncidentChange
from monitor.netguard import NetPolicy
from monitor.shared_limits import RedisLimits
from monitor.store import Store

from . import acklinks, contacts, escalation, health_alerts, nflog, outbox, silences
from .card import facts, inline
from .config import AlertConfig, TickReport
from .holidays import ChineseCalendarData, HolidayData, RestDays
from .messages import render, snapshot
from .quiet import QuietRules, next_at
from .recipients import Directory, People
from .routing import Route, recipients
from .sender import Sender, payload_of

log = logging.getLogger(__name__)
MAX_PERSONAL_LINKS = 10  # a robot message names at most this many people with their own acknowledge link
__all__ = ["AlertConfig", "AlertEngine", "People", "TickReport"]
# Told when deliveries changed (queued, sent, failed, acknowledged, cancelled), with the incidents they
# belong to (None: deliveries of no incident, e.g. source-health alerts and digests).


@dataclass(frozen=True)
class AlertsChanged:
    """Deliveries were planned, sent or settled for these incidents (None: a source-health alert, on none)."""

    incidents: frozenset[int | None]


Listener = Callable[[AlertsChanged], Awaitable[None]]


class AlertEngine:
    def __init__(self, store: Store, *, clock: Callable[[], float], channels: dict[str, Channel],
                 routes: Sequence[Route], secret: str, config: AlertConfig | None = None,
                 people: People | None = None, holidays: HolidayData | None = None,
                 limits: RedisLimits | None = None) -> None:
        self.store = store
        self.clock = clock
        self.channels = channels
        self.routes = list(routes)
        self.plan_routes: list[Route] = []
        self.secret = secret
        self.config = config or AlertConfig()
        self.tz = ZoneInfo(self.config.timezone)
        self.directory = Directory(people, {n: c.kind for n, c in channels.items()})
        self.rest_days = RestDays(holidays or ChineseCalendarData(), tz=self.tz, clock=clock) if (
            self.config.quiet_on_holidays) else None
        self.quiet = QuietRules(self.config.quiet_hours, self.config.digest_at, self.tz, self.rest_days)
        self._calendar_reported = ""
        self._secrets = sorted({s for c in channels.values() for s in c.secrets() if len(s) >= 4}, key=len,
                               reverse=True)
        self.listeners: list[Listener] = []
        self.sender = Sender(store, channels, render=self.message, redact=self.redact,
                             max_attempts=self.config.max_attempts, on_change=self._notify, limits=limits)
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._active_silences: list[dict[str, Any]] = []

    # -- configuration -------------------------------------------------------------
    @property
    def escalate_minutes(self) -> dict[str, float]:
        return self.config.escalate_minutes

    @property
    def remind_minutes(self) -> dict[str, float]:
        return self.config.remind_minutes

    def all_routes(self) -> list[Route]:
        return [*self.routes, *self.plan_routes]

    def matching_routes(self, inc: dict[str, Any]) -> list[Route]:
        return [r for r in self.all_routes() if r.matches(inc["tier"], inc["categories"], inc["brand"], inc["plans"])]

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return contacts.mask_text(text)

    @property
    def calendar_error(self) -> str:
        """Why the holiday calendar could not answer (a year it has no data for), or ""."""
        return self.quiet.error

    @property
    def calendar_warning(self) -> str:
        """That the holiday calendar's data runs out within 30 days, or ""."""
        return self.quiet.warning

    def quiet_now(self, now: float) -> bool:
        return self.quiet.active(now)

    def muted(self, inc: dict[str, Any], channel: str, now: float) -> float | None:
        """When the silence muting this alert ends, or None if nothing mutes it."""
        found = silences.silenced(self._active_silences, now, self.tz, tier=inc["tier"], categories=inc["categories"],
                                  brand=inc["brand"], channel=channel, incident_id=inc["id"])
        return None if found is None else silences.mute_ends(found, now, self.tz)

    # -- incident changes ------------------------------------------------------------
    async def on_changes(self, changes: list[IncidentChange]) -> None:
        now = self.clock()
        await self.store.write(lambda db: self._record_changes(db, changes, now))
        self._wake.set()
        settled = {c.incident_id for c in changes if c.kind in ("acknowledged", "mitigating", "resolved")}
        if settled:
            await self._notify(settled)  # reminders cancelled, must-act deliveries acknowledged

    def _record_changes(self, db: sqlite_utils.Database, changes: list[IncidentChange], now: float) -> None:
        table = db.table("alert_state")
        for change in changes:
            exists = db.execute("select due_at from alert_state where incident_id = ?",
                                [change.incident_id]).fetchone()
            if change.kind == "opened" or not exists:
                table.upsert({"incident_id": change.incident_id,
                              "due_at": now + self.config.timing.wait_for(change.tier), "level": 0},
                             pk="incident_id")
            elif change.upward or change.kind in ("acknowledged", "mitigating", "resolved"):
                table.update(change.incident_id, {"due_at": now})
            if change.kind in ("acknowledged", "mitigating", "resolved"):
                db.execute("update alert_deliveries set status = 'cancelled' where incident_id = ? and "
                           "status in ('queued', 'digest') and kind in ('remind', 'escalate', 'repeat')",
                           [change.incident_id])
                if change.actor:
                    db.execute("update alert_deliveries set status = 'acknowledged', acked_at = ?, acked_by = ? "
                               "where incident_id = ? and recipient = ? and must_act = 1 and status = 'sent'",
                               [now, change.actor, change.incident_id, change.actor])

    # -- planning ----------------------------------------------------------------------
    def evaluate(self, db: sqlite_utils.Database, st: dict[str, Any], now: float,
                 people: list[dict[str, Any]]) -> int:
        """Run one incident through route -> dedupe -> silence -> quiet/digest -> outbox; returns rows queued."""
        try:
            inc = store_ops.load(db, st["incident_id"])
        except UnknownIncidentError:
            db.execute("delete from alert_state where incident_id = ?", [st["incident_id"]])
            return 0
        queued = 0
        must_act_sent = False
        next_due = now + self.config.timing.group_interval
        found = recipients(self.matching_routes(inc), people, max_level=st["level"] or 0)
        reach = self.directory.reach(found, people)
        card = facts(db, inc, people)
        for r in found:
            if r.key == inc.get("acknowledged_by") and inc["state"] == "acknowledged":
                nflog.record(db, inc, r.key, r.must_act, now)  # who acknowledged needs no news of it
                continue
            kind = nflog.decide(nflog.get(db, inc["id"], r.key), inc, level=r.level, now=now,
                                timing=self.config.timing)
            if kind is None:
                continue
            muted_until = self.muted(inc, r.channel, now)
            if muted_until is not None:
                next_due = min(next_due, muted_until)  # look again the moment the silence ends
                continue
            status, after = "queued", None
            if r.digest or inc["tier"] == "P4":
                status, after = "digest", next_at(now, self.config.digest_at, self.tz)
            elif (hold := self.quiet.hold_until(inc["tier"], now)) is not None:
                status, after = "digest", hold
            outbox.enqueue(db, incident_id=inc["id"], recipient=r, kind=kind, tier=inc["tier"],
                           payload={"incident": snapshot(inc, card), "level": r.level, "route": r.route,
                                    **reach.payload(r)}, now=now,
                           status=status, deliver_after=after, note=reach.note(r))
            nflog.record(db, inc, r.key, r.must_act, now)
            queued += 1
            must_act_sent = must_act_sent or (r.must_act and status == "queued")
        values: dict[str, Any] = {
            "due_at": None if inc["state"] == "resolved" and next_due > now + 1 else next_due}
        if st.get("level_at") is None and must_act_sent:
            values.update(level_at=now, first_sent_at=now)
        db.table("alert_state").update(inc["id"], values)
        return queued

    def _plan(self, db: sqlite_utils.Database, now: float, report: TickReport) -> None:
        first_new = db.execute("select coalesce(max(id), 0) from alert_deliveries").fetchone()[0]
        self._active_silences = silences.list_active(db, now)
        people = self.directory.load(db)
        for st in list(db.query("select * from alert_state where due_at is not null and due_at <= ?", [now])):
            report.planned += self.evaluate(db, st, now, people)
        report.escalated += escalation.escalate(db, self, now, people)
        report.reminded += escalation.remind(db, self, now)
        due_digests = list(db.query("select * from alert_deliveries where status = 'digest' and deliver_after <= ?",
                                    [now]))
        outbox.fold(db, due_digests, now, by_recipient=True)
        held = [i for i, since in self.sender.denied_since.items() if now - since >= self.config.overflow_after_s]
        if held:
            rows = list(db.query(f"select * from alert_deliveries where id in ({','.join('?' for _ in held)}) "
                                 "and status = 'queued' and tier != 'P1' and kind != 'digest'", held))
            outbox.fold(db, rows, now, by_recipient=False)
            for i in held:
                self.sender.denied_since.pop(i, None)
        report.incidents.update(row[0] for row in db.execute(
            "select distinct incident_id from alert_deliveries where id > ?", [first_new]))

    async def tick(self, now: float | None = None, *, wait: bool = True) -> TickReport:
        """Plan and send everything due at ``now`` (the clock's time by default).

        With ``wait`` (the default, for tests and commands) the sends are
        finished when this returns; the timer loop does not wait, so a slow
        channel never delays planning or the other channels.
        """
        now = self.clock() if now is None else now
        report = TickReport()
        self.quiet.check_calendar(now)
        async with self._lock:
            await self.store.write(lambda db: self._plan(db, now, report))
        if report.incidents:
            await self._notify(report.incidents)
        if self.calendar_error and self.calendar_error != self._calendar_reported and self.rest_days is not None:
            self._calendar_reported = self.calendar_error  # once per missing year, across restarts too
            await self.health_alert("节假日日历 (holiday calendar)",
                                    f"calendar_no_data_{self.rest_days.local_date(now).year}",
                                    self.calendar_error, once=True)
        report.sent = await self.sender.send_due(now, self._session(), wait=wait)
        return report

    # -- health alerts -------------------------------------------------------------------
    async def health_alert(self, source: str, problem: str, message: str, *, once: bool = False) -> None:
        """A source stopped working (or recovered): tell on-call through the same outbox (see :mod:`health`).

        The same problem is told again after ``repeat_interval``; with ``once``, never again.
        """
        now = self.clock()
        message = self.redact(message)[:500]
        if await self.store.write(lambda db: health_alerts.enqueue(
                db, directory=self.directory, routes=self.all_routes(), source=source, problem=problem,
                message=message, now=now, repeat_interval=self.config.timing.repeat_interval, once=once)):
            await self._notify({None})
        self._wake.set()

    async def _notify(self, incidents: Iterable[int | None]) -> None:
        changed = AlertsChanged(frozenset(incidents))
        for listener in self.listeners:
            try:
                await listener(changed)
            except Exception:  # an observer must never stop planning or sending
                log.exception("alert listener %r failed", listener)

    # -- acknowledge links -------------------------------------------------------------
    async def check_link(self, value: str) -> dict[str, Any]:
        """The delivery an acknowledge link belongs to, if it can still be used (nothing changes)."""
        now = self.clock()
        return await self.store.read(lambda db: acklinks.check(db, self.secret, value, now=now,
                                                               ttl_s=self.config.ack_ttl_s))

    async def redeem_link(self, value: str, actor: str = "") -> dict[str, Any]:
        """Spend the link; its delivery counts as acknowledged by ``actor`` (``user:<name>``)."""
        now = self.clock()
        return await self.store.write(lambda db: acklinks.redeem(db, self.secret, value, now=now,
                                                                 ttl_s=self.config.ack_ttl_s, actor=actor))

    def message(self, row: dict[str, Any]) -> Message:
        payload = payload_of(row)
        base = self.config.public_url.rstrip("/")
        ack_url = f"{base}/ack/{acklinks.token(self.secret, row['id'], row['ack_nonce'])}" if (
            row["ack_nonce"] and not row["ack_used_at"]) else ""
        # 查看详情 goes through /incidents/N: a sign-in keeps it (a #fragment would be lost at login).
        console_url = f"{base}/incidents/{row['incident_id']}" if row["incident_id"] else f"{base}/console"
        named = payload.get("mention") or []
        mentions = self.directory.mentions(row["channel"], named)
        personal = tuple(
            (inline(str(m.get("label") or m["user"]), 20),
             f"{base}/ack/{acklinks.token(self.secret, row['id'], row['ack_nonce'], str(m['user']))}")
            for m in named[:MAX_PERSONAL_LINKS] if m.get("user")) if ack_url else ()
        return render(row["kind"], row["tier"], payload, must_act=bool(row["must_act"]),
                      recipient=row["recipient_label"] or "", ack_url=ack_url, console_url=console_url,
                      lang=self.config.language, mentions=mentions, ack_links=personal)

    # -- lifecycle -----------------------------------------------------------------------
    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            # Guarded with the channels' address policy, so post() can use it instead of a session per alert.
            policies = {c.network for c in self.channels.values()}
            self._http = open_session(policies.pop() if len(policies) == 1 else NetPolicy())
        return self._http

    async def start(self) -> None:
        await self.sender.recover(self.clock())
        self._task = asyncio.create_task(self._run(), name="lantern-alert-engine")

    async def _run(self) -> None:
        while True:
            # Cleared before the tick, not after the wait: a change told during the tick wakes the next one
            # at once instead of being lost until tick_s (a push then waited a second for its alert).
            self._wake.clear()
            try:
                await self.tick(wait=False)
            except Exception:  # keep the loop alive; the next tick retries
                log.exception("alert engine tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.config.tick_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.sender.close()
        if self._http is not None:
            await self._http.close()
            self._http = None
