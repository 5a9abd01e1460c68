"""What a post says about its story, and what an incident's story is made of (pure, no I/O).

A Weibo repost reads ``comment //@B:comment //@A: original``: the story is the
*root* (the text after the last ``//@name:``), the comments are reactions.
``grouping.features`` keeps the root's words, every ``#hashtag#`` of the post
(reposters add them too), and whether the post refers to coverage of an event
(看到新闻、曝光、道歉声明、立案 ...; weaker: 这事、回应): the cue of follow-up posts that carry few
of the story's own words ("鲜味楼的公关到现在都没有回应？").

:class:`Profile` is an incident's story: how many of its original posts carry
each word (so words one stray post brought in weigh little against the words
every post repeats), its hashtags, and how many posts built it.  Profiles are
stored as JSON (``incident_stories``).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

HASHTAG = re.compile(r"#([^#\s@]{2,40})#")
_REPOST = re.compile(r"//@[^:：\s]{1,30}[:：]")
# Words by which a post refers to coverage of an event rather than telling a story of its own: strong ones
# name the coverage (看到新闻后...), weak ones only point at "the matter" (这事鲜味楼得给个说法).
STRONG_CUES = ("新闻", "报道", "曝光", "暗访", "爆料", "声明", "道歉", "致歉", "立案", "通报")
WEAK_CUES = ("事件", "这件事", "这事", "此事", "回应", "公关", "涉事", "停业", "整改", "监管")
MAX_PROFILE_TERMS = 600
# "比X还离谱", "继X之后": X is what the post compares with, not what it is about.
_REFERENCE_BEFORE = ("比", "继", "像", "跟", "同")
_REFERENCE_AFTER = ("之后", "一样", "那样", "事件后")


def root_text(text: str) -> str:
    """The text a repost chain quotes (after the last ``//@name:``), or the whole text."""
    parts = _REPOST.split(text)
    root = parts[-1].strip()
    return root if len(parts) > 1 and root else text


def hashtags(text: str) -> list[str]:
    """Distinct ``#话题#`` of ``text``, normalised (NFKC, lower case)."""
    norm = unicodedata.normalize("NFKC", text).lower()
    return list(dict.fromkeys(HASHTAG.findall(norm)))


@dataclass(frozen=True)
class Features:
    terms: tuple[str, ...]  # salient words of the root text (and the title)
    tags: tuple[str, ...]
    cue: int  # refers to coverage of an event: 2 by a strong cue, 1 by a weak one, 0 not


@dataclass
class Profile:
    """An incident's story: word supports over its original posts, hashtags, size."""

    support: dict[str, float] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    posts: int = 0

    def add(self, f: Features) -> None:
        """Add one post: an original counts for its words, a repost (no words given) only for its hashtags."""
        self.posts += 1 if f.terms else 0
        for t in f.terms:
            self.support[t] = self.support.get(t, 0.0) + 1.0
        for tag in f.tags:
            if tag not in self.tags:
                self.tags.append(tag)
        if len(self.support) > MAX_PROFILE_TERMS:  # drop the words fewest posts carry, the oldest first
            keep = sorted(self.support.items(), key=lambda kv: -kv[1])[:MAX_PROFILE_TERMS * 3 // 4]
            self.support = dict(keep)

    def core(self, weight: Any, limit: int = 12) -> list[tuple[str, float]]:
        """The story's defining words: carried by several of its posts and rare elsewhere (``weight`` = IDF).

        Once two posts built the story, a word only one of them used is not part of its core.
        """
        need = 1.0 if self.posts < 2 else max(2.0, 0.2 * self.posts)
        scored = [(t, s * weight(t)) for t, s in self.support.items() if s >= need]
        scored.sort(key=lambda tw: -tw[1])
        return scored[:limit]

    def to_json(self) -> str:
        return json.dumps({"support": self.support, "tags": self.tags, "posts": self.posts}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | None) -> Profile:
        if not text:
            return cls()
        data = json.loads(text)
        return cls({str(k): float(v) for k, v in dict(data.get("support", {})).items()},
                   [str(t) for t in data.get("tags", [])], int(data.get("posts", 0)))

    @classmethod
    def of_terms(cls, words: Iterable[str]) -> Profile:
        """A profile from an incident stored before profiles existed (its word list, one post's weight)."""
        return cls({t: 1.0 for t in words}, [], 1)


def brand_in(text: str, brands: Sequence[str]) -> str:
    """The configured brand ``text`` is about: one in a hashtag, else the one named most (a brand only
    compared with counts less), else the first named; "" when it names none."""
    found: dict[str, float] = {}
    first: dict[str, int] = {}
    tags = " ".join(HASHTAG.findall(text))
    for brand in brands:
        start = text.find(brand)
        if start < 0:
            continue
        first[brand] = start
        weight = 0.0
        at = start
        while at >= 0:
            before, after = text[max(0, at - 1):at], text[at + len(brand):at + len(brand) + 3]
            compared = before in _REFERENCE_BEFORE or after.startswith(_REFERENCE_AFTER)
            weight += 0.25 if compared else 1.0
            at = text.find(brand, at + len(brand))
        found[brand] = weight + (10.0 if brand in tags else 0.0)
    if not found:
        return ""
    return max(found, key=lambda b: (found[b], -first[b]))
