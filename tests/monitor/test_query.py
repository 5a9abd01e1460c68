"""The brand query language: precedence, phrases, NOT, errors with positions."""

from __future__ import annotations

import pytest

from monitor.errors import QueryError
from monitor.query import Query

BRAND = "(海底捞 OR HDL) AND (老鼠 OR 食品安全) NOT 招聘"


@pytest.mark.parametrize(("text", "expected"), [
    ("海底捞后厨有老鼠", True),
    ("HDL 门店食品安全问题", True),
    ("hdl 门店食品安全问题", True),  # case-insensitive
    ("ＨＤＬ 老鼠", True),  # full-width letters are normalised
    ("海底捞 老鼠 招聘后厨", False),  # NOT excludes
    ("海底捞服务真好", False),  # second group missing
    ("老鼠 食品安全", False),  # brand missing
    ("HDLC 协议 老鼠", False),  # ASCII terms match whole words only
])
def test_brand_query(text: str, expected: bool) -> None:
    assert Query(BRAND).matches(text) is expected


def test_or_binds_looser_than_and_and_implicit_and() -> None:
    q = Query("a b OR c")  # (a AND b) OR c
    assert q.matches("a b")
    assert q.matches("c")
    assert not q.matches("a")


def test_quoted_phrase_and_leading_not() -> None:
    q = Query('"过期 食材" NOT 广告')
    assert q.matches("发现过期 食材")
    assert not q.matches("过期的食材")
    assert not q.matches("过期 食材 广告")
    assert Query("NOT 招聘").matches("鲜味楼好吃")
    assert not Query("NOT 招聘").matches("鲜味楼招聘")


def test_empty_query_matches_everything() -> None:
    assert Query("").matches("anything")
    assert Query("   ").matches("")


@pytest.mark.parametrize(("source", "fragment"), [
    ("(a OR b", "缺少右括号"),
    ("a OR", "缺少关键词"),
    ("AND a", "第 1 个字符"),
    ('a "unclosed', "引号没有闭合"),
    ("a )", "第 3 个字符"),
    ("()", "右括号"),
    ('""', "空短语"),
])
def test_syntax_errors_are_clear(source: str, fragment: str) -> None:
    with pytest.raises(QueryError) as info:
        Query(source)
    assert fragment in str(info.value)
