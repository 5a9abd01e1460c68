"""Issue #11 point 2 (and the truncated-feed part of point 8): every source kind reads undeclared GBK/Big5,
says on its health which encoding it chose and why, and a cut-off feed stores what it holds with a warning."""

from __future__ import annotations

import codecs
from typing import Any

import pytest

pytest.importorskip("charset_normalizer", reason="a dependency since #11: pip install -e .")

from monitor.encoding import choose, decode
from tests.support_monitor import FeedServer, Route
from tests.web.api.test_monitor import api  # noqa: F401 - the fixture

SIMPLIFIED = "鲜味楼望京店被曝后厨老鼠乱窜，顾客投诉食材过期，门店经理拒绝退款，消费者协会已介入调查此事。"
TRADITIONAL = "鮮味樓望京店被曝後廚老鼠亂竄，顧客投訴食材過期，門店經理拒絕退款，消費者協會已介入調查此事。"


def rss(text: str, *, declaration: str = '<?xml version="1.0"?>', items: int = 3, site: str = "news") -> str:
    entries = "".join(f"<item><title>{text[:12]} #{i}</title><link>https://{site}.example.cn/{i}</link>"
                      f"<description>{text} No.{i}</description></item>" for i in range(items))
    return f'{declaration}<rss version="2.0"><channel><title>News</title>{entries}</channel></rss>'


def test_the_order_of_evidence() -> None:
    gbk = SIMPLIFIED.encode("gbk")
    assert choose(gbk, None, "gbk") == ("gb18030", "override")
    assert choose(codecs.BOM_UTF8 + b"x", "gbk") == ("utf-8-sig", "bom")
    assert choose("鲜".encode("utf-16"), None)[1] == "bom"
    assert choose(gbk, "GB2312") == ("gb18030", "http")
    assert choose(b'<?xml version="1.0" encoding="GBK"?><rss/>', None, markup="xml") == ("gb18030", "xml")
    assert choose(b'<html><head><meta charset="gb2312">' + gbk, None) == ("gb18030", "meta")
    assert choose(b'<meta http-equiv="Content-Type" content="text/html; charset=big5">', None) == ("big5", "meta")
    assert choose(b'<meta charset="gbk">', None, markup="xml") == ("utf-8", "utf-8")  # no meta in XML
    # A server's Latin-1 default yields to the page's own declaration; a UTF-8 label on GBK bytes is not believed.
    assert choose(b'<meta charset="gbk">' + gbk, "iso-8859-1") == ("gb18030", "meta")
    assert choose(gbk, "utf-8") == ("gb18030", "detected")
    assert choose(SIMPLIFIED.encode("utf-8"), None) == ("utf-8", "utf-8")
    assert choose(SIMPLIFIED.encode("utf-8")[:-1], None) == ("utf-8", "utf-8")  # a cut last character
    assert choose(gbk, None) == ("gb18030", "detected")
    assert choose(TRADITIONAL.encode("big5"), None) == ("big5", "detected")
    assert choose(TRADITIONAL.encode("big5") * 3000, None) == ("big5", "detected")  # over the detector's sample
    latin = ("Crème brûlée à la française, très délicieux et très apprécié. " * 10).encode("latin-1")
    encoding, how = choose(latin, None)
    assert how == "detected" and encoding not in ("gb18030", "big5")  # a European text is not read as Chinese
    assert "française, très délicieux" in decode(latin).text.replace("č", "è")  # cp1250 and latin-1 differ in è
    assert decode(b"\xff\xfe\xfa broken \x81", "utf-8").text  # never an error


@pytest.mark.parametrize(("kind", "payload", "content_type", "stored", "encoding"), [
    ("rss", rss(SIMPLIFIED).encode("gbk"), "application/rss+xml", SIMPLIFIED, "gb18030"),
    ("rss", rss(TRADITIONAL).encode("big5"), "text/xml", TRADITIONAL, "big5"),
    ("html", ("<html><body><ul>" + "".join(f'<li><a href="/{i}">{SIMPLIFIED} {i}</a></li>' for i in range(3))
              + "</ul></body></html>").encode("gbk"), "text/html", SIMPLIFIED, "gb18030"),
    ("json", ('{"items": [' + ",".join(f'{{"id": "{i}", "text": "{SIMPLIFIED} {i}"}}' for i in range(3))
              + "]}").encode("gbk"), "application/json", SIMPLIFIED, "gb18030"),
])
async def test_undeclared_chinese_encodings_are_detected_for_every_kind(api: Any, kind: str,  # noqa: F811
                                                                       payload: bytes, content_type: str,
                                                                       stored: str, encoding: str) -> None:
    client, tokens, _ = api
    options = {"html": {"item": "li", "title": "a"}, "json": {"items": "items"}}.get(kind, {})
    async with FeedServer() as srv:
        srv.routes["/x"] = Route(body=payload, headers={"Content-Type": content_type})  # no charset anywhere
        body = {"name": "src", "kind": kind, "url": srv.url("/x"), "query": "鲜味楼 OR 鮮味樓", **options}
        assert (await client.post("/api/sources", json=body, headers=tokens["manager"])).status == 201
        result = (await (await client.post("/api/sources/src/poll", headers=tokens["manager"])).json())["result"]
    assert result["ok"] and result["new"] == 3 and result["filtered"] == 0, result  # the brand query matched
    rows = await (await client.get("/api/mentions?source=src", headers=tokens["manager"])).json()
    assert all(stored in m["text"] for m in rows["items"])
    listed = await (await client.get("/api/sources", headers=tokens["manager"])).json()
    health = listed["items"][-1]["health"]
    assert (health["encoding"], health["encoding_source"]) == (encoding, "detected")


async def test_declared_and_overridden_encodings_are_shown_with_their_origin(api: Any) -> None:  # noqa: F811
    client, tokens, _ = api
    declared = rss(SIMPLIFIED, declaration='<?xml version="1.0" encoding="GB2312"?>').encode("gbk")
    async with FeedServer() as srv:
        srv.routes["/decl"] = Route(body=declared, headers={"Content-Type": "application/rss+xml"})
        srv.routes["/lying"] = Route(body=rss(SIMPLIFIED, site="other").encode("gbk"),
                                     headers={"Content-Type": "application/rss+xml; charset=utf-8"})
        for name, extra in (("decl", {}), ("lying", {"encoding": "gbk"})):
            body = {"name": name, "kind": "rss", "url": srv.url(f"/{name}"), "query": "鲜味楼", **extra}
            assert (await client.post("/api/sources", json=body, headers=tokens["manager"])).status == 201
            result = (await (await client.post(f"/api/sources/{name}/poll", headers=tokens["manager"])).json())
            assert result["result"]["new"] == 3, result
    listed = {s["name"]: s["health"] for s in (await (await client.get(
        "/api/sources", headers=tokens["manager"])).json())["items"]}
    assert (listed["decl"]["encoding"], listed["decl"]["encoding_source"]) == ("gb18030", "xml")
    assert (listed["lying"]["encoding"], listed["lying"]["encoding_source"]) == ("gb18030", "override")


async def test_a_truncated_feed_stores_what_parsed_and_warns(api: Any) -> None:  # noqa: F811
    client, tokens, _ = api
    whole = rss(SIMPLIFIED, items=5).encode("utf-8")
    cut = whole[:whole.index(b"No.3")]  # the connection dropped inside the fourth item
    async with FeedServer() as srv:
        srv.routes["/feed"] = Route(body=cut)
        body = {"name": "cut", "kind": "rss", "url": srv.url("/feed"), "query": "鲜味楼"}
        assert (await client.post("/api/sources", json=body, headers=tokens["manager"])).status == 201
        result = (await (await client.post("/api/sources/cut/poll", headers=tokens["manager"])).json())["result"]
        assert result["ok"] and result["new"] >= 3 and "不完整" in result["warning"], result
        listed = await (await client.get("/api/sources", headers=tokens["manager"])).json()
        health = next(s for s in listed["items"] if s["name"] == "cut")["health"]
        assert health["status"] == "warning" and "不完整" in health["warning"]
        srv.routes["/feed"] = Route(body=whole)  # whole again: the warning goes away
        result = (await (await client.post("/api/sources/cut/poll", headers=tokens["manager"])).json())["result"]
        assert result["ok"] and not result["warning"], result
        listed = await (await client.get("/api/sources", headers=tokens["manager"])).json()
        assert next(s for s in listed["items"] if s["name"] == "cut")["health"]["status"] == "ok"
