"""A mention: one post, article or complaint about the brand, normalised.

Every source kind turns what it fetched into :class:`Mention` objects; they
are stored (``mentions`` table) before anything else happens to them.
Timestamps in the database are REAL epoch seconds (UTC).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Mention:
    source: str  # name of the configured source
    external_id: str  # guid / id given by the source (or the URL)
    url: str
    title: str
    text: str
    published_at: datetime  # timezone-aware
    author: str = ""
    author_reach: int | None = None  # followers / circulation, if known
    channel: str = ""  # the feed / page / channel title the item came in (RSS <channel><title>, ...)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.published_at.tzinfo is None:
            raise ValueError("Mention.published_at must be timezone-aware")

    @property
    def content(self) -> str:
        """Title and text as one string, for classification and hashing.

        A title that merely repeats the start of the text (RSSHub's Weibo
        items: ``"user：text..."``) is not repeated.
        """
        stem = self.title.rstrip(".…").rstrip()
        if not stem or self.text.startswith(stem):
            return self.text
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True)
class StoredMention:
    """A mention as stored and classified: what the incident engine receives."""

    id: int
    mention: Mention
    sentiment: str
    negative_probability: float
    categories: tuple[str, ...]
    tier: str
    reasons: tuple[str, ...]
    duplicate_of: int | None = None  # set for near-duplicate reposts (they count for volume only)
    official: bool = False  # the brand's own statement (classifiers.official): not public negativity


_WS = re.compile(r"\s+")


def content_hash(text: str) -> str:
    """Hash of the text with whitespace removed: exact duplicates share it."""
    return hashlib.sha256(_WS.sub("", text).encode("utf-8")).hexdigest()
