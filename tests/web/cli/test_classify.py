"""``lantern classify`` / ``train`` / ``eval`` called through their argparse registration."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from classifiers import Classifier
from web.cli import classify as cmd
from web.cli import train as train_cmd

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "classifier"


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cmd.register(sub)
    train_cmd.register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_classify_stream_skips_empty_lines() -> None:
    clf = Classifier.load()
    out = io.StringIO()
    raw = "客服态度太差了，我要投诉\n\n   \n今天好开心\ufffd\n".encode()
    n = cmd.classify_stream(clf, io.TextIOWrapper(io.BytesIO(raw + b"\xff\xfe\n"), encoding="utf-8",
                                                 errors="replace"), out)
    lines = out.getvalue().splitlines()
    assert n == len(lines) == 3
    first = json.loads(lines[0])
    assert first["sentiment"] == "negative" and "service" in first["categories"]


def test_eval_prints_scores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "tiny.csv"
    rows = ["review,label", "太差了，再也不来了,0", "非常好吃，强烈推荐,1", "服务态度恶劣，差评,0", "开心，好评,1"]
    f.write_text("\n".join(rows) + "\n", "utf-8")
    assert _run(["eval", str(f), "--text-col", "review", "--label-col", "label"]) == 0
    out = capsys.readouterr().out
    assert "accuracy=1.0000" in out and "macro_f1=" in out
    assert "negative" in out and "confusion" in out


def test_eval_json_three_class(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "tiny.json"
    rows = [{"c": "气死了，垃圾服务", "l": "angry"}, {"c": "太开心了[哈哈]", "l": "happy"},
            {"c": "明天下午三点开会", "l": "neutral"}]
    f.write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
    assert _run(["eval", str(f), "--text-col", "c", "--label-col", "l"]) == 0
    assert "three classes" in capsys.readouterr().out


def test_train_on_tiny_fixture(tmp_path: Path) -> None:
    out = tmp_path / "model"
    assert _run(["train", "--data", str(FIXTURES / "data"), "--out", str(out), "--no-reference"]) == 0
    assert (out / "model.json").is_file() and (out / "weights.npz").is_file()
    clf = Classifier.load(out)
    result = clf.classify("垃圾，用两天就坏了")
    assert result.sentiment in ("negative", "neutral", "positive")
    meta = json.loads((out / "model.json").read_text("utf-8"))
    assert meta["info"]["training"]["examples"]["deduplicated"] > 100
