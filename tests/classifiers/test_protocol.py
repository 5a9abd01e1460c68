"""The validation protocol (#13): splits, de-duplication, the reference beside the model, the CLI."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from classifiers import Classifier, Correction, load_adapted, save_overlay
from classifiers.corpora import NEGATIVE, NEUTRAL, POSITIVE, Example, parse_weibo2018
from classifiers.protocol import WEIBO2018_SET, Row, binary_rows, build, dedupe_key, format_table
from web.cli import classify as classify_cmd
from web.cli import train as train_cmd

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "classifier"
EVAL_ROWS = [
    ("客服态度太差了，气死我了", "angry"), ("排队两小时还没吃上，烦死了", "angry"), ("又被骗了，难过", "sad"),
    ("今天收到礼物，好开心[哈哈]", "happy"), ("宝宝好可爱，幸福", "happy"), ("明天下午三点开会", "neutral"),
    ("太好吃了，强烈推荐", "happy"), ("快递丢了没人管，垃圾", "angry"), ("好怕疫情又来", "fear"),
    ("居然下雪了", "surprise"),
]


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    classify_cmd.register(sub)
    train_cmd.register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


def _data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "data", data)
    rows = [{"id": i, "content": f"{t}{'！' * (i % 3)}", "label": lab} for i, (t, lab) in enumerate(EVAL_ROWS * 3)]
    (data / "smp2020_usual_eval.json").write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
    return data


def test_build_splits_weibo2018_and_removes_duplicates() -> None:
    weibo = [Example(f"微博第{chr(0x4E00 + n)}条：{'好开心' if n % 2 else '气死了'}", NEGATIVE, "weibo2018")
             for n in range(40)]
    evals = [Example("客服态度太差了！", NEGATIVE, "smp2020_usual"), Example("明天开会", NEUTRAL, "smp2020_usual")]
    corpora = {
        "weibo2018_train.csv": weibo,
        "smp2020_usual_train.json": [Example("客服态度 太差了。。", NEGATIVE, "smp2020_usual"),  # a validation post
                                     Example("好吃，推荐", POSITIVE, "smp2020_usual")],
        "waimai_10k.csv": [Example("好吃，推荐！", POSITIVE, "waimai"), Example("难吃", NEGATIVE, "waimai")],
    }
    p = build(corpora, {"smp2020_usual_eval.json": evals})
    assert set(p.validation) == {"smp2020_usual_eval", WEIBO2018_SET}
    held = p.validation[WEIBO2018_SET]
    assert len(held) == 4 and build(corpora, {}).validation[WEIBO2018_SET] == held  # fixed by the seed
    texts = [e.text for e in p.train]
    assert not {dedupe_key(e.text) for e in held} & {dedupe_key(t) for t in texts}
    assert "客服态度 太差了。。" not in texts and "好吃，推荐" in texts and "好吃，推荐！" not in texts
    assert p.dropped == {"empty": 0, "duplicate in training": 1, "duplicate of a validation post": 1}
    assert len(p.train) == 36 + 1 + 1
    # neutral posts are left out of negative-vs-not scores
    texts, negative = binary_rows(evals)
    assert texts == ["客服态度太差了！"] and negative.tolist() == [True]


def test_table_says_when_the_model_loses() -> None:
    rows = [Row("a", 10, 0.9, 0.8, 0.85, 0.7), Row("b", 20, 0.9, 0.8, 0.9, 0.7)]
    table = format_table(rows)
    assert "| a | 10 | 90.0 | 85.0 | 0.800 | 0.700 | yes |" in table
    assert "| b | 20 | 90.0 | 90.0 | 0.800 | 0.700 | NO |" in table  # a tie is no win


def test_train_and_eval_protocol_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, out = _data(tmp_path), tmp_path / "model"
    rc = _run(["train", "--data", str(data), "--out", str(out)])
    printed = capsys.readouterr()
    assert "| smp2020_usual_eval | 24 |" in printed.out and f"| {WEIBO2018_SET} | 6 |" in printed.out
    table_rows = [line for line in printed.out.splitlines() if line.startswith(("| smp2020", "| weibo2018"))]
    beats = len(table_rows) == 2 and all(line.endswith("| yes |") for line in table_rows)
    # a model that does not beat the reference everywhere is not kept
    assert (rc == 0) == (out / "model.json").is_file()
    if rc:
        assert "not kept" in printed.err and not beats
        assert _run(["train", "--data", str(data), "--out", str(out), "--force"]) == 0
        capsys.readouterr()
    meta = json.loads((out / "model.json").read_text("utf-8"))
    assert {r["set"] for r in meta["info"]["protocol"]} == {"smp2020_usual_eval", WEIBO2018_SET}
    # two fixture training posts repeat validation posts (太好吃了，强烈推荐 ...): they were left out
    assert meta["info"]["duplicates_removed"]["duplicate of a validation post"] == 2
    rc = _run(["eval", "--protocol", "--data", str(data), "--model", str(out)])
    table = capsys.readouterr().out
    assert table.startswith("| validation set |") and "| smp2020_usual_eval | 24 |" in table
    assert rc == (0 if "| NO |" not in table else 1)


def test_corrections_survive_retraining(tmp_path: Path) -> None:
    data, out = _data(tmp_path), tmp_path / "model"
    assert _run(["train", "--data", str(data), "--out", str(out), "--no-reference"]) == 0
    text = "这家店的东西一般般吧，就那样"
    base = Classifier.load(out)
    target = "positive" if base.classify(text).sentiment == "negative" else "negative"
    save_overlay([Correction(text, "sentiment", target, "manager")], out)
    assert load_adapted(out).classify(text).sentiment == target
    # retrain on other data into the same directory: the new model, the same corrections
    (data / "waimai_10k.csv").unlink()
    assert _run(["train", "--data", str(data), "--out", str(out), "--no-reference"]) == 0
    retrained = load_adapted(out)
    assert retrained.model.neg_coef.tolist() != base.model.neg_coef.tolist()
    assert retrained.overlay is not None and retrained.classify(text).sentiment == target
    assert "人工校正" in retrained.classify(text).reasons[0]
    # the shipped model honours corrections kept elsewhere too
    assert load_adapted(overlay_dir=out).classify(text).sentiment == target


def test_weibo2018_parser_keeps_file_order() -> None:
    content = (FIXTURES / "data" / "weibo2018_train.csv").read_text("utf-8")
    rows = parse_weibo2018(content)
    assert rows[0].text.startswith("哈哈，恶心") and len(rows) == 60
