"""Accuracy, macro-F1 and confusion matrices (pure functions, for eval and the model card)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Scores:
    n: int
    accuracy: float
    macro_f1: float
    labels: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows: true label, columns: predicted

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "labels": list(self.labels),
            "confusion": [list(r) for r in self.confusion],
        }

    def f1(self, label: str) -> float:
        """F1 of one class (0.0 when it is neither predicted nor true)."""
        i = self.labels.index(label)
        tp = self.confusion[i][i]
        fp = sum(r[i] for r in self.confusion) - tp
        fn = sum(self.confusion[i]) - tp
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0

    def format(self) -> str:
        width = max(9, *(len(lbl) + 2 for lbl in self.labels))
        lines = [
            f"n={self.n} accuracy={self.accuracy:.4f} macro_f1={self.macro_f1:.4f}",
            "confusion (rows = true, columns = predicted):",
            " " * width + "".join(f"{lbl:>{width}}" for lbl in self.labels),
        ]
        for lbl, row in zip(self.labels, self.confusion, strict=True):
            lines.append(f"{lbl:>{width}}" + "".join(f"{v:>{width}}" for v in row))
        return "\n".join(lines)


def score(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None) -> Scores:
    if len(y_true) != len(y_pred):
        raise ValueError("y_true and y_pred differ in length")
    labs = tuple(labels) if labels else tuple(sorted(set(y_true) | set(y_pred)))
    index = {lbl: i for i, lbl in enumerate(labs)}
    conf = [[0] * len(labs) for _ in labs]
    for t, p in zip(y_true, y_pred, strict=True):
        if t in index and p in index:
            conf[index[t]][index[p]] += 1
    n = len(y_true)
    correct = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == p)
    f1s = []
    for i in range(len(labs)):
        tp = conf[i][i]
        fp = sum(conf[r][i] for r in range(len(labs))) - tp
        fn = sum(conf[i]) - tp
        if tp + fp + fn == 0:
            continue  # label absent from both: not part of the macro average
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return Scores(
        n,
        correct / n if n else 0.0,
        sum(f1s) / len(f1s) if f1s else 0.0,
        labs,
        tuple(tuple(r) for r in conf),
    )
