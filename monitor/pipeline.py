"""From parsed mentions to stored, classified and announced mentions.

Order matters for "nothing lost":

1. **store** — exact dedupe and near-duplicate linking, then INSERT, in one
   transaction together with the source's fetch state (ETag, cursor), so a
   crash either keeps both or neither;
2. **classify** — off the event loop; results written with ``classified_at``;
3. **announce** — ``on_new_mentions`` listeners, then ``notified_at``.

A mention stored but not classified (``classified_at`` NULL) or not
announced (``notified_at`` NULL) is picked up by :meth:`Pipeline.resume`
at start and before each poll of its source.

Dedupe rules: the same (source, external id) or the same normalised URL is
the same item seen again (skipped).  The same content hash from the same
source and author is a re-published item (skipped); otherwise it, like a
near-identical text (SimHash), is a repost: stored with ``duplicate_of``
pointing at the original, so it counts for volume but is not a new story.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import partial
from typing import Any, Protocol

import sqlite_utils

from classifiers import OFFICIAL_REASON, Classification, Signals

from . import faults
from .mentions import Mention, StoredMention, content_hash
from .normalize import normalise_url
from .simhash import NearDuplicateIndex, fingerprints
from .store import Store

log = logging.getLogger("lantern.monitor")

# Told every stored, classified batch (the incident engine's ``on_mentions``); a failure leaves it unannounced.
MentionSink = Callable[[list[StoredMention]], Awaitable[object]]


class MentionClassifier(Protocol):
    """What the pipeline needs of a classifier (``classifiers.Classifier`` and the web's handle satisfy it)."""

    def classify_batch(self, texts: Sequence[str],
                       signals: Sequence[Signals | None] | None = None) -> Sequence[Classification]: ...

_INSERT = (
    "INSERT INTO mentions (source, external_id, url, url_norm, content_hash, simhash, duplicate_of, author, "
    "author_reach, channel, published_at, fetched_at, title, text, raw) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def default_signals(mention: Mention) -> Signals:
    """What the classifier may use besides the text: the source's name, the author and the channel title
    (each may name an outlet such as 央视新闻), and the author's reach."""
    return Signals(source_name=mention.source, author=mention.author or None, channel=mention.channel or None,
                   author_reach=mention.author_reach)


@dataclass
class Prepared:
    mention: Mention
    url_norm: str
    hash: str
    simhash: int
    near_eligible: bool


@dataclass
class Stored:
    id: int
    mention: Mention
    duplicate_of: int | None


@dataclass
class StoreOutcome:
    stored: list[Stored] = field(default_factory=list)
    duplicates: int = 0  # exact duplicates skipped
    refused: list[tuple[Mention, str]] = field(default_factory=list)  # rows the database would not take

    @property
    def near_duplicates(self) -> int:
        return sum(1 for s in self.stored if s.duplicate_of is not None)


class Pipeline:
    def __init__(self, store: Store, classifier: MentionClassifier, clock: Callable[[], float], *, tz: tzinfo,
                 on_new_mentions: MentionSink | None = None, index: NearDuplicateIndex | None = None,
                 make_signals: Callable[[Mention], Signals] = default_signals) -> None:
        self.store = store
        self.classifier = classifier
        self.clock = clock
        self.tz = tz
        self.on_new_mentions = on_new_mentions
        self.index = index if index is not None else NearDuplicateIndex()
        self.make_signals = make_signals
        self._index_lock = threading.Lock()
        # Sources with stored mentions not yet classified/announced (a failure left them); resumed next poll.
        self.pending_sources: set[str] = set()

    # -- start-up ------------------------------------------------------------
    async def load_index(self) -> int:
        """Fill the near-duplicate index with recent originals from the database."""
        since = self.clock() - self.index.window_s

        def read(db: sqlite_utils.Database) -> list[tuple[int, int, float]]:
            return db.execute(
                "SELECT id, simhash, fetched_at FROM mentions WHERE duplicate_of IS NULL AND simhash IS NOT NULL "
                "AND simhash != 0 AND fetched_at >= ? ORDER BY id", [since]).fetchall()

        rows = await self.store.read(read)
        with self._index_lock:
            for mention_id, value, at in rows:
                self.index.add(mention_id, value, at)
            self.index.prune(self.clock())
        return len(rows)

    # -- store ---------------------------------------------------------------
    def prepare(self, mentions: Sequence[Mention]) -> list[Prepared]:
        contents = [m.content for m in mentions]
        return [Prepared(m, normalise_url(m.url), content_hash(content), value, length >= self.index.min_chars)
                for m, content, (value, length) in zip(mentions, contents, fingerprints(contents), strict=True)]

    def _store_sync(self, db: sqlite_utils.Database, items: list[Prepared], now: float,
                    state_row: dict[str, Any] | None) -> StoreOutcome:
        conn = db.conn
        outcome = StoreOutcome()
        added: list[int] = []
        try:
            for p in items:
                m = p.mention
                if conn.execute("SELECT 1 FROM mentions WHERE source=? AND external_id=?",
                                (m.source, m.external_id)).fetchone():
                    outcome.duplicates += 1
                    continue
                if p.url_norm and conn.execute("SELECT 1 FROM mentions WHERE url_norm=? LIMIT 1",
                                               (p.url_norm,)).fetchone():
                    outcome.duplicates += 1
                    continue
                duplicate_of: int | None = None
                same = conn.execute("SELECT id, duplicate_of, source = ? AND author = ? FROM mentions "
                                    "WHERE content_hash=? ORDER BY id LIMIT 1", (m.source, m.author, p.hash)).fetchone()
                if same is not None:
                    if same[2]:  # the same author in the same source again: a re-published item
                        outcome.duplicates += 1
                        continue
                    duplicate_of = same[1] or same[0]
                elif p.near_eligible:
                    with self._index_lock:
                        match = self.index.find(p.simhash)
                    if match is not None:
                        duplicate_of = match.original_id
                try:  # monitor/items.py checked every field; this keeps one bad row from costing the page
                    cur = conn.execute(_INSERT, (
                        m.source, m.external_id, m.url, p.url_norm, p.hash, p.simhash, duplicate_of, m.author,
                        m.author_reach, m.channel, m.published_at.timestamp(), now, m.title, m.text,
                        json.dumps(m.raw, ensure_ascii=False, default=str),
                    ))
                except (sqlite3.InterfaceError, sqlite3.DataError, OverflowError, ValueError, RecursionError) as exc:
                    log.warning("mention %r of %s refused by the database: %s", m.external_id[:80], m.source,
                                type(exc).__name__)
                    outcome.refused.append((m, f"无法保存（{type(exc).__name__}）(could not be stored)"))
                    continue
                mention_id = int(cur.lastrowid or 0)
                if duplicate_of is None and p.near_eligible:
                    with self._index_lock:
                        self.index.add(mention_id, p.simhash, now)
                    added.append(mention_id)
                outcome.stored.append(Stored(mention_id, m, duplicate_of))
            if state_row is not None:
                db["source_state"].upsert(state_row, pk="name")  # type: ignore[union-attr]
        except BaseException:
            with self._index_lock:
                self.index.discard(added)
            raise
        return outcome

    async def store_page(self, mentions: Sequence[Mention], state_row: dict[str, Any] | None = None) -> StoreOutcome:
        """Dedupe and store ``mentions`` (and the source state) in one transaction."""
        items = await asyncio.to_thread(self.prepare, mentions) if len(mentions) > 20 else self.prepare(mentions)
        now = self.clock()
        return await self.store.write(lambda db: self._store_sync(db, items, now, state_row))

    # -- classify and announce ------------------------------------------------
    def _classify_sync(self, stored: list[Stored]) -> list[Classification]:
        texts = [s.mention.content for s in stored]
        signals = [self.make_signals(s.mention) for s in stored]
        results = list(self.classifier.classify_batch(texts, signals))
        if len(results) != len(texts):
            raise RuntimeError(f"classifier returned {len(results)} results for {len(texts)} texts")
        return results

    async def classify_and_announce(self, stored: list[Stored], *,
                                    classified: dict[int, Classification] | None = None) -> None:
        """Classify ``stored`` (except those in ``classified``), record it, then announce all of them."""
        classified = dict(classified or {})
        todo = [s for s in stored if s.id not in classified]
        faults.reached("pipeline.stored")
        if todo:
            results = await asyncio.to_thread(self._classify_sync, todo)
            now = self.clock()
            rows = []
            for s, r in zip(todo, results, strict=True):
                classified[s.id] = r
                rows.append((str(r.sentiment), float(r.negative_probability),
                             json.dumps([str(c) for c in r.categories], ensure_ascii=False), str(r.tier),
                             json.dumps([str(x) for x in r.reasons], ensure_ascii=False), now, s.id))

            await self.store.write(partial(_record_classes, rows=rows))
        batch = [StoredMention(
            id=s.id, mention=s.mention, sentiment=str(classified[s.id].sentiment),
            negative_probability=float(classified[s.id].negative_probability),
            categories=tuple(str(c) for c in classified[s.id].categories), tier=str(classified[s.id].tier),
            reasons=tuple(str(x) for x in classified[s.id].reasons), duplicate_of=s.duplicate_of,
            official=classified[s.id].official,
        ) for s in stored]
        if batch and self.on_new_mentions is not None:
            await self.on_new_mentions(batch)
        faults.reached("pipeline.announced")
        ids = [(self.clock(), s.id) for s in stored]
        if ids:
            await self.store.write(partial(_mark_notified, ids=ids))

    async def resume(self, source: str | None = None, *, limit: int = 1000) -> int:
        """Classify and announce stored mentions a crash or a failure left behind; returns how many."""
        total = 0
        while True:
            rows = await self.store.read(lambda db: _pending_rows(db, source, limit))
            if not rows:
                return total
            stored: list[Stored] = []
            classified: dict[int, Classification] = {}
            for row in rows:
                stored.append(Stored(row["id"], self._row_mention(row), row["duplicate_of"]))
                if row["classified_at"] is not None:
                    classified[row["id"]] = Classification(
                        sentiment=row["sentiment"], negative_probability=row["negative_probability"] or 0.0,
                        categories=tuple(json.loads(row["categories"] or "[]")), tier=row["tier"],
                        reasons=tuple(json.loads(row["reasons"] or "[]")),
                        # the stored reasons carry the classifier's official-statement marker
                        official=OFFICIAL_REASON in json.loads(row["reasons"] or "[]"))
            await self.classify_and_announce(stored, classified=classified)
            total += len(rows)
            if len(rows) < limit:
                return total

    def _row_mention(self, row: dict[str, Any]) -> Mention:
        try:
            raw = json.loads(row["raw"] or "{}")
        except ValueError:
            raw = {}
        return Mention(source=row["source"], external_id=row["external_id"], url=row["url"] or "",
                       title=row["title"] or "", text=row["text"] or "",
                       published_at=datetime.fromtimestamp(row["published_at"] or row["fetched_at"], self.tz),
                       author=row["author"] or "", author_reach=row["author_reach"],
                       channel=row.get("channel") or "", raw=raw)


def _record_classes(db: sqlite_utils.Database, *, rows: list[tuple[Any, ...]]) -> None:
    # Returns nothing: the cursor stays on the writer thread (see web/storage.py, the storage contract).
    db.conn.executemany("UPDATE mentions SET sentiment=?, negative_probability=?, categories=?, tier=?, "
                        "reasons=?, classified_at=? WHERE id=?", rows).close()


def _mark_notified(db: sqlite_utils.Database, *, ids: list[tuple[float, int]]) -> None:
    db.conn.executemany("UPDATE mentions SET notified_at=? WHERE id=?", ids).close()


def _pending_rows(db: sqlite_utils.Database, source: str | None, limit: int) -> list[dict[str, Any]]:
    where = "(classified_at IS NULL OR notified_at IS NULL)"
    params: list[Any] = []
    if source is not None:
        where += " AND source = ?"
        params.append(source)
    return list(db.query(f"SELECT * FROM mentions WHERE {where} ORDER BY id LIMIT {int(limit)}", params))
