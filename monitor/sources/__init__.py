"""Source kinds. Adding a kind = one module + one line in ``KINDS``."""

from __future__ import annotations

from .base import FetchState, Page, Source, SourceContext
from .demo import DemoSource
from .html import HtmlSource
from .jsonapi import JsonSource
from .push import PushSource
from .rss import RssSource

KINDS: dict[str, type[Source]] = {
    cls.kind: cls for cls in (RssSource, JsonSource, HtmlSource, PushSource, DemoSource)
}

__all__ = ["KINDS", "FetchState", "Page", "Source", "SourceContext"]
