"""Where ``lantern train`` and ``lantern eval --protocol`` find the corpora, and the protocol built from them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from web.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIRS = (
    Path("shared/data"),
    Path("../shared/data"),
    REPO_ROOT.parent / "shared" / "data",
    REPO_ROOT.parents[1] / "shared" / "data",
)


def data_dir_of(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    return next((d for d in DEFAULT_DATA_DIRS if d.is_dir()), DEFAULT_DATA_DIRS[1])


def find_files(data_dir: Path, names: Any) -> dict[str, Path]:
    """File name -> path, looking in DIR and DIR/sentiment."""
    found = {}
    for name in names:
        for candidate in (data_dir / name, data_dir / "sentiment" / name):
            if candidate.is_file():
                found[name] = candidate
                break
    return found


def read_protocol(data_dir: Path) -> Any:
    """The validation protocol built from the files in ``data_dir``."""
    from classifiers.corpora import CORPORA, parse_smp2020
    from classifiers.protocol import VALIDATION_FILES, build

    files = find_files(data_dir, CORPORA)
    if not files:
        raise ConfigError(f"no training corpora in {data_dir} (expected any of {', '.join(CORPORA)})")
    corpora = {name: CORPORA[name](path.read_text("utf-8", errors="replace")) for name, path in files.items()}
    domains = {"smp2020_usual_eval.json": "smp2020_usual", "smp2020_virus_eval.json": "smp2020"}
    validation = {
        name: parse_smp2020(path.read_text("utf-8", errors="replace"), domains[name])
        for name, path in find_files(data_dir, VALIDATION_FILES).items()
    }
    protocol = build(corpora, validation)
    sizes = ", ".join(f"{k} {len(v)}" for k, v in protocol.validation.items())
    print(f"training corpora: {', '.join(files)}; {len(protocol.train)} examples after de-duplication "
          f"({', '.join(f'{v} {k}' for k, v in protocol.dropped.items() if v)} removed)", file=sys.stderr)
    print(f"validation sets: {sizes or 'none'}", file=sys.stderr)
    return protocol, sorted(files)
