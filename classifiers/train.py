"""Training the sentiment model with scikit-learn (sans-I/O: examples in, model out).

Choices below were made by the validation protocol of :mod:`.protocol` (the
organisers' SMP2020 eval splits and a fixed random split of weibo2018; see
model/MODEL_CARD.md):

* two views, each a logistic regression on Naive-Bayes-scaled features
  (C=30): character 1-3-grams, and character 1-4-grams plus jieba word
  uni/bigrams; their logits averaged (one folded coefficient vector, see
  :mod:`.model`), then Platt-calibrated;
* negative vs not negative is learnt from negative and positive posts only:
  neutral / surprise / none posts feed the positive-vs-neutral head only
  (adding them as "not negative" cost 1-1.5 points on every validation set);
* weights per corpus (:data:`DOMAIN_WEIGHTS`): weibo2018 2, SMP2020 Covid 1.5,
  SMP2020 general 1, the other Weibo emotion corpora 0.5, reviews 0.2;
* a neutral-vs-polar head (plain LR, C=4, main view) gates the negative
  model: see :mod:`.model` (it costs nothing on the validation sets and halves
  the neutral posts called negative);
* hand-written brand-crisis priors with fixed logits, and sarcasm markers
  whose logits are fitted (:mod:`.priors`).

The calibration split is one twentieth of the Weibo training posts (by a hash
of the normalised text, so reposted copies never straddle it); the model is
fitted on the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from .corpora import NEGATIVE, NEUTRAL, NOT_NEGATIVE, POSITIVE, WEIBO_DOMAINS, Example
from .features import FeatureSpec, Featurizer, normalize
from .model import SentimentModel
from .priors import DEFAULT_PRIORS, Prior, prior_matrix
from .scores import score

Progress = Callable[[str], None]

DOMAIN_WEIGHTS: dict[str, float] = {
    "weibo2018": 2.0,
    "smp2020": 1.5,
    "smp2020_usual": 1.0,
    "covid19": 0.5,
    "lrec2016": 0.5,
    "nlpcc2013": 0.5,
    "nlpcc2014": 0.5,
    "mix8": 0.5,
    "waimai": 0.2,
    "hotel": 0.2,
    "shopping": 0.2,
    "chnsenticorp": 0.2,
}


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
    neu_C: float = 4.0  # neutral vs polar (plain logistic regression, main view)
    neutral_gate: tuple[float, float] | None = (0.6, 0.9)  # (P(neutral) threshold, P(negative) cap); None: no gate
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DOMAIN_WEIGHTS))
    default_weight: float = 0.5  # a corpus not named in ``weights``
    neutral_weight: float = 0.0  # neutral posts in the negative head, as not negative (times the corpus weight)
    nb_scaling: bool = True
    nb_alpha: float = 1.0
    repost_own_weight: float = 0.3  # repost chains: weight of the reposter's own words (see .model)
    calibration_buckets: int = 20  # 1 in N Weibo training posts calibrates (0: no calibration split)
    max_iter: int = 3000


def is_calibration(normalized_text: str, buckets: int) -> bool:
    if buckets <= 1:
        return False
    digest = hashlib.sha1(normalized_text.encode("utf-8"), usedforsecurity=False).hexdigest()[:8]
    return int(digest, 16) % buckets == 0


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
    return float(config.weights.get(e.domain, config.default_weight))


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
    clf = LogisticRegression(C=C, max_iter=config.max_iter, solver="liblinear", random_state=0)
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
    data: Sequence[tuple[str, Example]], config: TrainConfig, progress: Progress | None = None
) -> SentimentModel:
    """Fit the (uncalibrated) model on ``data``: (normalised text, example) pairs."""
    step = progress or (lambda _msg: None)
    step("featurising")
    texts = [k for k, _ in data]
    x = Featurizer(config.spec).transform(texts, normalized=True)
    w = np.array([_weight(e, config) for _, e in data])
    fitted = np.array([p.fitted for p in config.priors], dtype=bool)
    pm = prior_matrix(config.priors, texts)[:, np.flatnonzero(fitted)]
    binary = np.array([i for i, (_, e) in enumerate(data) if e.label != NEUTRAL or config.neutral_weight > 0],
                      dtype=np.int64)
    y = np.array([data[i][1].label == NEGATIVE for i in binary], dtype=bool)
    wb = w[binary] * np.array([config.neutral_weight if data[i][1].label == NEUTRAL else 1.0 for i in binary])
    step("fitting negative-vs-not")
    neg, neg_b = _fit_binary(sp.hstack([x[binary], pm[binary]], format="csr"), y, wb, config.C, config)
    n_main = config.spec.n_features
    step("fitting positive-vs-neutral")
    rows = np.array([i for i, (_, e) in enumerate(data) if e.label in (POSITIVE, NEUTRAL)], dtype=np.int64)
    yp = np.array([data[i][1].label == POSITIVE for i in rows], dtype=bool)
    pos, pos_b = _fit_binary(x[rows], yp, w[rows], config.pos_C, config) if len(rows) else (np.zeros(n_main), 0.0)
    neu: np.ndarray | None = None
    neu_b = 0.0
    with_neutral = {e.domain for _, e in data if e.label == NEUTRAL}
    neu_rows = np.array([i for i, (_, e) in enumerate(data) if e.domain in with_neutral and e.label != NOT_NEGATIVE],
                        dtype=np.int64)
    yn = np.array([data[i][1].label == NEUTRAL for i in neu_rows], dtype=bool)
    if config.neutral_gate is not None and len(set(yn.tolist())) == 2:
        step("fitting neutral-vs-polar")
        clf = LogisticRegression(C=config.neu_C, max_iter=config.max_iter, solver="liblinear", random_state=0)
        clf.fit(x[neu_rows], yn, sample_weight=w[neu_rows])
        neu, neu_b = clf.coef_.ravel().astype(np.float32), float(clf.intercept_[0])
    else:
        step("no neutral gate")
    views = [(neg[:n_main], neg[n_main:], neg_b)]
    extra_n = 0
    if config.extra_spec is not None:
        step("featurising second view")
        from .tokenize import Tokenizer

        tokenize = Tokenizer().cut if config.extra_spec.word_max_n else None
        x2 = Featurizer(config.extra_spec, tokenize=tokenize).transform(texts, normalized=True)
        step("fitting second view")
        neg2, neg2_b = _fit_binary(sp.hstack([x2[binary], pm[binary]], format="csr"), y, wb, config.extra_C, config)
        extra_n = config.extra_spec.n_features
        views.append((neg2[:extra_n], neg2[extra_n:], neg2_b))
    share = 1.0 / len(views)
    learnt = np.sum([v[1] for v in views], axis=0) * share
    priors = list(config.priors)
    for j, k in enumerate(np.flatnonzero(fitted)):
        priors[k] = replace(priors[k], logit=round(float(learnt[j]), 4))
    prior_logits = np.array([p.logit for p in priors], dtype=np.float32)
    coef = np.concatenate([share * v[0] for v in views] + [prior_logits]).astype(np.float32)
    intercept = float(sum(v[2] for v in views) * share)
    tail = np.zeros(extra_n + len(priors), np.float32)
    pos_all = np.concatenate([pos, tail]).astype(np.float32)
    return SentimentModel(
        config.spec, coef, intercept, pos_all, float(pos_b), extra_spec=config.extra_spec, priors=tuple(priors),
        repost_own_weight=config.repost_own_weight,
        neu_coef=np.concatenate([neu, tail]).astype(np.float32) if neu is not None else None,
        neu_intercept=neu_b, gate=config.neutral_gate or (0.6, 0.9),
    )


def calibrate(model: SentimentModel, data: Sequence[tuple[str, Example]]) -> SentimentModel:
    """Platt scaling of the negative logit on held-out Weibo posts (identity if too few)."""
    weibo = [(k, e) for k, e in data if e.domain in WEIBO_DOMAINS and e.label != NEUTRAL]
    y = np.array([e.label == NEGATIVE for _, e in weibo])
    if len(weibo) < 20 or len(set(y.tolist())) < 2:
        return model
    zn, _ = model.logits(model.features([k for k, _ in weibo]))
    return replace(model, calibration=_platt(zn, y))


def evaluate(model: SentimentModel, sets: Mapping[str, Sequence[Example]]) -> dict[str, Any]:
    """Per validation set: negative-vs-not accuracy and negative F1 (neutral posts left out of it),
    and the three-class scores where the set has neutral labels."""
    out: dict[str, Any] = {}
    for name, rows in sets.items():
        if not rows:
            continue
        p_neg, p_pos = model.predict([e.text for e in rows])
        pred3 = np.where(p_neg >= 0.5, NEGATIVE, np.where(p_pos >= 0.5, POSITIVE, NEUTRAL))
        idx = [i for i, e in enumerate(rows) if e.label != NEUTRAL]
        true_b = ["negative" if rows[i].label == NEGATIVE else "not_negative" for i in idx]
        pred_b = ["negative" if p_neg[i] >= 0.5 else "not_negative" for i in idx]
        s = score(true_b, pred_b, ["negative", "not_negative"])
        entry: dict[str, Any] = {"binary": {**s.as_dict(), "negative_f1": round(s.f1("negative"), 4)}}
        if any(e.label == NEUTRAL for e in rows) and all(e.label in (NEGATIVE, NEUTRAL, POSITIVE) for e in rows):
            labels = [NEGATIVE, NEUTRAL, POSITIVE]
            entry["three_class"] = score([e.label for e in rows], [str(p) for p in pred3], labels).as_dict()
        out[name] = entry
    return out


def train(
    examples: Sequence[Example],
    validation: Mapping[str, Sequence[Example]] | None = None,
    config: TrainConfig | None = None,
    progress: Progress | None = None,
) -> tuple[SentimentModel, dict[str, Any]]:
    """Fit on ``examples`` (already cleared of the validation sets, see :func:`.protocol.build`),
    calibrate on the calibration split, score on ``validation``.  Returns the model and a report."""
    config = config or TrainConfig()
    step = progress or (lambda _msg: None)
    step("de-duplicating")
    data = dedupe(examples)
    cal = [(k, e) for k, e in data if e.domain in WEIBO_DOMAINS and is_calibration(k, config.calibration_buckets)]
    cal_keys = {k for k, _ in cal}
    fit_rows = [(k, e) for k, e in data if k not in cal_keys]
    domains = sorted({e.domain for _, e in data})
    counts = {d: sum(1 for _, e in fit_rows if e.domain == d) for d in domains}
    model = calibrate(fit(fit_rows, config, step), cal)
    step("evaluating")
    report: dict[str, Any] = {
        "config": {
            **asdict(config),
            "weights": dict(config.weights),
            "spec": config.spec.as_dict(),
            "extra_spec": config.extra_spec.as_dict() if config.extra_spec else None,
            "priors": [p.as_dict() for p in model.priors],
        },
        "examples": {"raw": len(examples), "deduplicated": len(data), "fitted_on": counts, "calibration": len(cal)},
        "validation": evaluate(model, validation or {}),
        "calibration": {"a": model.calibration[0], "b": model.calibration[1]},
    }
    model.info = {"training": report}
    return model, report


TRAIN_STEPS = 8  # progress steps of train() with a second view, for a progress bar total
