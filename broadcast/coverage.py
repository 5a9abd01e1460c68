"""Coverage of one script version: who of the targeted agents displayed, acknowledged and copied it.

Pure: the caller passes the item, its audience, the agents connected now, the
agents on shift (optional) and the receipt rows.  "Connected" is what the hub
sees at the moment of the question; "on shift" is who was rostered when the
version went out; receipts are durable and cover every node.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from .model import Audience, Viewer


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _latency(receipts: Sequence[dict[str, Any]], column: str, published_at: float | None) -> dict[str, Any]:
    if published_at is None:
        return {"median_s": None, "p90_s": None}
    delays = sorted(max(0.0, r[column] - published_at) for r in receipts if r.get(column) is not None)
    if not delays:
        return {"median_s": None, "p90_s": None}
    p90 = delays[min(len(delays) - 1, round(0.9 * (len(delays) - 1)))]
    return {"median_s": round(statistics.median(delays), 3), "p90_s": round(p90, 3)}


def _on_shift_block(shift: set[int] | None, displayed: set[int], acked: set[int]) -> dict[str, Any]:
    """The on-shift denominator; every figure None when no shifts are configured."""
    if shift is None:
        return dict.fromkeys(("on_shift", "displayed_on_shift", "displayed_on_shift_pct", "acked_on_shift",
                              "acked_on_shift_pct"))
    return {"on_shift": len(shift),
            "displayed_on_shift": len(displayed & shift),
            "displayed_on_shift_pct": _pct(len(displayed & shift), len(shift)),
            "acked_on_shift": len(acked & shift),
            "acked_on_shift_pct": _pct(len(acked & shift), len(shift))}


def _block(connected: set[int], receipts: Sequence[dict[str, Any]], published_at: float | None,
           on_shift: set[int] | None) -> dict[str, Any]:
    displayed = {r["user_id"] for r in receipts if r.get("displayed_at") is not None}
    acked = {r["user_id"] for r in receipts if r.get("acked_at") is not None}
    copiers = [r for r in receipts if r.get("copies")]
    return {
        "connected": len(connected),
        "displayed_connected": len(displayed & connected),
        "displayed_pct": _pct(len(displayed & connected), len(connected)),
        "acked_connected": len(acked & connected),
        "acked_pct": _pct(len(acked & connected), len(connected)),
        **_on_shift_block(on_shift, displayed, acked),
        "displayed_total": len(displayed),
        "acked_total": len(acked),
        "copies": sum(int(r["copies"]) for r in copiers),
        "copied_agents": len({r["user_id"] for r in copiers}),
        "last_copied_at": max((r["last_copied_at"] for r in copiers if r.get("last_copied_at") is not None),
                              default=None),
        "display_latency": _latency(receipts, "displayed_at", published_at),
        "ack_latency": _latency(receipts, "acked_at", published_at),
    }


def coverage_of(item: dict[str, Any], audience: Audience, viewers: Iterable[Viewer],
                receipts: Sequence[dict[str, Any]], on_shift: Iterable[Viewer] | None = None) -> dict[str, Any]:
    """Overall and per-team figures, e.g. 87% of team X's connected agents displayed v3, median 0.4 s.

    ``on_shift`` are the agents whose shift is on (None: no shifts configured); the targeted ones among
    them are the second denominator ("92% of on-shift agents of team X displayed v3").
    """
    agents = {v.user_id: v for v in viewers if v.role == "agent" and audience.matches(v)}
    working = None if on_shift is None else {
        v.user_id: v for v in on_shift if v.role == "agent" and audience.matches(v)}
    published_at = item.get("published_at")
    teams: dict[str, set[int]] = {}
    for viewer in agents.values():
        teams.setdefault(viewer.team or "", set()).add(viewer.user_id)
    shift_teams: dict[str, set[int]] = {}
    for viewer in (working or {}).values():
        shift_teams.setdefault(viewer.team or "", set()).add(viewer.user_id)
        teams.setdefault(viewer.team or "", set())
    for receipt in receipts:
        teams.setdefault(receipt.get("team") or "", set())
    by_team = {
        team: _block(members, [r for r in receipts if (r.get("team") or "") == team], published_at,
                     None if working is None else shift_teams.get(team, set()))
        for team, members in sorted(teams.items())
    }
    return {"script_id": item["id"], "version": item["version"], "state": item["state"],
            "published_at": published_at, "audience": audience.as_dict(),
            **_block(set(agents), receipts, published_at, None if working is None else set(working)),
            "by_team": by_team}
