"""Text normalisation and feature hashing, vectorised with numpy.

Why not :class:`sklearn.feature_extraction.text.HashingVectorizer`: its
n-gram generation is a Python loop per n-gram, and its murmur hash ties the
shipped coefficients to scikit-learn internals.  Here a whole batch of texts
becomes one array of Unicode code points; character n-gram hashes are a few
array operations over it, so featurising costs far less than tokenising.  The
hash is our own (a multiply-xorshift mix of code points), written down in the
artifact metadata and stable across numpy/scikit-learn versions.

Features, each in its own hash namespace:

* character 1..``char_max_n``-grams of the normalised text;
* optional word 1..``word_max_n``-grams from the tokenizer (jieba / rjieba).

Weighting: sublinear term frequency ``1 + log(tf)``, times an optional IDF
vector, then L2 normalisation per text.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_SHIFT1 = np.uint64(30)
_SHIFT2 = np.uint64(27)
_SHIFT3 = np.uint64(31)
_SEP = 0  # code point that separates texts in a batch; never inside a normalised text

_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@[\w\-·]{1,30}")
_WEIBO_MARKUP = re.compile(r"\{%|%\}")
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lower case, URLs/@handles/numbers to placeholders."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _URL.sub("U", text)
    text = _MENTION.sub("@", text)
    text = _WEIBO_MARKUP.sub("", text)
    text = _DIGITS.sub("0", text)
    return _SPACES.sub(" ", text).strip().replace("\x00", "")


@dataclass(frozen=True)
class FeatureSpec:
    """How texts become vectors; stored in the artifact metadata."""

    n_features_log2: int = 20
    char_max_n: int = 3
    word_max_n: int = 0  # 0 = no word features
    sublinear_tf: bool = True
    use_idf: bool = False

    @property
    def n_features(self) -> int:
        return 1 << self.n_features_log2

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> FeatureSpec:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})  # type: ignore[arg-type]


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads the bits of a polynomial code-point hash."""
    h = h ^ (h >> _SHIFT1)
    h = h * _M2
    h = h ^ (h >> _SHIFT2)
    h = h * _M3
    return h ^ (h >> _SHIFT3)


def _char_hashes(cps: np.ndarray, max_n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Hashes of all 1..max_n-grams of ``cps``; also the start offset of each n-gram."""
    hashes: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    length = len(cps)
    valid = cps != _SEP
    acc = np.zeros(length, dtype=np.uint64)
    ok = np.ones(length, dtype=bool)
    with np.errstate(over="ignore"):
        for n in range(1, max_n + 1):
            m = length - n + 1
            if m <= 0:
                break
            acc = acc[:m] * _M1 + cps[n - 1 : n - 1 + m] + np.uint64(n << 32)
            ok = ok[:m] & valid[n - 1 : n - 1 + m]
            idx = np.flatnonzero(ok)
            hashes.append(_mix(acc[idx] ^ np.uint64(n)))
            starts.append(idx)
    return hashes, starts


def _word_hash(token: str, n: int) -> int:
    return zlib.crc32(token.encode("utf-8"), n * 0x1000193)


class _WordHashes(dict[str, int]):
    """``_word_hash(key, n)`` memoised (words and word n-grams repeat across texts); bounded."""

    def __init__(self, n: int, limit: int = 1 << 18) -> None:
        super().__init__()
        self.n = n
        self.limit = limit

    def __missing__(self, key: str) -> int:
        if len(self) >= self.limit:
            self.clear()
        value = self[key] = _word_hash(key, self.n)
        return value


class Featurizer:
    """Turns texts into a sparse, weighted, L2-normalised matrix."""

    def __init__(
        self,
        spec: FeatureSpec,
        idf: np.ndarray | None = None,
        tokenize: Callable[[str], list[str]] | None = None,
    ) -> None:
        if spec.word_max_n and tokenize is None:
            raise ValueError("word features need a tokenizer")
        self.spec = spec
        self.idf = idf
        self.tokenize = tokenize
        self._word_hashes = [_WordHashes(n) for n in range(1, spec.word_max_n + 1)]

    def counts(self, texts: Sequence[str], *, normalized: bool = False) -> sp.csr_matrix:
        """Raw hashed term counts, one row per text."""
        spec = self.spec
        norm = list(texts) if normalized else [normalize(t) for t in texts]
        n_docs = len(norm)
        mask = np.uint64(spec.n_features - 1)
        joined = "\x00".join(norm) + "\x00"
        cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        # doc id of every code point position
        lengths = np.fromiter((len(t) + 1 for t in norm), dtype=np.int64, count=n_docs)
        doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        cols: list[np.ndarray] = []
        rows: list[np.ndarray] = []
        hashes, starts = _char_hashes(cps, spec.char_max_n)
        for h, s in zip(hashes, starts, strict=True):
            cols.append((h & mask).astype(np.int64))
            rows.append(doc_of[s])
        if spec.word_max_n and self.tokenize is not None:
            wcols: list[int] = []
            per_doc: list[int] = []
            for text in norm:
                toks = [t for t in self.tokenize(text) if not t.isspace()]
                before = len(wcols)
                for n, cache in enumerate(self._word_hashes, start=1):
                    # n-grams joined as "a\x01b"; zip stops at the shortest slice (strict=False on purpose)
                    shifted = (toks[k:] for k in range(n))
                    grams = toks if n == 1 else map("\x01".join, zip(*shifted, strict=False))
                    wcols.extend(map(cache.__getitem__, grams))
                per_doc.append(len(wcols) - before)
            cols.append(np.asarray(wcols, dtype=np.int64) & (spec.n_features - 1))
            rows.append(np.repeat(np.arange(n_docs, dtype=np.int64), per_doc))
        col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        data = np.ones(len(col), dtype=np.float32)
        m = sp.csr_matrix((data, (row, col)), shape=(n_docs, spec.n_features), dtype=np.float32)
        m.sum_duplicates()
        return m

    def weight(self, m: sp.csr_matrix) -> sp.csr_matrix:
        """Sublinear tf, optional idf, L2 normalisation (in place on a copy)."""
        m = m.copy()
        if self.spec.sublinear_tf:
            np.log(m.data, out=m.data)
            m.data += 1.0
        if self.idf is not None:
            m.data *= self.idf[m.indices]
        sq = np.asarray(m.multiply(m).sum(axis=1)).ravel()
        inv = 1.0 / np.sqrt(np.maximum(sq, 1e-12))
        m.data *= np.repeat(inv, np.diff(m.indptr)).astype(np.float32)
        return m

    def transform(self, texts: Sequence[str], *, normalized: bool = False) -> sp.csr_matrix:
        return self.weight(self.counts(texts, normalized=normalized))


def fit_idf(counts: sp.csr_matrix) -> np.ndarray:
    """Smoothed IDF (as scikit-learn's TfidfTransformer) from a count matrix."""
    n_docs = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    return (np.log((1.0 + n_docs) / (1.0 + df)) + 1.0).astype(np.float32)
