"""Receipts and coverage of script versions: who of the targeted agents displayed, acknowledged and copied one.

A mixin of :class:`broadcast.service.ScriptService` (the write side of receipts and the coverage read),
kept apart so the lifecycle module stays readable.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Iterable
from typing import Any

import sqlite_utils

from . import repo
from .coverage import coverage_of
from .hub import Receipt  # kind (displayed/ack/copied), script_id, version, user_id, team, at
from .model import Broadcaster, Viewer
from .shifts import ShiftCalendar
from .store import Store

# Every active agent account as a viewer (run inside a Store read); web injects it, for on-shift coverage.
Roster = Callable[[sqlite_utils.Database], Iterable[Viewer]]


class ReceiptsMixin:
    store: Store
    clock: Callable[[], float]
    hub: Broadcaster | None
    shifts: ShiftCalendar
    roster: Roster | None

    async def coverage(self, script_id: int, version: int | None = None) -> dict[str, Any]:
        """Who of the targeted agents displayed, acknowledged and copied a version.

        Two denominators: the agents connected now, and - when shifts are configured - the agents whose
        shift was on when the version was published (or now, for a version not published yet).
        """
        viewers = await self.hub.all_viewers() if self.hub is not None else []
        now = self.clock()

        def read(db: sqlite_utils.Database) -> dict[str, Any]:
            script = repo.load_script(db, script_id)
            row = repo.load_version(db, script_id, version or script["live_version"] or script["current_version"])
            receipts = list(db.query("select * from broadcast_receipts where script_id = ? and version = ?",
                                     [script_id, row["version"]]))
            item = repo.item(row)
            on_shift: builtins.list[Viewer] | None = None
            at = item["published_at"] if item["published_at"] is not None else now
            shifts_on: builtins.list[str] = []
            if self.shifts and self.roster is not None:
                shifts_on = sorted(self.shifts.active(at))
                on_shift = [v for v in self.roster(db) if v.shift and v.shift in shifts_on]
            result = coverage_of(item, repo.audience_of(row), viewers, receipts, on_shift=on_shift)
            per_version = db.query(
                "select version, coalesce(sum(copies), 0) as copies, "
                "coalesce(sum(case when copies > 0 then 1 else 0 end), 0) as copied_agents "
                "from broadcast_receipts where script_id = ? group by version order by version", [script_id])
            people = [{"user_id": r["user_id"], "team": r["team"] or "", "displayed_at": r["displayed_at"],
                       "acked_at": r["acked_at"], "copies": r["copies"] or 0}
                      for r in sorted(receipts, key=lambda r: (r["displayed_at"] or math.inf, r["user_id"]))]
            return {**result, "on_shift_at": at if on_shift is not None else None, "shifts_on": shifts_on,
                    "people": people,
                    "copies_by_version": [dict(r) for r in per_version]}

        return await self.store.read(read)

    async def record_receipts(self, batch: Iterable[Receipt]) -> int:
        """Store a batch of receipts: the first displayed/acked time, and every copy (count, first, last)."""
        rows = builtins.list(batch)

        def txn(db: sqlite_utils.Database) -> int:
            for kind, script_id, version, user_id, team, at in rows:
                db.execute("insert or ignore into broadcast_receipts (script_id, version, user_id, team) "
                           "values (?, ?, ?, ?)", [script_id, version, user_id, team])
                key = [script_id, version, user_id]
                if kind == "copied":  # copying a script implies it was shown
                    db.execute("update broadcast_receipts set copies = copies + 1, "
                               "first_copied_at = min(coalesce(first_copied_at, ?), ?), "
                               "last_copied_at = max(coalesce(last_copied_at, ?), ?), "
                               "displayed_at = coalesce(displayed_at, ?) where script_id = ? and version = ? "
                               "and user_id = ?", [at, at, at, at, at, *key])
                    continue
                column = "acked_at" if kind == "ack" else "displayed_at"
                db.execute(f"update broadcast_receipts set {column} = coalesce({column}, ?), "
                           "displayed_at = coalesce(displayed_at, ?) where script_id = ? and version = ? "
                           "and user_id = ?", [at, at, *key])
            return len(rows)

        return await self.store.write(txn) if rows else 0
