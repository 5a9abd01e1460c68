"""``MonitorService``: the sources, their schedule and their health, as one object ``web`` wires.

Construction validates the ``[[sources]]`` tables (a bad one is a clear
:class:`SourceConfigError` at start-up, not a silent skip).  ``start()``
upserts them into the ``sources`` table, loads API-added ones, rebuilds the
near-duplicate index, resumes mentions a crash left unclassified or
unannounced, and starts the scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import random
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from . import sources_table
from .config import Defaults, SourceConfig, merge_update, parse_config
from .errors import (
    BatchTooLargeError,
    SourceConfigError,
    SourceExistsError,
    SourcePausedError,
    UnknownSourceError,
)
from .http import HttpFetcher
from .parsing import ParseWorkers
from .pipeline import MentionClassifier, MentionSink, Pipeline
from .poller import IngestResult, OnHealthAlert, Poller, PollResult
from .scheduler import PollScheduler
from .simhash import NearDuplicateIndex
from .source_health import SourceState, check_silence, status
from .sources import KINDS, Source, SourceContext
from .sources_table import delete_source, load_sources, load_states, save_source, save_state, sync_config_sources
from .store import Store

log = logging.getLogger("lantern.monitor")
HEALTH_JOB = "health check"  # not a valid source name (spaces are not allowed), so it cannot clash
MAX_INGEST_ITEMS = 500


@dataclass(frozen=True)
class SourceStatus:
    """A source's health status changed, or it was added, changed, paused, resumed or removed."""

    name: str
    status: str  # a health status (ok, error, failing, silent, pending), "paused" or "removed"


SourceListener = Callable[[SourceStatus], Awaitable[None]]
# Told the name of a source whose stored settings this process changed (added, edited - a new push token too -,
# paused, resumed, removed), so other processes on the same database can :meth:`MonitorService.reload_source` it.
ConfigListener = Callable[[str], Awaitable[None]]


class MonitorService:
    def __init__(self, store: Store, classifier: MentionClassifier, clock: Callable[[], float], *,
                 sources: list[dict[str, Any]],
                 defaults: Defaults | None = None, on_new_mentions: MentionSink | None = None,
                 on_health_alert: OnHealthAlert | None = None, fetcher: HttpFetcher | None = None,
                 rng: random.Random | None = None, kinds: Mapping[str, type[Source]] = KINDS,
                 retry_pending_s: float = 30.0) -> None:
        self.store = store
        self.clock = clock
        self.defaults = defaults or Defaults()
        self.kinds = kinds
        self.tz = ZoneInfo(self.defaults.timezone)
        self.fetcher = fetcher or HttpFetcher(per_host=self.defaults.per_host_concurrency, clock=clock)
        self.parser = ParseWorkers(workers=self.defaults.parse_workers,
                                   time_limit_s=self.defaults.parse_time_limit_s)
        self.pipeline = Pipeline(store, classifier, clock, tz=self.tz, on_new_mentions=on_new_mentions,
                                 index=NearDuplicateIndex(max_distance=self.defaults.near_duplicate_bits))
        self.poller = Poller(self.pipeline, clock, self.defaults, on_health_alert=on_health_alert, rng=rng)
        self.scheduler = PollScheduler(self._scheduled_run, rng=rng)
        self._file_sources = [self._parse(dict(s)) for s in sources]
        names = [c.name for c in self._file_sources]
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise SourceConfigError(f"[[sources]] 中来源名称重复 (duplicate source names): {', '.join(twice)}")
        self._configs: dict[str, SourceConfig] = {}
        self._states: dict[str, SourceState] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._loaded = False
        self._started = False
        self._polls_now = 0  # poll_once calls in flight: the fetcher stays open until the last one ends
        self.lateness: deque[float] = deque(maxlen=100_000)  # seconds each scheduled poll started late
        self.retry_pending_s = retry_pending_s
        self._retry_task: asyncio.Task[None] | None = None
        self.listeners: list[SourceListener] = []
        self.config_listeners: list[ConfigListener] = []

    # -- configuration ------------------------------------------------------
    def _parse(self, data: Mapping[str, Any], *, generate_token: bool = False) -> SourceConfig:
        if generate_token and data.get("kind") == "push" and not data.get("token"):
            data = {**data, "token": secrets.token_urlsafe(24)}
        cfg = parse_config(data, self.defaults, self.kinds)
        if cfg.kind == "push" and len(cfg.token) < 16:
            raise SourceConfigError(f"{cfg.name}: push sources need a token of at least 16 characters")
        return cfg

    def _source(self, name: str) -> Source:
        cfg = self._config(name)
        return self.kinds[cfg.kind](cfg, SourceContext(self.fetcher, self.clock, self.tz, self.parser))

    def _config(self, name: str) -> SourceConfig:
        if name not in self._configs:
            raise UnknownSourceError(message_zh=f"没有名为 {name!r} 的来源", message_en=f"no such source: {name!r}")
        return self._configs[name]

    def _schedule(self, cfg: SourceConfig) -> None:
        if not self._started or not self.kinds[cfg.kind].scheduled:
            return
        self.scheduler.add(cfg.name, cfg.interval_s, cfg.jitter_s, paused=not cfg.enabled)

    async def _load(self) -> None:
        if self._loaded:
            return
        now = self.clock()
        stored = [c.to_dict(redact=False) for c in self._file_sources]
        await self.store.write(lambda db: sync_config_sources(db, stored, now))
        rows = await self.store.read(load_sources)
        self._states = await self.store.read(load_states)
        for data, paused, origin in rows:
            try:
                cfg = self._parse(data)
            except SourceConfigError as exc:
                log.error("stored source %s (%s) is invalid and was skipped: %s", data.get("name"), origin, exc)
                continue
            self._configs[cfg.name] = cfg.with_enabled(not paused)
            self._states.setdefault(cfg.name, SourceState(cfg.name))
            self._locks.setdefault(cfg.name, asyncio.Lock())
        await self.pipeline.load_index()
        self._loaded = True

    # -- lifecycle ----------------------------------------------------------
    async def start(self, *, schedule: bool = True) -> None:
        """Load sources, resume unfinished mentions, start the scheduler (unless ``schedule=False``)."""
        await self._load()
        try:
            resumed = await self.pipeline.resume()
            if resumed:
                log.info("resumed %d stored mentions that were not classified/announced yet", resumed)
        except Exception:
            log.exception("could not resume unclassified mentions; will retry at the next poll")
            self.pipeline.pending_sources.add("")  # "" = every source (see resume_pending)
        self._retry_task = asyncio.create_task(self._retry_loop(), name="lantern-resume-pending")
        if not schedule:
            return
        await self.parser.warm_up()
        self._started = True
        for cfg in self._configs.values():
            self._schedule(cfg)
        self.scheduler.add(HEALTH_JOB, 60.0, first_run_in=60.0)
        self.scheduler.start()

    async def stop(self) -> None:
        if self._retry_task is not None:
            self._retry_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry_task
            self._retry_task = None
        self.scheduler.shutdown()
        self._started = False
        for name, lock in self._locks.items():
            if lock.locked():
                log.info("waiting for the running poll of %s", name)
            async with lock:
                pass
        await self.fetcher.close()

    async def _scheduled_run(self, name: str, due: float) -> None:
        if name == HEALTH_JOB:
            await self.check_health()
            return
        self.lateness.append(max(0.0, time.time() - due))
        lock = self._locks.get(name)
        if lock is None or lock.locked() or name not in self._configs:
            return
        state = self._states[name]
        state.last_lateness_s = self.lateness[-1]
        result = await self._poll(name)
        if not result.ok and state.next_attempt_at is not None:
            self.scheduler.retry_at(name, time.time() + max(0.0, state.next_attempt_at - self.clock()))

    async def _poll(self, name: str) -> PollResult:
        source = self._source(name)
        async with self._locks[name]:
            state = self._states[name]
            before = status(state)
            result = await self.poller.poll(source, state)
            await self.store.write(lambda db: save_state(db, state))
        if status(state) != before:
            await self._tell(name)
        return result

    def _status(self, name: str) -> str:
        cfg, state = self._configs.get(name), self._states.get(name)
        if cfg is None:
            return "removed"
        return "paused" if not cfg.enabled else status(state or SourceState(name))

    async def _tell(self, name: str) -> None:
        event = SourceStatus(name, self._status(name))
        for listener in self.listeners:
            try:
                await listener(event)
            except Exception:  # an observer must not break polling
                log.exception("source listener %r failed", listener)

    async def _changed(self, name: str) -> None:
        for listener in self.config_listeners:
            try:
                await listener(name)
            except Exception:  # the change is saved; telling others must not undo or fail it
                log.exception("source config listener %r failed", listener)

    async def reload_source(self, name: str) -> None:
        """Another process changed source ``name`` in the database: take its stored settings, or its removal.

        Listeners are not told: the process that made the change told them.
        """
        if not self._loaded:
            await self._load()  # reads every source as stored now
            return
        row = await self.store.read(lambda db: sources_table.load_source(db, name))
        if row is None:
            if name in self._configs:
                self.scheduler.remove(name)
                async with self._locks[name]:
                    self._configs.pop(name, None)
                    self._states.pop(name, None)
                self._locks.pop(name, None)
            return
        try:
            config = self._parse(row[0]).with_enabled(not row[1])
        except SourceConfigError as exc:
            log.error("stored source %s is invalid and was not reloaded: %s", name, exc)
            return
        current = self._configs.get(name)
        self._configs[name] = config
        state = self._states.setdefault(name, SourceState(name))
        self._locks.setdefault(name, asyncio.Lock())
        if current is not None and (config.kind, config.url, config.options) != (current.kind, current.url,
                                                                                  current.options):
            state.etag = state.last_modified = state.cursor = None
        if not self._started:
            return
        if not self.kinds[config.kind].scheduled:
            self.scheduler.remove(name)
        elif not self.scheduler.has(name):
            self._schedule(config)
        else:
            self.scheduler.update(name, config.interval_s, config.jitter_s)
            (self.scheduler.resume if config.enabled else self.scheduler.pause)(name)

    async def reload_sources(self) -> None:
        """Reload every source (changes of other processes may have been missed)."""
        stored = {data.get("name") for data, _paused, _origin in await self.store.read(load_sources)}
        for name in sorted({*self._configs, *(n for n in stored if isinstance(n, str))}):
            await self.reload_source(name)

    async def check_health(self) -> None:
        """Silence alerts and near-duplicate index pruning (runs every minute)."""
        now = self.clock()
        self.pipeline.index.prune(now)
        for name, cfg in list(self._configs.items()):
            state = self._states.get(name)
            if state is None or not cfg.enabled or self.kinds[cfg.kind].silence_expected:
                continue
            event = check_silence(state, now=now, interval_s=cfg.interval_s, factor=self.defaults.silence_factor)
            if event is not None:
                await self.poller.act(name, [event])
                await self.store.write(lambda db, s=state: save_state(db, s))  # type: ignore[misc]
                await self._tell(name)

    async def resume_pending(self) -> int:
        """Classify and announce what failed earlier, source by source; returns how many were resumed.

        A polled source resumes its leftovers before its next poll anyway; a push source is never polled, so
        without this its failed batch would wait for the next push or a restart.  A source being polled or
        pushed to right now is left to that run.
        """
        total = 0
        for name in sorted(self.pipeline.pending_sources):
            lock = self._locks.get(name)
            if lock is not None and lock.locked():
                continue
            try:
                if lock is None:  # "" (the start-up resume failed) or a removed source
                    total += await self.pipeline.resume(name or None)
                else:
                    async with lock:
                        total += await self.pipeline.resume(name)
                self.pipeline.pending_sources.discard(name)
            except Exception:
                log.exception("leftover mentions of %s could not be classified/announced yet", name)
        return total

    async def _retry_loop(self) -> None:
        while True:
            await asyncio.sleep(self.retry_pending_s)
            if self.pipeline.pending_sources:
                await self.resume_pending()

    # -- the contract ---------------------------------------------------------
    async def poll_once(self, name: str | None = None) -> list[PollResult]:
        """Poll one source (even if paused) or every enabled polled source, now."""
        await self._load()
        self._polls_now += 1
        try:
            if name is not None:
                self._config(name)
                if not self.kinds[self._configs[name].kind].scheduled:
                    return [PollResult(name, ok=True, warning="推送来源无需抓取 (push source: nothing to poll)")]
                return [await self._poll(name)]
            names = [n for n, c in self._configs.items() if c.enabled and self.kinds[c.kind].scheduled]
            return list(await asyncio.gather(*(self._poll(n) for n in names)))
        finally:
            self._polls_now -= 1
            if not self._started and not self._polls_now:  # the last one out closes (lantern poll --once)
                await self.fetcher.close()

    async def add_source(self, cfg: Mapping[str, Any]) -> dict[str, Any]:
        await self._load()
        config = self._parse(cfg, generate_token=True)
        if config.name in self._configs:
            raise SourceExistsError(f"来源 {config.name!r} 已存在 (source exists); use PATCH to change it")
        await self._save(config, origin="api")
        self._states[config.name] = SourceState(config.name)
        self._locks[config.name] = asyncio.Lock()
        self._schedule(config)
        await self._tell(config.name)
        await self._changed(config.name)
        shown = config.to_dict()
        if config.kind == "push" and not cfg.get("token"):
            shown["token"] = config.token  # generated: shown once, at creation only
        return shown

    async def _save(self, config: SourceConfig, *, origin: str) -> None:
        now = self.clock()
        data = config.to_dict(redact=False)
        await self.store.write(lambda db: save_source(db, data, origin=origin, paused=not config.enabled, now=now))
        self._configs[config.name] = config

    async def update_source(self, name: str, cfg: Mapping[str, Any]) -> dict[str, Any]:
        await self._load()
        current = self._config(name)
        config = self._parse(merge_update(current, cfg))
        async with self._locks[name]:
            await self._save(config, origin="api")
            if (config.kind, config.url, config.options) != (current.kind, current.url, current.options):
                state = self._states[name]
                state.etag = state.last_modified = state.cursor = None
                await self.store.write(lambda db: save_state(db, state))
        if self._started and self.kinds[config.kind].scheduled:
            self.scheduler.update(name, config.interval_s, config.jitter_s)
            (self.scheduler.resume if config.enabled else self.scheduler.pause)(name)
        elif self._started:
            self.scheduler.remove(name)  # became a push source: nothing to poll
        await self._tell(name)
        await self._changed(name)
        return config.to_dict()

    async def pause_source(self, name: str) -> None:
        await self._load()
        await self._save(self._config(name).with_enabled(False), origin="api")
        self.scheduler.pause(name)
        await self._tell(name)
        await self._changed(name)

    async def resume_source(self, name: str) -> None:
        await self._load()
        config = self._config(name).with_enabled(True)
        await self._save(config, origin="api")
        if self._started and not self.scheduler.has(name):
            self._schedule(config)
        self.scheduler.resume(name)
        await self._tell(name)
        await self._changed(name)

    async def remove_source(self, name: str) -> None:
        await self._load()
        self._config(name)
        self.scheduler.remove(name)
        async with self._locks[name]:
            await self.store.write(lambda db: delete_source(db, name))
            self._configs.pop(name, None)
            self._states.pop(name, None)
        self._locks.pop(name, None)
        await self._tell(name)
        await self._changed(name)

    async def list_sources(self) -> list[dict[str, Any]]:
        await self._load()
        out = []
        for name, cfg in self._configs.items():
            state = self._states.get(name) or SourceState(name)
            out.append({**cfg.to_dict(), "paused": not cfg.enabled, "health": state.public(),
                        "next_run_at": self.scheduler.next_run(name) if self._started else None})
        return out

    def push_source_for(self, token: str) -> str | None:
        """Name of the push source whose token is ``token`` (constant-time comparison)."""
        found = None
        for name, cfg in self._configs.items():
            if cfg.kind == "push" and cfg.token and hmac.compare_digest(cfg.token.encode(), token.encode()):
                found = name
        return found

    async def ingest(self, name: str, items: list[Any]) -> IngestResult:
        await self._load()
        if len(items) > MAX_INGEST_ITEMS:
            raise BatchTooLargeError(f"一次最多推送 {MAX_INGEST_ITEMS} 条 (batch too large: {len(items)})")
        source = self._source(name)
        if not source.config.enabled:
            raise SourcePausedError(message_zh=f"来源 {name} 已暂停", message_en=f"source {name} is paused")
        if name in self.pipeline.pending_sources:
            await self.resume_pending()  # an earlier push of this source whose announce failed goes first
        async with self._locks[name]:
            state = self._states[name]
            before = status(state)
            result = await self.poller.ingest(source, state, items)
            await self.store.write(lambda db: save_state(db, state))
        if status(state) != before:
            await self._tell(name)
        return result
