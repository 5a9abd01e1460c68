"""One poll of one source: fetch pages, filter by the brand query, store, classify, announce, record health.

Also the push path (``ingest``), which is a poll whose page was POSTed to us.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .config import Defaults
from .errors import IngestError, RateLimitedError, SourceError
from .health import HealthEvent, SourceState, record_failure, record_success
from .mentions import Mention
from .pipeline import Pipeline
from .query import Query
from .sources import FetchState, Source
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

    def __str__(self) -> str:
        if not self.ok:
            return f"✗ {self.source}: {self.error}"
        text = (f"✓ {self.source}: {self.new} 条新提及（其中转发/近似重复 {self.near_duplicates} 条），"
                f"重复 {self.duplicates} 条，未命中关键词 {self.filtered} 条，共抓取 {self.items} 条")
        return text + (f"；注意：{self.warning}" if self.warning else "")

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("source", "ok", "new", "duplicates", "near_duplicates", "items",
                                               "filtered", "error", "warning")}


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    filtered: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "filtered": self.filtered,
                "errors": self.errors}


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

    async def _store_and_announce(self, result: PollResult, mentions: list[Mention],
                                  state_row: dict[str, Any] | None, query: Query) -> None:
        kept = [m for m in mentions if query.matches(m.content)]
        result.filtered += len(mentions) - len(kept)
        outcome = await self.pipeline.store_page(kept, state_row)
        result.new += len(outcome.stored)
        result.near_duplicates += outcome.near_duplicates
        result.duplicates += outcome.duplicates
        if outcome.stored:
            try:
                await self.pipeline.classify_and_announce(outcome.stored)
            except Exception as exc:  # stored: resume() classifies/announces them later
                self.pipeline.pending_sources.add(result.source)
                log.exception("mentions of %s stored but not classified/announced yet", result.source)
                result.warning = f"{len(outcome.stored)} 条已保存，分类或通知失败，稍后重试（{type(exc).__name__}）"
            except BaseException:  # cancelled (shutdown): resumed at the next poll or start
                self.pipeline.pending_sources.add(result.source)
                raise

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
                result.items += page.items_seen
                row = state.to_row() | {"etag": page.state.etag, "last_modified": page.state.last_modified,
                                        "cursor": page.state.cursor}
                await self._store_and_announce(result, page.mentions, row, query)
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
            events = record_success(state, now=now, items_seen=result.items, new=result.new,
                                    duplicates=result.duplicates)
        else:
            events = record_failure(state, now=now, error=result.error or "", interval_s=cfg.interval_s,
                                    retry_after=retry_after, alert_after=self.defaults.failure_alert_after,
                                    rng=self.rng)
        await self.act(cfg.name, events)
        return result

    async def ingest(self, source: Source, state: SourceState, items: list[Any]) -> IngestResult:
        """Store a pushed batch: each bad item gets its own error, good items are kept."""
        cfg = source.config
        out = IngestResult()
        mentions: list[Mention] = []
        now = self.clock()
        for index, item in enumerate(items):
            try:
                mentions.append(parse_push_item(item, source=cfg.name, now=now, tz=self.pipeline.tz))
            except IngestError as exc:
                out.errors.append({"index": index, "error": str(exc)})
        result = PollResult(cfg.name, ok=True)
        await self._store_and_announce(result, mentions, None, cfg.compiled_query)
        out.accepted, out.duplicates, out.filtered = result.new, result.duplicates, result.filtered
        events = record_success(state, now=self.clock(), items_seen=len(items), new=result.new,
                                duplicates=result.duplicates)
        await self.act(cfg.name, events)
        return out
