"""Manager corrections of classifications: storage and the adaptation job.

Corrections live in the ``corrections`` table (migration set ``classifier``).
The scheduled job :func:`adapt_from_corrections` reads all of them, builds an
adapted classifier (:func:`classifiers.adapt`) and saves the corrections as
``overlay.json`` in ``model_dir``, where ``Classifier.load`` re-applies them on
every start and after every retraining.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from classifiers import Classifier, Correction, InvalidCorrectionError, adapt, load_overlay, save_overlay

log = logging.getLogger(__name__)

classifiers_migrations = Migrations("classifier")


@classifiers_migrations()
def m001_corrections(db: sqlite_utils.Database) -> None:
    db["corrections"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "mention_id": int,
            "text": str,
            "field": str,
            "value": str,
            "user": str,
            "created_at": float,
        },
        pk="id",
        not_null={"text", "field", "value", "created_at"},
    )
    db["corrections"].create_index(["created_at"])  # type: ignore[union-attr]


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


def _all_corrections(db: sqlite_utils.Database) -> list[Correction]:
    out = []
    rows = db.query("select text, field, value, user, created_at from corrections order by created_at, id")
    for row in rows:
        try:
            out.append(Correction(row["text"], row["field"], row["value"], row["user"] or "", row["created_at"]))
        except InvalidCorrectionError as exc:
            log.warning("skipping invalid correction: %s", exc)
    return out


async def adapt_from_corrections(db: Any, classifier: Classifier, model_dir: str | Path) -> Classifier:
    """Adapt ``classifier`` to every stored correction; persist them next to the model.

    Returns the adapted classifier (the caller swaps it in); the base model is
    not modified, so running the job again starts from the same base.
    """
    corrections = await db.read(_all_corrections)
    if not corrections:
        return classifier
    adapted = await asyncio.to_thread(adapt, classifier, corrections)
    if await asyncio.to_thread(_overlay_differs, corrections, model_dir):
        await asyncio.to_thread(save_overlay, corrections, model_dir)
    log.info("classifier adapted from %d corrections", len(corrections))
    return adapted


def corrections_signature(db: sqlite_utils.Database) -> tuple[int, int]:
    """(row count, highest id) of the corrections table: changes whenever one is added or removed."""
    row = db.execute("select count(*), coalesce(max(id), 0) from corrections").fetchone()
    return int(row[0]), int(row[1])


def _overlay_differs(corrections: list[Correction], model_dir: str | Path) -> bool:
    """True unless ``overlay.json`` in ``model_dir`` already holds exactly these corrections."""
    try:
        return load_overlay(model_dir) != corrections
    except (OSError, ValueError, TypeError, InvalidCorrectionError):
        return True
