"""The demo replay (``kind = "demo"``): a scripted brand crisis replayed against the clock.

``monitor/demo/stream.jsonl`` holds records ``{offset_s, platform, author,
author_reach, title, text}``: a quiet background about the fictional brand
鲜味楼, then a media exposé, reposts across platforms, complaints and a
regulator's statement.  A record is emitted once ``offset_s / speed``
seconds have passed since the source first ran (``speed`` option, default
``demo.speed``).  The start time and the count emitted are the source's
cursor, so the replay is deterministic given the clock and survives restarts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from ..errors import SourceConfigError
from ..mentions import Mention
from .base import FetchState, Page, Source

STREAM = Path(__file__).resolve().parent.parent / "demo" / "stream.jsonl"


@lru_cache(maxsize=4)
def load_stream(path: str = str(STREAM)) -> tuple[dict[str, Any], ...]:
    records = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return tuple(sorted(records, key=lambda r: float(r["offset_s"])))


class DemoSource(Source):
    kind = "demo"
    needs_url = False
    default_interval_s = 2.0
    silence_expected = True  # the replay ends; its quiet afterwards is not a broken source
    options_help: ClassVar[dict[str, str]] = {
        "speed": "Replay speed-up (default demo.speed).",
        "stream": "A JSON-lines file to replay instead of the bundled crisis.",
    }

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(options) - set(cls.options_help)
        if unknown:
            raise SourceConfigError(f"unknown option(s) for kind demo: {', '.join(sorted(unknown))}")
        speed = options.get("speed", 1.0)
        if isinstance(speed, bool) or not isinstance(speed, int | float) or not 0.01 <= speed <= 10_000:
            raise SourceConfigError("speed must be a number from 0.01 to 10000")
        out: dict[str, Any] = {"speed": float(speed)}
        if "stream" in options:
            if not isinstance(options["stream"], str) or not Path(options["stream"]).is_file():
                raise SourceConfigError(f"stream file not found: {options['stream']!r}")
            out["stream"] = options["stream"]
        return out

    async def pages(self, state: FetchState) -> AsyncIterator[Page]:
        now = self.ctx.clock()
        cursor = json.loads(state.cursor) if state.cursor else {"started_at": now, "emitted": 0}
        speed = float(self.config.options.get("speed", 1.0))
        records = load_stream(self.config.options.get("stream", str(STREAM)))
        elapsed = (now - float(cursor["started_at"])) * speed
        start = int(cursor["emitted"])
        end = start
        while end < len(records) and float(records[end]["offset_s"]) <= elapsed:
            end += 1
        published = datetime.fromtimestamp(now, self.ctx.tz)
        mentions = []
        for index in range(start, end):
            rec = records[index]
            platform = str(rec.get("platform", "weibo"))
            mentions.append(Mention(
                source=self.config.name, external_id=f"demo-{index}",
                url=f"https://demo.lantern.invalid/{platform}/{index}", title=str(rec.get("title") or ""),
                text=str(rec["text"]), published_at=published, author=str(rec.get("author") or ""),
                author_reach=int(rec["author_reach"]) if rec.get("author_reach") is not None else None,
                raw={"platform": platform, "offset_s": rec["offset_s"]},
            ))
        cursor["emitted"] = end
        yield Page(mentions, len(mentions), FetchState(cursor=json.dumps(cursor)))
