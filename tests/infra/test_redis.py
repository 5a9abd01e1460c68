"""infra.redis: the link, the client factory and the pub/sub channel every cross-node feature is built on,
on the real Redis at 127.0.0.1:6379 (skipped if it is not there).

Redis "goes away" through a small TCP relay in front of it that the test cuts and opens again, the way a
restarted Redis or a broken network looks to the node.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from infra.redis import PubSubChannel, RedisLink
from tests.support_servers import REDIS_URL, free_port
from web.app import create_app
from web.compose import Part, build_services
from web.platform import shared_limits
from web.platform.settings import load_settings

pytestmark = pytest.mark.redis
LOG = "lantern.test.pubsub"
WAIT = 10  # seconds: only a guard against hanging, never part of an assertion


class Recorder(PubSubChannel):
    """Keeps what it hears in a queue; a message with ``"boom"`` makes its handler fail."""

    def __init__(self, url: str, prefix: str, *, outbox: int = 100) -> None:
        super().__init__(RedisLink(url, prefix), channel="pubsub", name="test", log=logging.getLogger(LOG),
                         meanwhile="this node only", outbox=outbox, retry_s=0.02, check_s=0.2)
        self.heard: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.catch_ups = 0
        self.overflows = 0

    async def handle(self, message: dict[str, Any]) -> None:
        self.heard.put_nowait(message)
        if message.get("boom"):
            raise RuntimeError("a handler failed")

    async def resubscribed(self) -> None:
        self.catch_ups += 1

    def overflowed(self) -> None:
        self.overflows += 1

    async def next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.heard.get(), WAIT)


class Relay:
    """A TCP relay to the real Redis on a port of its own; :meth:`cut` drops it and every connection through it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = REDIS_URL.removeprefix("redis://").split("/")[0].split(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        self.writers |= {writer, up_writer}

        async def copy(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    target.write(data)
                    await target.drain()
            except OSError:
                pass  # the relay was cut
            finally:
                target.transport.abort()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))


@pytest.fixture
async def channel(prefix: str) -> str:
    return f"{prefix}:pubsub"  # what Recorder(url, prefix) subscribes to


@pytest.fixture
async def admin() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()


async def test_other_nodes_hear_a_message_its_own_node_skips_it_and_bad_ones_stop_nothing(
        prefix: str, channel: str, admin: aioredis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    a, b = Recorder(REDIS_URL, prefix), Recorder(REDIS_URL, prefix)
    await a.start()
    await b.start()
    try:
        assert a.connected.is_set() and b.connected.is_set() and a.node != b.node
        assert a.client_name == f"lantern-test-{a.node}"
        a.send({"n": 1, "text": "门店"})
        assert await b.next() == {"node": a.node, "n": 1, "text": "门店"}
        with caplog.at_level(logging.WARNING, logger=LOG):
            for bad in ("not json", "[1, 2]", '"node"', '{"n": 2}'):
                await admin.publish(channel, bad)
            await admin.publish(channel, '{"node": "elsewhere", "boom": true}')
            a.send({"n": 3})
            assert await b.next() == {"node": "elsewhere", "boom": True}
            assert await b.next() == {"node": a.node, "n": 3}  # the failing handler stopped nothing
            b.send({"n": 4})
            # A heard only the other nodes' messages, in order: never its own.
            assert await a.next() == {"node": "elsewhere", "boom": True}
            assert await a.next() == {"node": b.node, "n": 4}
        assert a.heard.empty() and b.heard.empty()
        malformed = [r for r in caplog.records if r.getMessage() == f"ignored a malformed message on {channel}"]
        assert len(malformed) == 8  # four on each node
        failed = [r for r in caplog.records if r.getMessage() == f"handling a message on {channel} failed"]
        assert len(failed) == 2 and all(r.exc_info for r in failed)
        assert a.sessions == b.sessions == 1 and a.catch_ups == b.catch_ups == 0
    finally:
        await a.stop()
        await b.stop()


async def test_while_redis_is_away_messages_wait_in_the_outbox_and_the_node_catches_up_after(
        prefix: str, caplog: pytest.LogCaptureFixture) -> None:
    relay = Relay()
    await relay.open()
    a, b = Recorder(relay.url, prefix, outbox=3), Recorder(REDIS_URL, prefix)
    await a.start()
    await b.start()
    try:
        assert a.connected.is_set() and a.sessions == 1
        with caplog.at_level(logging.WARNING, logger=LOG):
            await relay.cut()
            for _ in range(500):  # A's receiving side notices: its subscription broke
                if not a.connected.is_set():
                    break
                await asyncio.sleep(0.01)
            assert not a.connected.is_set()
            for n in range(5):
                a.send({"n": n})  # never waits on Redis
            assert a.lost == a.overflows == 2  # a full outbox lets the oldest go
            for _ in range(10):  # let publishes and reconnects fail a few times: what waits is kept, in order
                await asyncio.sleep(0.02)
            lost = [r for r in caplog.records if "fan-out through Redis lost" in r.getMessage()]
            assert [r.getMessage() for r in lost] == [
                "test fan-out through Redis lost (ConnectionError); this node only until it is back"]
            await relay.open()
            assert [await b.next() for _ in range(3)] == [{"node": a.node, "n": n} for n in (2, 3, 4)]
        for _ in range(500):
            if a.connected.is_set():
                break
            await asyncio.sleep(0.01)
        assert a.sessions == 2 and a.catch_ups == 1  # subscribed again: told to catch up, once
        assert not a.outbox and a.lost == 2 and b.heard.empty()
    finally:
        await a.stop()
        await b.stop()
        await relay.cut()


async def test_stop_ends_the_tasks_even_while_messages_are_being_published(prefix: str) -> None:
    """redis-py can swallow a cancellation that lands inside a command: stop must still end (it used to hang)."""
    for attempt in range(10):
        node = Recorder(REDIS_URL, prefix, outbox=10_000)
        await node.start()
        for n in range(2000):
            node.send({"n": n})
        await asyncio.sleep(0.001 * (attempt % 5))  # stop at a different point of the publishing each time
        await asyncio.wait_for(node.stop(), WAIT)
        assert node.outbox  # stopped with messages still waiting: it did not run dry first
        assert not [task for task in asyncio.all_tasks() if task.get_name().startswith("test-redis-")]


async def test_every_redis_feature_of_a_node_shares_its_node_id_and_names_its_purpose(
        tmp_path: Path, prefix: str, admin: aioredis.Redis) -> None:
    settings = load_settings(env={}).with_overrides(storage__path=str(tmp_path / "l.db"), redis__url=REDIS_URL,
                                                    redis__prefix=prefix)
    services = await build_services(settings, parts={Part.BROADCAST, Part.CONSOLE, Part.FANOUT})
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        assert services.redis is not None
        node = services.redis.node
        features = [services.relay, services.console_fanout, services.principal_fanout]
        limits = shared_limits.for_services(services)
        assert limits is not None and limits.link is services.redis
        assert await limits.bucket_take("probe", 0.0, per_minute=60, burst=1) == 0.0  # its client connects
        assert [f.node for f in features] == [node] * 3 and limits.member().startswith(f"{node}:")
        names = {c["name"] for c in await admin.client_list() if c.get("name", "").endswith(node)}
        assert names == {f"lantern-{purpose}-{node}" for purpose in ("ticker", "console", "changes", "limits")}
        channels = await admin.pubsub_channels(f"{prefix}:*")
        assert sorted(channels) == [f"{prefix}:{name}" for name in ("changes", "console", "events")]
    finally:
        await server.close()
        services.db.close()
    assert not [c for c in await admin.client_list() if c.get("name", "").endswith(node)]  # all closed on stop
