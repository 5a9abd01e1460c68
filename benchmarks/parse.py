"""Parse isolation benchmark: the server stays responsive while a pathological page is parsed.

    python -m benchmarks.parse [--depth 100000] [--time-limit 5] [--baseline]

Starts one Lantern node (the real app, its scheduler off) in its own process,
and from this one: a page server on 127.0.0.1 with a 1 MB page of 100k nested
``<div>``, an agent's ticker websocket, and samplers of ``GET /healthz`` (every
20 ms) and of ticker publishes (a script drafted, approved and published through
the API; latency = publish request sent -> ``publish`` frame received).  Each
phase reports p50 / max of both:

* ``idle``       nothing else happening;
* ``poll``       "poll now" of an html source on the deep page (refused by the depth pre-check);
* ``worker``     the same page parsed in the node's parse worker *without* the pre-check (a hook of this
                 benchmark), so lexbor really runs until the time limit stops its worker;
* ``baseline``   (``--baseline``, a smaller page) the old behaviour: parsing on the event loop.

Target: /healthz and publish under 100 ms in every phase but the baseline.  The node also reports its own
event-loop lag (max overshoot of a 10 ms sleep): it tells a blocked loop from a node that was merely
waiting for a CPU on a busy machine.
The last line is ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from benchmarks.broadcast import ROOT, free_port, prepare, publish_one, settings_for


def deep_page(depth: int) -> bytes:
    return (b'<html><head><meta charset="utf-8"><title>deep</title></head><body><ul><li class="item">'
            + b"<div>" * depth + "鲜味楼".encode() + b"</div>" * depth + b"</li></ul></body></html>")


def _parse_unchecked(body: bytes) -> int:
    """lexbor on the page with no depth pre-check (what the time limit must stop)."""
    from selectolax.lexbor import LexborHTMLParser

    return len(LexborHTMLParser(body.decode("utf-8")).css("li"))


async def serve(db_path: str, port: int, time_limit: float) -> None:
    """The node under test (``--serve``): the real app plus one hook route, until stdin closes."""
    from web.app import create_app
    from web.compose import build_services

    settings = settings_for(db_path).with_overrides(monitor__enabled=False, monitor__parse_time_limit_s=time_limit,
                                                    server__log_level="WARNING")
    services = await build_services(settings)

    async def unchecked(request: web.Request) -> web.Response:
        body = await request.read()
        started = time.perf_counter()
        try:
            outcome: Any = await services.monitor.parser.run(_parse_unchecked, body)
        except Exception as exc:  # the ParseLimitError this phase expects
            outcome = f"{type(exc).__name__}: {exc}"
        return web.json_response({"outcome": outcome, "seconds": time.perf_counter() - started})

    async def inline(request: web.Request) -> web.Response:  # the baseline: on the event loop, as before #11
        body = await request.read()
        started = time.perf_counter()
        outcome = _parse_unchecked(body)
        return web.json_response({"outcome": outcome, "seconds": time.perf_counter() - started})

    lag = {"max_ms": 0.0}

    async def watch_loop() -> None:  # the node's own event-loop lag: blocking, as opposed to CPU contention
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            lag["max_ms"] = max(lag["max_ms"], (time.perf_counter() - started - 0.01) * 1000)

    async def loop_lag(request: web.Request) -> web.Response:
        answer = web.json_response(dict(lag))
        lag["max_ms"] = 0.0
        return answer

    watcher = asyncio.get_running_loop().create_task(watch_loop())
    app = create_app(services)
    app.router.add_get("/bench/loop-lag", loop_lag)
    app.router.add_post("/bench/parse-unchecked", unchecked)
    app.router.add_post("/bench/parse-inline", inline)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()
    watcher.cancel()
    await runner.cleanup()
    services.db.close()


def start_node(db_path: str, port: int, time_limit: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": ROOT}
    command = [sys.executable, "-m", "benchmarks.parse", "--serve", db_path, "--port", str(port), "--time-limit",
               str(time_limit)]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)  # noqa: S603


class Sampler:
    """/healthz every 20 ms and a ticker publish every 300 ms, while a phase runs."""

    def __init__(self, http: aiohttp.ClientSession, base: str, tokens: dict[str, Any],
                 received: dict[int, float], arrived: asyncio.Event) -> None:
        self.http, self.base, self.tokens, self.received, self.arrived = http, base, tokens, received, arrived
        self.health: list[float] = []
        self.publish: list[float] = []
        self.loop_lag_ms = 0.0
        self.n = 0

    async def _health(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            async with self.http.get(f"{self.base}/healthz") as resp:
                await resp.read()
            self.health.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.02)

    async def _publish(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.n += 1
            sid, sent = await publish_one(self.http, self.base, self.tokens, self.n)
            async with asyncio.timeout(60):
                while sid not in self.received:
                    await self.arrived.wait()
                    self.arrived.clear()
            self.publish.append((self.received[sid] - sent) * 1000)
            await asyncio.sleep(0.3)

    async def during(self, work: Any) -> Any:
        async with self.http.get(f"{self.base}/bench/loop-lag") as resp:  # reset the node's lag meter
            await resp.read()
        stop = asyncio.Event()
        tasks = [asyncio.create_task(self._health(stop)), asyncio.create_task(self._publish(stop))]
        try:
            return await work
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            async with self.http.get(f"{self.base}/bench/loop-lag") as resp:
                self.loop_lag_ms = float((await resp.json())["max_ms"])


def summary(name: str, sampler: Sampler, extra: str = "") -> dict[str, float]:
    h, p = sampler.health, sampler.publish or [float("nan")]
    out = {f"{name}_healthz_p50_ms": statistics.median(h), f"{name}_healthz_max_ms": max(h),
           f"{name}_publish_p50_ms": statistics.median(p), f"{name}_publish_max_ms": max(p),
           f"{name}_loop_lag_max_ms": sampler.loop_lag_ms}
    print(f"{name:9s} /healthz p50 {out[f'{name}_healthz_p50_ms']:7.1f} ms  max {out[f'{name}_healthz_max_ms']:7.1f} ms"
          f"  ({len(h)} requests) | publish p50 {out[f'{name}_publish_p50_ms']:7.1f} ms  "
          f"max {out[f'{name}_publish_max_ms']:7.1f} ms  ({len(sampler.publish)}) | node loop lag max "
          f"{sampler.loop_lag_ms:6.1f} ms {extra}")
    return out


async def run(args: argparse.Namespace) -> dict[str, float]:
    page = deep_page(args.depth)
    pages = web.Application()
    pages.router.add_get("/deep", lambda request: web.Response(body=page, content_type="text/html"))
    page_runner = web.AppRunner(pages, access_log=None)
    await page_runner.setup()
    page_port = free_port()
    await web.TCPSite(page_runner, "127.0.0.1", page_port).start()
    figures: dict[str, float] = {"page_bytes": len(page), "depth": args.depth}
    with tempfile.TemporaryDirectory() as tmp:
        db_path = str(Path(tmp) / "bench.db")
        tokens = prepare(db_path, 1)
        port = free_port()
        node = start_node(db_path, port, args.time_limit)
        try:
            assert node.stdout is not None and node.stdout.readline().strip() == "ready"
            base = f"http://127.0.0.1:{port}"
            manager = {"Authorization": f"Bearer {tokens['author']}"}
            received: dict[int, float] = {}
            arrived = asyncio.Event()
            async with aiohttp.ClientSession() as http:
                ws = await http.ws_connect(f"{base}/ws/ticker?token={tokens['agents'][0]}")

                async def listen() -> None:
                    async for msg in ws:
                        data = json.loads(msg.data)
                        if data.get("type") == "publish":
                            received[data["item"]["id"]] = time.time()
                            arrived.set()
                        elif data.get("type") == "ping":
                            await ws.send_str('{"type":"pong"}')

                listener = asyncio.create_task(listen())
                source = {"name": "deep", "kind": "html", "url": f"http://127.0.0.1:{page_port}/deep",
                          "item": "li.item", "query": "鲜味楼"}
                async with http.post(f"{base}/api/sources", json=source, headers=manager) as resp:
                    assert resp.status == 201, await resp.text()

                idle = Sampler(http, base, tokens, received, arrived)
                await idle.during(asyncio.sleep(3))
                figures |= summary("idle", idle)

                async def poll() -> str:
                    started = time.perf_counter()
                    async with http.post(f"{base}/api/sources/deep/poll", headers=manager) as resp:
                        result = (await resp.json())["result"]
                    await asyncio.sleep(max(0.0, 3 - (time.perf_counter() - started)))
                    return f"-> {result['error'] or result} in {time.perf_counter() - started:.2f} s (incl. 3 s)"

                sampler = Sampler(http, base, tokens, received, arrived)
                figures |= summary("poll", sampler, await sampler.during(poll()))

                async def worker(path: str) -> str:
                    async with http.post(f"{base}{path}", data=page if path.endswith("unchecked") else
                                         deep_page(args.baseline_depth)) as resp:
                        answer = await resp.json()
                    return f"-> {answer['outcome']} after {answer['seconds']:.2f} s"

                sampler = Sampler(http, base, tokens, received, arrived)
                figures |= summary("worker", sampler, await sampler.during(worker("/bench/parse-unchecked")))
                if args.baseline:
                    sampler = Sampler(http, base, tokens, received, arrived)
                    figures |= summary("baseline", sampler, await sampler.during(worker("/bench/parse-inline"))
                                       + f" (depth {args.baseline_depth}, on the event loop)")
                await ws.close()
                listener.cancel()
        finally:
            if node.stdin is not None:
                node.stdin.close()
            node.wait(timeout=30)
            await page_runner.cleanup()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=int, default=100_000)
    parser.add_argument("--time-limit", type=float, default=5.0, help="monitor.parse_time_limit_s of the node")
    parser.add_argument("--baseline", action="store_true", help="also parse on the event loop, as before #11")
    parser.add_argument("--baseline-depth", type=int, default=30_000)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.port, args.time_limit))
        return
    figures = asyncio.run(run(args))
    print(" ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
