"""Storage of the incidents' story profiles (``incident_stories``), run inside ``store.write``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlite_utils

from .story import Profile


def load(db: sqlite_utils.Database, incidents: Iterable[tuple[int, Sequence[str]]]) -> dict[int, Profile]:
    """Profiles of ``(incident id, stored word list)`` pairs; an incident without one gets its word list's."""
    wanted = dict(incidents)
    if not wanted:
        return {}
    marks = ",".join("?" for _ in wanted)
    rows = db.execute(f"select incident_id, profile from incident_stories where incident_id in ({marks})",
                      list(wanted)).fetchall()
    found = {int(i): Profile.from_json(p) for i, p in rows}
    return {i: found.get(i) or Profile.of_terms(words) for i, words in wanted.items()}


def save(db: sqlite_utils.Database, incident_id: int, profile: Profile, now: float) -> None:
    db.execute("insert into incident_stories (incident_id, profile, updated_at) values (?, ?, ?) "
               "on conflict(incident_id) do update set profile = excluded.profile, updated_at = excluded.updated_at",
               [incident_id, profile.to_json(), now])
