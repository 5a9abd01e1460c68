"""Pure helpers that turn what sources give into normalised mention fields.

* :func:`normalise_url` — the key for exact dedupe of links;
* :func:`parse_time` — every time format seen in feeds, APIs and Chinese pages, timezone-aware;
* :func:`html_to_text` — readable text out of an HTML fragment.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING = re.compile(r"^(utm_\w+|spm|from|ref|refer|share_\w+|wfr|sourcetype|s_trans|s_channel|isappinstalled|"
                       r"scene|clicktime|enterid|timestamp|_t|t)$", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_url(url: str) -> str:
    """Scheme-less, lower-case host, no default port, no fragment, no tracking parameters, sorted query."""
    url = (url or "").strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    if not parts.netloc:
        return url
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    if port and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k))
    path = parts.path.rstrip("/") or "/"
    return urlunsplit(("", host, path, urlencode(query), "")).lstrip("/")


_RFC822 = re.compile(r"^(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{1,2}:\d{2}(?::\d{2})?)\s+"
                     r"(GMT|UTC|Z|[+-]\d{4})$")
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                       "dec"), start=1)}
_RELATIVE = re.compile(r"^(\d+)\s*(秒|分钟|小时|天|周)前$")
_UNITS = {"秒": 1, "分钟": 60, "小时": 3600, "天": 86400, "周": 7 * 86400}
_CN_DATE = re.compile(r"^(?:(\d{4})[年/.-])?(\d{1,2})[月/.-](\d{1,2})日?(?:\s*(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
MAX_TIME_CHARS = 80  # no time format is longer; a longer value is not a time
_TODAY = re.compile(r"^(今天|昨天|前天)\s*(\d{1,2}):(\d{2})$")


def parse_time(value: object, *, now: float, tz: tzinfo) -> datetime | None:
    """A timezone-aware datetime from ``value``, or None when it cannot be read.

    Naive times are taken to be in ``tz`` (Asia/Shanghai by default).  Numbers
    are epoch seconds (or milliseconds when too large to be seconds).
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value) / 1000.0 if value > 1e11 else float(value)
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if len(text) > MAX_TIME_CHARS:
        return None
    if re.fullmatch(r"\d{9,13}(\.\d+)?", text):
        return parse_time(float(text), now=now, tz=tz)
    if m := _RFC822.match(text):  # the feed format, parsed without email.utils' generality
        month = _MONTHS.get(m.group(2).lower())
        zone = m.group(5)
        offset = (UTC if zone in ("GMT", "UTC", "Z") else
                  timezone(timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * (-1 if zone[0] == "-" else 1))
                  if zone[0] in "+-" else None)
        if month and offset is not None:
            try:
                hh, mm, ss = (int(x) for x in [*m.group(4).split(":"), "0"][:3])
                return datetime(int(m.group(3)), month, int(m.group(1)), hh, mm, ss, tzinfo=offset)
            except ValueError:
                return None
    current = datetime.fromtimestamp(now, tz)
    if text in {"刚刚", "just now"}:
        return current
    if m := _RELATIVE.match(text):
        return current - timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    if m := _TODAY.match(text):
        day = current - timedelta(days={"今天": 0, "昨天": 1, "前天": 2}[m.group(1)])
        return day.replace(hour=int(m.group(2)), minute=int(m.group(3)), second=0, microsecond=0)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    except ValueError:
        pass
    try:
        parsed = parsedate_to_datetime(text)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    except (TypeError, ValueError, IndexError):
        pass
    try:  # the Weibo API: "Mon Nov 23 17:20:11 +0800 2026"
        return datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        pass
    if m := _CN_DATE.match(text):
        year = int(m.group(1)) if m.group(1) else current.year
        try:
            return datetime(year, int(m.group(2)), int(m.group(3)), int(m.group(4) or 0), int(m.group(5) or 0),
                            int(m.group(6) or 0), tzinfo=tz)
        except ValueError:
            return None
    return None


_SPACES = re.compile(r"[ \t\r\f\v\u3000\xa0]+")


def collapse(text: str) -> str:
    """Runs of spaces as one space, one newline between non-blank lines, no blank lines.

    Linear in the text's length (no pattern that can backtrack over a long run of whitespace).
    """
    lines = (line.strip() for line in _SPACES.sub(" ", text).split("\n"))
    return "\n".join(line for line in lines if line)


_HIDDEN = re.compile(r"<(script|style)\b|<!--", re.IGNORECASE)
_HIDDEN_END = {"script": re.compile(r"</script\s*>", re.IGNORECASE),
               "style": re.compile(r"</style\s*>", re.IGNORECASE), "": re.compile("-->")}
# [^<>]* rather than [^>]*: an attempt stops at the next "<", so "<a<a<a..." costs linear time, not quadratic.
_BREAK = re.compile(r"</?(?:br|p|div|li|tr|h[1-6])\b[^<>]*>", re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")


def visible_markup(fragment: str) -> str:
    """``fragment`` without scripts, styles and comments; an unclosed one hides the rest, as in a browser."""
    out: list[str] = []
    pos = 0
    while (m := _HIDDEN.search(fragment, pos)) is not None:
        out.append(fragment[pos:m.start()])
        end = _HIDDEN_END[(m.group(1) or "").lower()].search(fragment, m.end())
        if end is None:
            return "".join(out)
        pos = end.end()
    out.append(fragment[pos:])
    return "".join(out)


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment (scripts, styles, comments dropped; block breaks kept).

    Regular expressions rather than a DOM: feed descriptions are small
    fragments, and this runs for every item of every poll.  ``a < b`` in the
    text survives because only ``<letter`` or ``</letter`` starts a tag.  Every
    step is linear in the fragment's length, whatever it holds.
    """
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:
        return collapse(fragment)
    text = _TAG.sub("", _BREAK.sub("\n", visible_markup(fragment)))
    return collapse(html.unescape(text))
