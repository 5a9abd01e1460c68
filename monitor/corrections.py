"""Managers' corrections of a mention's classification (the ``corrections`` table, :mod:`monitor.schema`).

A manager says: for this mention, ``field`` (sentiment, category or tier) should be ``value``.  The row keeps
the mention's text as it was classified, so the classifier can learn from it (:func:`classifiers.adapt`)
even after the mention is gone.  Synchronous functions, run inside ``store.read`` / ``store.write``.
"""

from __future__ import annotations

import logging
import time

import sqlite_utils

from classifiers import Correction, InvalidCorrectionError

from .errors import MonitorError

log = logging.getLogger(__name__)


class UnknownMentionError(MonitorError, LookupError):
    """A correction names a mention that is not stored."""

    code = "not_found"
    status = 404


def record_correction(
    db: sqlite_utils.Database,
    *,
    text: str,
    field: str,
    value: str,
    user: str = "",
    mention_id: int | None = None,
    now: float | None = None,
) -> int:
    """Validate and insert one correction (inside a ``db.write``); returns its id."""
    Correction(text, field, value, user)  # raises InvalidCorrectionError
    table = db["corrections"]
    table.insert(  # type: ignore[union-attr]
        {
            "mention_id": mention_id,
            "text": text,
            "field": field,
            "value": value,
            "user": user,
            "created_at": time.time() if now is None else now,
        }
    )
    return int(table.last_pk)  # type: ignore[union-attr,arg-type]


def correct_mention(db: sqlite_utils.Database, mention_id: int, field: str, value: str, user: str,
                    now: float) -> int:
    """Record a correction of stored mention ``mention_id`` with its text as classified; returns its id.

    Raises :class:`UnknownMentionError` when there is no such mention, ``InvalidCorrectionError`` when the
    field or value is not one the classifier knows.
    """
    row = db.execute("select title, text from mentions where id = ?", [mention_id]).fetchone()
    if row is None:
        raise UnknownMentionError(message_zh=f"没有编号为 {mention_id} 的提及", message_en=f"no mention {mention_id}")
    title, text = row[0] or "", row[1] or ""
    content = text if title and text.startswith(title) else f"{title}\n{text}" if title else text
    return record_correction(db, text=content, field=field, value=value, user=user, mention_id=mention_id, now=now)


def all_corrections(db: sqlite_utils.Database) -> list[Correction]:
    """Every stored correction, oldest first; an invalid one (a field the classifier dropped) is skipped."""
    out = []
    rows = db.query("select text, field, value, user, created_at from corrections order by created_at, id")
    for row in rows:
        try:
            out.append(Correction(row["text"], row["field"], row["value"], row["user"] or "", row["created_at"]))
        except InvalidCorrectionError as exc:
            log.warning("skipping invalid correction: %s", exc)
    return out


def corrections_signature(db: sqlite_utils.Database) -> tuple[int, int]:
    """(row count, highest id) of the corrections table: changes whenever one is added or removed."""
    row = db.execute("select count(*), coalesce(max(id), 0) from corrections").fetchone()
    return int(row[0]), int(row[1])
