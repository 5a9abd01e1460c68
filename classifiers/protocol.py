"""The validation protocol: which posts validate, which train, and the reference recipe beside the model.

Sans-I/O: the caller parses the files (``lantern train`` / ``lantern eval
--protocol`` do) and passes the examples here.

Validation sets (negative vs not negative; neutral / surprise / none posts are
left out of the binary scores, as the evaluation does):

* ``smp2020_usual_eval`` and ``smp2020_virus_eval``: the SMP2020-EWECT
  organisers' eval splits (validation only, never training);
* ``weibo2018_val``: a fixed random tenth of ``weibo2018_train.csv``: the
  parsed rows in file order, permuted by ``numpy.random.default_rng(2018)``,
  the first ``len // 10`` of the permutation.

Training data: every training corpus minus that weibo2018 tenth, de-duplicated
across files (first file of :data:`.corpora.CORPORA` wins) and against every
validation set, on :func:`dedupe_key` (normalised text without punctuation,
spaces or emoji brackets).

The reference recipe: scikit-learn char TF-IDF(1-3) + LogisticRegression(C=4)
on the raw texts, fitted on the same examples with the same weights as the
shipped model's negative head.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .corpora import NEGATIVE, NEUTRAL, Example
from .features import normalize
from .scores import score

VALIDATION_FILES = {"smp2020_usual_eval.json": "smp2020_usual_eval", "smp2020_virus_eval.json": "smp2020_virus_eval"}
WEIBO2018_FILE = "weibo2018_train.csv"
WEIBO2018_SET = "weibo2018_val"
WEIBO2018_SEED = 2018
_NOT_WORD = re.compile(r"[\W_]+")

Predict = Callable[[Sequence[str]], np.ndarray]  # texts -> P(negative) or a logit (> threshold = negative)


def dedupe_key(text: str) -> str:
    """What two texts must share to count as duplicates: normalised text, letters and digits only."""
    return _NOT_WORD.sub("", normalize(text))


@dataclass
class Protocol:
    train: list[Example]
    validation: dict[str, list[Example]]
    dropped: dict[str, int] = field(default_factory=dict)  # duplicates removed, by reason


def weibo2018_split(rows: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """(train, validation): the validation tenth is fixed by the seed and the file's row order."""
    perm = np.random.default_rng(WEIBO2018_SEED).permutation(len(rows))
    held = set(perm[: len(rows) // 10].tolist())
    return [e for i, e in enumerate(rows) if i not in held], [e for i, e in enumerate(rows) if i in held]


def build(corpora: Mapping[str, Sequence[Example]], validation: Mapping[str, Sequence[Example]]) -> Protocol:
    """Training examples and validation sets from parsed corpora (file name -> examples).

    ``validation`` maps a validation file name (:data:`VALIDATION_FILES`) to its examples."""
    sets: dict[str, list[Example]] = {}
    for name, rows in validation.items():
        sets[VALIDATION_FILES.get(name, name)] = list(rows)
    train_files = dict(corpora)
    if WEIBO2018_FILE in train_files:
        kept, held = weibo2018_split(train_files[WEIBO2018_FILE])
        train_files[WEIBO2018_FILE] = kept
        sets[WEIBO2018_SET] = held
    held_keys = {dedupe_key(e.text) for rows in sets.values() for e in rows}
    seen: set[str] = set()
    dropped = {"empty": 0, "duplicate in training": 0, "duplicate of a validation post": 0}
    out: list[Example] = []
    for rows in train_files.values():
        for e in rows:
            k = dedupe_key(e.text)
            reason = "empty" if not k else "duplicate in training" if k in seen else None
            if reason is None and k in held_keys:
                reason = "duplicate of a validation post"
            seen.add(k)
            if reason:
                dropped[reason] += 1
            else:
                out.append(e)
    return Protocol(out, {k: v for k, v in sets.items() if v}, dropped)


def binary_rows(rows: Sequence[Example]) -> tuple[list[str], np.ndarray]:
    """Texts and negative flags of the posts that are negative or not negative (neutral left out)."""
    kept = [e for e in rows if e.label != NEUTRAL]
    return [e.text for e in kept], np.array([e.label == NEGATIVE for e in kept], dtype=bool)


def fit_reference(
    examples: Sequence[Example], weights: Mapping[str, float], default_weight: float, neutral_weight: float = 0.0
) -> Predict:
    """The reference recipe, fitted on the negative-vs-not examples the model's negative head sees
    (neutral posts as not negative at ``neutral_weight`` times their corpus weight, if > 0)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    kept = [e for e in examples if e.label != NEUTRAL or neutral_weight > 0]
    texts = [e.text for e in kept]
    y = np.array([e.label == NEGATIVE for e in kept], dtype=bool)
    w = np.array([weights.get(e.domain, default_weight) * (neutral_weight if e.label == NEUTRAL else 1.0)
                  for e in kept], dtype=np.float64)
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3))
    clf = LogisticRegression(C=4.0, max_iter=1000)
    clf.fit(vec.fit_transform(texts), y, sample_weight=w)

    def predict(batch: Sequence[str]) -> np.ndarray:
        return np.asarray(clf.predict_proba(vec.transform(list(batch)))[:, 1])

    return predict


@dataclass(frozen=True)
class Row:
    name: str
    n: int
    accuracy: float
    negative_f1: float
    ref_accuracy: float
    ref_negative_f1: float

    @property
    def beats(self) -> bool:
        return self.accuracy > self.ref_accuracy and self.negative_f1 > self.ref_negative_f1


def _scores(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    labels = ["negative", "not_negative"]
    s = score([labels[not v] for v in y], [labels[not v] for v in p >= 0.5], labels)
    return s.accuracy, s.f1("negative")


def compare(model: Predict, reference: Predict, sets: Mapping[str, Sequence[Example]]) -> list[Row]:
    rows = []
    for name, examples in sets.items():
        texts, y = binary_rows(examples)
        if not texts:
            continue
        acc, f1 = _scores(y, model(texts))
        racc, rf1 = _scores(y, reference(texts))
        rows.append(Row(name, len(texts), acc, f1, racc, rf1))
    return rows


def format_table(rows: Sequence[Row]) -> str:
    """A Markdown table: shipped vs reference, accuracy (%) and negative-class F1, per validation set."""
    lines = [
        "| validation set | n | shipped acc | reference acc | shipped neg-F1 | reference neg-F1 | beats |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.n:,} | {100 * r.accuracy:.1f} | {100 * r.ref_accuracy:.1f} | "
            f"{r.negative_f1:.3f} | {r.ref_negative_f1:.3f} | {'yes' if r.beats else 'NO'} |"
        )
    return "\n".join(lines)
