"""The shared SQLite database: one writer, transactions, reads off the event loop, WAL."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import sqlite_utils
from sqlite_utils.migrations import Migrations

from web.platform.storage import Database

notes = Migrations("notes-test")


@notes()
def create_notes(db: sqlite_utils.Database) -> None:
    db["notes"].create({"id": int, "body": str}, pk="id")  # type: ignore[union-attr]


@pytest.fixture
def database(tmp_path: Path):
    db = Database(tmp_path / "sub" / "t.db")
    db.migrate([notes])
    yield db
    db.close()


async def test_file_is_created_in_wal_mode(database: Database) -> None:
    mode = await database.read(lambda db: db.execute("pragma journal_mode").fetchone()[0])
    assert mode == "wal"
    assert database.path.exists()


async def test_migrations_apply_once(database: Database) -> None:
    assert database.migrate([notes]) == []
    names = await database.read(lambda db: [r["name"] for r in db.query("select name from _sqlite_migrations")])
    assert names == ["create_notes"]


async def test_failed_write_keeps_nothing(database: Database) -> None:
    def half_then_fail(db: sqlite_utils.Database) -> None:
        db.table("notes").insert({"body": "first"})
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await database.write(half_then_fail)
    count = await database.read(lambda db: db.table("notes").count)
    assert count == 0
    # The writer is still alive after the failure.
    await database.write(lambda db: db.execute("insert into notes (body) values ('second')").rowcount)
    assert await database.read(lambda db: db.table("notes").count) == 1


async def test_all_writes_run_on_one_thread_and_reads_elsewhere(database: Database) -> None:
    loop_thread = threading.get_ident()

    def write(i: int):
        def fn(db: sqlite_utils.Database) -> int:
            db.table("notes").insert({"body": f"n{i}"})
            return threading.get_ident()
        return fn

    writer_threads = await asyncio.gather(*(database.write(write(i)) for i in range(50)))
    assert len(set(writer_threads)) == 1
    assert writer_threads[0] != loop_thread
    reader_thread = await database.read(lambda db: threading.get_ident())
    assert reader_thread not in {loop_thread, writer_threads[0]}
    assert await database.read(lambda db: db.table("notes").count) == 50


async def test_data_survives_reopen(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    db.migrate([notes])
    await db.write(lambda d: d.execute("insert into notes (body) values ('kept')").rowcount)
    db.close()
    again = Database(tmp_path / "t.db")
    try:
        rows = await again.read(lambda d: list(d.query("select body from notes")))
        assert rows == [{"body": "kept"}]
    finally:
        again.close()


def test_closed_database_refuses_writes(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    db.close()
    with pytest.raises(RuntimeError, match="closed"):
        db.write_sync(lambda d: None)
