"""One poll of one source: fetch pages, filter by the brand query, store, classify, announce, record health.

Also the push path (``ingest``), which is a poll whose page was POSTed to us.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from . import faults
from .config import Defaults
from .errors import ItemError, RateLimitedError, SourceError
from .items import MAX_REJECTED_SHOWN, Rejected, check, describe_notes, label
from .mentions import Mention
from .pipeline import Pipeline
from .query import Query
from .source_health import HealthEvent, SourceState, record_failure, record_success
from .sources import FetchState, Page, Source
from .sources.push import parse_push_item

log = logging.getLogger("lantern.monitor")

OnHealthAlert = Callable[[str, str, str], Awaitable[None]]


@dataclass
class PollResult:
    source: str
    ok: bool
    new: int = 0
    duplicates: int = 0  # exact duplicates skipped
    near_duplicates: int = 0  # reposts stored and linked to their original
    items: int = 0  # items in the payload
    filtered: int = 0  # items the brand query left out
    error: str | None = None
    warning: str | None = None
    rejected: list[Rejected] = field(default_factory=list)  # items refused, each with its reason

    def warn(self, text: str) -> None:
        self.warning = f"{self.warning}；{text}" if self.warning else text

    def __str__(self) -> str:
        if not self.ok:
            return f"✗ {self.source}: {self.error}"
        text = (f"✓ {self.source}: {self.new} 条新提及（其中转发/近似重复 {self.near_duplicates} 条），"
                f"重复 {self.duplicates} 条，未命中关键词 {self.filtered} 条，共抓取 {self.items} 条")
        return text + (f"；注意：{self.warning}" if self.warning else "")

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("source", "ok", "new", "duplicates", "near_duplicates", "items",
                                              "filtered", "error", "warning")}
        out["rejected"] = [r.as_dict() for r in self.rejected[:MAX_REJECTED_SHOWN]]
        return out


def rejected_warning(rejected: list[Rejected]) -> str:
    """The health line for refused items: how many, and the first reason."""
    return f"拒收 {len(rejected)} 条无效条目（如：{rejected[0].reason}）({len(rejected)} invalid items refused)"


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    filtered: int = 0
    rejected: list[Rejected] = field(default_factory=list)  # item = the index in the pushed batch
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        rejected = [{"index": r.item, "reason": r.reason} for r in self.rejected]
        return {"accepted": self.accepted, "duplicates": self.duplicates, "filtered": self.filtered,
                "rejected": rejected, "warnings": self.warnings,
                # deprecated alias of rejected (until 0.2): the first releases answered {index, error}
                "errors": [{"index": r["index"], "error": r["reason"]} for r in rejected]}


class Poller:
    def __init__(self, pipeline: Pipeline, clock: Callable[[], float], defaults: Defaults, *,
                 on_health_alert: OnHealthAlert | None = None, rng: random.Random | None = None) -> None:
        self.pipeline = pipeline
        self.clock = clock
        self.defaults = defaults
        self.on_health_alert = on_health_alert
        self.rng = rng or random.Random()

    async def act(self, name: str, events: list[HealthEvent]) -> None:
        """Log first failures and recoveries; send alerts through the injected callback."""
        for event in events:
            if event.kind == "first_failure":
                log.warning("%s", event.message)
            elif event.kind == "recovered":
                log.info("%s", event.message)
            else:
                log.error("%s", event.message)
            if event.alert and self.on_health_alert is not None:
                try:
                    await self.on_health_alert(name, event.kind, event.message)
                except Exception:
                    log.exception("source-health alert for %s could not be sent", name)

    def _check_page(self, result: PollResult, page: Page) -> list[Mention]:
        """The page's mentions that may be stored (checked and clamped); the others go to ``result.rejected``."""
        now = self.clock()
        kept: list[Mention] = []
        notes: Counter[str] = Counter()
        result.rejected.extend(page.rejected)
        for mention in page.mentions:
            try:
                cleaned, changed = check(mention, now=now, tz=self.pipeline.tz)
            except ItemError as exc:
                result.rejected.append(Rejected(label(mention), str(exc)))
                continue
            notes.update(changed)
            kept.append(cleaned)
        for text in [*page.warnings, *describe_notes(notes)]:
            result.warn(text)
        return kept

    async def _store_and_announce(self, result: PollResult, mentions: list[Mention],
                                  state_row: dict[str, Any] | None, query: Query) -> None:
        kept = [m for m in mentions if query.matches(m.content)]
        result.filtered += len(mentions) - len(kept)
        outcome = await self.pipeline.store_page(kept, state_row)
        result.new += len(outcome.stored)
        result.near_duplicates += outcome.near_duplicates
        result.duplicates += outcome.duplicates
        result.rejected.extend(Rejected(label(m), reason) for m, reason in outcome.refused)
        if outcome.stored:
            try:
                await self.pipeline.classify_and_announce(outcome.stored)
            except Exception as exc:  # stored: resume() classifies/announces them later
                self.pipeline.pending_sources.add(result.source)
                log.exception("mentions of %s stored but not classified/announced yet", result.source)
                result.warn(f"{len(outcome.stored)} 条已保存，分类或通知失败，稍后重试（{type(exc).__name__}）")
            except BaseException:  # cancelled (shutdown): resumed at the next poll or start
                self.pipeline.pending_sources.add(result.source)
                raise

    def _success(self, state: SourceState, result: PollResult, items_seen: int) -> list[HealthEvent]:
        warning = result.warning
        if result.rejected:
            warning = f"{warning}；{rejected_warning(result.rejected)}" if warning else \
                rejected_warning(result.rejected)
        return record_success(state, now=self.clock(), items_seen=items_seen, new=result.new,
                              duplicates=result.duplicates, warning=warning,
                              rejected=[r.as_dict() for r in result.rejected], max_rejected_shown=MAX_REJECTED_SHOWN)

    async def poll(self, source: Source, state: SourceState) -> PollResult:
        cfg = source.config
        query = cfg.compiled_query
        result = PollResult(cfg.name, ok=True)
        state.last_attempt_at = self.clock()
        if cfg.name in self.pipeline.pending_sources:
            try:
                await self.pipeline.resume(cfg.name)
                self.pipeline.pending_sources.discard(cfg.name)
            except Exception:
                log.exception("leftover mentions of %s could not be classified yet", cfg.name)
        retry_after: float | None = None
        try:
            fetch_state = FetchState(state.etag, state.last_modified, state.cursor)
            async for page in source.pages(fetch_state):
                faults.reached("poll.fetched")
                result.items += page.items_seen
                if page.encoding:
                    state.encoding, state.encoding_source = page.encoding, page.encoding_source
                row = state.to_row() | {"etag": page.state.etag, "last_modified": page.state.last_modified,
                                        "cursor": page.state.cursor}
                await self._store_and_announce(result, self._check_page(result, page), row, query)
                state.etag, state.last_modified, state.cursor = page.state.etag, page.state.last_modified, \
                    page.state.cursor
        except RateLimitedError as exc:
            result.ok, result.error, retry_after = False, str(exc), exc.retry_after
        except SourceError as exc:
            result.ok, result.error = False, str(exc)
        except Exception as exc:  # a bug must show up in health, not kill the scheduler
            log.exception("unexpected error while polling %s", cfg.name)
            result.ok, result.error = False, f"内部错误：{type(exc).__name__}（详见日志）(internal error)"
        now = self.clock()
        if result.ok:
            events = self._success(state, result, result.items)
        else:
            events = record_failure(state, now=now, error=result.error or "", interval_s=cfg.interval_s,
                                    retry_after=retry_after, alert_after=self.defaults.failure_alert_after,
                                    rng=self.rng)
        await self.act(cfg.name, events)
        return result

    async def ingest(self, source: Source, state: SourceState, items: list[Any]) -> IngestResult:
        """Store a pushed batch: each bad item is refused with its own reason, good items are kept."""
        cfg = source.config
        out = IngestResult()
        mentions: list[Mention] = []
        kept_at: list[int] = []
        notes: Counter[str] = Counter()
        now = self.clock()
        result = PollResult(cfg.name, ok=True)
        for index, item in enumerate(items):
            try:
                mention = parse_push_item(item, source=cfg.name, now=now, tz=self.pipeline.tz)
                mention, changed = check(mention, now=now, tz=self.pipeline.tz, strict=True)
            except ItemError as exc:
                result.rejected.append(Rejected(index, str(exc)))
                continue
            notes.update(changed)
            mentions.append(mention)
            kept_at.append(index)
        for text in describe_notes(notes):
            result.warn(text)
        index_of = {label(m): i for i, m in zip(kept_at, mentions, strict=True)}
        before = len(result.rejected)
        await self._store_and_announce(result, mentions, None, cfg.compiled_query)
        result.rejected[before:] = [Rejected(index_of.get(str(r.item), r.item), r.reason)  # the database refused it
                                    for r in result.rejected[before:]]
        result.rejected.sort(key=lambda r: r.item if isinstance(r.item, int) else -1)
        out.accepted, out.duplicates, out.filtered = result.new, result.duplicates, result.filtered
        out.rejected, out.warnings = list(result.rejected), describe_notes(notes)
        events = self._success(state, result, len(items))
        await self.act(cfg.name, events)
        return out
