"""Load generator for ``benchmarks.broadcast``: one process holding many ticker websockets.

Each socket is a ``websockets`` client: the package's sans-I/O :class:`ClientProtocol` does the
handshake, parses the server's frames, masks ours and answers protocol pings; a bare asyncio
Protocol only moves its bytes.  No task per socket (as ``websockets.asyncio.client.connect``
would start) so that on a small machine the generators leave the CPU to the node being
measured - on a real deployment the agents' desktops are other machines.

Driven over stdin/stdout with one JSON object per line:

    {"cmd": "connect", "host": ..., "port": ..., "path": ..., "tokens": [...], "count": N,
     "source": "127.0.0.2", "concurrency": C}
        -> {"ok": true, "connected": N, "failed": F}
    {"cmd": "latencies"}  -> {"ok": true, "received": {script_id: [epoch seconds, ...]}}
    {"cmd": "storm", "concurrency": C, "fresh": false}  -> drop every socket, reconnect all at once with since/epoch,
        -> {"ok": true, "started": t, "done": t_last_resynced, "resynced": N, "snapshots": S, "failed": F}
    {"cmd": "quit"}
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

PONG = '{"type":"pong"}'


class TickerClient(asyncio.Protocol):
    def __init__(self, owner: Generator, token: str) -> None:
        self.owner, self.token = owner, token
        self.epoch: str | None = None
        self.rev = 0
        self.transport: asyncio.Transport | None = None
        self.ws: ClientProtocol | None = None
        self.synced: asyncio.Future[float] | None = None
        self.snapshot = False
        self.closed: asyncio.Future[None] | None = None

    # -- connection ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        query = f"?token={self.token}"
        if self.epoch is not None:
            query += f"&since={self.rev}&epoch={self.epoch}"
        owner = self.owner
        self.ws = ClientProtocol(parse_uri(f"ws://{owner.host}:{owner.port}{owner.path}{query}"), max_size=None)
        self.ws.send_request(self.ws.connect())
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.closed is not None and not self.closed.done():
            self.closed.set_result(None)
        if self.synced is not None and not self.synced.done():
            self.synced.set_exception(ConnectionError("closed before sync"))

    def flush(self) -> None:
        assert self.ws is not None
        for data in self.ws.data_to_send():
            if self.transport is None:
                return
            if data:
                self.transport.write(data)
            else:
                self.transport.close()

    # -- frames -------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        ws = self.ws
        assert ws is not None
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    self.on_text(bytes(event.data))
            elif ws.handshake_exc is not None and self.transport is not None:  # the upgrade was refused
                self.transport.close()
        self.flush()

    def on_text(self, payload: bytes) -> None:
        now = time.time()
        if payload.startswith(b'{"type":"ping"'):
            assert self.ws is not None
            self.ws.send_text(PONG.encode())
            return
        data = json.loads(payload)
        if "rev" in data:
            self.rev = data["rev"]
        kind = data["type"]
        if kind == "publish":
            self.owner.received.setdefault(data["item"]["id"], []).append(now)
        elif kind in ("snapshot", "resumed"):
            self.epoch = data["epoch"]
            self.snapshot = kind == "snapshot"
            if self.synced is not None and not self.synced.done():
                self.synced.set_result(now)


class Generator:
    def __init__(self) -> None:
        self.clients: list[TickerClient] = []
        self.received: dict[int, list[float]] = {}
        self.host, self.port, self.path, self.source = "127.0.0.1", 0, "/ws/ticker", "127.0.0.1"

    async def open(self, client: TickerClient, sem: asyncio.Semaphore) -> bool:
        loop = asyncio.get_running_loop()
        async with sem:
            for attempt in range(8):
                client.synced, client.closed = loop.create_future(), loop.create_future()
                try:
                    await loop.create_connection(lambda: client, self.host, self.port, local_addr=(self.source, 0))
                    await asyncio.wait_for(asyncio.shield(client.synced), 60)
                    return True
                except (OSError, ConnectionError, TimeoutError):
                    await asyncio.sleep(0.2 * (attempt + 1))
            return False

    async def connect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.host, self.port, self.path, self.source = cmd["host"], cmd["port"], cmd["path"], cmd["source"]
        tokens = cmd["tokens"]
        self.clients = [TickerClient(self, tokens[i % len(tokens)]) for i in range(cmd["count"])]
        sem = asyncio.Semaphore(cmd.get("concurrency", 250))
        results = await asyncio.gather(*(self.open(c, sem) for c in self.clients))
        return {"ok": True, "connected": sum(results), "failed": len(results) - sum(results)}

    async def storm(self, cmd: dict[str, Any]) -> dict[str, Any]:
        started = time.time()
        closing = [c.closed for c in self.clients if c.transport is not None and c.closed is not None]
        for client in self.clients:  # drop everything at once, like a network blip
            if client.transport is not None:
                client.transport.abort()
        await asyncio.gather(*closing, return_exceptions=True)
        if cmd.get("fresh"):  # as after a node restart: nobody can resume, everyone needs a snapshot
            for client in self.clients:
                client.epoch = None
        sem = asyncio.Semaphore(cmd.get("concurrency", 10_000))
        results = await asyncio.gather(*(self.open(c, sem) for c in self.clients))
        done = [c.synced.result() for c in self.clients if c.synced is not None and c.synced.done()
                and not c.synced.exception()]
        return {"ok": True, "started": started, "done": max(done, default=started), "resynced": sum(results),
                "snapshots": sum(c.snapshot for c in self.clients), "failed": len(results) - sum(results)}

    def close(self) -> None:
        for client in self.clients:
            if client.transport is not None:
                client.transport.close()


async def main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # On a small box the generators share the CPU with the node; on a real deployment the agents'
    # desktops are other machines.  A lower priority keeps the node's work from queueing behind ours.
    os.nice(int(os.environ.get("LANTERN_BENCH_CLIENT_NICE", "0")))
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
            generator.close()
            print(json.dumps({"ok": True}), flush=True)
            return
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
