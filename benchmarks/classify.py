"""Single-core classification throughput vs bare ``jieba.lcut`` on the same texts.

    python -m benchmarks.classify [--texts N] [--batch B] [--repeat R]

Texts: Weibo posts from ../shared/data (weibo2018 + SMP2020 train files) when present,
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
DATA_DIRS = (ROOT.parent / "shared" / "data", ROOT.parents[1] / "shared" / "data", Path("../shared/data"))
BENCH_FILES = ("weibo2018_train.csv", "smp2020_virus_train.json", "smp2020_usual_train.json")


def load_texts(limit: int) -> tuple[list[str], str]:
    from classifiers.corpora import CORPORA

    for d in DATA_DIRS:
        texts: list[str] = []
        for name in BENCH_FILES:
            for path in (d / "sentiment" / name, d / name):
                if path.is_file():
                    texts.extend(e.text for e in CORPORA[name](path.read_text("utf-8", errors="replace")))
                    break
        if texts:
            # interleave the corpora so a short run still mixes weibo2018 and SMP2020 posts
            texts = texts[::7] + [t for i, t in enumerate(texts) if i % 7]
            return texts[:limit], f"{d}/sentiment (weibo2018 + SMP2020 virus + usual)"
    lines = [x.strip() for x in FIXTURE.read_text("utf-8").splitlines() if x.strip()]
    return lines[:limit], str(FIXTURE.relative_to(ROOT))


def best_of(repeat: int, fn) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Best wall-clock and best CPU time (this process) of ``repeat`` runs.

    CPU time is what one core spends; on a loaded machine wall time also counts waiting for a core."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best, best_cpu


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

    t_jieba, cpu_jieba = best_of(args.repeat, run_jieba)
    t_clf, cpu_clf = best_of(args.repeat, run_classifier)
    per_s = len(texts) / t_clf
    jieba_per_s = len(texts) / t_jieba
    per_cpu_s = len(texts) / cpu_clf
    print(f"texts: {len(texts)} from {origin}, {chars / len(texts):.0f} chars on average", file=sys.stderr)
    print(f"jieba.lcut: {jieba_per_s:,.0f} texts/s ({chars / t_jieba:,.0f} chars/s)", file=sys.stderr)
    print(f"classify (batch {args.batch}, tokenizer {backend}): {per_s:,.0f} texts/s "
          f"({per_cpu_s:,.0f} per CPU second; jieba {len(texts) / cpu_jieba:,.0f})", file=sys.stderr)
    print(
        f"texts={len(texts)} batch={args.batch} tokenizer={backend} mentions_per_s={per_s:.0f} "
        f"jieba_texts_per_s={jieba_per_s:.0f} chars_per_s={chars / t_clf:.0f} "
        f"ratio_vs_jieba={per_s / jieba_per_s:.2f} mentions_per_cpu_s={per_cpu_s:.0f} "
        f"ratio_vs_jieba_cpu={cpu_jieba / cpu_clf:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
