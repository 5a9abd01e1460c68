"""The classifier: sentiment, risk categories and severity tier of one text."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .categories import CATEGORIES, CategoryMatcher, Lexicon, light_normalize
from .features import normalize
from .model import SentimentModel
from .official import is_official
from .overlay import Overlay
from .tiers import TierBreakdown, TierPolicy
from .tokenize import Tokenizer

if TYPE_CHECKING:
    from .encoder import Cascade

log = logging.getLogger(__name__)

SENTIMENT_LABELS = {"negative": "负面", "neutral": "中性", "positive": "正面"}
OFFICIAL_REASON = "官方声明（不计入负面）"


@dataclass(frozen=True)
class Signals:
    """Context from ``monitor``; every field optional."""

    source_name: str | None = None  # the configured source (or an outlet name)
    author: str | None = None  # the item's author / account (RSS <author>, dc:creator, a JSON field, push author)
    channel: str | None = None  # the feed or channel title (RSS <channel><title>, Atom <feed><title>)
    source_authority: str | None = None  # central_media|provincial_media|industry_media|verified|ordinary
    author_reach: int | None = None
    volume_1h: int | None = None
    velocity: float | None = None


@dataclass(frozen=True)
class Classification:
    sentiment: str
    negative_probability: float
    categories: tuple[str, ...]
    tier: str
    reasons: tuple[str, ...]
    # the brand's (or an authority's) own statement, e.g. its apology: not public negativity,
    # so an incident's negative share leaves it out (classifiers.official)
    official: bool = False

    @property
    def counts_as_negative(self) -> bool:
        """Negative public opinion: negative and not an official statement."""
        return self.sentiment == "negative" and not self.official

    def as_dict(self) -> dict[str, object]:
        return {
            "sentiment": self.sentiment,
            "negative_probability": round(self.negative_probability, 4),
            "categories": list(self.categories),
            "tier": self.tier,
            "reasons": list(self.reasons),
            "official": self.official,
        }


@dataclass
class Classifier:
    model: SentimentModel
    matcher: CategoryMatcher
    tier_policy: TierPolicy = field(default_factory=TierPolicy)
    overlay: Overlay | None = None
    base: Classifier | None = None  # the classifier before adaptation
    brands: tuple[str, ...] = ()
    cascade: Cascade | None = None  # the optional encoder second stage (classifiers.encoder)

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        brands: Sequence[str] = (),
        tier_policy: TierPolicy | None = None,
        lexicon: Lexicon | None = None,
        fast_tokenizer: bool | None = None,
    ) -> Classifier:
        """Load the artifact at ``path`` (None: the model shipped in ``classifiers/model/``).

        The base model only: :func:`classifiers.adapt.load_adapted` also re-applies saved corrections.
        A fine-tuned encoder in ``path/encoder`` (``lantern train --encoder``) is the second stage
        when the ``encoder`` extra is installed; the shipped model has none.
        """
        model = SentimentModel.load(path)
        tokenizer = Tokenizer(brands, fast=fast_tokenizer)
        matcher = CategoryMatcher(lexicon or Lexicon.default(), tokenizer)
        clf = cls(model, matcher, tier_policy or TierPolicy(), brands=tuple(brands))
        if path is not None and Path(path, "encoder", "config.json").is_file():
            from .encoder import EXTRA_HINT, Cascade, available

            if available():
                clf.cascade = Cascade.load(path)
            else:
                log.warning("%s holds a fine-tuned encoder but %s; using the fast path only", path, EXTRA_HINT)
        return clf

    def classify(self, text: str, signals: Signals | None = None) -> Classification:
        return self.classify_batch([text], [signals])[0]

    def classify_batch(
        self, texts: Sequence[str], signals: Sequence[Signals | None] | None = None
    ) -> list[Classification]:
        if signals is not None and len(signals) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(signals)} signals")
        if not texts:
            return []
        norm = [normalize(t) for t in texts]
        p_neg, p_pos = self.model.probabilities(self.model.features(norm))
        if self.cascade is not None:
            p_neg, _asked = self.cascade.combine(texts, p_neg)
        memory: Mapping[str, Mapping[str, str]] = self.overlay.memory if self.overlay else {}
        out = []
        for i, text in enumerate(texts):
            p = float(p_neg[i])
            if p >= 0.5:
                sentiment = "negative"
            else:
                sentiment = "positive" if p_pos[i] >= 0.5 else "neutral"
            match = self.matcher.match(light_normalize(text))
            categories = match.categories
            corrected = memory.get(norm[i], {})
            reasons: list[str] = []
            if "sentiment" in corrected:
                sentiment = corrected["sentiment"]
                p = max(p, 0.75) if sentiment == "negative" else min(p, 0.25)
                reasons.append(f"人工校正: {SENTIMENT_LABELS[sentiment]}")
            reasons.append(f"负面 {p:.2f}" if sentiment == "negative" else SENTIMENT_LABELS[sentiment])
            if "category" in corrected:
                categories = tuple(c for c in CATEGORIES if c in corrected["category"].split(","))
                reasons.append("人工校正: 类别")
            reasons.extend(
                f"{CATEGORIES[c]}: {'、'.join(match.terms[c][:3])}" if c in match.terms else CATEGORIES[c]
                for c in categories
            )
            sig = signals[i] if signals is not None else None
            official = is_official(text, sig.author if sig is not None else None, self.brands)
            if official:
                reasons.append(OFFICIAL_REASON)
            tier, tier_reasons = self.tier(p, categories, sig)
            if "tier" in corrected:
                tier = corrected["tier"]
                reasons.append(f"人工校正: {tier}")
            skip = {f"负面 {p:.2f}", "、".join(CATEGORIES[c] for c in categories)}
            reasons.extend(r for r in tier_reasons if r not in skip and r not in reasons)
            out.append(Classification(sentiment, p, categories, tier, tuple(reasons), official))
        return out

    def tier(
        self, negative_probability: float, categories: Sequence[str], signals: Signals | None
    ) -> tuple[str, tuple[str, ...]]:
        """Tier and reasons; ``monitor`` calls this again as an incident grows."""
        score, reasons = self.tier_policy.score(negative_probability, categories, signals)
        tier = self.tier_policy.tier_of(score)
        return tier, (*reasons, f"评分 {score:.0f} → {tier}")

    def explain_tier(
        self, negative_probability: float, categories: Sequence[str], signals: Signals | None
    ) -> TierBreakdown:
        """The tier with every signal's points, for showing why an incident has its tier."""
        return self.tier_policy.breakdown(negative_probability, categories, signals)

