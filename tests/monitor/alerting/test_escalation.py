"""Escalation by level, reminders until acknowledged, acknowledge links, and a restart mid-escalation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from monitor.alerting.errors import AckLinkError
from monitor.alerting.outbox import list_deliveries
from tests.fixtures.alerts.helpers import T0, Clock, Robot, add_user, make_services, settings_for, store_mention

STORY = "鲜味楼门店食物中毒，多名顾客送医"
MIN = 60


def configured(tmp_path: Path, robot: Robot) -> Any:
    return settings_for(
        tmp_path, incidents__group_wait_s=0,
        channels=[{"name": "hook", "kind": "webhook", "url": robot.url("/hook"), "secret": "hook-secret-abc"}],
        routes=[{"name": "经理", "tiers": ["P1", "P2"], "roles": ["manager"], "channels": ["hook"], "must_act": True},
                {"name": "总监", "tiers": ["P1", "P2"], "level": 1, "users": ["boss"], "must_act": True},
                {"name": "公关知悉", "tiers": ["P1", "P2"], "teams": ["pr"]}])


@pytest.fixture
async def svc(tmp_path: Path, robot: Robot) -> AsyncIterator[Any]:
    services = await make_services(configured(tmp_path, robot), Clock())
    await add_user(services, "wang", "manager")
    await add_user(services, "boss", "admin")
    await add_user(services, "pr1", "agent", team="pr")
    yield services
    await services.alerts.stop()
    services.db.close()


async def open_incident(svc: Any, tier: str = "P2") -> int:
    m = await store_mention(svc, title=STORY, tier=tier, categories=("food_safety",))
    return int((await svc.incidents.on_mentions([m]))[0].incident_id)


async def rows(svc: Any, **where: Any) -> list[tuple[str, str, str]]:
    items = await svc.db.read(lambda db: list_deliveries(db, **where))
    return sorted((r["recipient"], r["kind"], r["status"]) for r in items)


async def test_no_ack_escalates_to_the_next_level(svc: Any) -> None:
    iid = await open_incident(svc)
    await svc.alerts.tick(T0)
    assert await rows(svc) == [("channel:hook", "open", "sent"), ("user:pr1", "open", "sent"),
                               ("user:wang", "open", "sent")]
    report = await svc.alerts.tick(T0 + 14 * MIN)
    assert report.escalated == 0
    report = await svc.alerts.tick(T0 + 15 * MIN)  # P2: 15 minutes
    assert report.escalated == 1
    assert ("user:boss", "escalate", "sent") in await rows(svc)
    detail = await svc.db.read(lambda db: db.execute(
        "select kind, detail from incident_events where incident_id = ? and kind = 'escalated'", [iid]).fetchall())
    assert len(detail) == 1
    # There is no level 2: nothing more escalates, but reminders continue.
    report = await svc.alerts.tick(T0 + 31 * MIN)
    assert report.escalated == 0 and report.reminded >= 2
    reminded = {r[0] for r in await rows(svc) if r[1] == "remind"}
    assert reminded == {"channel:hook", "user:wang"}  # informed recipients (pr1) get no reminders


async def test_ack_stops_escalation_and_reminders_and_shows_per_recipient(svc: Any) -> None:
    iid = await open_incident(svc)
    await svc.alerts.tick(T0)
    svc.clock.now = T0 + 5 * MIN
    await svc.incidents.acknowledge(iid, "user:wang")
    await svc.alerts.tick(T0 + 5 * MIN)
    for minute in (15, 30, 60, 120):
        report = await svc.alerts.tick(T0 + minute * MIN)
        assert report.escalated == 0 and report.reminded == 0
    states = await rows(svc)
    assert ("user:wang", "open", "acknowledged") in states
    assert ("channel:hook", "open", "sent") in states
    assert not any(r[0] == "user:boss" for r in states)


async def test_reminders_repeat_until_acknowledged(svc: Any) -> None:
    iid = await open_incident(svc, tier="P1")  # P1: remind every 10 minutes
    await svc.alerts.tick(T0)
    await svc.alerts.tick(T0 + 10 * MIN)
    await svc.alerts.tick(T0 + 20 * MIN)
    reminders = [r for r in await rows(svc, recipient="user:wang") if r[1] == "remind"]
    assert len(reminders) == 2
    svc.clock.now = T0 + 21 * MIN
    await svc.incidents.acknowledge(iid, "user:boss")
    await svc.alerts.tick(T0 + 40 * MIN)
    assert len([r for r in await rows(svc, recipient="user:wang") if r[1] == "remind"]) == 2


async def test_ack_link_is_signed_single_use_and_expires(svc: Any) -> None:
    iid = await open_incident(svc)
    await svc.alerts.tick(T0)
    row = (await svc.db.read(lambda db: list(db.query(
        "select * from alert_deliveries where recipient = 'user:wang'"))))[0]
    url = svc.alerts.message(row).ack_url
    token = url.rsplit("/", 1)[1]
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    with pytest.raises(AckLinkError) as bad:
        await svc.alerts.redeem_link(forged)
    assert bad.value.reason == "invalid"
    redeemed = await svc.alerts.redeem_link(token)
    assert redeemed["incident_id"] == iid and redeemed["recipient"] == "user:wang"
    with pytest.raises(AckLinkError) as used:
        await svc.alerts.redeem_link(token)
    assert used.value.reason == "used"
    hook_row = (await svc.db.read(lambda db: list(db.query(
        "select * from alert_deliveries where recipient = 'channel:hook'"))))[0]
    svc.clock.now = T0 + 73 * 3600
    with pytest.raises(AckLinkError) as expired:
        await svc.alerts.redeem_link(svc.alerts.message(hook_row).ack_url.rsplit("/", 1)[1])
    assert expired.value.reason == "expired"
    informed = (await svc.db.read(lambda db: list(db.query(
        "select * from alert_deliveries where recipient = 'user:pr1'"))))[0]
    assert svc.alerts.message(informed).ack_url == ""  # informed recipients get no ack link


async def test_restart_in_the_middle_of_an_escalation(tmp_path: Path, robot: Robot) -> None:
    clock = Clock()
    settings = configured(tmp_path, robot)
    first = await make_services(settings, clock)
    await add_user(first, "wang", "manager")
    await add_user(first, "boss", "admin")
    iid = await open_incident(first)
    robot.replies.append((503, {}))  # the webhook is down at first
    await first.alerts.tick(T0)
    assert await rows(first, recipient="channel:hook") == [("channel:hook", "open", "queued")]
    # A crash while a console row was being "sent": it must not be lost either.
    await first.db.write(lambda db: db.execute(
        "update alert_deliveries set status = 'sending' where recipient = 'user:wang'").rowcount)
    await first.alerts.stop()
    first.db.close()

    clock.now = T0 + 16 * MIN
    second = await make_services(settings, clock)
    try:
        await second.start()  # recovers 'sending' rows and starts the timer loop
        await second.alerts.tick(T0 + 16 * MIN)
        states = await rows(second)
        assert ("channel:hook", "open", "sent") in states  # the pending retry went out after the restart
        assert ("user:wang", "open", "sent") in states
        assert ("user:boss", "escalate", "sent") in states  # the escalation timer survived
        assert len([s for s in states if s[0] == "user:boss"]) == 1
        assert [r["json"]["event"] for r in robot.requests].count("open") == 2  # one 503, one delivered
        assert (await second.db.read(lambda db: db.execute(
            "select level from alert_state where incident_id = ?", [iid]).fetchone()))[0] == 1
    finally:
        await second.stop()
        second.db.close()
