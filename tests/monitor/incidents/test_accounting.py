"""Exactly-once accounting of mentions in incidents (issue #11 point 5), on a real SQLite file.

An incident's ``mention_count`` / ``negative_count`` are the mentions attached to it (``mentions.incident_id``,
one incident per mention); attaching is idempotent, so announcing the same batch again (a resume after a
crash, a retry after a failed listener) adds nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.incidents import schema
from tests.fixtures.alerts.helpers import Clock, make_services, settings_for, store_mention

WATCHED = "鲜味楼这次的水煮肉片有点咸，服务员态度也一般"


@pytest.fixture
async def services(tmp_path: Path) -> Any:
    svc = await make_services(settings_for(tmp_path), Clock())
    yield svc
    svc.db.close()


async def ledger(services: Any) -> list[tuple[int, int, int, int, int]]:
    """(incident, mention_count, attached, negative_count, attached negative) per incident."""
    return await services.db.read(lambda db: db.execute(
        "select i.id, i.mention_count, (select count(*) from mentions m where m.incident_id = i.id), "
        "i.negative_count, (select count(*) from mentions m where m.incident_id = i.id and m.sentiment = 'negative') "
        "from incidents i order by i.id").fetchall())


def balanced(rows: list[tuple[int, int, int, int, int]]) -> bool:
    return all(count == attached and negative == attached_negative
               for _id, count, attached, negative, attached_negative in rows)


async def test_watched_mentions_that_open_together_are_counted_once(services: Any) -> None:
    # Clearly negative P4 mentions without a risk category wait in the watch; once three are alike they open one
    # incident together. The ones pulled in as corroborating used to be attached again on their own turn.
    batch = [await store_mention(services, title=f"{WATCHED}（第{i}位顾客）", tier="P4", negative=0.9)
             for i in range(40)]
    await services.incidents.on_mentions(batch)
    rows = await ledger(services)
    assert len(rows) == 1 and rows[0][1:3] == (40, 40)
    assert balanced(rows)


async def test_announcing_the_same_batch_again_adds_nothing_but_tells_listeners(services: Any) -> None:
    story = "央视曝光鲜味楼后厨老鼠乱窜，过期食材重新贴标继续售卖"
    batch = [await store_mention(services, title=f"{story} #{i}", categories=("food_safety",), tier="P2")
             for i in range(30)]
    first = await services.incidents.on_mentions(batch)
    before = await ledger(services)
    assert [c.kind for c in first] == ["opened"] and before[0][1] == 30
    told: list[Any] = []

    async def listener(changes: list[Any]) -> None:
        told.extend(changes)

    services.incidents.listeners.append(listener)
    again = await services.incidents.on_mentions(batch)  # the resume after a crash before notified_at
    assert await ledger(services) == before
    # Listeners hear about the incident again, so an alert state lost in the crash is made up for.
    assert [(c.incident_id, c.kind) for c in again] == [(before[0][0], "grew")] and told == again
    half = batch[:15]
    await services.incidents.on_mentions(half)
    assert await ledger(services) == before


async def test_a_failing_listener_fails_the_announce_so_the_batch_is_resumed(services: Any) -> None:
    m = await store_mention(services, title="央视曝光鲜味楼后厨老鼠乱窜", categories=("food_safety",), tier="P2")
    calls: list[int] = []

    async def broken(changes: list[Any]) -> None:
        calls.append(len(changes))
        raise RuntimeError("alert state not written")

    services.incidents.listeners.insert(0, broken)
    with pytest.raises(RuntimeError, match="alert state not written"):
        await services.incidents.on_mentions([m])
    # The other listeners (the alert engine) still ran.
    state = await services.db.read(lambda db: db.execute("select count(*) from alert_state").fetchone()[0])
    assert calls == [1] and state == 1
    services.incidents.listeners.remove(broken)
    await services.incidents.on_mentions([m])
    assert balanced(await ledger(services)) and (await ledger(services))[0][1] == 1


async def test_the_migration_recounts_inflated_incidents(services: Any) -> None:
    story = "央视曝光鲜味楼后厨老鼠乱窜，过期食材重新贴标继续售卖"
    batch = [await store_mention(services, title=f"{story} #{i}", categories=("food_safety",), tier="P2",
                                 sentiment="negative" if i % 3 else "neutral") for i in range(9)]
    await services.incidents.on_mentions(batch)
    # What older versions left behind: counts inflated by double attaches and resumes.
    await services.db.write(lambda db: db.execute(
        "update incidents set mention_count = mention_count * 2 + 1, negative_count = 17").rowcount)
    assert not balanced(await ledger(services))
    await services.db.write(lambda db: schema.m003_counts_from_mentions(db))
    rows = await ledger(services)
    assert balanced(rows) and rows[0][1] == 9 and rows[0][3] == 6
