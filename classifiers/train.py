"""Training the sentiment model with scikit-learn (sans-I/O: examples in, model out).

Choices below were made by validation on Weibo posts (weibo2018 + SMP2020
splits; see model/MODEL_CARD.md): character 1-3-grams beat word n-grams and
their union; Naive-Bayes log-count-ratio scaling and weak regularisation
(C=30) help on Weibo; review corpora help at a fifth of a Weibo post's weight.

Two views, averaged: the main logistic regression on character 1-3-grams and
a second one on character 1-4-grams plus jieba word uni/bigrams, each
Platt-scaled on the validation split and averaged in logit space (an ensemble
that folds into one coefficient vector, see :mod:`.model`), plus hand-written
domain priors (:mod:`.priors`).

Splits are by a hash of the normalised text, after de-duplication, so a text
and its reposted copies never straddle train and validation: bucket 0 is the
test split, bucket 1 validation (also used for calibration), the rest train.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from .corpora import NEGATIVE, NEUTRAL, NOT_NEGATIVE, POSITIVE, WEIBO_DOMAINS, Example
from .features import FeatureSpec, Featurizer, normalize
from .metrics import score
from .model import SentimentModel
from .priors import DEFAULT_PRIORS, Prior

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainConfig:
    spec: FeatureSpec = field(default_factory=lambda: FeatureSpec(n_features_log2=20, char_max_n=3))
    C: float = 30.0
    # second view of the negative model (None: main view only)
    extra_spec: FeatureSpec | None = field(
        default_factory=lambda: FeatureSpec(n_features_log2=20, char_max_n=4, word_max_n=2)
    )
    extra_C: float = 30.0
    priors: tuple[Prior, ...] = DEFAULT_PRIORS
    pos_C: float = 10.0
    review_weight: float = 0.2  # weight of a review relative to a Weibo post
    nb_scaling: bool = True
    nb_alpha: float = 1.0
    final_refit: bool = True  # refit on train+test after measuring (calibration stays on validation)
    max_iter: int = 3000


def split_of(normalized_text: str) -> str:
    bucket = int(hashlib.sha1(normalized_text.encode("utf-8"), usedforsecurity=False).hexdigest()[:8], 16) % 10
    return "test" if bucket == 0 else "val" if bucket == 1 else "train"


def dedupe(examples: Sequence[Example]) -> list[tuple[str, Example]]:
    """(normalised text, example), first occurrence of every normalised text only."""
    seen: set[str] = set()
    out = []
    for e in examples:
        key = normalize(e.text)
        if key and key not in seen:
            seen.add(key)
            out.append((key, e))
    return out


def _weight(e: Example, config: TrainConfig) -> float:
    return 1.0 if e.domain in WEIBO_DOMAINS else config.review_weight


def _nb_ratio(x: sp.csr_matrix, y: np.ndarray, w: np.ndarray, alpha: float) -> np.ndarray:
    b = x.copy()
    b.data[:] = 1.0
    p = np.asarray(b[y].T @ w[y]).ravel() + alpha
    q = np.asarray(b[~y].T @ w[~y]).ravel() + alpha
    return np.abs(np.log((p / p.sum()) / (q / q.sum()))).astype(np.float32)


def _fit_binary(
    x: sp.csr_matrix, y: np.ndarray, w: np.ndarray, C: float, config: TrainConfig
) -> tuple[np.ndarray, float]:
    """Coefficients (NB scaling folded in) and intercept of one logistic regression."""
    if len(set(y.tolist())) < 2:
        return np.zeros(x.shape[1], dtype=np.float32), (5.0 if y.size and y[0] else -5.0)
    scale = _nb_ratio(x, y, w, config.nb_alpha) if config.nb_scaling else np.ones(x.shape[1], np.float32)
    xs = x @ sp.diags(scale) if config.nb_scaling else x
    clf = LogisticRegression(C=C, max_iter=config.max_iter, solver="liblinear")
    clf.fit(xs, y, sample_weight=w)
    return (clf.coef_.ravel() * scale).astype(np.float32), float(clf.intercept_[0])


def _platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling ``(a, b)`` of logits ``z`` for labels ``y`` (identity if too few or one class)."""
    if len(z) < 20 or len(set(y.tolist())) < 2:
        return 1.0, 0.0
    lr = LogisticRegression(C=100.0, max_iter=1000)
    lr.fit(z.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def fit(
    data: Sequence[tuple[str, Example]],
    config: TrainConfig,
    progress: Progress | None = None,
    val: Sequence[tuple[str, Example]] = (),
) -> SentimentModel:
    """Fit the model on ``data``; the two views are Platt-scaled on the Weibo posts of ``val``."""
    step = progress or (lambda _msg: None)
    featurizer = Featurizer(config.spec)
    step("featurising")
    texts = [k for k, _ in data]
    x = featurizer.transform(texts, normalized=True)
    w = np.array([_weight(e, config) for _, e in data])
    step("fitting negative-vs-not")
    y = np.array([e.label == NEGATIVE for _, e in data])
    neg, neg_b = _fit_binary(x, y, w, config.C, config)
    step("fitting positive-vs-neutral")
    rows = np.array([i for i, (_, e) in enumerate(data) if e.label in (POSITIVE, NEUTRAL)], dtype=np.int64)
    yp = np.array([data[i][1].label == POSITIVE for i in rows])
    wp = np.array([w[i] for i in rows])
    pos, pos_b = _fit_binary(x[rows], yp, wp, config.pos_C, config) if len(rows) else (np.zeros_like(neg), 0.0)
    n_priors = len(config.priors)
    prior_logits = np.array([p.logit for p in config.priors], dtype=np.float32)
    if config.extra_spec is None:
        return SentimentModel(
            config.spec,
            np.concatenate([neg, prior_logits]),
            neg_b,
            np.concatenate([pos, np.zeros(n_priors, np.float32)]),
            pos_b,
            priors=config.priors,
        )
    step("featurising second view")
    from .tokenize import Tokenizer

    extra = Featurizer(config.extra_spec, tokenize=Tokenizer().cut if config.extra_spec.word_max_n else None)
    x2 = extra.transform(texts, normalized=True)
    step("fitting second view")
    neg2, neg2_b = _fit_binary(x2, y, w, config.extra_C, config)
    weibo = [k for k, e in val if e.domain in WEIBO_DOMAINS]
    yv = np.array([e.label == NEGATIVE for _, e in val if e.domain in WEIBO_DOMAINS])
    a1, c1 = _platt(featurizer.transform(weibo, normalized=True) @ neg + neg_b, yv) if weibo else (1.0, 0.0)
    a2, c2 = _platt(extra.transform(weibo, normalized=True) @ neg2 + neg2_b, yv) if weibo else (1.0, 0.0)
    coef = np.concatenate([0.5 * a1 * neg, 0.5 * a2 * neg2, prior_logits]).astype(np.float32)
    intercept = 0.5 * (a1 * neg_b + c1) + 0.5 * (a2 * neg2_b + c2)
    pos_all = np.concatenate([pos, np.zeros(config.extra_spec.n_features + n_priors, np.float32)])
    return SentimentModel(
        config.spec, coef, intercept, pos_all, pos_b, extra_spec=config.extra_spec, priors=config.priors
    )


def calibrate(model: SentimentModel, data: Sequence[tuple[str, Example]]) -> SentimentModel:
    """Platt scaling of the negative logit on held-out Weibo posts (identity if too few)."""
    weibo = [(k, e) for k, e in data if e.domain in WEIBO_DOMAINS]
    y = np.array([e.label == NEGATIVE for _, e in weibo])
    if len(weibo) < 20 or len(set(y.tolist())) < 2:
        return model
    zn, _ = model.logits(model.features([k for k, _ in weibo]))
    return replace(model, calibration=_platt(zn, y))


def without_priors(model: SentimentModel) -> SentimentModel:
    """The same model with its domain priors removed (to measure what they do)."""
    k = len(model.priors)
    if not k:
        return model
    return replace(model, neg_coef=model.neg_coef[:-k], pos_coef=model.pos_coef[:-k], priors=())


def evaluate(model: SentimentModel, data: Sequence[tuple[str, Example]]) -> dict[str, Any]:
    """Per-domain binary (negative vs not) scores, plus 3-class where labels allow."""
    if not data:
        return {}
    zn, zp = model.logits(model.features([k for k, _ in data]))
    p_neg = model.negative_probability(zn)
    p_pos = 1.0 / (1.0 + np.exp(-np.clip(zp, -35, 35)))
    pred3 = np.where(p_neg >= 0.5, NEGATIVE, np.where(p_pos >= 0.5, POSITIVE, NEUTRAL))
    out: dict[str, Any] = {}
    domains = sorted({e.domain for _, e in data})
    groups = {d: [i for i, (_, e) in enumerate(data) if e.domain == d] for d in domains}
    groups["weibo (all)"] = [i for i, (_, e) in enumerate(data) if e.domain in WEIBO_DOMAINS]
    for name, idx in groups.items():
        if not idx:
            continue
        true_b = ["negative" if data[i][1].label == NEGATIVE else "not_negative" for i in idx]
        pred_b = ["negative" if p_neg[i] >= 0.5 else "not_negative" for i in idx]
        entry: dict[str, Any] = {"binary": score(true_b, pred_b, ["negative", "not_negative"]).as_dict()}
        three = [i for i in idx if data[i][1].label != NOT_NEGATIVE]
        if three and any(data[i][1].label == NEUTRAL for i in three):
            entry["three_class"] = score(
                [data[i][1].label for i in three], [str(pred3[i]) for i in three], [NEGATIVE, NEUTRAL, POSITIVE]
            ).as_dict()
        out[name] = entry
    return out


def train(
    examples: Sequence[Example], config: TrainConfig | None = None, progress: Progress | None = None
) -> tuple[SentimentModel, dict[str, Any]]:
    """Fit, measure on validation and test splits, refit, calibrate.  Returns the model and a report."""
    config = config or TrainConfig()
    step = progress or (lambda _msg: None)
    step("de-duplicating and splitting")
    data = dedupe(examples)
    splits: dict[str, list[tuple[str, Example]]] = {"train": [], "val": [], "test": []}
    for k, e in data:
        splits[split_of(k)].append((k, e))
    counts = {
        s: {d: sum(1 for _, e in rows if e.domain == d) for d in sorted({e.domain for _, e in data})}
        for s, rows in splits.items()
    }
    model = calibrate(fit(splits["train"], config, step, splits["val"]), splits["val"])
    step("evaluating")
    report: dict[str, Any] = {
        "config": {
            **asdict(config),
            "spec": config.spec.as_dict(),
            "extra_spec": config.extra_spec.as_dict() if config.extra_spec else None,
            "priors": [p.as_dict() for p in config.priors],
        },
        "examples": {"raw": len(examples), "deduplicated": len(data), "per_split": counts},
        "validation": evaluate(model, splits["val"]),
        "test": evaluate(model, splits["test"]),
    }
    if config.priors:
        bare = without_priors(model)
        report["validation_without_priors"] = evaluate(bare, splits["val"])
        report["test_without_priors"] = evaluate(bare, splits["test"])
    if config.final_refit and splits["test"]:
        model = calibrate(fit(splits["train"] + splits["test"], config, step, splits["val"]), splits["val"])
        report["final_model"] = "refit on train+test splits, calibrated on validation"
        report["final_validation"] = evaluate(model, splits["val"])
    else:
        report["final_model"] = "fitted on train split, calibrated on validation"
    report["calibration"] = {"a": model.calibration[0], "b": model.calibration[1]}
    model.info = {"training": report}
    return model, report


TRAIN_STEPS = 12  # progress steps of train() with final_refit and a second view, for a progress bar total
TRAIN_STEPS_NO_REFIT = 7
