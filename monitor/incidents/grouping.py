"""Which open incident a mention belongs to: the same story across sources and reposts.

A story is recognised by its key terms: character bigrams of the Chinese text
and whole Latin words/numbers (brand names, product codes).  A mention joins
the open incident holding the largest share of its terms, if that share
reaches the threshold and their risk categories do not contradict each other.
Near-duplicate reposts (``duplicate_of``) always follow their original.
Pure functions only; the engine does the database work.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]+|\d{3,}")
# Bigrams so common in posts that they say nothing about the story.
_STOP = frozenset(
    "我们 你们 他们 这个 那个 就是 不是 没有 一个 什么 怎么 真的 还是 已经 可以 自己 现在 今天 大家 因为 所以 但是 "
    "如果 这么 那么 觉得 还有 而且 以及 关于 进行 表示 记者 转发 微博 网友 评论 视频 图片 全文 链接 回复".split()
)
MAX_TERMS = 80  # per mention: the beginning of the text carries the story
MAX_INCIDENT_TERMS = 1500


def terms(text: str, *, limit: int = MAX_TERMS) -> list[str]:
    """Distinct key terms of ``text`` in order of appearance."""
    seen: dict[str, None] = {}
    for match in re.finditer(r"[\u4e00-\u9fff]+|[A-Za-z][A-Za-z0-9]+|\d{3,}", text):
        run = match.group(0)
        if _CJK_RUN.fullmatch(run):
            grams = [run[i:i + 2] for i in range(len(run) - 1)] or [run]
        else:
            grams = [run.lower()]
        for gram in grams:
            if gram not in _STOP and len(gram) > 1:
                seen.setdefault(gram, None)
                if len(seen) >= limit:
                    return list(seen)
    return list(seen)


def share(mention_terms: Sequence[str], incident_terms: Iterable[str]) -> float:
    """Share of the mention's terms the incident holds (0 when the mention has none)."""
    if not mention_terms:
        return 0.0
    held = set(incident_terms)
    return sum(1 for t in mention_terms if t in held) / len(mention_terms)


@dataclass(frozen=True)
class Candidate:
    incident_id: int
    terms: Sequence[str]
    categories: Sequence[str]


def best_match(mention_terms: Sequence[str], categories: Sequence[str], candidates: Iterable[Candidate],
               threshold: float) -> tuple[int | None, float]:
    """The incident the mention joins (or None) and the share it scored.

    Differing categories on both sides raise the bar by half: "food safety at
    brand X" and "price complaint at brand X" are different stories even when
    the brand name is shared.
    """
    best: tuple[int | None, float] = (None, 0.0)
    for cand in candidates:
        score = share(mention_terms, cand.terms)
        needed = threshold
        if categories and cand.categories and not set(categories) & set(cand.categories):
            needed = min(1.0, threshold * 1.5)
        if score >= needed and score > best[1]:
            best = (cand.incident_id, score)
    return best


def merge_terms(existing: Sequence[str], new: Sequence[str]) -> list[str]:
    merged = dict.fromkeys(existing)
    for t in new:
        if len(merged) >= MAX_INCIDENT_TERMS:
            break
        merged.setdefault(t, None)
    return list(merged)
