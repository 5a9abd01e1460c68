"""Manager corrections and the overlay learnt from them: plain values, and their ``overlay.json`` file.

:mod:`.classifier` reads an :class:`Overlay` (its memory of corrected texts); :mod:`.adapt` learns one
from a list of :class:`Correction`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .categories import CATEGORIES
from .errors import InvalidCorrectionError
from .model import SENTIMENTS
from .tiers import TIERS

FIELDS = ("sentiment", "category", "tier")
OVERLAY_FILE = "overlay.json"


@dataclass(frozen=True)
class Correction:
    text: str
    field: str  # sentiment | category | tier
    value: str  # a sentiment, comma-separated category ids ("" = none), or P1..P4
    user: str = ""
    created_at: float = 0.0

    def __post_init__(self) -> None:
        if self.field not in FIELDS:
            raise InvalidCorrectionError(f"correction field must be one of {FIELDS}, not {self.field!r}")
        if self.field == "sentiment" and self.value not in SENTIMENTS:
            raise InvalidCorrectionError(message_en=f"sentiment must be one of {SENTIMENTS}, not {self.value!r}",
                                         message_zh=f"情感必须是 {'、'.join(SENTIMENTS)} 之一，而不是 {self.value!r}")
        if self.field == "tier" and self.value not in TIERS:
            raise InvalidCorrectionError(f"tier must be one of {TIERS}, not {self.value!r}")
        if self.field == "category":
            unknown = [c for c in self.categories() if c not in CATEGORIES]
            if unknown:
                raise InvalidCorrectionError(f"unknown categories {unknown}; known: {', '.join(CATEGORIES)}")
        if not self.text.strip():
            raise InvalidCorrectionError("a correction needs the text it corrects")

    def categories(self) -> tuple[str, ...]:
        return tuple(c.strip() for c in self.value.split(",") if c.strip())


@dataclass(frozen=True)
class Overlay:
    corrections: tuple[Correction, ...]
    memory: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    term_factors: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    neg_delta: Mapping[int, float] = field(default_factory=dict)
    pos_delta: Mapping[int, float] = field(default_factory=dict)


# -- persistence: only the corrections are stored ------------------------


def save_overlay(corrections: Iterable[Correction], directory: str | Path) -> Path:
    """Write ``overlay.json`` (the corrections) into ``directory``, atomically."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    doc = {
        "format": "lantern-corrections",
        "format_version": 1,
        "saved_at": time.time(),
        "corrections": [asdict(c) for c in corrections],
    }
    tmp = path / (OVERLAY_FILE + ".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", "utf-8")
    tmp.replace(path / OVERLAY_FILE)
    return path / OVERLAY_FILE


def load_overlay(directory: str | Path) -> list[Correction]:
    doc = json.loads(Path(directory, OVERLAY_FILE).read_text("utf-8"))
    if doc.get("format") != "lantern-corrections" or doc.get("format_version") != 1:
        raise InvalidCorrectionError(f"{directory}/{OVERLAY_FILE} is not a Lantern corrections file (version 1)")
    return [Correction(**c) for c in doc["corrections"]]
