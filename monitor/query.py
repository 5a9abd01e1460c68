"""The brand query: a small boolean language deciding which fetched items are mentions.

Grammar (operators in upper case; adjacent terms are joined by AND)::

    query   := or
    or      := and ("OR" and)*
    and     := unary (["AND"] unary | "NOT" unary)*      # "A NOT B" means A AND NOT B
    unary   := "NOT" unary | primary
    primary := "(" or ")" | '"quoted phrase"' | term

Example: ``(海底捞 OR HDL) AND (老鼠 OR 食品安全) NOT 招聘``.

Matching is case-insensitive on NFKC-normalised text (full-width letters
match half-width ones).  Chinese terms match as substrings; a term made of
ASCII letters and digits only matches at word boundaries, so ``HDL`` does
not match ``HDLC``.  An empty query matches everything.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from .errors import QueryError

Predicate = Callable[[str], bool]
_OPERATORS = {"AND", "OR", "NOT"}
_TOKEN = re.compile(r'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)("?)|([^\s()"]+))')
_ASCII_WORD = re.compile(r"^[a-z0-9]+$")


def normalise_text(text: str) -> str:
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return text.lower()


@dataclass(frozen=True)
class _Tok:
    kind: str  # "(", ")", "op", "term"
    value: str
    pos: int


def _tokenise(source: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(source):
        if source[pos:].strip() == "":
            break
        m = _TOKEN.match(source, pos)
        if m is None:  # pragma: no cover - the pattern accepts any non-space run
            raise QueryError(f"查询语法错误：第 {pos + 1} 个字符无法识别 (cannot read character {pos + 1})")
        start = m.start() + (len(m.group(0)) - len(m.group(0).lstrip()))
        if m.group(1):
            tokens.append(_Tok("(", "(", start))
        elif m.group(2):
            tokens.append(_Tok(")", ")", start))
        elif m.group(3) is not None:
            if m.group(4) != '"':
                raise QueryError(f"查询语法错误：第 {start + 1} 个字符处的引号没有闭合 (unclosed quote)")
            phrase = m.group(3).replace('\\"', '"').strip()
            if not phrase:
                raise QueryError(f"查询语法错误：第 {start + 1} 个字符处是空短语 (empty phrase)")
            tokens.append(_Tok("term", phrase, start))
        else:
            word = m.group(5)
            tokens.append(_Tok("op" if word in _OPERATORS else "term", word, start))
        pos = m.end()
    return tokens


def _term(value: str) -> Predicate:
    needle = normalise_text(value)
    if _ASCII_WORD.match(needle):
        pattern = re.compile(rf"(?<![a-z0-9]){re.escape(needle)}(?![a-z0-9])")
        return lambda text: pattern.search(text) is not None
    return lambda text: needle in text


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenise(source)
        self.i = 0

    def _peek(self) -> _Tok | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _error(self, message: str, tok: _Tok | None) -> QueryError:
        where = f"第 {tok.pos + 1} 个字符" if tok else "查询末尾"
        return QueryError(f"查询语法错误：{where}{message}")

    def parse(self) -> Predicate:
        pred = self._or()
        tok = self._peek()
        if tok is not None:
            raise self._error(f"多余的 {tok.value!r} (unexpected {tok.value!r})", tok)
        return pred

    def _or(self) -> Predicate:
        parts = [self._and()]
        while (tok := self._peek()) is not None and tok.kind == "op" and tok.value == "OR":
            self.i += 1
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        return lambda text: any(p(text) for p in parts)

    def _and(self) -> Predicate:
        parts = [self._unary()]
        while (tok := self._peek()) is not None and tok.kind != ")" and not (tok.kind == "op" and tok.value == "OR"):
            if tok.kind == "op" and tok.value == "AND":
                self.i += 1
                parts.append(self._unary())
            elif tok.kind == "op" and tok.value == "NOT":
                self.i += 1
                inner = self._unary()
                parts.append(lambda text, inner=inner: not inner(text))  # type: ignore[misc]
            else:
                parts.append(self._unary())
        if len(parts) == 1:
            return parts[0]
        return lambda text: all(p(text) for p in parts)

    def _unary(self) -> Predicate:
        tok = self._peek()
        if tok is None:
            raise self._error("缺少关键词 (a term is missing)", None)
        if tok.kind == "op" and tok.value == "NOT":
            self.i += 1
            inner = self._unary()
            return lambda text: not inner(text)
        if tok.kind == "op":
            raise self._error(f"的 {tok.value} 前面缺少关键词 (a term is missing before {tok.value})", tok)
        if tok.kind == ")":
            raise self._error("多余的右括号 (unexpected ')')", tok)
        self.i += 1
        if tok.kind == "(":
            inner = self._or()
            close = self._peek()
            if close is None or close.kind != ")":
                raise self._error("缺少右括号 (missing ')')", close)
            self.i += 1
            return inner
        return _term(tok.value)


class Query:
    """A compiled brand query: ``Query("A OR B").matches(text)``."""

    def __init__(self, source: str = "") -> None:
        self.source = (source or "").strip()
        self._pred: Predicate | None = _Parser(self.source).parse() if self.source else None

    def matches(self, text: str) -> bool:
        if self._pred is None:
            return True
        return self._pred(normalise_text(text))

    def __repr__(self) -> str:
        return f"Query({self.source!r})"
