"""HTTP robustness against real servers on 127.0.0.1: 304, 429, 500, hangs, size cap, GBK, secrets."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from monitor.errors import FetchError, RateLimitedError
from monitor.http import FetchRequest, HttpFetcher
from tests.support_monitor import Clock, FakeClassifier, FeedServer, Harness, Route, fixture_bytes, open_db


async def test_conditional_get_sends_validators() -> None:
    async with FeedServer() as srv:
        modified = "Mon, 23 Nov 2026 08:00:00 GMT"
        srv.routes["/feed"] = Route(body=b"<rss/>", etag='"v1"', headers={"Last-Modified": modified})
        fetcher = HttpFetcher()
        try:
            first = await fetcher.get(FetchRequest(srv.url("/feed")))
            assert first.status == 200 and first.etag == '"v1"'
            second = await fetcher.get(FetchRequest(srv.url("/feed"), etag=first.etag,
                                                    last_modified=first.last_modified))
            assert second.not_modified
            assert srv.routes["/feed"].seen_headers[1]["If-Modified-Since"] == "Mon, 23 Nov 2026 08:00:00 GMT"
        finally:
            await fetcher.close()


async def test_429_500_hang_and_size_cap() -> None:
    async with FeedServer() as srv:
        srv.routes["/limited"] = Route(status=429, headers={"Retry-After": "120"}, body=b"slow down")
        srv.routes["/boom"] = Route(status=500, body=b"oops")
        srv.routes["/hang"] = Route(hang=True)
        srv.routes["/big"] = Route(body=b"x" * 5000)
        srv.routes["/login"] = Route(status=403, body=b"")
        fetcher = HttpFetcher()
        try:
            with pytest.raises(RateLimitedError) as limited:
                await fetcher.get(FetchRequest(srv.url("/limited")))
            assert limited.value.retry_after == 120 and "限流" in str(limited.value)
            with pytest.raises(FetchError, match="HTTP 500"):
                await fetcher.get(FetchRequest(srv.url("/boom")))
            with pytest.raises(FetchError, match="超时"):
                await fetcher.get(FetchRequest(srv.url("/hang"), timeout_s=0.3))
            with pytest.raises(FetchError, match="过大"):
                await fetcher.get(FetchRequest(srv.url("/big"), max_bytes=1024))
            with pytest.raises(FetchError, match="Cookie"):
                await fetcher.get(FetchRequest(srv.url("/login")))
            with pytest.raises(FetchError, match="无法连接"):
                await fetcher.get(FetchRequest("http://127.0.0.1:9/feed", timeout_s=2))
        finally:
            await fetcher.close()


async def test_per_host_semaphore_limits_concurrency() -> None:
    fetcher = HttpFetcher(per_host=3)
    assert fetcher._semaphores["127.0.0.1"]._value == 3
    await fetcher.close()


async def test_failing_source_error_is_readable_and_never_leaks_secrets(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h = Harness(open_db(tmp_path / "l.db"), Clock(), FakeClassifier())
    async with FeedServer() as srv:
        srv.routes["/weibo/keyword/x"] = Route(status=503, body=b"upstream down")
        secret_url = srv.url("/weibo/keyword/x") + "?key=SUPERSECRETKEY"
        service = h.service([{"name": "wb", "kind": "rss", "url": secret_url,
                              "headers": {"X-Api-Key": "HEADERSECRET"}, "cookies": {"SUB": "COOKIESECRET"}}])
        [result] = await service.poll_once("wb")
        assert not result.ok and "HTTP 503" in result.error  # type: ignore[operator]
        assert srv.routes["/weibo/keyword/x"].seen_headers[0]["Cookie"] == "SUB=COOKIESECRET"
        listed = await service.list_sources()
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("aiohttp.access"))
    text = str(result) + repr(listed) + ours
    for secret in ("SUPERSECRETKEY", "HEADERSECRET", "COOKIESECRET"):
        assert secret not in text
    assert listed[0]["headers"] == {"X-Api-Key": "***"} and listed[0]["cookies"] == "***"
    assert listed[0]["health"]["consecutive_failures"] == 1
    h.db.close()


async def test_gbk_page_end_to_end(tmp_path: Path) -> None:
    h = Harness(open_db(tmp_path / "l.db"), Clock(), FakeClassifier())
    async with FeedServer() as srv:
        srv.routes["/list"] = Route(body=fixture_bytes("gbk_page.html"), content_type="text/html")
        service = h.service([{"name": "page", "kind": "html", "url": srv.url("/list"), "query": "鲜味楼",
                              "item": "li.item", "title": "a.title", "time": "span.time", "text": "p.summary"}])
        [result] = await service.poll_once()
    assert result.ok and result.new == 2 and result.filtered == 1, str(result)
    titles = [r["title"] for r in h.rows()]
    assert titles == ["鲜味楼望京店吃完上吐下泻，门店拒绝赔偿医药费", "鲜味楼年夜饭定金不退"]
    h.db.close()


async def test_redirects_keep_credentials_on_the_configured_host() -> None:
    async with FeedServer() as srv, FeedServer() as other:
        target = other.url("/landing")
        srv.routes["/moved"] = Route(status=302, headers={"Location": target})
        srv.routes["/same"] = Route(status=301, headers={"Location": "/moved-here"})
        srv.routes["/moved-here"] = Route(body=b"ok")
        srv.routes["/loop"] = Route(status=302, headers={"Location": "/loop"})
        other.routes["/landing"] = Route(body=b"landed")
        fetcher = HttpFetcher()
        secret = {"X-Api-Key": "K", "Authorization": "Bearer T"}
        try:
            same = await fetcher.get(FetchRequest(srv.url("/same"), headers=secret, cookies="SUB=C"))
            assert same.body == b"ok" and srv.routes["/moved-here"].seen_headers[0]["Cookie"] == "SUB=C"
            # "localhost" vs "127.0.0.1": another host name, so nothing secret follows the redirect
            other.routes["/landing"].hits = 0
            srv.routes["/moved"] = Route(status=302, headers={"Location": target.replace("127.0.0.1", "localhost")})
            moved = await fetcher.get(FetchRequest(srv.url("/moved"), headers=secret, cookies="SUB=C"))
            assert moved.body == b"landed"
            seen = other.routes["/landing"].seen_headers[-1]
            assert "Cookie" not in seen and "X-Api-Key" not in seen and "Authorization" not in seen
            with pytest.raises(FetchError, match="重定向次数过多"):
                await fetcher.get(FetchRequest(srv.url("/loop")))
        finally:
            await fetcher.close()
