"""Ticker broadcast benchmark: N agent websockets on one node, publish latency, memory, reconnect storm.

    python -m benchmarks.broadcast --clients 10000

Starts one Lantern node (the real app: token auth, hub, SQLite) in its own
process, and ``--procs`` load-generator processes (``benchmarks._broadcast_client``)
that each hold a share of the sockets from their own 127.0.0.x source address.
Then: memory per connection (node RSS growth / sockets), publish-to-received
latency over ``--scripts`` publishes via the HTTP API, and a reconnect storm
(every socket dropped at once, all reconnect with since/epoch) timed until
the last one has resynced.  The last line is ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

TEAMS = ("hotline", "vip", "online", "complaints")


def raise_fd_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far: on a shared machine, steadier than wall-clock figures."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_for(db_path: str) -> Any:
    from web.platform.settings import load_settings

    return load_settings(env={}).with_overrides(storage__path=db_path)


def prepare(db_path: str, agents: int) -> dict[str, Any]:
    """Users and API tokens in a fresh database (before the node starts)."""
    from web.auth import users
    from web.compose import open_database

    db = open_database(settings_for(db_path))
    now = time.time()

    def txn(d: Any) -> dict[str, Any]:
        wang = users.add_user(d, "wang", "manager", "bench-password", team="pr", now=now)
        li = users.add_user(d, "li", "manager", "bench-password", team="service", now=now)
        tokens = []
        for i in range(agents):
            agent = users.add_user(d, f"agent{i}", "agent", "bench-password", team=TEAMS[i % len(TEAMS)], now=now)
            tokens.append(users.create_token(d, agent, "bench", now=now))
        return {"author": users.create_token(d, wang, "bench", now=now),
                "approver": users.create_token(d, li, "bench", now=now), "agents": tokens}

    try:
        return db.write_sync(txn)
    finally:
        db.close()


async def serve(db_path: str, port: int) -> None:
    """The node under test (``--serve``): the real app on 127.0.0.1 until stdin closes."""
    from aiohttp import web

    from web.app import create_app
    from web.compose import build_services

    raise_fd_limit()
    services = await build_services(settings_for(db_path))
    hub, fanout_ms = services.hub, []
    deliver = hub.deliver

    def timed_deliver(delta: Any) -> None:  # node-side cost of one fan-out: frames handed to the kernel
        started = time.perf_counter()
        deliver(delta)
        fanout_ms.append((time.perf_counter() - started) * 1000)

    hub.deliver = timed_deliver
    runner = web.AppRunner(create_app(services), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()
    print(json.dumps({"fanout_ms": fanout_ms}), flush=True)
    await runner.cleanup()
    services.db.close()


ROOT = str(Path(__file__).resolve().parent.parent)


def start_node(db_path: str, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": ROOT}
    command = [sys.executable, "-m", "benchmarks.broadcast", "--serve", db_path, "--port", str(port)]
    if os.environ.get("LANTERN_BENCH_PROFILE"):  # cProfile the node; read it with python -m pstats
        command[1:1] = ["-m", "cProfile", "-o", os.environ["LANTERN_BENCH_PROFILE"]]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)  # noqa: S603


class Generators:
    def __init__(self, procs: int, nice: int) -> None:
        env = {**os.environ, "PYTHONPATH": ROOT, "LANTERN_BENCH_CLIENT_NICE": str(nice)}
        command = [sys.executable, "-m", "benchmarks._broadcast_client"]
        self.procs = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # noqa: S603
                                       env=env, text=True) for _ in range(procs)]

    async def each(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        def one(proc: subprocess.Popen[str], cmd: dict[str, Any]) -> dict[str, Any]:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(cmd) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("load generator died")
            return json.loads(line)

        return list(await asyncio.gather(*(asyncio.to_thread(one, p, c)
                                           for p, c in zip(self.procs, commands, strict=True))))

    async def all(self, cmd: dict[str, Any]) -> list[dict[str, Any]]:
        return await self.each([cmd] * len(self.procs))

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None and proc.stdin is not None:
                try:
                    proc.stdin.write('{"cmd": "quit"}\n')
                    proc.stdin.flush()
                    proc.wait(timeout=30)
                except (OSError, subprocess.TimeoutExpired):
                    proc.kill()


async def publish_one(http: aiohttp.ClientSession, base: str, tokens: dict[str, Any], n: int) -> tuple[int, float]:
    author = {"Authorization": f"Bearer {tokens['author']}"}
    approver = {"Authorization": f"Bearer {tokens['approver']}"}
    body = f"第{n}条统一口径：您好，给您带来不便非常抱歉，涉事门店已停业整改，我们会全程跟进您的诉求。"
    async with http.post(f"{base}/api/scripts", headers=author,
                         json={"title": f"口径 {n}", "body": body, "priority": "high"}) as resp:
        sid = (await resp.json())["id"]
    async with http.post(f"{base}/api/scripts/{sid}/submit", headers=author) as resp:
        assert resp.status == 200, await resp.text()
    async with http.post(f"{base}/api/scripts/{sid}/approve", headers=approver, json={"version": 1}) as resp:
        assert resp.status == 200, await resp.text()
    t0 = time.time()
    async with http.post(f"{base}/api/scripts/{sid}/publish", headers=approver) as resp:
        assert resp.status == 200, await resp.text()
    return sid, t0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit()
    tmp = tempfile.mkdtemp(prefix="lantern-bench-")
    db_path = str(Path(tmp) / "bench.db")
    tokens = prepare(db_path, args.agents)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    node = start_node(db_path, port)
    generators = None
    try:
        assert node.stdout is not None
        if node.stdout.readline().strip() != "ready":
            raise RuntimeError("node did not start")
        await asyncio.sleep(1)
        rss_before, cpu_start = rss_kb(node.pid), cpu_s(node.pid)
        generators = Generators(args.procs, args.client_nice)
        shares = [args.clients // args.procs + (1 if i < args.clients % args.procs else 0) for i in range(args.procs)]
        t = time.time()
        replies = await generators.each([
            {"cmd": "connect", "host": "127.0.0.1", "port": port, "path": "/ws/ticker", "tokens": tokens["agents"],
             "count": share,
             "source": f"127.0.0.{2 + i}", "concurrency": args.concurrency} for i, share in enumerate(shares)])
        connected = sum(r["connected"] for r in replies)
        print(f"connected {connected}/{args.clients} in {time.time() - t:.1f}s", flush=True)
        await asyncio.sleep(2)
        rss_after, cpu_connected = rss_kb(node.pid), cpu_s(node.pid)
        kb_per_conn = (rss_after - rss_before) / max(1, connected)
        print(f"node RSS {rss_before / 1024:.0f} MB -> {rss_after / 1024:.0f} MB, {kb_per_conn:.1f} KB/connection",
              flush=True)

        published: dict[int, float] = {}
        async with aiohttp.ClientSession() as http:
            for n in range(args.scripts):
                sid, t0 = await publish_one(http, base, tokens, n + 1)
                published[sid] = t0
                await asyncio.sleep(args.gap)
        deadline = time.time() + 30
        while True:
            got = await generators.all({"cmd": "latencies"})
            received: dict[int, list[float]] = {}
            for reply in got:
                for sid, stamps in reply["received"].items():
                    received.setdefault(int(sid), []).extend(stamps)
            complete = all(len(received.get(sid, [])) >= connected for sid in published)
            if complete or time.time() > deadline:
                break
            await asyncio.sleep(0.5)
        cpu_published = cpu_s(node.pid)
        latencies = [(stamp - published[sid]) * 1000 for sid, stamps in received.items() if sid in published
                     for stamp in stamps]
        missing = len(published) * connected - len(latencies)
        print(f"{len(published)} publishes x {connected} sockets: {len(latencies)} deliveries, {missing} missing; "
              f"p50 {percentile(latencies, 0.5):.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms, "
              f"max {max(latencies):.0f} ms", flush=True)

        storm = await generators.all({"cmd": "storm", "concurrency": args.storm_concurrency,
                                      "fresh": args.storm == "snapshot"})
        cpu_stormed = cpu_s(node.pid)
        storm_s = max(r["done"] for r in storm) - min(r["started"] for r in storm)
        resynced = sum(r["resynced"] for r in storm)
        snapshots = sum(r["snapshots"] for r in storm)
        print(f"reconnect storm: {resynced}/{connected} resynced in {storm_s:.1f}s "
              f"({snapshots} by snapshot, {resynced - snapshots} by exact replay)", flush=True)
        return {"clients": args.clients, "connected": connected, "procs": args.procs, "scripts": len(published),
                "deliveries": len(latencies), "missing": missing,
                "p50_ms": round(percentile(latencies, 0.5), 1), "p99_ms": round(percentile(latencies, 0.99), 1),
                "max_ms": round(max(latencies), 1), "mean_ms": round(statistics.fmean(latencies), 1),
                "kb_per_conn": round(kb_per_conn, 1), "storm_resync_s": round(storm_s, 2),
                "storm_resynced": resynced, "storm_snapshots": snapshots,
                # CPU seconds of the node accepting the sockets, on the publishes, on the storm; of the generators
                "cpu_connect_s": round(cpu_connected - cpu_start, 2),
                "cpu_publish_s": round(cpu_published - cpu_connected, 2),
                "cpu_storm_s": round(cpu_stormed - cpu_published, 2),
                "client_cpu_s": round(sum(cpu_s(proc.pid) for proc in generators.procs), 2)}
    finally:
        if generators is not None:
            generators.close()
        if node.stdin is not None:
            node.stdin.close()
        if node.stdout is not None and node.poll() is None:
            line = await asyncio.to_thread(node.stdout.readline)
            fanout = json.loads(line).get("fanout_ms", []) if line.startswith("{") else []
            if fanout:
                print(f"node fan-out per publish: median {statistics.median(fanout):.0f} ms, "
                      f"max {max(fanout):.0f} ms", flush=True)
        try:
            node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            node.kill()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000, help="agent websockets to hold open")
    parser.add_argument("--procs", type=int, default=4, help="load-generator processes")
    parser.add_argument("--agents", type=int, default=40, help="distinct agent accounts the sockets sign in as")
    parser.add_argument("--scripts", type=int, default=20, help="scripts to publish")
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between publishes")
    parser.add_argument("--concurrency", type=int, default=250, help="connects in flight per generator")
    parser.add_argument("--storm-concurrency", type=int, default=10_000,
                        help="reconnects in flight per generator during the storm")
    parser.add_argument("--storm", choices=("resume", "snapshot"), default="resume",
                        help="reconnect with since/epoch (resume) or as after a node restart (snapshot)")
    parser.add_argument("--client-nice", type=int, default=0,
                        help="nice level of the load generators (they share this machine's CPU with the node)")
    parser.add_argument("--serve", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.serve, args.port))
        return
    result = asyncio.run(run(args))
    print(" ".join(f"{k}={v}" for k, v in result.items()), flush=True)


if __name__ == "__main__":
    main()
