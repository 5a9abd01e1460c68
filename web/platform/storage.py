"""One SQLite file shared by every package, used from asyncio without blocking it.

Every write goes through a single writer thread (SQLite allows one writer at a
time anyway; serialising in-process avoids ``database is locked`` retries).
Reads run on a small thread pool, each thread with its own connection, so
the event loop never waits on disk.  The file is in WAL mode so readers never
block the writer.

Packages do not import this module: ``monitor`` and ``broadcast`` declare the
two methods they need as a ``Store`` protocol and ``web`` injects a
:class:`Database`.

**Contract: a read or write function returns data, never an object tied to
its connection** (a cursor, a row, a connection, a ``sqlite_utils`` table or a
lazy generator over a query).  Such an object reaches the event-loop thread
as the result and is freed there while the owning thread re-runs the same
cached statement: that is SQLite's ``InterfaceError: bad parameter or other
API misuse`` (issue #11).  Both loops refuse such a result with
:class:`ConnectionBoundResult` (a write is rolled back first), so a function
that forgets ``.fetchall()`` / ``.rowcount`` fails at once, in tests, instead
of now and then under load.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import types
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils
from sqlite_utils.db import Queryable
from sqlite_utils.migrations import Migrations

T = TypeVar("T")

_STOP = object()
_BOUND = (sqlite3.Cursor, sqlite3.Connection, sqlite3.Row, sqlite3.Blob, sqlite_utils.Database, Queryable,
          types.GeneratorType)


class ConnectionBoundResult(TypeError):
    """A read or write function returned an object tied to its connection instead of data."""


def check_result(fn: Any, result: Any) -> None:
    """Raise :class:`ConnectionBoundResult` if ``result`` (or an item of a list, tuple, set or dict) is bound."""
    found = result if isinstance(result, _BOUND) else None
    if found is None and isinstance(result, list | tuple | set | frozenset | dict):
        values = result.values() if isinstance(result, dict) else result
        found = next((v for v in values if isinstance(v, _BOUND)), None)
    if found is not None:
        name = getattr(fn, "__qualname__", None) or type(fn).__name__
        raise ConnectionBoundResult(
            f"database function {name} returned a {type(found).__module__}.{type(found).__name__}; return data "
            "instead (cursor.rowcount, cursor.fetchall(), list(db.query(...)), or None)")


def connect(path: str | Path) -> sqlite_utils.Database:
    """Open ``path`` with the pragmas every Lantern connection uses."""
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return sqlite_utils.Database(conn)


class Database:
    """The shared database: ``write(fn)`` on the writer thread, ``read(fn)`` on readers.

    ``fn`` receives a :class:`sqlite_utils.Database`.  A write function runs in
    a transaction: if it raises, nothing it did is kept.
    """

    def __init__(self, path: str | Path, *, readers: int = 2) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer_db = connect(self.path)
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="lantern-sqlite-writer", daemon=True)
        self._writer.start()
        self._local = threading.local()
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="lantern-sqlite-read")
        self._reader_dbs: list[sqlite_utils.Database] = []
        self._reader_lock = threading.Lock()
        self._closed = False

    # -- writer ---------------------------------------------------------
    def _write_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            fn, future = job
            if not future.set_running_or_notify_cancel():
                continue
            db = self._writer_db
            if isinstance(fn, _Bare):
                try:
                    result = fn.fn(db)
                    check_result(fn.fn, result)
                    future.set_result(result)
                except BaseException as exc:
                    future.set_exception(exc)
                continue
            try:
                db.conn.execute("BEGIN IMMEDIATE")
                result = fn(db)
                check_result(fn, result)  # before COMMIT: a refused write keeps nothing
                db.conn.execute("COMMIT")
            except BaseException as exc:
                if db.conn.in_transaction:
                    db.conn.execute("ROLLBACK")
                future.set_exception(exc)
            else:
                future.set_result(result)

    def write_sync(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """Run ``fn`` on the writer thread and wait (for CLI commands and start-up)."""
        return self._submit(fn).result()

    def _submit(self, fn: Callable[[sqlite_utils.Database], T]) -> Future[T]:
        if self._closed:
            raise RuntimeError("database is closed")
        future: Future[T] = Future()
        self._jobs.put((fn, future))
        return future

    async def write(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """Run ``fn`` in a transaction on the single writer thread."""
        return await asyncio.wrap_future(self._submit(fn))

    # -- readers --------------------------------------------------------
    def _reader(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path)
            self._local.db = db
            with self._reader_lock:
                self._reader_dbs.append(db)
        return db

    def read_sync(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """Run a read-only ``fn`` on a reader connection of the calling thread."""
        result = fn(self._reader())
        check_result(fn, result)
        return result

    async def read(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """Run a read-only ``fn`` on a reader thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self.read_sync, fn)

    # -- lifecycle ------------------------------------------------------
    def migrate(self, sets: Iterable[Migrations]) -> list[str]:
        """Apply every package's pending migrations; returns the names applied."""

        def apply(db: sqlite_utils.Database) -> list[str]:
            applied: list[str] = []
            for migration_set in sets:
                pending = [m.name for m in migration_set.pending(db)]
                migration_set.apply(db)
                applied.extend(f"{migration_set.name}:{name}" for name in pending)
            return applied

        # Migrations manage their own transactions, so they run on the writer
        # thread without our BEGIN/COMMIT wrapper.
        future: Future[list[str]] = Future()
        self._jobs.put((_Bare(apply), future))
        return future.result()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._jobs.put(_STOP)
        self._writer.join(timeout=10)
        self._readers.shutdown(wait=True)
        with self._reader_lock:
            for db in self._reader_dbs:
                db.conn.close()
        self._writer_db.conn.close()


class _Bare:
    """A writer job that manages its own transactions (migrations)."""

    def __init__(self, fn: Callable[[sqlite_utils.Database], Any]) -> None:
        self.fn = fn
