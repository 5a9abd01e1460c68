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

Only the corrections are persisted (``overlay.json``, :func:`classifiers.overlay.save_overlay`);
the overlay is recomputed from them against whatever base model is loaded, so
corrections survive retraining and restarts (:func:`load_adapted`).  The corrections and the overlay
are plain values in :mod:`.overlay`, which :mod:`.classifier` uses; this module builds on both, so the
imports go one way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from .categories import CategoryMatcher, Lexicon, light_normalize
from .classifier import Classifier
from .features import normalize
from .model import SentimentModel, shipped_model_dir, sigmoid
from .overlay import OVERLAY_FILE, Correction, Overlay, load_overlay
from .tiers import TierPolicy

STEPS = 300
LEARNING_RATE = 2.0
L2 = 0.01
TARGET_MARGIN = 2.0  # logit the corrected texts should reach (P ~ 0.88)


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


def load_adapted(path: str | Path | None = None, *, overlay_dir: str | Path | None = None,
                 brands: Sequence[str] = (), tier_policy: TierPolicy | None = None, lexicon: Lexicon | None = None,
                 fast_tokenizer: bool | None = None) -> Classifier:
    """:meth:`Classifier.load`, then the manager corrections saved by :func:`classifiers.overlay.save_overlay`
    in ``overlay_dir`` (default: ``path``) re-applied, if there are any."""
    clf = Classifier.load(path, brands=brands, tier_policy=tier_policy, lexicon=lexicon,
                          fast_tokenizer=fast_tokenizer)
    where = overlay_dir if overlay_dir is not None else path
    if where is not None and Path(where, OVERLAY_FILE).is_file() and Path(where) != shipped_model_dir():
        clf = adapt(clf, load_overlay(where))
    return clf
