"""Issue #11 point 3: parsing runs in a worker process with time and depth limits, never on the event loop."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.errors import ParseLimitError
from monitor.parsing import ParseWorkers
from monitor.sources.html import MAX_DEPTH, html_depth, parse_html
from tests.support_monitor import FeedServer, Route, fixture_bytes
from tests.support_parse import sleep_then_pid
from tests.web.api.test_monitor import api  # noqa: F401 - the fixture

TZ_NAME = ZoneInfo("Asia/Shanghai")


def deep_page(depth: int) -> bytes:
    return (b'<html><head><meta charset="utf-8"></head><body><ul><li class="item">' + b"<div>" * depth
            + "鲜味楼".encode() + b"</div>" * depth + b"</li></ul></body></html>")


async def test_parsing_happens_in_another_process_and_a_runaway_parse_is_stopped() -> None:
    workers = ParseWorkers(workers=2, time_limit_s=1.0)
    first = await workers.run(sleep_then_pid, 0)
    assert first != os.getpid()
    # A parse over the limit is refused; the one running beside it on the same pool is retried, not lost.
    slow, beside = await asyncio.gather(workers.run(sleep_then_pid, 30), workers.run(sleep_then_pid, 0.5),
                                        return_exceptions=True)
    assert isinstance(slow, ParseLimitError) and "秒" in str(slow)
    assert isinstance(beside, int) and beside != os.getpid()
    assert await workers.run(sleep_then_pid, 0) not in (first, os.getpid())  # a fresh worker took over


async def test_the_limit_measures_parsing_not_waiting_for_a_free_worker() -> None:
    workers = ParseWorkers(workers=1, time_limit_s=1.5)
    results = await asyncio.gather(*(workers.run(sleep_then_pid, 0.6) for _ in range(4)))  # 2.4 s in all
    assert len(results) == 4 and os.getpid() not in results


def test_depth_precheck_is_linear_and_ignores_flat_and_hidden_markup() -> None:
    assert html_depth("<div>" * 100_000) == MAX_DEPTH + 1  # stops counting past the limit
    assert html_depth("<ul>" + "<li>x" * 50_000 + "</ul>") == 1  # implicitly closed: not nested
    assert html_depth("<p><br><img src=x><a>a<a>b</p>") == 0
    assert html_depth("<script>" + "<div>" * 5000 + "</script><div></div>") == 1
    assert html_depth(fixture_bytes("gbk_page.html").decode("gb18030")) < 20
    with pytest.raises(ParseLimitError, match="嵌套"):
        parse_html(deep_page(100_000).decode(), {"item": "li"}, source="x", base_url="https://x.cn/", now=0.0,
                   tz=TZ_NAME)


async def test_a_pathologically_nested_page_is_refused_with_a_clear_error(api: Any, tmp_path: Path) -> None:  # noqa: F811
    client, tokens, _ = api
    async with FeedServer() as srv:
        srv.routes["/deep"] = Route(body=deep_page(100_000), content_type="text/html; charset=utf-8")
        srv.routes["/fine"] = Route(body=deep_page(50), content_type="text/html; charset=utf-8")
        for name in ("deep", "fine"):
            body = {"name": name, "kind": "html", "url": srv.url(f"/{name}"), "item": "li.item", "query": "鲜味楼"}
            assert (await client.post("/api/sources", json=body, headers=tokens["manager"])).status == 201
        poll = asyncio.create_task(client.post("/api/sources/deep/poll", headers=tokens["manager"]))
        assert (await client.get("/api/sources", headers=tokens["manager"])).status == 200  # served meanwhile
        result = (await (await poll).json())["result"]
        fine = (await (await client.post("/api/sources/fine/poll", headers=tokens["manager"])).json())["result"]
    assert not result["ok"] and "嵌套超过" in result["error"], result
    assert fine["ok"] and fine["new"] == 1
    listed = await (await client.get("/api/sources", headers=tokens["manager"])).json()
    health = next(s for s in listed["items"] if s["name"] == "deep")["health"]
    assert health["status"] == "error" and "嵌套超过" in health["last_error"]
