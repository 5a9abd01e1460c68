"""jieba / rjieba parity: the fast tokenizer is a drop-in only if it segments like jieba."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from classifiers.tokenize import Tokenizer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "classifier"


def _texts() -> list[str]:
    rows = [r["text"] for r in csv.DictReader((FIXTURES / "heldout.csv").read_text("utf-8").splitlines())]
    bench = (FIXTURES / "bench_texts.txt").read_text("utf-8").splitlines()
    return rows + bench[:100]


def test_jieba_keeps_user_words_whole() -> None:
    tok = Tokenizer(["走马灯奶茶"], fast=False)
    assert tok.backend == "jieba"
    assert "走马灯奶茶" in tok.cut("昨天喝的走马灯奶茶有苍蝇")


def test_rjieba_parity_with_jieba() -> None:
    pytest.importorskip("rjieba")
    brands = ["走马灯奶茶", "海底捞"]
    slow, fast = Tokenizer(brands, fast=False), Tokenizer(brands, fast=True)
    assert fast.backend == "rjieba"
    texts = [*_texts(), "昨天喝的走马灯奶茶有苍蝇，海底捞后厨也被曝光了"]
    same = sum(slow.cut(t) == fast.cut(t) for t in texts)
    assert same / len(texts) >= 0.97
    for t in texts:
        assert "".join(fast.cut(t)) == t  # nothing lost or added
    assert "走马灯奶茶" in fast.cut(texts[-1]) and "海底捞" in fast.cut(texts[-1])
