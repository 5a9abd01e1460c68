"""Which open incident a mention belongs to: one story across sources, reposts, hashtags and rewordings.

A mention is placed by what it says about its story (:mod:`.story`): the words
of its *root* text (a ``//@`` repost chain's quoted original, not the
reposters' comments), its ``#hashtags#`` and whether it refers to coverage of
an event.  Words are jieba words (the classifier's tokenizer, with the
configured brand words) and Latin words / numbers, weighted by inverse
document frequency over recent mentions (:class:`TermStats`), so words every
post carries (the brand, "门店", "外卖") count for little and story words
("中央厨房", "过期牛肉", "蟑螂") for much.

Against each open incident of the same brand (a different brand never joins):

* **hashtag**: a hashtag the incident carries puts the mention in it;
* **words**: similarity = the larger of (a) the weighted share of the
  mention's words the incident's story holds and (b) the weighted share of the
  story's *core* words (carried by many of its posts) the mention holds, so a
  short retelling and a long follow-up article both match.  The bar is
  ``threshold``, x0.6 with a shared risk category, x1.5 when both sides carry
  risk categories and share none (媒体曝光 and 法律纠纷 say how a story is
  covered, not what happened: they neither match nor conflict), and x1.5 again when both carry hashtags and
  share none (two hashtags, two stories);
* **follow-up**: a *major* incident (P2 or above, active within the follow-up
  window) also takes a mention that brings no hashtag of its own and either
  shares a category (媒体曝光 included) and some words (besides the brand, a third of the bar), or refers to
  the coverage and is less severe on its own: by naming it (看到新闻、道歉声明、
  立案 ...), or only pointing at "the matter" (这事、回应) when it is about no
  other kind of risk, or retells the story in few words: less severe, no other
  kind of risk, two or more of its words and two thirds of the bar ("鲜味楼的牛肉面原来是过期牛肉做的").
  The regulator, the apology and the complaints a crisis sets off belong to
  it; a customer's own new story (its own hashtag, its own words: a cockroach
  in a milk tea at another store) does not, and neither does chatter.

Pure functions and an in-memory statistic only; the engine does the database work.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from classifiers.tokenize import Tokenizer

from . import story
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
# A less severe post retelling a major incident's story in few words ("鲜味楼的牛肉面原来是过期牛肉做的"):
# several of its words, most of the bar.
NEAR_WORDS = 3
NEAR_FACTOR = 0.8
# Categories that say how a story is covered (an exposé, a lawsuit), not what happened.
COVERAGE_CATEGORIES = frozenset({"media_exposure", "legal"})

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
    held = incident_terms if isinstance(incident_terms, AbstractSet) else set(incident_terms)
    return sum(w for t, w in weighted.items() if t in held) / total


def features(content: str, brands: Sequence[str] = ()) -> story.Features:
    """What the mention says about its story (see :mod:`.story`).

    ``brands`` are left out of its words: every post about a brand names it, so the brand tells which
    incidents may be the story (same brand only), never which story it is.
    """
    root = story.root_text(content)
    cue = 2 if any(c in root for c in story.STRONG_CUES) else 1 if any(c in root for c in story.WEAK_CUES) else 0
    text = story.HASHTAG.sub(" ", root)
    for brand in brands:
        text = text.replace(brand, " ")
    return story.Features(tuple(terms(text)), tuple(story.hashtags(content)), cue)


def similarity(weighted: dict[str, float], profile: story.Profile, stats: TermStats | None) -> float:
    """max(share of the mention's words in the story, share of the story's core words in the mention)."""
    held = share(weighted, profile.support.keys())
    core = profile.core(stats.weight if stats is not None else (lambda _t: 1.0))
    total = sum(w for _, w in core)
    covered = sum(w for t, w in core if t in weighted) / total if total else 0.0
    return max(held, covered)


@dataclass(frozen=True)
class Candidate:
    incident_id: int
    profile: story.Profile
    categories: Sequence[str]
    brand: str = ""
    tier: str = "P4"
    last_mention_at: float = 0.0


@dataclass(frozen=True)
class Probe:
    """What grouping needs to know about the mention being placed."""

    features: story.Features
    categories: Sequence[str]
    brand: str = ""
    negative: bool = False
    tier: str | None = None


@dataclass(frozen=True)
class Rules:
    threshold: float = 0.3  # similarity of words (see the module docstring)
    major_tier: str = "P2"  # incidents at this tier or above absorb follow-up coverage
    followup_s: float = 2 * 3600  # ... while they had a mention this recently


def best_match(probe: Probe, candidates: Iterable[Candidate], rules: Rules, now: float,
               stats: TermStats | None = None) -> tuple[int | None, float, str]:
    """The incident the mention joins (or None), its score, and why ("hashtag", "terms" or "follow-up")."""
    best: tuple[int | None, float, str] = (None, 0.0, "")
    follow: tuple[int | None, float, float] = (None, -1.0, 0.0)  # id, score, last_mention_at
    cats = set(probe.categories) - COVERAGE_CATEGORIES
    tags = set(probe.features.tags)
    weighted = weights(probe.features.terms, stats)
    for cand in candidates:
        if probe.brand and cand.brand and probe.brand != cand.brand:
            continue
        score = similarity(weighted, cand.profile, stats)
        story_tags = set(cand.profile.tags)
        if tags & story_tags:
            if (2.0 + score, "hashtag") > (best[1], best[2]):
                best = (cand.incident_id, 2.0 + score, "hashtag")
            continue
        their = set(cand.categories) - COVERAGE_CATEGORIES
        shared = bool(cats & their)
        disjoint = bool(cats) and bool(their) and not shared
        needed = rules.threshold * (1.5 if disjoint else SHARED_CATEGORY_FACTOR if shared else 1.0)
        if tags and story_tags:
            needed *= 1.5  # both name their story by a hashtag, and not the same one
        if score >= needed and score > best[1]:
            best = (cand.incident_id, score, "terms")
        if tags or rank(cand.tier) > rank(rules.major_tier) or now - cand.last_mention_at > rules.followup_s:
            continue  # a hashtag of its own is a story of its own; only major, active incidents absorb
        lesser = rank(probe.tier) > rank(cand.tier)
        cue = probe.features.cue
        overlap = bool(set(probe.categories) & set(cand.categories))  # coverage categories count here
        # Shared words besides the brand: its name is left out of the words when the brand is known
        # (:func:`features`), otherwise it is one of them.
        common = sum(1 for t in weighted if t in cand.profile.support) - (0 if probe.brand else 1)
        related = (overlap and common >= 1 and score >= rules.threshold * FOLLOWUP_FACTOR) or (
            lesser and (cue >= 2 or (cue == 1 and not disjoint))) or (
            lesser and not disjoint and common >= NEAR_WORDS and score >= rules.threshold * NEAR_FACTOR)
        if related and (score, cand.last_mention_at) > follow[1:]:
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
