"""Dependencies point one way: ``infra`` at the bottom, ``web`` (the composition root) at the top.

Read from the source (every ``import`` at any depth, lazy ones included), so a new upward import fails here
rather than as an import cycle somewhere else.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What each package may import of ours (web may import everything).
ALLOWED: dict[str, set[str]] = {
    "infra": set(),
    "classifiers": set(),
    "broadcast": {"infra"},
    "monitor": {"infra", "classifiers"},
}
OURS = {*ALLOWED, "web"}


def imported(path: Path) -> set[str]:
    """Our top-level packages that ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & OURS


def test_each_package_imports_only_the_rooms_below_it() -> None:
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for target in imported(path) - allowed - {package}:
                wrong.append(f"{path.relative_to(ROOT)} imports {target}")
    assert wrong == []


def test_only_infra_makes_redis_clients() -> None:
    makers = [str(path.relative_to(ROOT)) for package in OURS for path in sorted((ROOT / package).rglob("*.py"))
              if "from_url(" in path.read_text(encoding="utf-8")]
    assert makers == ["infra/redis.py"]
