"""``lantern classify`` / ``train`` / ``eval``: thin wrappers over :mod:`classifiers`.

``classify`` reads one text per line on stdin and writes one JSON object per
line.  ``eval`` scores the model on any labelled CSV, TSV or JSON file, or
(``--protocol``) on the validation protocol beside the reference recipe.
``train`` lives in :mod:`.train`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from web.cli._common import add_config_argument, settings_from
from web.errors import ConfigError

NEGATIVE_LABELS = {"0", "-1", "neg", "negative", "负面", "消极", "angry", "sad", "fear", "disgust"}
NEUTRAL_LABELS = {"neutral", "中性", "surprise", "2"}
POSITIVE_LABELS = {"1", "pos", "positive", "正面", "积极", "happy", "like"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("classify", help="classify texts from stdin (one per line) to JSON lines")
    add_config_argument(p)
    p.add_argument("--model", metavar="DIR", help="model directory (default: classifier.model_path or shipped)")
    p.add_argument("--brand", action="append", default=[], help="brand/product name for the tokenizer")
    p.add_argument("--source-name", help="outlet or account the texts come from (for the tier)")
    p.set_defaults(func=cmd_classify)

    p = subparsers.add_parser("eval", help="score the model on a labelled CSV / TSV / JSON file, or --protocol")
    add_config_argument(p)
    p.add_argument("file", metavar="FILE", nargs="?")
    p.add_argument("--text-col", help="column (name, or 0-based index for headerless files)")
    p.add_argument("--label-col", help="column of the labels")
    p.add_argument("--protocol", action="store_true",
                   help="the validation protocol: the model beside the reference recipe on each validation set")
    p.add_argument("--data", metavar="DIR", help="with --protocol: the corpora directory (default: ../shared/data)")
    p.add_argument("--model", metavar="DIR")
    p.add_argument("--negative-labels", help="comma-separated label values meaning negative (overrides)")
    p.set_defaults(func=cmd_eval)


def _load_classifier(args: argparse.Namespace) -> Any:
    """The configured classifier ([tier] policy, brands) with managers' saved corrections."""
    from web.classifier import load_classifier, overlay_dir

    settings = settings_from(args)
    return load_classifier(settings, extra_brands=getattr(args, "brand", []),
                           model_path=getattr(args, "model", None), corrections_dir=overlay_dir(settings))


def cmd_classify(args: argparse.Namespace) -> int:
    from classifiers import Signals

    classifier = _load_classifier(args)
    signals = Signals(source_name=args.source_name) if args.source_name else None
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline=None)
    classify_stream(classifier, stdin, sys.stdout, signals)
    return 0


def classify_stream(classifier: Any, lines: TextIO, out: TextIO, signals: Any = None) -> int:
    n = 0
    for line in lines:
        text = line.strip()
        if not text:
            continue
        result = classifier.classify(text, signals)
        out.write(json.dumps(result.as_dict(), ensure_ascii=False) + "\n")
        out.flush()
        n += 1
    return n


# -- eval -------------------------------------------------------------------


def read_labelled(path: Path, text_col: str, label_col: str) -> tuple[list[str], list[str]]:
    """(texts, labels) from CSV, TSV, JSON (list of objects) or JSON lines."""
    raw = path.read_text("utf-8-sig", errors="replace")
    rows: list[Any]
    if path.suffix.lower() in (".json", ".jsonl") or raw.lstrip()[:1] in ("[", "{"):
        stripped = raw.lstrip()
        if stripped.startswith("["):
            rows = json.loads(stripped)
        else:
            rows = [json.loads(x) for x in raw.splitlines() if x.strip()]
    else:
        delimiter = "\t" if path.suffix.lower() == ".tsv" or "\t" in raw.split("\n", 1)[0] else ","
        reader = csv.reader(io.StringIO(raw), delimiter=delimiter)
        if text_col.isdigit() and label_col.isdigit():
            rows = [dict(enumerate(r)) for r in reader]
            text_key: Any = int(text_col)
            label_key: Any = int(label_col)
            return _columns(rows, text_key, label_key, path)
        rows = list(csv.DictReader(io.StringIO(raw), delimiter=delimiter))
    return _columns(rows, text_col, label_col, path)


def _columns(rows: Sequence[Any], text_key: Any, label_key: Any, path: Path) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or text_key not in row or label_key not in row:
            raise ConfigError(f"{path}: row {i + 1} has no column {text_key!r} or {label_key!r}")
        text = str(row[text_key] or "").strip()
        if text:
            texts.append(text)
            labels.append(str(row[label_key]).strip())
    return texts, labels


def map_labels(labels: Sequence[str], negative: set[str] | None = None) -> list[str]:
    out = []
    unknown: set[str] = set()
    for label in labels:
        lab = label.lower()
        if negative is not None:
            out.append("negative" if label in negative else "not_negative")
        elif lab in NEGATIVE_LABELS:
            out.append("negative")
        elif lab in NEUTRAL_LABELS:
            out.append("neutral")
        elif lab in POSITIVE_LABELS:
            out.append("positive")
        else:
            unknown.add(label)
    if unknown:
        raise ConfigError(
            f"unrecognised labels {sorted(unknown)[:10]}; pass --negative-labels to say which mean negative"
        )
    return out


def cmd_eval(args: argparse.Namespace) -> int:
    from classifiers.scores import score

    if args.protocol:
        from web.cli.train import cmd_protocol

        return cmd_protocol(args)
    if not args.file or not args.text_col or not args.label_col:
        raise ConfigError("eval needs FILE --text-col COL --label-col COL (or --protocol)")
    path = Path(args.file)
    if not path.is_file():
        raise ConfigError(f"no such file: {path}")
    texts, labels = read_labelled(path, args.text_col, args.label_col)
    if not texts:
        raise ConfigError(f"{path}: no labelled texts")
    negative = {x.strip() for x in args.negative_labels.split(",")} if args.negative_labels else None
    truth = map_labels(labels, negative)
    classifier = _load_classifier(args)
    results = []
    for start in range(0, len(texts), 512):
        results.extend(classifier.classify_batch(texts[start : start + 512]))
    pred = [r.sentiment for r in results]
    binary = score(
        ["negative" if t == "negative" else "not_negative" for t in truth],
        ["negative" if p == "negative" else "not_negative" for p in pred],
        ["negative", "not_negative"],
    )
    print("negative vs not negative")
    print(binary.format())
    if "neutral" in truth:
        print("\nthree classes")
        print(score(truth, pred, ["negative", "neutral", "positive"]).format())
    elif negative is None:
        print("\npositive vs negative (predicted neutral counts as positive)")
        polar = ["negative" if p == "negative" else "positive" for p in pred]
        print(score(truth, polar, ["negative", "positive"]).format())
    return 0
