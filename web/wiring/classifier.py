"""Wiring of the classifier: load the model once, adapt it to managers' corrections on a schedule.

The rest of Lantern holds a :class:`ClassifierHandle`; the adaptation job swaps
the model behind it, so pollers and the incident engine use the adapted model
from their next batch on without being rebuilt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from classifiers import Classification, Classifier, Signals, TierPolicy, load_adapted
from classifiers.tiers import TierBreakdown
from monitor.corrections import corrections_signature
from web.errors import ConfigError
from web.platform import metrics
from web.wiring.feedback import adapt_from_corrections

log = logging.getLogger(__name__)


class ClassifierHandle:
    """Forwards to the current classifier; ``swap`` replaces it atomically."""

    def __init__(self, classifier: Classifier, observe: Callable[[float], None] | None = None) -> None:
        self.current = classifier
        self.observe = observe  # receives seconds per classified text (for metrics)

    def swap(self, classifier: Classifier) -> None:
        self.current = classifier

    def classify(self, text: str, signals: Signals | None = None) -> Classification:
        return self.current.classify(text, signals)

    def classify_batch(self, texts: Sequence[str],
                       signals: Sequence[Signals | None] | None = None) -> list[Classification]:
        started = time.perf_counter()
        results = self.current.classify_batch(texts, signals)
        if self.observe is not None and texts:
            self.observe((time.perf_counter() - started) / len(texts))
        return results

    def tier(self, negative_probability: float, categories: Sequence[str],
             signals: Signals | None) -> tuple[str, tuple[str, ...]]:
        return self.current.tier(negative_probability, categories, signals)

    def explain_tier(self, negative_probability: float, categories: Sequence[str],
                     signals: Signals | None) -> TierBreakdown:
        return self.current.explain_tier(negative_probability, categories, signals)

    def authority_of(self, name: str | None) -> str:
        """The authority code (central_media ... ordinary) the tier policy gives an outlet or account name."""
        return self.current.tier_policy.authority_of(name)[0]


def overlay_dir(settings: Any) -> Path:
    """Where adapted-model corrections are saved: beside the database, never in the package."""
    return Path(settings["storage.path"]).parent / "classifier"


def load_classifier(settings: Any, *, extra_brands: Sequence[str] = (), model_path: str | None = None,
                    corrections_dir: Path | None = None) -> Classifier:
    """The classifier as configured: model path, brand dictionary and the ``[tier]`` policy.

    Both ``lantern serve`` and the ``classify``/``eval`` commands load through
    here, so they tier the same text the same way.  ``corrections_dir``
    re-applies managers' corrections saved there by the adaptation job.
    """
    try:
        policy = TierPolicy.from_dict(settings.tables["tier"]) if settings.tables["tier"] else None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"[tier]: {exc}") from exc
    path = model_path or settings["classifier.model_path"] or None
    return load_adapted(path, brands=[*settings["monitor.brands"], *extra_brands], tier_policy=policy,
                        overlay_dir=corrections_dir)


async def wire(services: Any) -> None:
    settings = services.settings
    # The base model without saved corrections: the job below re-adapts it from the database.
    base = await asyncio.to_thread(load_classifier, settings)
    handle = ClassifierHandle(base, metrics.for_services(services).classification_seconds.observe)
    services.classifier = handle
    interval = float(settings["classifier.adapt_interval_s"])
    task: asyncio.Task[None] | None = None

    seen: tuple[int, int] | None = None

    async def adapt_once() -> None:
        # Re-adapt (and rewrite overlay.json) only when the corrections changed since the last run.
        nonlocal seen
        signature = await services.db.read(corrections_signature)
        if signature == seen:
            return
        handle.swap(await adapt_from_corrections(services.db, base, overlay_dir(settings)))
        seen = signature

    async def loop() -> None:
        while True:
            try:
                await adapt_once()
            except Exception:  # keep serving with the previous model; the next run retries
                log.exception("adapting the classifier to corrections failed")
            await asyncio.sleep(interval)

    async def start() -> None:
        nonlocal task
        if interval > 0:
            task = asyncio.create_task(loop(), name="classifier-adapt")
        else:
            await adapt_once()

    async def stop() -> None:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    services.on_start.append(start)
    services.on_stop.append(stop)
    services.extras["adapt_classifier"] = adapt_once
