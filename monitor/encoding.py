"""Which text encoding a fetched page is in, for every source kind.

The order (first that answers wins)::

    override   the source's ``encoding`` setting (the server lies)
    bom        a UTF-8 / UTF-16 byte-order mark
    http       the Content-Type charset; a UTF-8 declaration the bytes break is not believed, and a
               Latin-1/ASCII one (a common server default) yields to the document's own declaration
    xml        ``<?xml ... encoding="gbk"?>``
    meta       ``<meta charset=...>`` / ``<meta http-equiv ... content="...; charset=...">``
    utf-8      the bytes are valid UTF-8
    detected   charset-normalizer, trying GB18030 and Big5 first (the likely ones for Chinese sources),
               then every encoding it knows; GB18030 when it has no answer

GBK and GB2312 are read as GB18030, their superset.  Undecodable bytes become
U+FFFD: decoding never fails.  The chosen encoding and its ``source`` are kept on
the source's health, so an operator sees why a page reads as it does.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_GB = {"gbk", "gb2312", "gb_2312-80", "x-gbk", "gb18030", "cp936", "euc-cn", "gb-2312", "csgb2312"}
_WEAK = {"latin-1", "iso8859-1", "cp1252", "ascii"}  # server defaults that often mean "not configured"
_META_CHARSET = re.compile(rb"""<meta[^>]{0,500}?charset\s*=\s*["']?\s*([\w.:-]{1,40})""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([\w.:-]{1,40})["']""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
DETECT_SAMPLE = 65_536  # bytes the detector looks at: enough to judge, bounded cost
CHINESE_FIRST = ("gb18030", "big5")
MAX_CHAOS = 0.2  # charset-normalizer's "mess" ratio above which a Chinese reading is not believed


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # Python codec name (gb18030, utf-8, big5, ...)
    source: str  # override | bom | http | xml | meta | utf-8 | detected


def canonical_encoding(name: str | None) -> str | None:
    """The codec name for a declared charset, GB family as gb18030; None when unknown."""
    if not name:
        return None
    name = name.strip().strip("\"'").lower()
    if name in _GB:
        return "gb18030"  # a superset of GBK and GB2312: never fails on their bytes
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _declared_in(head: bytes, markup: str) -> tuple[str, str] | None:
    patterns = [("xml", _XML_ENCODING)] + ([("meta", _META_CHARSET)] if markup == "html" else [])
    for where, pattern in patterns:
        m = pattern.search(head)
        if m and (enc := canonical_encoding(m.group(1).decode("ascii", "ignore"))):
            if enc.startswith("utf-16"):
                continue  # a UTF-16 document would have needed a BOM to be read this far as ASCII
            return enc, where
    return None


def _valid_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(body) - 3 and exc.reason == "unexpected end of data"  # a cut last character
    return True


def detect(body: bytes) -> str:
    """The encoding of undeclared, non-UTF-8 bytes: Chinese encodings first, then any; gb18030 as a last resort."""
    from charset_normalizer import from_bytes  # imported here: only undeclared non-UTF-8 pages need it

    sample = body[:DETECT_SAMPLE]
    if len(body) > DETECT_SAMPLE:  # end at an ASCII byte, so no multi-byte character is cut in two
        cut = max(sample.rfind(b"\n"), sample.rfind(b">"), sample.rfind(b" "))
        sample = sample[:cut + 1] if cut > 0 else sample
    best = from_bytes(sample, cp_isolation=list(CHINESE_FIRST)).best()
    if best is not None and best.chaos <= MAX_CHAOS:
        return canonical_encoding(best.encoding) or "gb18030"
    best = from_bytes(sample).best()
    return (canonical_encoding(best.encoding) if best is not None else None) or "gb18030"


def choose(body: bytes, declared: str | None = None, override: str = "", *, markup: str = "html") -> tuple[str, str]:
    """(encoding, how it was chosen) for ``body``; ``markup`` is ``html``, ``xml`` or ``json``."""
    if override and (enc := canonical_encoding(override)):
        return enc, "override"
    for bom, enc in _BOMS:
        if body.startswith(bom):
            return enc, "bom"
    head = body[:4096]
    in_document = _declared_in(head, markup) if markup != "json" else None
    http = canonical_encoding(declared)
    if http is not None:
        if http == "utf-8" and not _valid_utf8(body):
            pass  # a UTF-8 label on bytes that are not: look further
        elif http in _WEAK and in_document is not None and in_document[0] not in _WEAK:
            return in_document
        else:
            return http, "http"
    if in_document is not None and not (in_document[0] == "utf-8" and not _valid_utf8(body)):
        return in_document
    if _valid_utf8(body):
        return "utf-8", "utf-8"
    return detect(body), "detected"


def decode(body: bytes, declared: str | None = None, override: str = "", *, markup: str = "html") -> Decoded:
    """Text of ``body`` in the chosen encoding; undecodable bytes become U+FFFD, never an error."""
    encoding, source = choose(body, declared, override, markup=markup)
    return Decoded(body.decode(encoding, errors="replace"), encoding, source)
