"""Ticker core and hub without sockets or an event loop: snapshots, resume, fan-out, slow clients."""

from __future__ import annotations

import json
from typing import Any

from broadcast.frames import text_frame
from broadcast.hub import TickerHub
from broadcast.model import Viewer
from broadcast.ticker import Gap, TickerCore

AGENT = Viewer(10, "agent", "hotline")
VIP = Viewer(11, "agent", "vip")


def item(script_id: int, version: int = 1, audience: Any = None, expires_at: float | None = None) -> dict[str, Any]:
    return {"id": script_id, "version": version, "title": f"t{script_id}", "body": "<b>不是 HTML</b>",
            "priority": "high", "incident_id": None, "published_at": 100.0, "expires_at": expires_at,
            "state": "published", "content_hash": "h", "audience": audience or {"everyone": True}}


def decode(payloads: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(p) for p in payloads]


class FakeSink:
    def __init__(self, buffered: int = 0) -> None:
        self.frames: list[bytes] = []
        self.pending = buffered
        self.closing = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.frames.append(data)

    def buffered(self) -> int:
        return self.pending

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.aborted = self.closing = True

    def messages(self) -> list[dict[str, Any]]:
        out = []
        for frame in self.frames:
            assert frame[0] == 0x81
            length = frame[1]
            offset = 2 if length < 126 else 4
            out.append(json.loads(frame[offset:]))
        return out


def test_snapshot_filters_audience_and_expiry() -> None:
    core = TickerCore(epoch="e1")
    core.apply("publish", item(1), now=0)
    core.apply("publish", item(2, audience={"teams": ["vip"]}), now=0)
    core.apply("publish", item(3, expires_at=50), now=0)
    [snap] = decode(core.connect(AGENT, now=10))
    assert snap["type"] == "snapshot" and snap["epoch"] == "e1" and snap["rev"] == 3
    assert [i["id"] for i in snap["items"]] == [1, 3]
    [later] = decode(core.connect(AGENT, now=60))
    assert [i["id"] for i in later["items"]] == [1]  # expired even though nobody sent an expire


def test_resume_exact_deltas_or_snapshot_never_partial() -> None:
    core = TickerCore(epoch="e1", history=3)
    core.apply("publish", item(1), now=0)
    core.apply("publish", item(2, audience={"teams": ["vip"]}), now=0)
    core.apply("retract", item(1), now=0)
    missed = decode(core.connect(AGENT, now=1, since=1, epoch="e1"))
    assert [m["type"] for m in missed] == ["retract", "resumed"]  # rev 2 was not for this agent
    assert missed[0]["rev"] == 3 and missed[-1]["rev"] == 3
    assert decode(core.connect(AGENT, now=1, since=3, epoch="e1")) == [{"type": "resumed", "epoch": "e1", "rev": 3}]
    core.apply("publish", item(4), now=0)  # history (3) now starts at rev 2
    assert [m["rev"] for m in decode(core.connect(AGENT, now=1, since=1, epoch="e1"))] == [3, 4, 4]
    core.apply("publish", item(5), now=0)  # rev 2 is gone: since=0 cannot be served exactly
    assert [m["type"] for m in decode(core.connect(AGENT, now=1, since=0, epoch="e1"))] == ["snapshot"]
    assert [m["type"] for m in decode(core.connect(AGENT, now=1, since=5, epoch="other"))] == ["snapshot"]
    assert [m["type"] for m in decode(core.connect(AGENT, now=1, since=99, epoch="e1"))] == ["snapshot"]


def test_retraction_shows_withdrawn_then_leaves() -> None:
    core = TickerCore(epoch="e", withdrawn_s=30)
    core.apply("publish", item(1), now=0)
    delta = core.apply("retract", item(1), now=100)
    retract = json.loads(delta.payload)
    assert retract["item"]["state"] == "retracted" and retract["item"]["withdrawn_until"] == 130
    assert [i["state"] for i in json.loads(core.snapshot(AGENT, 120))["items"]] == ["retracted"]
    assert json.loads(core.snapshot(AGENT, 131))["items"] == []
    core.prune(131)
    assert core.entries == {}


def test_update_that_narrows_audience_removes_item_for_the_others() -> None:
    core = TickerCore(epoch="e")
    core.apply("publish", item(1), now=0)
    delta = core.apply("update", item(1, 2, audience={"teams": ["vip"]}), now=0)
    assert json.loads(delta.payload_for(VIP) or b"")["type"] == "update"
    assert json.loads(delta.payload_for(AGENT) or b"") == {"type": "expire", "rev": 2, "id": 1}


def test_remote_revisions_must_be_contiguous() -> None:
    core = TickerCore(epoch="e")
    core.apply("publish", item(1), now=0, rev=1)
    try:
        core.apply("publish", item(2), now=0, rev=3)
    except Gap:
        pass
    else:
        raise AssertionError("a gap must be reported")
    assert core.rev == 1


def test_hub_fanout_skips_closed_and_drops_slow_clients() -> None:
    now = [0.0]
    hub = TickerHub(clock=lambda: now[0], max_buffer=1000)
    fast, slow, closed, other = FakeSink(), FakeSink(buffered=5000), FakeSink(), FakeSink()
    conns = [hub.connect(AGENT, s) for s in (fast, slow, closed)]
    hub.connect(VIP, other)
    closed.closing = True
    hub.deliver(hub.core.apply("publish", item(1, audience={"teams": ["hotline"]}), now=0))
    assert [m["type"] for m in fast.messages()] == ["snapshot", "publish"]
    assert slow.aborted and conns[1] not in hub.connections
    assert len(closed.frames) == 1 and conns[2] not in hub.connections
    assert [m["type"] for m in other.messages()] == ["snapshot"]
    assert hub.stats.dropped_slow == 1
    assert fast.frames[1] == text_frame(hub.core.history[-1].payload)


def test_hub_heartbeat_and_idle_drop() -> None:
    now = [0.0]
    hub = TickerHub(clock=lambda: now[0], ping_timeout_s=60)
    quiet, alive = FakeSink(), FakeSink()
    hub.connect(AGENT, quiet)
    alive_conn = hub.connect(VIP, alive)
    now[0] = 50
    hub.on_message(alive_conn, '{"type":"pong"}')
    hub.on_message(alive_conn, '{"type":"ping"}')
    assert alive.messages()[-1] == {"type": "pong"}
    now[0] = 70
    hub.tick()
    assert quiet.aborted and not alive.aborted
    assert alive.messages()[-1] == {"type": "ping"}
    assert hub.stats.dropped_idle == 1


def test_hub_receipts_are_validated_and_deduplicated() -> None:
    now = [5.0]
    hub = TickerHub(clock=lambda: now[0])
    hub.deliver(hub.core.apply("publish", item(1, 3), now=0))
    conn = hub.connect(AGENT, FakeSink())
    for text in ('{"type":"displayed","id":1,"version":3}', '{"type":"displayed","id":1,"version":3}',
                 '{"type":"ack","id":1,"version":3}', '{"type":"displayed","id":1,"version":9}',
                 '{"type":"displayed","id":42,"version":1}', '{"type":"displayed","id":"1","version":3}',
                 "not json", '{"type":"bogus"}'):
        hub.on_message(conn, text)
    assert hub.drain_receipts() == [("displayed", 1, 3, 10, "hotline", 5.0), ("ack", 1, 3, 10, "hotline", 5.0)]
    assert hub.drain_receipts() == []
    assert hub.stats.bad_messages == 3


def test_snapshot_is_encoded_once_per_kind_of_viewer_and_revision() -> None:
    core = TickerCore(epoch="e")
    core.apply("publish", item(1), now=0)
    first = core.snapshot(AGENT, 1)
    assert core.snapshot(Viewer(99, "agent", "hotline"), 1) is first  # same team: the same bytes
    assert core.snapshot(VIP, 1) is not first
    core.apply("publish", item(2), now=0)
    assert [i["id"] for i in json.loads(core.snapshot(AGENT, 1))["items"]] == [1, 2]
    core.reset(epoch="e", rev=core.rev, items=[item(3)])
    assert [i["id"] for i in json.loads(core.snapshot(AGENT, 1))["items"]] == [3]


def test_resume_parameters_are_parsed_defensively() -> None:
    from broadcast.ws import parse_resume

    assert parse_resume({"since": "12", "epoch": "abc"}) == (12, "abc")
    assert parse_resume({"since": "x", "epoch": "abc"}) == (None, "abc")
    assert parse_resume({"since": "3", "epoch": "e" * 65}) == (3, None)
    assert parse_resume({}) == (None, None)
