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

import sqlite_utils
from sqlite_utils.migrations import Migrations

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


migrations = Migrations("monitor")


@migrations()
def m001_mentions(db: sqlite_utils.Database) -> None:
    db["mentions"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "source": str,
            "external_id": str,
            "url": str,
            "url_norm": str,
            "content_hash": str,
            "simhash": int,
            "duplicate_of": int,  # id of the original when this is a near-duplicate repost
            "author": str,
            "author_reach": int,
            "published_at": float,
            "fetched_at": float,
            "title": str,
            "text": str,
            "raw": str,  # JSON
            # classification (NULL until classified)
            "sentiment": str,
            "negative_probability": float,
            "categories": str,  # JSON list
            "tier": str,
            "reasons": str,  # JSON list
            "classified_at": float,
            "incident_id": int,
        },
        pk="id",
    )
    db["mentions"].create_index(["source", "external_id"], unique=True)  # type: ignore[union-attr]
    db["mentions"].create_index(["url_norm"])  # type: ignore[union-attr]
    db["mentions"].create_index(["content_hash"])  # type: ignore[union-attr]
    db["mentions"].create_index(["fetched_at"])  # type: ignore[union-attr]
    db["mentions"].create_index(["incident_id"])  # type: ignore[union-attr]
    db["mentions"].create_index(["classified_at"])  # type: ignore[union-attr]


@migrations()
def m002_sources(db: sqlite_utils.Database) -> None:
    db["sources"].create(  # type: ignore[union-attr]
        {"name": str, "kind": str, "config": str, "origin": str, "paused": int, "created_at": float,
         "updated_at": float},
        pk="name",
        defaults={"paused": 0, "origin": "api"},
    )
    db["source_state"].create(  # type: ignore[union-attr]
        {
            "name": str,
            "etag": str, "last_modified": str, "cursor": str,
            "last_attempt_at": float, "last_success_at": float,
            "last_error": str, "last_error_at": float, "consecutive_failures": int,
            "items_seen": int, "mentions_new": int, "duplicates": int,
            "last_new_at": float, "mean_gap_s": float, "next_attempt_at": float,
            "alert": str, "last_lateness_s": float,
        },
        pk="name",
        defaults={"consecutive_failures": 0, "items_seen": 0, "mentions_new": 0, "duplicates": 0},
    )
    # notified_at: set once the mention listeners (incident engine) have received it.
    db["mentions"].add_column("notified_at", float)  # type: ignore[union-attr]
    db.execute("UPDATE mentions SET notified_at = classified_at WHERE classified_at IS NOT NULL")
    db["mentions"].create_index(["notified_at"])  # type: ignore[union-attr]
    db["mentions"].create_index(["simhash"])  # type: ignore[union-attr]


@migrations()
def m003_pending_index(db: sqlite_utils.Database) -> None:
    # Stored but not yet classified/announced: a partial index keeps the resume scan tiny.
    db.execute("CREATE INDEX IF NOT EXISTS idx_mentions_pending ON mentions (source, id) "
               "WHERE classified_at IS NULL OR notified_at IS NULL")


@migrations()
def m004_channel(db: sqlite_utils.Database) -> None:
    # The feed or channel title (an RSS <channel><title> such as 央视新闻的微博): it counts for authority.
    db["mentions"].add_column("channel", str)  # type: ignore[union-attr]


@migrations()
def m005_source_health_details(db: sqlite_utils.Database) -> None:
    # What a poll stored with a caveat, which items it refused and why, and the encoding it read the page in.
    table = db["source_state"]
    for column, kind in (("warning", str), ("rejected", str), ("rejected_at", float), ("encoding", str),
                         ("encoding_source", str)):
        table.add_column(column, kind)  # type: ignore[union-attr]
    table.add_column("rejected_count", int, not_null_default=0)  # type: ignore[union-attr]
