"""Console live-stream benchmark: N consoles on /api/live, event-to-console latency, memory per console.

    python -m benchmarks.live --consoles 500 --events 20

Starts one Lantern node (the real app: token auth, ScriptService, the hub) in
its own process and holds ``--consoles`` Server-Sent Events streams from this
one.  Each event is a real change (a draft created through the HTTP API); the
latency is from sending that request to each console reading the ``script``
event.  Also: node RSS growth per open console, and how many API requests the
same consoles would have made per minute by polling the old way.  The last
line is ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.broadcast import free_port, rss_kb

# The old console: board every 5 s and approval badge every 15 s, per open console.
POLLS_PER_MINUTE = 60 / 5 + 60 / 15


def prepare(db_path: str) -> str:
    from web.auth import users
    from web.compose import open_database
    from web.platform.settings import load_settings

    db = open_database(load_settings(env={}).with_overrides(storage__path=db_path))
    try:
        def seed(d: Any) -> str:
            user = users.add_user(d, "bench-manager", "manager", "bench-password-1", now=time.time())
            return users.create_token(d, user, "bench", now=time.time())

        return db.write_sync(seed)
    finally:
        db.close()


async def serve(db_path: str, port: int) -> None:
    from web.cli.serve import serve as run_node
    from web.platform.settings import load_settings

    settings = load_settings(env={}).with_overrides(storage__path=db_path, server__port=port, monitor__enabled=False,
                                                    server__log_level="WARNING", console__live_queue=4096)
    await run_node(settings)


def start_node(db_path: str, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "benchmarks.live", "--serve", db_path, str(port)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603


async def console(http: aiohttp.ClientSession, url: str, token: str, ready: asyncio.Event, counter: list[int],
                  total: int, seen: dict[int, list[float]], everyone: dict[int, asyncio.Event]) -> None:
    async with http.get(f"{url}/api/live", headers={"Authorization": f"Bearer {token}"},
                        timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as response:
        assert response.status == 200, response.status
        kind = ""
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "ready":
                counter[0] += 1
                if counter[0] == total:
                    ready.set()
            elif line.startswith("data: ") and kind == "script":
                script_id = int(line.split('"id":')[1].split(",")[0])
                arrivals = seen.setdefault(script_id, [])
                arrivals.append(time.perf_counter())
                if len(arrivals) == total:
                    everyone.setdefault(script_id, asyncio.Event()).set()


async def run(consoles: int, events: int) -> dict[str, float]:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as tmp:
        db_path = str(Path(tmp) / "bench.db")
        token = prepare(db_path)
        port = free_port()
        node = start_node(db_path, port)
        url = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                for _ in range(200):
                    try:
                        async with http.get(f"{url}/healthz") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.05)
                base_rss = rss_kb(node.pid)
                ready, counter = asyncio.Event(), [0]
                seen: dict[int, list[float]] = {}
                everyone: dict[int, asyncio.Event] = {}
                tasks = [asyncio.create_task(console(http, url, token, ready, counter, consoles, seen, everyone))
                         for _ in range(consoles)]
                await asyncio.wait_for(ready.wait(), timeout=120)
                await asyncio.sleep(0.5)
                per_console_kb = (rss_kb(node.pid) - base_rss) / consoles
                latencies: list[float] = []
                all_ms: list[float] = []
                for n in range(events):
                    sent = time.perf_counter()
                    async with http.post(f"{url}/api/scripts", json={"title": f"基准 {n}", "body": "正文"},
                                         headers={"Authorization": f"Bearer {token}"}) as response:
                        script_id = (await response.json())["id"]
                    await asyncio.wait_for(everyone.setdefault(script_id, asyncio.Event()).wait(), timeout=60)
                    arrivals = seen[script_id]
                    latencies += [(t - sent) * 1000 for t in arrivals]
                    all_ms.append((max(arrivals) - sent) * 1000)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            node.terminate()
            node.wait(timeout=30)
    latencies.sort()
    return {"consoles": consoles, "events": events,
            "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
            "all_consoles_p50_ms": round(statistics.median(all_ms), 1),
            "kb_per_console": round(per_console_kb, 1),
            "polling_requests_per_min": round(consoles * POLLS_PER_MINUTE)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consoles", type=int, default=500)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--serve", nargs=2, metavar=("DB", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve[0], int(args.serve[1])))
        return
    result = asyncio.run(run(args.consoles, args.events))
    print(f"{result['consoles']} consoles, {result['events']} changes: event latency p50 {result['p50_ms']} ms, "
          f"p99 {result['p99_ms']} ms; all consoles told (p50) {result['all_consoles_p50_ms']} ms; "
          f"{result['kb_per_console']} kB per open console; the same consoles polling the old way: "
          f"{result['polling_requests_per_min']} requests/min")
    print(" ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
