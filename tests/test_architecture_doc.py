"""ARCHITECTURE.md stays true: every file and protocol it names exists where it says."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")


def test_every_path_it_names_exists() -> None:
    named = set(re.findall(r"((?:infra|classifiers|monitor|broadcast|web|tests)/[\w/]*(?:\.py)?)", DOC))
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert named and missing == []


def test_the_protocols_it_names_are_declared_where_it_says() -> None:
    for name, path in re.findall(r"`(\w+)`(?:, `\w+`)* in `([\w/]+\.py)`", DOC):
        assert re.search(rf"^(class {name}\b|{name} = )", (ROOT / path).read_text(encoding="utf-8"), re.M), (name, path)
    assert "def connect_flow" in (ROOT / "web/compose.py").read_text(encoding="utf-8")
