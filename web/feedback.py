"""Manager corrections of classifications: the adaptation job.

Corrections live in monitor's ``corrections`` table (:mod:`monitor.corrections`).
The scheduled job :func:`adapt_from_corrections` reads all of them, builds an
adapted classifier (:func:`classifiers.adapt`) and saves the corrections as
``overlay.json`` in ``model_dir``, where ``classifiers.load_adapted`` re-applies them on
every start and after every retraining.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from classifiers import Classifier, Correction, InvalidCorrectionError, adapt, load_overlay, save_overlay
from monitor.corrections import all_corrections

log = logging.getLogger(__name__)


async def adapt_from_corrections(db: Any, classifier: Classifier, model_dir: str | Path) -> Classifier:
    """Adapt ``classifier`` to every stored correction; persist them next to the model.

    Returns the adapted classifier (the caller swaps it in); the base model is
    not modified, so running the job again starts from the same base.
    """
    corrections = await db.read(all_corrections)
    if not corrections:
        return classifier
    adapted = await asyncio.to_thread(adapt, classifier, corrections)
    if await asyncio.to_thread(_overlay_differs, corrections, model_dir):
        await asyncio.to_thread(save_overlay, corrections, model_dir)
    log.info("classifier adapted from %d corrections", len(corrections))
    return adapted


def _overlay_differs(corrections: list[Correction], model_dir: str | Path) -> bool:
    """True unless ``overlay.json`` in ``model_dir`` already holds exactly these corrections."""
    try:
        return load_overlay(model_dir) != corrections
    except (OSError, ValueError, TypeError, InvalidCorrectionError):
        return True
