"""The sentiment model artifact: coefficients in ``weights.npz``, the rest in ``model.json``.

Nothing is unpickled: ``np.load(allow_pickle=False)`` reads plain float16
arrays, and ``model.json`` holds the feature spec, intercepts, calibration and
provenance.  The feature vector of a text is the concatenation of up to
three blocks, each hashed into its own space:

* the main view (``features``: character n-grams);
* an optional second view (``features_extra``: e.g. character 1-4-grams plus
  jieba word uni/bigrams), each view L2-normalised on its own;
* one indicator column per domain prior (:mod:`classifiers.priors`).

Two linear models live over that vector:

* ``neg``: negative vs not negative.  Its coefficients are an ensemble folded
  into one vector: a logistic regression per view, each Platt-scaled on
  held-out Weibo posts, averaged in logit space, plus the priors' logits.  The
  sum goes through a final Platt calibration (``sigmoid(a * z + b)``) to give
  ``negative_probability``;
* ``pos``: positive vs neutral among non-negative texts (main view only);
* ``neu`` (optional): neutral vs polar (main view only).  The negative model
  learns from polar posts only, so on a neutral post it leans to the training
  corpora's negative majority.  The *neutral gate*: a post the negative model
  calls negative but not clearly (P < ``gate_cap``) while ``neu`` calls it
  neutral (P >= ``gate_threshold``) gets ``P(negative) * (1 - P(neutral))``
  (below 0.5), i.e. it is not negative.

Naive-Bayes feature scaling (if used in training) is folded into the
coefficients, so inference is one sparse dot product per model.

Repost chains (``诚意呢？//@某品牌官方微博: 致歉声明…``): the reposter's own words,
before the first ``//@``, carry the reposter's stance.  With
``repost_own_weight`` = w > 0 the feature row of such a post is
``(1 - w) * row(whole post) + w * row(own words)``; the model being linear,
that is the same mix of the two logits, still one dot product.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from .errors import ModelNotFoundError, ModelVersionError
from .features import FeatureSpec, Featurizer, normalize
from .priors import Prior, prior_matrix

SENTIMENTS = ("negative", "neutral", "positive")  # what the model tells apart
FORMAT = "lantern-sentiment"
FORMAT_VERSION = 2  # 2: optional second view and domain priors
READABLE_VERSIONS = (1, 2)  # a version-1 artifact is a version 2 without second view and priors
HASHING = "lantern-hash-v1"  # features.py: splitmix64 over code-point polynomials, crc32 for words
META_FILE = "model.json"
WEIGHTS_FILE = "weights.npz"


def shipped_model_dir() -> Path:
    return Path(str(resources.files("classifiers").joinpath("model")))


@dataclass
class SentimentModel:
    spec: FeatureSpec
    neg_coef: np.ndarray  # float32, n_features
    neg_intercept: float
    pos_coef: np.ndarray
    pos_intercept: float
    calibration: tuple[float, float] = (1.0, 0.0)  # Platt a, b on the neg logit
    info: dict[str, Any] = field(default_factory=dict)  # provenance and validation figures
    idf: np.ndarray | None = None
    extra_spec: FeatureSpec | None = None  # second view, L2-normalised on its own
    priors: tuple[Prior, ...] = ()
    repost_own_weight: float = 0.0  # weight of the reposter's own words in a repost chain
    neu_coef: np.ndarray | None = None  # neutral vs polar; None: no neutral gate
    neu_intercept: float = 0.0
    gate: tuple[float, float] = (0.6, 0.9)  # (threshold on P(neutral), cap on P(negative))

    def __post_init__(self) -> None:
        self.featurizer = Featurizer(self.spec, self.idf)
        self.extra_featurizer: Featurizer | None = None
        if self.extra_spec is not None:
            tokenize = None
            if self.extra_spec.word_max_n:
                from .tokenize import Tokenizer

                tokenize = Tokenizer().cut
            self.extra_featurizer = Featurizer(self.extra_spec, tokenize=tokenize)

    @property
    def n_features(self) -> int:
        """Length of the coefficient vectors: main view + second view + one per prior."""
        extra = self.extra_spec.n_features if self.extra_spec is not None else 0
        return self.spec.n_features + extra + len(self.priors)

    def features(self, texts: Sequence[str]) -> Any:
        """Weighted feature matrix of already :func:`normalize`-d texts (all blocks side by side)."""
        w = self.repost_own_weight
        own = [(i, own_words(t)) for i, t in enumerate(texts)] if w > 0 else []
        own = [(i, o) for i, o in own if o]
        if not own:
            return self._blocks(texts)
        x = self._blocks([*texts, *(o for _, o in own)])
        n, m = len(texts), len(own)
        rows = np.concatenate([np.arange(n), [i for i, _ in own]])
        vals = np.ones(n + m, dtype=np.float32)
        vals[[i for i, _ in own]] = 1.0 - w
        vals[n:] = w
        mix = sp.csr_matrix((vals, (rows, np.arange(n + m))), shape=(n, n + m), dtype=np.float32)
        return (mix @ x).tocsr()

    def _blocks(self, texts: Sequence[str]) -> Any:
        blocks = [self.featurizer.transform(texts, normalized=True)]
        if self.extra_featurizer is not None:
            blocks.append(self.extra_featurizer.transform(texts, normalized=True))
        if self.priors:
            blocks.append(prior_matrix(self.priors, texts))
        if len(blocks) == 1:
            return blocks[0]
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def logits(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        return x @ self.neg_coef + self.neg_intercept, x @ self.pos_coef + self.pos_intercept

    def negative_probability(self, neg_logit: np.ndarray) -> np.ndarray:
        a, b = self.calibration
        return sigmoid(a * neg_logit + b)

    def probabilities(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """(P(negative) after the neutral gate, P(positive | not negative)) of a feature matrix."""
        zn, zp = self.logits(x)
        p_neg = self.negative_probability(zn)
        if self.neu_coef is not None:
            p_neu = sigmoid(x @ self.neu_coef + self.neu_intercept)
            threshold, cap = self.gate
            gated = (p_neg >= 0.5) & (p_neg < cap) & (p_neu >= threshold)
            p_neg = np.where(gated, p_neg * (1.0 - p_neu), p_neg)
        return p_neg, sigmoid(zp)

    def predict(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(calibrated, gated P(negative), P(positive | not negative)) of raw texts."""
        return self.probabilities(self.features([normalize(t) for t in texts]))

    # -- artifact -------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "neg_coef": self.neg_coef.astype(np.float16),
            "pos_coef": self.pos_coef.astype(np.float16),
        }
        if self.idf is not None:
            arrays["idf"] = self.idf.astype(np.float16)
        if self.neu_coef is not None:
            arrays["neu_coef"] = self.neu_coef.astype(np.float16)
        np.savez_compressed(path / WEIGHTS_FILE, **arrays)  # type: ignore[arg-type]
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "hashing": HASHING,
            "features": self.spec.as_dict(),
            "features_extra": self.extra_spec.as_dict() if self.extra_spec is not None else None,
            "priors": [p.as_dict() for p in self.priors],
            "neg_intercept": self.neg_intercept,
            "pos_intercept": self.pos_intercept,
            "calibration": {"a": self.calibration[0], "b": self.calibration[1]},
            "repost_own_weight": self.repost_own_weight,
            "neu_intercept": self.neu_intercept,
            "neutral_gate": {"threshold": self.gate[0], "cap": self.gate[1]},
            "info": self.info,
        }
        (path / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", "utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path | None = None) -> SentimentModel:
        path = Path(path) if path is not None else shipped_model_dir()
        meta_path = path / META_FILE
        if not meta_path.is_file():
            raise ModelNotFoundError(f"no classifier model at {path} (expected {META_FILE}); run `lantern train`")
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelVersionError(f"{meta_path} is not a Lantern model description: {exc}") from exc
        check_meta(meta, path)
        spec = FeatureSpec.from_dict(meta["features"])
        extra = FeatureSpec.from_dict(meta["features_extra"]) if meta.get("features_extra") else None
        try:
            priors = tuple(Prior.from_dict(p) for p in meta.get("priors", []))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelVersionError(f"{meta_path}: malformed priors: {exc}") from exc
        with np.load(path / WEIGHTS_FILE, allow_pickle=False) as w:
            neg = w["neg_coef"].astype(np.float32)
            pos = w["pos_coef"].astype(np.float32)
            idf = w["idf"].astype(np.float32) if "idf" in w.files else None
            neu = w["neu_coef"].astype(np.float32) if "neu_coef" in w.files else None
        cal = meta.get("calibration", {})
        gate = meta.get("neutral_gate") or {}
        model = cls(
            spec,
            neg,
            float(meta["neg_intercept"]),
            pos,
            float(meta["pos_intercept"]),
            (float(cal.get("a", 1.0)), float(cal.get("b", 0.0))),
            dict(meta.get("info", {})),
            idf,
            extra,
            priors,
            float(meta.get("repost_own_weight", 0.0)),
            neu,
            float(meta.get("neu_intercept", 0.0)),
            (float(gate.get("threshold", 0.6)), float(gate.get("cap", 0.9))),
        )
        shapes = {neg.shape, pos.shape} | ({neu.shape} if neu is not None else set())
        if shapes != {(model.n_features,)}:
            raise ModelVersionError(f"{path}: weights do not match the feature spec ({model.n_features} features)")
        return model


def check_meta(meta: Mapping[str, Any], path: Path) -> None:
    """Refuse an artifact this code cannot read, saying what to do."""
    if not isinstance(meta, Mapping) or meta.get("format") != FORMAT:
        raise ModelVersionError(f"{path} does not hold a Lantern sentiment model (format {FORMAT!r} expected)")
    version = meta.get("format_version")
    built_by = meta.get("info", {}).get("lantern_version", "unknown") if isinstance(meta.get("info"), dict) else "?"
    if version not in READABLE_VERSIONS or meta.get("hashing") != HASHING:
        raise ModelVersionError(
            f"the model at {path} was built for model format {version} / {meta.get('hashing')} "
            f"(by Lantern {built_by}); this Lantern reads format {FORMAT_VERSION} / {HASHING}. "
            "Retrain it with `lantern train` or use the model shipped with this version."
        )


REPOST = "//@"  # a Weibo repost chain after normalisation (handles become "@")
_WORD = re.compile(r"\w")
_BOILERPLATE = frozenset({"转发微博", "转发", "轉發微博", "repost", "分享"})  # Weibo's default repost texts


def own_words(normalized_text: str) -> str:
    """The reposter's own words of a repost chain ("" if the text is no chain or has none of its own)."""
    head, sep, _ = normalized_text.partition(REPOST)
    if not sep:
        return ""
    head = head.strip()
    return head if len(_WORD.findall(head)) >= 2 and head not in _BOILERPLATE else ""


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35.0, 35.0)))


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))
