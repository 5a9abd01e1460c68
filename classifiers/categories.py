"""Multi-label risk categories from configurable, weighted lexicons.

A category fires when the summed weight of its *distinct* matched terms
reaches its threshold (1.0 by default): one strong term (``老鼠`` 1.0) is
enough, weak ones (``卫生`` 0.4) need company.  Terms are matched on
tokens: every term is added to the tokenizer's dictionary, as are brand and
product names, so ``召回`` fires in ``宣布召回`` but a term inside a brand name
does not.  A cheap substring pre-check skips tokenising texts that cannot match.

Term weights are "learned" from manager corrections (:mod:`classifiers.adapt`):
a term that fired for a category the manager removed loses weight.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from .tokenize import Tokenizer

CATEGORIES: dict[str, str] = {
    "food_safety": "食品安全",
    "product_defect": "产品质量",
    "personal_safety": "人身安全",
    "privacy": "隐私泄露",
    "fraud_pricing": "欺诈/虚假宣传/价格",
    "service": "服务态度",
    "media_exposure": "监管/媒体曝光",
    "legal": "法律纠纷",
}
MAX_TERM_TOKENS = 4  # a term may span up to this many tokens ("3·15" is three)


def light_normalize(text: str) -> str:
    """NFKC and lower case: what lexicon terms and texts are compared in."""
    return unicodedata.normalize("NFKC", text).lower()


@dataclass(frozen=True)
class Lexicon:
    """``terms[category][term] = weight`` and ``thresholds[category]``."""

    terms: Mapping[str, Mapping[str, float]]
    thresholds: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Lexicon:
        """The JSON layout of ``lexicons/categories.json``: ``{id: {label, threshold?, terms}}``."""
        terms: dict[str, dict[str, float]] = {}
        thresholds: dict[str, float] = {}
        for cat, spec in d.items():
            if cat.startswith("_"):
                continue
            if cat not in CATEGORIES:
                raise ValueError(f"unknown risk category {cat!r}; known: {', '.join(CATEGORIES)}")
            terms[cat] = {light_normalize(t): float(w) for t, w in dict(spec["terms"]).items()}
            thresholds[cat] = float(spec.get("threshold", 1.0))
        return cls(terms, thresholds)

    @classmethod
    def default(cls) -> Lexicon:
        text = resources.files("classifiers").joinpath("lexicons/categories.json").read_text("utf-8")
        return cls.from_dict(json.loads(text))

    def threshold(self, category: str) -> float:
        return self.thresholds.get(category, 1.0)

    def reweighted(self, factors: Mapping[str, Mapping[str, float]]) -> Lexicon:
        """A copy with ``weight *= factors[category][term]``; new terms may be added with a factor."""
        terms = {cat: dict(ts) for cat, ts in self.terms.items()}
        for cat, fs in factors.items():
            for term, factor in fs.items():
                terms.setdefault(cat, {})
                terms[cat][term] = terms[cat].get(term, 1.0) * factor
        return Lexicon(terms, self.thresholds)


@dataclass(frozen=True)
class CategoryMatch:
    categories: tuple[str, ...]
    terms: Mapping[str, tuple[str, ...]]  # category -> matched terms, strongest first
    candidates: Mapping[str, tuple[str, ...]]  # every matched term, fired or not (for adaptation)

    def reasons(self) -> tuple[str, ...]:
        return tuple(f"{CATEGORIES[c]}: {'、'.join(self.terms[c][:3])}" for c in self.categories)


_EMPTY = CategoryMatch((), {}, {})


class CategoryMatcher:
    def __init__(self, lexicon: Lexicon, tokenizer: Tokenizer) -> None:
        self.lexicon = lexicon
        self.tokenizer = tokenizer
        self._term_cats: dict[str, list[tuple[str, float]]] = {}
        for cat, ts in lexicon.terms.items():
            for term, weight in ts.items():
                self._term_cats.setdefault(term, []).append((cat, weight))
        tokenizer.add_words(self._term_cats)
        alternatives = sorted(self._term_cats, key=len, reverse=True)
        self._prefilter = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    def match(self, text: str) -> CategoryMatch:
        """``text`` already passed through :func:`light_normalize`."""
        if self._prefilter is None or self._prefilter.search(text) is None:
            return _EMPTY
        tokens = self.tokenizer.cut(text)
        found: dict[str, None] = {}
        for i in range(len(tokens)):
            joined = ""
            for k in range(MAX_TERM_TOKENS):
                if i + k >= len(tokens):
                    break
                joined += tokens[i + k]
                if joined in self._term_cats:
                    found[joined] = None
        scores: dict[str, float] = {}
        hits: dict[str, list[tuple[float, str]]] = {}
        for term in found:
            for cat, weight in self._term_cats[term]:
                scores[cat] = scores.get(cat, 0.0) + weight
                hits.setdefault(cat, []).append((weight, term))
        fired = tuple(c for c in CATEGORIES if c in scores and scores[c] >= self.lexicon.threshold(c) - 1e-9)
        ordered = {c: tuple(t for _, t in sorted(h, key=lambda wt: -wt[0])) for c, h in hits.items()}
        return CategoryMatch(fired, {c: ordered[c] for c in fired}, ordered)
