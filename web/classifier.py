"""The classifier as the running system holds it: loaded from the settings, behind a swappable handle.

The rest of Lantern holds a :class:`ClassifierHandle`; the adaptation job
(:func:`web.compose.build_classifier`, :mod:`web.feedback`) swaps the model
behind it, so pollers and the incident engine use the adapted model from their
next batch on without being rebuilt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from classifiers import Classification, Classifier, Signals, TierPolicy, load_adapted
from classifiers.tiers import TierBreakdown
from web.errors import ConfigError
from web.platform.settings import Settings

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


def overlay_dir(settings: Settings) -> Path:
    """Where adapted-model corrections are saved: beside the database, never in the package."""
    return Path(settings["storage.path"]).parent / "classifier"


def load_classifier(settings: Settings, *, extra_brands: Sequence[str] = (), model_path: str | None = None,
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


