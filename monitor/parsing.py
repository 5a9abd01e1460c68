"""Parsing off the event loop, in a worker process, within a time limit.

Why a process and not a thread (measured, see benchmarks/parse.py): feedparser
is pure Python and holds the GIL (a 1 MB feed takes ~1 s), so in a thread it
still slows the loop; lexbor releases the GIL but is quadratic in nesting depth
(100k nested ``<div>``: ~20 s) and a thread cannot be stopped.  A worker process
keeps the loop free whatever the parser does, and is killed when a parse runs
over ``time_limit_s``: that page is refused with a clear
:class:`~monitor.errors.ParseLimitError`, the next parse gets a fresh worker.
Depth pre-checks (``html_depth``) refuse the known pathological shapes at once.

One pool per process is shared by every :class:`ParseWorkers` of the same size,
started on first use (``forkserver``: a restart after a kill costs ~10 ms).
A job is handed to the pool only when a worker is free, so the limit measures
parsing, never time spent queued behind other sources.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from .errors import ParseError, ParseLimitError

log = logging.getLogger("lantern.monitor")
T = TypeVar("T")
DEFAULT_TIME_LIMIT_S = 10.0

_pools: dict[int, ProcessPoolExecutor] = {}
_pools_lock = threading.Lock()


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["monitor.sources"])  # workers fork from a server that imported the parsers
        return ctx
    return multiprocessing.get_context("spawn")


def _watch_owner(owner: int) -> None:
    """In each worker: exit once the process that started the pool is gone (however it ended)."""
    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # alive, owned by someone else: cannot happen for our owner; keep going
                pass

    threading.Thread(target=watch, name="lantern-parse-owner", daemon=True).start()


def _pool(workers: int) -> ProcessPoolExecutor:
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = _pools[workers] = ProcessPoolExecutor(max_workers=workers, mp_context=_context(),
                                                         initializer=_watch_owner, initargs=(os.getpid(),))
        return pool


def _discard(workers: int, pool: ProcessPoolExecutor, *, kill: bool) -> None:
    """Forget ``pool`` (the next job starts a new one); ``kill`` stops its processes at once."""
    with _pools_lock:
        if _pools.get(workers) is pool:
            del _pools[workers]
    if kill:
        for process in list(getattr(pool, "_processes", {}).values()):  # no public way in 3.11 (3.14 adds one)
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def shutdown_pools() -> None:
    """Stop every worker process (tests, and the end of ``lantern serve``)."""
    with _pools_lock:
        pools = list(_pools.items())
        _pools.clear()
    for _workers, pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


class ParseWorkers:
    """Runs pure ``parse_*`` functions in worker processes; ``run`` raises only the function's own errors,
    :class:`ParseLimitError` past the time limit, or :class:`ParseError` when the worker died."""

    def __init__(self, *, workers: int = 1, time_limit_s: float = DEFAULT_TIME_LIMIT_S) -> None:
        self.workers = max(1, workers)
        self.time_limit_s = time_limit_s
        self._free: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _gate(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._free is None or self._loop is not loop:
            self._free, self._loop = asyncio.Semaphore(self.workers), loop
        return self._free

    async def warm_up(self) -> None:
        """Start the worker processes now (off the loop), so the first poll does not wait for them."""
        try:
            await self.run(_ready)
        except ParseError:
            log.warning("the parse worker could not be started yet; the first poll will try again")

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        async with self._gate():
            for attempt in (1, 2):
                # In a thread: creating the pool and submitting (which starts worker processes, and the
                # forkserver the first time) take a second of blocking work on a busy machine.
                pool = await asyncio.to_thread(_pool, self.workers)
                try:
                    future = asyncio.wrap_future(await asyncio.to_thread(pool.submit, _call, fn, args, kwargs))
                except (BrokenProcessPool, RuntimeError):  # shut down or broken meanwhile: a new pool
                    _discard(self.workers, pool, kill=False)
                    continue
                try:
                    async with asyncio.timeout(self.time_limit_s):
                        return await future
                except TimeoutError:
                    _discard(self.workers, pool, kill=True)
                    log.warning("a parse ran over %.1f s; its worker was stopped", self.time_limit_s)
                    raise ParseLimitError(f"解析超过 {self.time_limit_s:g} 秒仍未完成，页面过大或过于复杂，已放弃 "
                                          "(parse time limit exceeded)") from None
                except BrokenProcessPool:
                    # Killed because another job ran over its limit (or the worker crashed): retry once.
                    _discard(self.workers, pool, kill=False)
                    if attempt == 2:
                        raise ParseError("解析进程意外退出 (the parse worker died)") from None
        raise ParseError("解析进程无法启动 (no parse worker)")


_shared: ParseWorkers | None = None


def shared_workers() -> ParseWorkers:
    """The default :class:`ParseWorkers` (one worker, the default time limit) for contexts built without one."""
    global _shared
    if _shared is None:
        _shared = ParseWorkers()
    return _shared


def _ready() -> bool:
    return True


def _call(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    return fn(*args, **kwargs)
