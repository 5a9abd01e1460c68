"""The sentiment model artifact: coefficients in ``weights.npz``, the rest in ``model.json``.

Nothing is unpickled: ``np.load(allow_pickle=False)`` reads plain float16
arrays, and ``model.json`` holds the feature spec, intercepts, calibration and
provenance.  Two linear models share one hashed feature space:

* ``neg``: negative vs not negative; its logit goes through Platt calibration
  (``sigmoid(a * z + b)``, fitted on held-out Weibo posts) to give
  ``negative_probability``;
* ``pos``: positive vs neutral among non-negative texts.

Naive-Bayes feature scaling (if used in training) is folded into the
coefficients, so inference is one sparse dot product per model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelNotFoundError, ModelVersionError
from .features import FeatureSpec, Featurizer, normalize

FORMAT = "lantern-sentiment"
FORMAT_VERSION = 1
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

    def __post_init__(self) -> None:
        self.featurizer = Featurizer(self.spec, self.idf)

    def features(self, texts: Sequence[str]) -> Any:
        """Weighted feature matrix of already :func:`normalize`-d texts."""
        return self.featurizer.transform(texts, normalized=True)

    def logits(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        return x @ self.neg_coef + self.neg_intercept, x @ self.pos_coef + self.pos_intercept

    def negative_probability(self, neg_logit: np.ndarray) -> np.ndarray:
        a, b = self.calibration
        return sigmoid(a * neg_logit + b)

    def predict(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(calibrated P(negative), P(positive | not negative)) of raw texts."""
        zn, zp = self.logits(self.features([normalize(t) for t in texts]))
        return self.negative_probability(zn), sigmoid(zp)

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
        np.savez_compressed(path / WEIGHTS_FILE, **arrays)  # type: ignore[arg-type]
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "hashing": HASHING,
            "features": self.spec.as_dict(),
            "neg_intercept": self.neg_intercept,
            "pos_intercept": self.pos_intercept,
            "calibration": {"a": self.calibration[0], "b": self.calibration[1]},
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
        with np.load(path / WEIGHTS_FILE, allow_pickle=False) as w:
            neg = w["neg_coef"].astype(np.float32)
            pos = w["pos_coef"].astype(np.float32)
            idf = w["idf"].astype(np.float32) if "idf" in w.files else None
        if neg.shape != (spec.n_features,) or pos.shape != (spec.n_features,):
            raise ModelVersionError(f"{path}: weights do not match the feature spec ({spec.n_features} features)")
        cal = meta.get("calibration", {})
        return cls(
            spec,
            neg,
            float(meta["neg_intercept"]),
            pos,
            float(meta["pos_intercept"]),
            (float(cal.get("a", 1.0)), float(cal.get("b", 0.0))),
            dict(meta.get("info", {})),
            idf,
        )


def check_meta(meta: Mapping[str, Any], path: Path) -> None:
    """Refuse an artifact this code cannot read, saying what to do."""
    if not isinstance(meta, Mapping) or meta.get("format") != FORMAT:
        raise ModelVersionError(f"{path} does not hold a Lantern sentiment model (format {FORMAT!r} expected)")
    version = meta.get("format_version")
    built_by = meta.get("info", {}).get("lantern_version", "unknown") if isinstance(meta.get("info"), dict) else "?"
    if version != FORMAT_VERSION or meta.get("hashing") != HASHING:
        raise ModelVersionError(
            f"the model at {path} was built for model format {version} / {meta.get('hashing')} "
            f"(by Lantern {built_by}); this Lantern reads format {FORMAT_VERSION} / {HASHING}. "
            "Retrain it with `lantern train` or use the model shipped with this version."
        )


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35.0, 35.0)))


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))
