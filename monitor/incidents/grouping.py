"""Which open incident a mention belongs to: the same story across sources, reposts and follow-up coverage.

A story is recognised by its salient words: jieba words (the classifier's
tokenizer, with the configured brand words) and Latin words / numbers
(brand names, product codes), weighted by inverse document frequency over
the mentions seen lately (:class:`TermStats`), so words every post carries
(the brand name, "门店", "外卖") count for little and story words ("老鼠",
"过期食材", "贴标") for much.  A mention joins an open incident of the same
brand when:

* it is a near-duplicate repost of a mention of that incident (``duplicate_of``), or
* the IDF-weighted share of its words the incident holds reaches the
  threshold: lower (x0.6) when they share a risk category, higher by half
  when both sides carry risk categories and none is shared ("food safety at
  X" and "price complaint at X" are different stories), or
* **follow-up:** the incident is *major* (tier P2 or above) and was active
  within the follow-up window, and the mention either shares one of its risk
  categories and some of its words (a third of the threshold), or is less
  severe on its own than the incident and shares a risk category or
  carries none and is negative.  The regulator's statement, the
  brand's apology and the complaints a crisis sets off belong to that crisis,
  not to a dozen new incidents that page people again.  A mention severe on
  its own, or about another risk (the hotline nobody answers during a
  food-safety crisis), with few shared words is a story of its own.

Pure functions and an in-memory statistic only; the engine does the database work.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from classifiers.tokenize import Tokenizer

from .model import rank

_LATIN = re.compile(r"[A-Za-z][A-Za-z0-9]+|\d{3,}")
_CJK = re.compile(r"[\u4e00-\u9fff]")
# Words so common in posts that they say nothing about the story.
_STOP = frozenset(
    "我们 你们 他们 这个 那个 就是 不是 没有 一个 什么 怎么 真的 还是 已经 可以 自己 现在 今天 大家 因为 所以 但是 "
    "如果 这么 那么 觉得 还有 而且 以及 关于 进行 表示 记者 转发 微博 网友 评论 视频 图片 全文 链接 回复 这次 这样 "
    "一下 一直 知道 看到 时候 出来 起来 以后 之后 这种 那种 有点 非常 特别 感觉 应该 可能 一定 还要 不要 为什么 "
    "让更多人 更多 看看 能不能".split()
)
MAX_TERMS = 80  # per mention: the beginning of the text carries the story
MAX_INCIDENT_TERMS = 1500
SHARED_CATEGORY_FACTOR = 0.6  # a shared risk category lowers the bar for shared words
FOLLOWUP_FACTOR = 1 / 3  # ... and further for follow-up coverage of a major incident

_tokenizer: Tokenizer | None = None
_tokenizer_lock = threading.Lock()


def _cut(text: str) -> list[str]:
    global _tokenizer
    with _tokenizer_lock:
        if _tokenizer is None:
            _tokenizer = Tokenizer()
    return _tokenizer.cut(text)


def terms(text: str, *, limit: int = MAX_TERMS) -> list[str]:
    """Distinct salient words of ``text`` in order of appearance (jieba words of 2+ characters, Latin words)."""
    seen: dict[str, None] = {}
    for token in _cut(text):
        token = token.strip().lower()
        if len(token) < 2 or token in _STOP:
            continue
        if not (_CJK.search(token) or _LATIN.fullmatch(token)):
            continue  # punctuation, emoji, short numbers
        seen.setdefault(token, None)
        if len(seen) >= limit:
            break
    return list(seen)


class TermStats:
    """Document frequencies of words over recent mentions, for IDF weights.

    Counts decay by half whenever ``max_docs`` documents have been added, so
    the weights follow what people write about lately.  ``weight(t)`` is
    ``log(1 + docs / df)``: a word in every mention weighs ~0.7, a word seen
    once in a thousand mentions ~6.9; an unseen word weighs like a seen-once one.
    """

    def __init__(self, max_docs: int = 5000) -> None:
        self.max_docs = max_docs
        self.docs = 0.0
        self.df: Counter[str] = Counter()
        self.warm = False

    def add(self, doc_terms: Iterable[str]) -> None:
        self.docs += 1
        for t in set(doc_terms):
            self.df[t] += 1
        if self.docs >= self.max_docs:
            self.docs /= 2
            self.df = Counter({t: c / 2 for t, c in self.df.items() if c >= 1})

    def weight(self, term: str) -> float:
        df = max(1.0, float(self.df.get(term, 0)))
        return math.log(1.0 + max(1.0, self.docs) / df)


def weights(mention_terms: Sequence[str], stats: TermStats | None = None) -> dict[str, float]:
    return {t: stats.weight(t) if stats is not None else 1.0 for t in mention_terms}


def share(mention_terms: Sequence[str] | dict[str, float], incident_terms: Iterable[str],
          stats: TermStats | None = None) -> float:
    """IDF-weighted share of the mention's words the incident holds (0 when the mention has none).

    ``mention_terms`` may be :func:`weights` computed once for many incidents.
    """
    weighted = mention_terms if isinstance(mention_terms, dict) else weights(mention_terms, stats)
    total = sum(weighted.values())
    if not total:
        return 0.0
    held = incident_terms if isinstance(incident_terms, set | frozenset) else set(incident_terms)
    return sum(w for t, w in weighted.items() if t in held) / total


@dataclass(frozen=True)
class Candidate:
    incident_id: int
    terms: Sequence[str]
    categories: Sequence[str]
    brand: str = ""
    tier: str = "P4"
    last_mention_at: float = 0.0


@dataclass(frozen=True)
class Probe:
    """What grouping needs to know about the mention being placed."""

    terms: Sequence[str]
    categories: Sequence[str]
    brand: str = ""
    negative: bool = False
    tier: str | None = None


@dataclass(frozen=True)
class Rules:
    threshold: float = 0.35  # weighted share of the mention's words
    major_tier: str = "P2"  # incidents at this tier or above absorb follow-up coverage
    followup_s: float = 2 * 3600  # ... while they had a mention this recently


def best_match(probe: Probe, candidates: Iterable[Candidate], rules: Rules, now: float,
               stats: TermStats | None = None) -> tuple[int | None, float, str]:
    """The incident the mention joins (or None), its score, and why ("terms" or "follow-up")."""
    best: tuple[int | None, float, str] = (None, 0.0, "")
    follow: tuple[int | None, float, float] = (None, -1.0, 0.0)  # id, score, last_mention_at
    cats = set(probe.categories)
    weighted = weights(probe.terms, stats)
    for cand in candidates:
        if probe.brand and cand.brand and probe.brand != cand.brand:
            continue
        score = share(weighted, cand.terms)
        shared = bool(cats & set(cand.categories))
        disjoint = bool(cats) and bool(cand.categories) and not shared
        needed = rules.threshold * (1.5 if disjoint else SHARED_CATEGORY_FACTOR if shared else 1.0)
        if score >= needed and score > best[1]:
            best = (cand.incident_id, score, "terms")
        lesser = rank(probe.tier) > rank(cand.tier)  # as severe on its own: a story of its own unless words match
        related = (shared and score >= rules.threshold * FOLLOWUP_FACTOR) or (
            lesser and not disjoint and (shared or probe.negative))
        if (related and rank(cand.tier) <= rank(rules.major_tier) and now - cand.last_mention_at <= rules.followup_s
                and (score, cand.last_mention_at) > follow[1:]):
            follow = (cand.incident_id, score, cand.last_mention_at)
    if best[0] is None and follow[0] is not None:
        return follow[0], follow[1], "follow-up"
    return best


def merge_terms(existing: Sequence[str], new: Sequence[str]) -> list[str]:
    merged = dict.fromkeys(existing)
    for t in new:
        if len(merged) >= MAX_INCIDENT_TERMS:
            break
        merged.setdefault(t, None)
    return list(merged)
