"""The one interface every source kind implements.

A source kind is a class with a ``kind`` name, a default interval, an
options validator and ``pages(state)``: an async iterator of :class:`Page`
(the mentions of one fetched page plus the fetch state to save with them:
ETag, Last-Modified, cursor).  The poller stores each page's mentions and
its state in one transaction, so a crash between pages loses nothing and
the next run resumes from the saved state.

``pages`` only does I/O through ``ctx.fetcher``; turning bytes into
mentions is a pure ``parse_*`` function of the kind's module, testable
without a network, which ``pages`` runs through ``ctx.parser`` (a worker
process with a time limit, see monitor/parsing.py), never on the event loop.
Pollers never touch the scheduler.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, ClassVar

from ..config import SourceConfig
from ..http import FetchRequest, HttpFetcher
from ..items import Rejected
from ..mentions import Mention
from ..parsing import ParseWorkers, shared_workers


@dataclass
class FetchState:
    """What a source remembers between polls (persisted in ``source_state``)."""

    etag: str | None = None
    last_modified: str | None = None
    cursor: str | None = None


@dataclass
class Parsed:
    """What a pure ``parse_*`` function made of one payload."""

    mentions: list[Mention]
    items_seen: int  # items in the payload, refused ones included
    rejected: list[Rejected] = field(default_factory=list)  # items that could not be read, with the reason
    warnings: list[str] = field(default_factory=list)  # stored with a caveat (e.g. a truncated feed)
    next_cursor: str | None = None
    encoding: str | None = None  # the text encoding it was read in
    encoding_source: str | None = None  # how that encoding was chosen (see monitor/encoding.py)


@dataclass
class Page:
    mentions: list[Mention]
    items_seen: int  # items in the payload, before the brand query
    state: FetchState = field(default_factory=FetchState)
    rejected: list[Rejected] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    encoding: str | None = None
    encoding_source: str | None = None

    @classmethod
    def of(cls, parsed: Parsed, state: FetchState) -> Page:
        return cls(parsed.mentions, parsed.items_seen, state, list(parsed.rejected), list(parsed.warnings),
                   parsed.encoding, parsed.encoding_source)


@dataclass
class SourceContext:
    fetcher: HttpFetcher
    clock: Callable[[], float]
    tz: tzinfo
    parser: ParseWorkers = field(default_factory=shared_workers)  # parse_* functions run here, off the loop


class Source:
    """Base class of the source kinds (see monitor/sources/__init__.py for the registry)."""

    kind: ClassVar[str] = ""
    default_interval_s: ClassVar[float | None] = None
    needs_url: ClassVar[bool] = True
    scheduled: ClassVar[bool] = True  # False: items arrive by push, nothing to poll
    silence_expected: ClassVar[bool] = False  # True: going quiet is normal (a replay ends), no silence alert
    # The kind's own keys besides monitor.config.COMMON_KEYS, with help for users; others are refused.
    options_help: ClassVar[dict[str, str]] = {}

    def __init__(self, config: SourceConfig, ctx: SourceContext) -> None:
        self.config = config
        self.ctx = ctx

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check kind-specific options; raise SourceConfigError with a clear message."""
        if options:
            from ..errors import SourceConfigError

            raise SourceConfigError(f"unknown option(s) for kind {cls.kind}: {', '.join(sorted(options))}")
        return {}

    def request(self, state: FetchState, *, conditional: bool = True, **params: str) -> FetchRequest:
        cfg = self.config
        return FetchRequest(url=cfg.url, timeout_s=cfg.timeout_s, max_bytes=cfg.max_bytes,
                            headers=dict(cfg.headers), cookies=cfg.cookies,
                            etag=state.etag if conditional else None,
                            last_modified=state.last_modified if conditional else None,
                            params={k: v for k, v in params.items() if v})

    def pages(self, state: FetchState) -> AsyncIterator[Page]:
        raise NotImplementedError
