"""``lantern train`` and ``lantern eval --protocol``: the sentiment model against the validation protocol.

Both read the corpora of ``shared/data`` (see its MANIFEST), build the
validation protocol of :mod:`classifiers.protocol` (the organisers' SMP2020
eval splits plus a fixed tenth of weibo2018, everything else de-duplicated
against them), fit the reference recipe on the same data and print the table
of the model beside it.  ``train`` keeps the new model only if it beats the
reference on every validation set (``--force`` keeps it anyway).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from web.cli.corpus_files import data_dir_of, read_protocol
from web.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="retrain the sentiment model from labelled corpora")
    p.add_argument("--data", metavar="DIR", help="directory holding the corpora (default: ../shared/data)")
    p.add_argument("--out", metavar="DIR", help="where to write the model (default: the shipped model dir)")
    p.add_argument("--no-reference", action="store_true",
                   help="do not fit the reference recipe (faster; the model is kept without the comparison)")
    p.add_argument("--force", action="store_true", help="keep the model even if it does not beat the reference")
    p.add_argument("--encoder", action="store_true",
                   help="fine-tune the optional encoder second stage into OUT/encoder (needs the encoder extra, "
                        "--out; m3e-small is licensed for non-commercial research use only)")
    p.add_argument("--encoder-examples", type=int, metavar="N", help="with --encoder: training posts (default 40000)")
    p.set_defaults(func=cmd_train)


def compare_to_reference(model: Any, protocol: Any, config: Any) -> list[Any]:
    from classifiers.protocol import compare, fit_reference

    print("fitting the reference recipe (char TF-IDF 1-3 + LR C=4) on the same data...", file=sys.stderr)
    reference = fit_reference(protocol.train, config.weights, config.default_weight, config.neutral_weight)
    return compare(lambda texts: model.predict(texts)[0], reference, protocol.validation)


def cmd_train(args: argparse.Namespace) -> int:
    if args.encoder:
        from web.cli.train_encoder import cmd_train_encoder

        return cmd_train_encoder(args)
    from tqdm import tqdm

    from classifiers.model import shipped_model_dir
    from classifiers.protocol import format_table
    from classifiers.train import TRAIN_STEPS, TrainConfig, train

    protocol, files = read_protocol(data_dir_of(args.data))
    config = TrainConfig()
    with tqdm(total=TRAIN_STEPS, unit="step", file=sys.stderr) as bar:

        def progress(msg: str) -> None:
            bar.set_description(msg)
            bar.update(1)

        model, report = train(protocol.train, protocol.validation, config, progress)
    rows = [] if args.no_reference or not protocol.validation else compare_to_reference(model, protocol, config)
    if rows:
        print(format_table(rows))
        model.info["protocol"] = [
            {"set": r.name, "n": r.n, "accuracy": round(r.accuracy, 4), "negative_f1": round(r.negative_f1, 4),
             "reference_accuracy": round(r.ref_accuracy, 4), "reference_negative_f1": round(r.ref_negative_f1, 4)}
            for r in rows
        ]
    _print_report(report)
    if rows and not all(r.beats for r in rows) and not args.force:
        losing = ", ".join(r.name for r in rows if not r.beats)
        print(f"not kept: the model does not beat the reference on {losing} (--force keeps it)", file=sys.stderr)
        return 1
    from importlib.metadata import PackageNotFoundError, version

    try:
        model.info["lantern_version"] = version("lantern")
    except PackageNotFoundError:
        model.info["lantern_version"] = "unknown"
    model.info["corpora"] = files
    model.info["duplicates_removed"] = protocol.dropped
    out = Path(args.out) if args.out else shipped_model_dir()
    model.save(out)
    print(f"model written to {out}", file=sys.stderr)
    return 0


def cmd_protocol(args: argparse.Namespace) -> int:
    """``lantern eval --protocol``: the table of the model (``--model`` or shipped) beside the reference."""
    from classifiers.model import SentimentModel
    from classifiers.protocol import format_table
    from classifiers.train import TrainConfig

    protocol, _ = read_protocol(data_dir_of(args.data))
    if not protocol.validation:
        raise ConfigError("no validation sets found (smp2020_*_eval.json, weibo2018_train.csv)")
    model = SentimentModel.load(args.model)
    trained = model.info.get("training", {}).get("config", {})
    defaults = TrainConfig()
    config = TrainConfig(weights=trained.get("weights") or defaults.weights,
                         default_weight=float(trained.get("default_weight", defaults.default_weight)),
                         neutral_weight=float(trained.get("neutral_weight", 0.0)))
    rows = compare_to_reference(model, protocol, config)
    print(format_table(rows))
    if not all(r.beats for r in rows):
        print("the model does NOT beat the reference on every validation set", file=sys.stderr)
        return 1
    return 0


def _print_report(report: dict[str, Any]) -> None:
    for name, entry in report.get("validation", {}).items():
        b = entry["binary"]
        line = f"{name:<20} n={b['n']:<6} binary acc={b['accuracy']:.4f} neg-F1={b['negative_f1']:.4f}"
        if "three_class" in entry:
            t = entry["three_class"]
            line += f"  3-class acc={t['accuracy']:.4f} macro-F1={t['macro_f1']:.4f}"
        print(line)
