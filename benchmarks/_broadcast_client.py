"""Load generator for ``benchmarks.broadcast``: one process holding many ticker websockets.

Driven over stdin/stdout with one JSON object per line:

    {"cmd": "connect", "url": ..., "tokens": [...], "count": N, "source": "127.0.0.2", "concurrency": C}
        -> {"ok": true, "connected": N, "failed": F, "epoch": ..., "rev": ...}
    {"cmd": "latencies"}  -> {"ok": true, "received": {script_id: [epoch seconds, ...]}}
    {"cmd": "storm", "concurrency": C}  -> drop every socket, reconnect all at once with since/epoch,
        -> {"ok": true, "started": t, "done": t_last_resynced, "resynced": N, "snapshots": S, "failed": F}
    {"cmd": "quit"}
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass
class Client:
    token: str
    epoch: str | None = None
    rev: int = 0
    ws: aiohttp.ClientWebSocketResponse | None = None
    task: asyncio.Task[None] | None = None
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    synced_at: float = 0.0
    snapshot: bool = False


class Generator:
    def __init__(self) -> None:
        self.clients: list[Client] = []
        self.received: dict[int, list[float]] = {}
        self.session: aiohttp.ClientSession | None = None
        self.url = ""

    async def open(self, client: Client, sem: asyncio.Semaphore) -> bool:
        assert self.session is not None
        query = f"?token={client.token}"
        if client.epoch is not None:
            query += f"&since={client.rev}&epoch={client.epoch}"
        client.synced = asyncio.Event()
        client.snapshot = False
        async with sem:
            for attempt in range(5):
                try:
                    client.ws = await self.session.ws_connect(self.url + query, autoping=True, compress=0,
                                                              timeout=aiohttp.ClientWSTimeout(ws_close=5),
                                                              max_msg_size=1 << 22)
                    break
                except (aiohttp.ClientError, OSError, TimeoutError):
                    await asyncio.sleep(0.2 * (attempt + 1))
            else:
                return False
        client.task = asyncio.create_task(self.read(client))
        return True

    async def read(self, client: Client) -> None:
        ws = client.ws
        assert ws is not None
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            now = time.time()
            data = json.loads(msg.data)
            kind = data["type"]
            if kind == "ping":
                await ws.send_str('{"type":"pong"}')
                continue
            if "rev" in data:
                client.rev = data["rev"]
            if kind in ("snapshot", "resumed"):
                client.epoch = data["epoch"]
                client.snapshot = kind == "snapshot"
                client.synced_at = now
                client.synced.set()
            elif kind == "publish":
                self.received.setdefault(data["item"]["id"], []).append(now)

    async def connect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.url = cmd["url"]
        connector = aiohttp.TCPConnector(limit=0, local_addr=(cmd["source"], 0), force_close=False)
        self.session = aiohttp.ClientSession(connector=connector)
        tokens = cmd["tokens"]
        self.clients = [Client(tokens[i % len(tokens)]) for i in range(cmd["count"])]
        sem = asyncio.Semaphore(cmd.get("concurrency", 200))
        results = await asyncio.gather(*(self.open(c, sem) for c in self.clients))
        await asyncio.gather(*(asyncio.wait_for(c.synced.wait(), 60) for c, ok in zip(self.clients, results, strict=True)
                               if ok), return_exceptions=True)
        first = self.clients[0]
        return {"ok": True, "connected": sum(results), "failed": len(results) - sum(results),
                "epoch": first.epoch, "rev": first.rev}

    async def storm(self, cmd: dict[str, Any]) -> dict[str, Any]:
        started = time.time()
        for client in self.clients:  # drop everything at once, like a network blip
            if client.ws is not None and client.ws._response.connection is not None:
                transport = client.ws._response.connection.transport
                if transport is not None:
                    transport.abort()
        await asyncio.gather(*(c.task for c in self.clients if c.task), return_exceptions=True)
        sem = asyncio.Semaphore(cmd.get("concurrency", 10_000))
        results = await asyncio.gather(*(self.open(c, sem) for c in self.clients))
        await asyncio.gather(*(asyncio.wait_for(c.synced.wait(), 60) for c, ok in zip(self.clients, results, strict=True)
                               if ok), return_exceptions=True)
        synced = [c for c in self.clients if c.synced.is_set()]
        return {"ok": True, "started": started, "done": max((c.synced_at for c in synced), default=started),
                "resynced": len(synced), "snapshots": sum(c.snapshot for c in synced),
                "failed": len(self.clients) - len(synced)}

    async def close(self) -> None:
        for client in self.clients:
            if client.ws is not None:
                await client.ws.close()
        if self.session is not None:
            await self.session.close()


async def main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    generator = Generator()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        cmd = json.loads(line)
        if cmd["cmd"] == "connect":
            reply = await generator.connect(cmd)
        elif cmd["cmd"] == "latencies":
            reply = {"ok": True, "received": generator.received}
        elif cmd["cmd"] == "storm":
            reply = await generator.storm(cmd)
        else:
            await generator.close()
            print(json.dumps({"ok": True}), flush=True)
            return
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
