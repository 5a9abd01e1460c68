"""Single-core classification throughput vs bare ``jieba.lcut`` on the same texts.

    python -m benchmarks.classify [--texts N] [--batch B] [--repeat R]

Texts: Weibo posts from ../shared/data (weibo2018 + SMP2020) when present,
else the fixture tests/fixtures/classifier/bench_texts.txt.  Both timings run
in this process, one after the other, best of ``--repeat`` rounds.  The last
line holds ``key=value`` pairs (``mentions_per_s``, ``ratio_vs_jieba``, ...).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "classifier" / "bench_texts.txt"
DATA_DIRS = (ROOT.parent / "shared" / "data", Path("../shared/data"))


def load_texts(limit: int) -> tuple[list[str], str]:
    from classifiers.corpora import CORPORA

    for d in DATA_DIRS:
        texts: list[str] = []
        for name in ("weibo2018_train.csv", "smp2020_virus_train.json"):
            for path in (d / "sentiment" / name, d / name):
                if path.is_file():
                    texts.extend(e.text for e in CORPORA[name](path.read_text("utf-8", errors="replace")))
                    break
        if texts:
            return texts[:limit], f"{d}/sentiment (weibo2018+smp2020)"
    lines = [x.strip() for x in FIXTURE.read_text("utf-8").splitlines() if x.strip()]
    return lines[:limit], str(FIXTURE.relative_to(ROOT))


def best_of(repeat: int, fn) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=256, help="texts per classify_batch call (1 = classify())")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    import jieba

    from classifiers import Classifier
    from classifiers.tokenize import Tokenizer

    jieba.setLogLevel(logging.WARNING)
    texts, origin = load_texts(args.texts)
    chars = sum(len(t) for t in texts)
    jieba.lcut(texts[0])  # load the dictionary outside the timing
    classifier = Classifier.load()
    backend = Tokenizer().backend
    classifier.classify_batch(texts[:50])

    def run_jieba() -> None:
        for t in texts:
            jieba.lcut(t)

    def run_classifier() -> None:
        if args.batch <= 1:
            for t in texts:
                classifier.classify(t)
        else:
            for i in range(0, len(texts), args.batch):
                classifier.classify_batch(texts[i : i + args.batch])

    t_jieba = best_of(args.repeat, run_jieba)
    t_clf = best_of(args.repeat, run_classifier)
    per_s = len(texts) / t_clf
    jieba_per_s = len(texts) / t_jieba
    print(f"texts: {len(texts)} from {origin}, {chars / len(texts):.0f} chars on average", file=sys.stderr)
    print(f"jieba.lcut: {jieba_per_s:,.0f} texts/s ({chars / t_jieba:,.0f} chars/s)", file=sys.stderr)
    print(f"classify (batch {args.batch}, tokenizer {backend}): {per_s:,.0f} texts/s", file=sys.stderr)
    print(
        f"texts={len(texts)} batch={args.batch} tokenizer={backend} mentions_per_s={per_s:.0f} "
        f"jieba_texts_per_s={jieba_per_s:.0f} chars_per_s={chars / t_clf:.0f} "
        f"ratio_vs_jieba={per_s / jieba_per_s:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
