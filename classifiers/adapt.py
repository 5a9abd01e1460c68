"""Adapting a classifier to manager corrections, as an overlay on the base model.

A correction says: for this text, ``field`` (sentiment, category or tier)
should be ``value``.  :func:`adapt` turns the list of all corrections into an
:class:`Overlay` and returns a new :class:`Classifier`; the base is untouched.

* **memory**: the corrected text itself (normalised) always gets the
  corrected value, whatever the model says;
* **sentiment**: a sparse weight delta, fitted by a few hundred steps of
  L2-regularised logistic gradient descent on the corrected texts only, moves
  near-duplicates (reposts, the same complaint reworded) the same way;
* **category**: per-term weight factors: a term that fired for a category the
  manager removed loses weight, ``(confirmed + 1) / (confirmed + removed + 1)``;
  terms of a category the manager added that matched too weakly gain weight;
* **tier**: memory only (the tier also depends on signals of the moment).

Only the corrections are persisted (``overlay.json``, :func:`save_overlay`);
the overlay is recomputed from them against whatever base model is loaded, so
corrections survive retraining and restarts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .categories import CATEGORIES, CategoryMatcher, light_normalize
from .classifier import OVERLAY_FILE, SENTIMENTS, Classifier
from .errors import InvalidCorrectionError
from .features import normalize
from .model import SentimentModel, sigmoid
from .tiers import TIERS

FIELDS = ("sentiment", "category", "tier")
STEPS = 300
LEARNING_RATE = 2.0
L2 = 0.01
TARGET_MARGIN = 2.0  # logit the corrected texts should reach (P ~ 0.88)


@dataclass(frozen=True)
class Correction:
    text: str
    field: str  # sentiment | category | tier
    value: str  # a sentiment, comma-separated category ids ("" = none), or P1..P4
    user: str = ""
    created_at: float = 0.0

    def __post_init__(self) -> None:
        if self.field not in FIELDS:
            raise InvalidCorrectionError(f"correction field must be one of {FIELDS}, not {self.field!r}")
        if self.field == "sentiment" and self.value not in SENTIMENTS:
            raise InvalidCorrectionError(f"sentiment must be one of {SENTIMENTS}, not {self.value!r}")
        if self.field == "tier" and self.value not in TIERS:
            raise InvalidCorrectionError(f"tier must be one of {TIERS}, not {self.value!r}")
        if self.field == "category":
            unknown = [c for c in self.categories() if c not in CATEGORIES]
            if unknown:
                raise InvalidCorrectionError(f"unknown categories {unknown}; known: {', '.join(CATEGORIES)}")
        if not self.text.strip():
            raise InvalidCorrectionError("a correction needs the text it corrects")

    def categories(self) -> tuple[str, ...]:
        return tuple(c.strip() for c in self.value.split(",") if c.strip())


@dataclass(frozen=True)
class Overlay:
    corrections: tuple[Correction, ...]
    memory: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    term_factors: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    neg_delta: Mapping[int, float] = field(default_factory=dict)
    pos_delta: Mapping[int, float] = field(default_factory=dict)


def adapt(classifier: Classifier, corrections: Iterable[Correction]) -> Classifier:
    """A new classifier: ``classifier``'s base model plus an overlay learnt from ``corrections``."""
    base = classifier.base or classifier
    latest: dict[tuple[str, str], Correction] = {}
    for c in sorted(corrections, key=lambda c: c.created_at):  # stable: equal times keep input order
        latest[(normalize(c.text), c.field)] = c
    kept = tuple(latest.values())
    memory: dict[str, dict[str, str]] = {}
    for (key, fld), c in latest.items():
        memory.setdefault(key, {})[fld] = ",".join(c.categories()) if fld == "category" else c.value
    sentiment = [c for c in kept if c.field == "sentiment"]
    neg_delta, pos_delta = _sentiment_deltas(base.model, sentiment)
    factors = _term_factors(base.matcher, [c for c in kept if c.field == "category"])
    overlay = Overlay(kept, memory, factors, neg_delta, pos_delta)
    model = base.model
    if neg_delta or pos_delta:
        neg, pos = model.neg_coef.copy(), model.pos_coef.copy()
        for i, v in neg_delta.items():
            neg[i] += v
        for i, v in pos_delta.items():
            pos[i] += v
        model = replace(model, neg_coef=neg, pos_coef=pos)
    if model.neu_coef is not None and sentiment:
        # the neutral gate learns the corrections too (a text corrected to negative is not neutral)
        neu_y = np.array([c.value == "neutral" for c in sentiment], dtype=np.float64)
        neu_delta = _fit_delta(base.model, [normalize(c.text) for c in sentiment], neu_y, "neu")
        if neu_delta:
            neu = model.neu_coef.copy()
            for i, v in neu_delta.items():
                neu[i] += v
            model = replace(model, neu_coef=neu)
    matcher = base.matcher
    if factors:
        matcher = CategoryMatcher(matcher.lexicon.reweighted(factors), matcher.tokenizer)
    return replace(base, model=model, matcher=matcher, overlay=overlay, base=base)


def _fit_delta(
    model: SentimentModel, texts: Sequence[str], targets: np.ndarray, which: str
) -> dict[int, float]:
    if not texts:
        return {}
    x = model.features(texts)
    cols = np.unique(x.indices)
    xs = x[:, cols].tocsr()
    zn, zp = model.logits(x)
    a, b = model.calibration if which == "neg" else (1.0, 0.0)
    if which == "neu" and model.neu_coef is not None:
        base = x @ model.neu_coef + model.neu_intercept
    else:
        base = a * (zn if which == "neg" else zp) + b
    d = np.zeros(len(cols), dtype=np.float64)
    for _ in range(STEPS):
        z = base + a * (xs @ d)
        if np.all(np.where(targets > 0.5, z, -z) >= TARGET_MARGIN):
            break
        grad = a * (xs.T @ (sigmoid(z) - targets)) + L2 * d
        d -= LEARNING_RATE * grad
    return {int(c): float(v) for c, v in zip(cols, d, strict=True) if abs(v) > 1e-6}


def _sentiment_deltas(
    model: SentimentModel, corrections: Sequence[Correction]
) -> tuple[dict[int, float], dict[int, float]]:
    texts = [normalize(c.text) for c in corrections]
    neg_y = np.array([c.value == "negative" for c in corrections], dtype=np.float64)
    neg = _fit_delta(model, texts, neg_y, "neg")
    nonneg = [(t, c.value == "positive") for t, c in zip(texts, corrections, strict=True) if c.value != "negative"]
    pos = _fit_delta(model, [t for t, _ in nonneg], np.array([y for _, y in nonneg], dtype=np.float64), "pos")
    return neg, pos


def _term_factors(matcher: CategoryMatcher, corrections: Sequence[Correction]) -> dict[str, dict[str, float]]:
    confirmed: dict[tuple[str, str], int] = {}
    removed: dict[tuple[str, str], int] = {}
    boosted: dict[tuple[str, str], int] = {}
    for c in corrections:
        match = matcher.match(light_normalize(c.text))
        wanted = set(c.categories())
        for cat in match.categories:
            for term in match.terms[cat]:
                bucket = confirmed if cat in wanted else removed
                bucket[(cat, term)] = bucket.get((cat, term), 0) + 1
        for cat in wanted - set(match.categories):
            for term in match.candidates.get(cat, ()):
                boosted[(cat, term)] = boosted.get((cat, term), 0) + 1
    factors: dict[str, dict[str, float]] = {}
    for key in set(removed) | set(boosted):
        cat, term = key
        ok, bad, up = confirmed.get(key, 0), removed.get(key, 0), boosted.get(key, 0)
        factor = (ok + up + 1) / (ok + bad + 1)
        if abs(factor - 1.0) > 1e-9:
            factors.setdefault(cat, {})[term] = factor
    return factors


# -- persistence: only the corrections are stored ------------------------


def save_overlay(corrections: Iterable[Correction], directory: str | Path) -> Path:
    """Write ``overlay.json`` (the corrections) into ``directory``, atomically."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    doc = {
        "format": "lantern-corrections",
        "format_version": 1,
        "saved_at": time.time(),
        "corrections": [asdict(c) for c in corrections],
    }
    tmp = path / (OVERLAY_FILE + ".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", "utf-8")
    tmp.replace(path / OVERLAY_FILE)
    return path / OVERLAY_FILE


def load_overlay(directory: str | Path) -> list[Correction]:
    doc = json.loads(Path(directory, OVERLAY_FILE).read_text("utf-8"))
    if doc.get("format") != "lantern-corrections" or doc.get("format_version") != 1:
        raise InvalidCorrectionError(f"{directory}/{OVERLAY_FILE} is not a Lantern corrections file (version 1)")
    return [Correction(**c) for c in doc["corrections"]]
