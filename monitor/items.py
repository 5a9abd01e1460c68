"""Per-item checks every mention passes before it is stored, whatever its source kind.

One bad item must never cost the others: each item is checked on its own,
a refused one is reported (push answer, source health) with its reason and
the rest are stored.  :func:`check` refuses or clamps one mention:

* text fields are scrubbed: lone surrogates (``"\\ud800"`` from JSON) become
  U+FFFD, C0 control characters other than tab and newline are dropped, so
  SQLite and every consumer get valid UTF-8;
* lengths are capped (``text`` over ``MAX_TEXT`` is refused for push, cut
  for polled pages; title, author, URL and id are cut);
* ``author_reach`` is a finite number from 0 to ``MAX_REACH``, else refused;
* a ``published_at`` far in the future is clamped to the fetch time and the
  original kept as a note in ``raw``;
* ``raw`` (what the source sent) holds only JSON-safe values: nested at most
  ``MAX_RAW_DEPTH`` deep, non-finite numbers as null, at most ``MAX_RAW_CHARS``.

Pure functions, no I/O: they also run inside the parse worker process.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Any

from .errors import ItemError
from .mentions import Mention

MAX_TEXT = 50_000
MAX_TITLE = 1_000
MAX_AUTHOR = 200
MAX_URL = 2_000
MAX_ID = 500
MAX_REACH = 10_000_000_000  # more than everyone alive: anything above is garbage, not a big account
MAX_RAW_DEPTH = 32
MAX_RAW_CHARS = 100_000
FUTURE_TOLERANCE_S = 900.0  # clocks and time zones drift a little; beyond this a date is wrong
MAX_REJECTED_SHOWN = 20

_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _fix(match: re.Match[str]) -> str:
    return "\ufffd" if match.group() >= "\ud800" else ""


def scrub(text: str) -> str:
    """``text`` as valid UTF-8 without control characters (lone surrogates become U+FFFD)."""
    return _BAD_CHARS.sub(_fix, text) if _BAD_CHARS.search(text) else text


MAX_INT_DIGITS = 4_000  # Python refuses to read integers of more than 4,300 digits (a whole-document error)


def json_int(digits: str) -> int | float:
    """``parse_int`` for json.loads: an absurdly long integer reads as infinity (refused per item), not an error."""
    if len(digits) > MAX_INT_DIGITS:
        return -math.inf if digits.startswith("-") else math.inf
    return int(digits)


def reach(value: Any) -> int | None:
    """An audience size from a number or text like ``"12,000"``, ``"3.5万"``, ``"1亿"``; ItemError when bad."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ItemError("author_reach 必须是数字 (author_reach must be a number)")
    if isinstance(value, int):
        number: float = value if abs(value) <= 2 * MAX_REACH else math.copysign(2.0 * MAX_REACH, value)
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str):
        text = value.strip().replace(",", "")[:40]
        scale = 10_000 if text.endswith("万") else 100_000_000 if text.endswith("亿") else 1
        try:
            number = float(text.rstrip("万亿")) * scale
        except ValueError:
            raise ItemError(f"author_reach 必须是数字 (author_reach must be a number): {scrub(text)!r}") from None
    else:
        raise ItemError("author_reach 必须是数字 (author_reach must be a number)")
    if not math.isfinite(number):
        raise ItemError("author_reach 必须是有限的数字 (author_reach must be finite)")
    if not 0 <= number <= MAX_REACH:
        raise ItemError(f"author_reach 超出范围 0–{MAX_REACH} (author_reach out of range)")
    return int(number)


def clean_raw(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of ``value``: strings scrubbed, non-finite numbers as None; ItemError when too deep."""
    if depth > MAX_RAW_DEPTH:
        raise ItemError(f"条目嵌套过深（上限 {MAX_RAW_DEPTH} 层）(item nested too deeply)")
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {scrub(str(k)): clean_raw(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_raw(v, depth + 1) for v in value]
    return scrub(str(value))[:MAX_TITLE]


def _bounded_raw(raw: dict[str, Any]) -> dict[str, Any]:
    cleaned = clean_raw(raw)
    if len(json.dumps(cleaned, ensure_ascii=False)) <= MAX_RAW_CHARS:
        return dict(cleaned)
    # Too big to keep whole: the top-level scalars, shortened.
    small = {k: (v[:MAX_TITLE] if isinstance(v, str) else v) for k, v in cleaned.items()
             if not isinstance(v, dict | list)}
    return {**small, "_truncated": True}


def check(mention: Mention, *, now: float, tz: tzinfo, strict: bool = False) -> tuple[Mention, list[str]]:
    """(the mention as stored, notes on what was changed); ItemError when it cannot be stored.

    ``strict`` (push): an over-long text is refused instead of cut, since the sender can fix it.
    """
    notes: list[str] = []
    title = scrub(mention.title)[:MAX_TITLE]
    text = scrub(mention.text)
    if len(text) > MAX_TEXT:
        if strict:
            raise ItemError(f"text 过长（上限 {MAX_TEXT} 字）(text too long)")
        text = text[:MAX_TEXT]
        notes.append("text_truncated")
    text = text or title
    if not text.strip():
        raise ItemError("缺少 text 或 title (text or title is required)")
    author_reach = reach(mention.author_reach)
    published = mention.published_at
    try:
        stamp = published.timestamp()
    except (OverflowError, OSError, ValueError):
        stamp = math.nan
    raw = dict(mention.raw)
    if not math.isfinite(stamp) or stamp > now + FUTURE_TOLERANCE_S:
        raw["_published_at_given"] = published.isoformat() if math.isfinite(stamp) else str(published)
        published = datetime.fromtimestamp(now, tz)
        notes.append("published_at_clamped")
    if notes:
        raw["_notes"] = notes
    cleaned = replace(
        mention, external_id=scrub(mention.external_id)[:MAX_ID], url=scrub(mention.url)[:MAX_URL], title=title,
        text=text, author=scrub(mention.author)[:MAX_AUTHOR], channel=scrub(mention.channel)[:MAX_AUTHOR],
        author_reach=author_reach, published_at=published,
        raw=_bounded_raw(raw))
    return cleaned, notes


@dataclass(frozen=True)
class Rejected:
    """One refused item: which one (index in a push, id or title in a page) and why."""

    item: str | int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"item": self.item, "reason": self.reason}


def label(mention: Mention) -> str:
    """How a refused polled item is named on the source's health."""
    return scrub(mention.external_id or mention.url or mention.title or "?")[:120]


NOTE_TEXT = {
    "published_at_clamped": "条发布时间晚于抓取时间，已按抓取时间记录 (future dates clamped to the fetch time)",
    "text_truncated": "条正文过长已截断 (over-long texts cut)",
}


def describe_notes(counts: dict[str, int]) -> list[str]:
    """Human lines for the notes of a page: ``{"published_at_clamped": 3}`` -> ``["3 条发布时间…"]``."""
    return [f"{n} {NOTE_TEXT.get(key, key)}" for key, n in sorted(counts.items()) if n]
