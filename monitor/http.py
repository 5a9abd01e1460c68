"""The HTTP side of polling: conditional GET, rate limits, size cap (text decoding: monitor/encoding.py).

Every source kind that fetches over HTTP goes through :class:`HttpFetcher`,
so robustness lives in one place:

* conditional GET: ``If-None-Match`` / ``If-Modified-Since`` from the last
  successful answer; a 304 means "nothing new" and costs nothing;
* 429 (and 503 with ``Retry-After``) raise :class:`RateLimitedError` carrying
  the wait; other 4xx/5xx, timeouts and connection errors raise
  :class:`FetchError` with a short human message;
* the body is read up to ``max_bytes`` and the fetch fails beyond it;
* a per-host semaphore caps concurrent requests to one host; a slot is held
  at most ``slot_hold_s`` (a hanging server keeps its request, not the slot),
  and waiting for one counts toward the request's timeout;
* every connection, including each redirect hop, goes to an address the
  :class:`~monitor.netguard.NetPolicy` allows (checked on the resolved IP at
  connect time); a refused one is a :class:`FetchError` naming host and rule;
* errors name the host only: URLs may carry access keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import yarl

from .errors import FetchError, RateLimitedError
from .netguard import BlockedAddressError, GuardedConnector, NetPolicy

USER_AGENT = "Lantern/0.1 (public-opinion monitor)"
DEFAULT_RETRY_AFTER_S = 60.0
DEFAULT_SLOT_HOLD_S = 3.0  # a healthy server has answered (and sent its feed) well within this
MAX_REDIRECTS = 5


@dataclass
class FetchRequest:
    url: str
    timeout_s: float = 20.0
    max_bytes: int = 5_000_000
    headers: dict[str, str] = field(default_factory=dict)
    cookies: str = ""
    etag: str | None = None
    last_modified: str | None = None
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class FetchResponse:
    status: int
    body: bytes
    content_type: str = ""
    charset: str | None = None
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def parse_retry_after(value: str | None, *, now: float) -> float:
    """Seconds to wait from a ``Retry-After`` header (seconds or HTTP date); default 60 s."""
    if not value:
        return DEFAULT_RETRY_AFTER_S
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), 86400))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return DEFAULT_RETRY_AFTER_S
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, min(86400.0, when.timestamp() - now))


class HttpFetcher:
    """Shared aiohttp session with a per-host concurrency cap and the outbound address guard."""

    def __init__(self, *, per_host: int = 2, clock: Any = None, user_agent: str = USER_AGENT,
                 policy: NetPolicy | None = None, slot_hold_s: float = DEFAULT_SLOT_HOLD_S) -> None:
        self.per_host = max(1, per_host)
        self.slot_hold_s = slot_hold_s
        self.policy = policy or NetPolicy()
        self._clock = clock
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._semaphores: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(self.per_host))

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = GuardedConnector(self.policy, limit=200, ttl_dns_cache=300)
            # DummyCookieJar: cookies set by one source's server never leak into another's requests.
            self._session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                                  headers={"User-Agent": self._user_agent})
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _now(self) -> float:
        return float(self._clock()) if self._clock else time.time()

    async def get(self, req: FetchRequest) -> FetchResponse:
        host = host_of(req.url)
        headers = dict(req.headers)
        if req.cookies:
            headers["Cookie"] = req.cookies
        if req.etag:
            headers["If-None-Match"] = req.etag
        if req.last_modified:
            headers["If-Modified-Since"] = req.last_modified
        session = await self._get_session()
        try:
            # The wait for a host slot counts toward the request's timeout, and a slot is held only while the
            # server makes progress: after slot_hold_s a request that still waits gives its slot back (it goes
            # on until its own timeout), so hanging requests cannot starve the host's other sources.
            async with asyncio.timeout(req.timeout_s), self._host_slot(host):
                return await self._follow(session, req, headers, host)
        except BlockedAddressError as exc:  # before ClientError: it is one
            raise FetchError(str(exc)) from None
        except TimeoutError as exc:
            raise FetchError(f"请求 {host} 超时（{req.timeout_s:g} 秒）(timed out)") from exc
        except aiohttp.ClientConnectorError as exc:
            raise FetchError(f"无法连接 {host}：{exc.os_error.strerror or '连接失败'} (cannot connect)") from exc
        except aiohttp.ClientPayloadError as exc:
            raise FetchError(f"{host} 返回的数据不完整 (incomplete response)") from exc
        except aiohttp.ClientError as exc:
            raise FetchError(f"请求 {host} 失败：{type(exc).__name__} (request failed)") from exc

    @contextlib.asynccontextmanager
    async def _host_slot(self, host: str) -> AsyncIterator[None]:
        """One of the host's ``per_host`` slots, released at the end or after ``slot_hold_s``, whichever first."""
        semaphore = self._semaphores[host]
        await semaphore.acquire()
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                semaphore.release()

        timer = asyncio.get_running_loop().call_later(self.slot_hold_s, release)
        try:
            yield
        finally:
            timer.cancel()
            release()

    async def _follow(self, session: aiohttp.ClientSession, req: FetchRequest, headers: dict[str, str],
                      host: str) -> FetchResponse:
        """GET with redirects followed by hand: credentials never travel to another host."""
        url: Any = req.url
        params: dict[str, str] | None = req.params or None
        for _ in range(MAX_REDIRECTS + 1):
            async with session.get(url, headers=headers, params=params, allow_redirects=False) as resp:
                if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                    target = resp.url.join(yarl.URL(resp.headers["Location"]))
                    if target.scheme not in ("http", "https"):
                        raise FetchError(f"{host} 重定向到了不支持的地址 (redirect to a non-HTTP URL)")
                    if target.host != resp.url.host:
                        # The source's headers (API keys), cookies and validators stay with its own host.
                        headers = {}
                    url, params = target, None
                    continue
                return await self._read(resp, req, host)
        raise FetchError(f"{host} 重定向次数过多 (too many redirects)")

    async def _read(self, resp: aiohttp.ClientResponse, req: FetchRequest, host: str) -> FetchResponse:
        status = resp.status
        if status == 304:
            return FetchResponse(304, b"", etag=req.etag, last_modified=req.last_modified)
        if status == 429 or (status == 503 and "Retry-After" in resp.headers):
            wait = parse_retry_after(resp.headers.get("Retry-After"), now=self._now())
            raise RateLimitedError(f"{host} 限流（HTTP {status}），{wait:.0f} 秒后再试 (rate limited)",
                                   retry_after=wait, response_status=status)
        if status >= 400:
            kind = "服务器错误" if status >= 500 else "请求被拒绝"
            hint = "，请检查 Cookie 或访问密钥" if status in (401, 403) else ""
            raise FetchError(f"{host} 返回 HTTP {status}（{kind}{hint}）", response_status=status)
        length = resp.content_length
        if length is not None and length > req.max_bytes:
            raise FetchError(f"{host} 的响应过大：{length} 字节，上限 {req.max_bytes} (response too large)")
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(65536):
            size += len(chunk)
            if size > req.max_bytes:
                raise FetchError(f"{host} 的响应超过上限 {req.max_bytes} 字节 (response too large)")
            chunks.append(chunk)
        return FetchResponse(status, b"".join(chunks), content_type=resp.content_type, charset=resp.charset,
                             etag=resp.headers.get("ETag"), last_modified=resp.headers.get("Last-Modified"))
