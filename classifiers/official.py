"""Official statements: a brand's (or an authority's) own words are not public negativity.

A brand's apology (致歉声明, "给大家带来不便深表歉意") reads negative to a
sentiment model, and inside an incident it would inflate the share of negative
posts exactly when the brand responds.  :func:`is_official` marks such posts;
the classification keeps its sentiment (the text *is* sorry) and carries
``official=True``, and the incident's negative share leaves them out.

A post is official when its author's own words are a statement:

* the author is one of the brand's accounts (its name holds a brand name and
  an account word such as 官方/官微/客服/旗舰店, or is exactly a brand name); or
* the text (outside any repost chain) opens like a statement (声明/致歉/情况说明/
  公告 in its first 40 characters) and speaks for the company (我司/本公司/
  "给大家带来…", "深表歉意").

A repost chain (``诚意呢？//@某品牌官方微博: 致歉声明…``) belongs to the
reposter: with words of their own it is official only if the reposter is the
brand; a bare repost of a brand account's statement spreads the statement and
is official too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_ACCOUNT = re.compile(r"官方|官微|客服|旗舰店|服务号|公关|发布")
_STATEMENT = re.compile(r"声明|致歉|道歉信|情况说明|情况通报|公告|说明函|致消费者")
_SPEAKS_FOR = re.compile(
    r"我司|本公司|我公司|本店|本品牌|我们(深表|诚挚|郑重|非常抱歉|高度重视|已|将)|"
    r"给(大家|您|广大|各位)[^,，。]{0,10}(带来|造成)|深表歉意|诚挚(的)?歉意|郑重道歉"
)
_CHAIN = re.compile(r"//\s*@([^:：\s]{1,30})\s*[:：]")
_WORD = re.compile(r"\w")


def is_brand_account(author: str | None, brands: Sequence[str]) -> bool:
    """An account of one of ``brands``: its name holds the brand and an account word, or is the brand."""
    if not author:
        return False
    name = author.strip().lstrip("@")
    return any(b and b in name and (name == b or _ACCOUNT.search(name) is not None) for b in brands)


def is_statement(text: str) -> bool:
    """Opens like a statement and speaks for the company (see the module docstring)."""
    return _STATEMENT.search(text[:40]) is not None and _SPEAKS_FOR.search(text) is not None


def is_official(text: str, author: str | None, brands: Sequence[str]) -> bool:
    """Whether ``text`` (posted by ``author``) is an official statement rather than public opinion."""
    chain = _CHAIN.search(text)
    if chain is None:
        return is_brand_account(author, brands) or is_statement(text)
    own = text[: chain.start()].strip()
    if len(_WORD.findall(own)) >= 2 and own not in ("转发微博", "转发"):
        return is_brand_account(author, brands)
    quoted = text[chain.end():].split("//@", 1)[0]
    return is_brand_account(author, brands) or (
        is_brand_account(chain.group(1), brands) or is_statement(quoted.strip())
    )
