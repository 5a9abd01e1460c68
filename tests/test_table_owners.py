"""One owner per table: only the package that owns a table queries it; the others call its functions.

Static: every string literal of the production packages (docstrings aside) is searched for SQL naming a
table (``from t``, ``join t``, ``into t``, ``update t``, ``table t``), and their code for ``sqlite_utils``
access (``db["t"]``, ``db.table("t")``).  A hit outside the owner package fails, naming the file and line.
Each table is created in its owner's ``schema.py``, and a table created anywhere must be listed here.
Tests and benchmarks may read any table (they check and measure what was stored).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("infra", "monitor", "classifiers", "broadcast", "web")

# table -> (the package whose modules alone may query it, the schema module that creates it)
OWNERS: dict[str, tuple[str, str]] = {
    **{t: ("monitor", "monitor/schema.py") for t in ("mentions", "sources", "source_state", "corrections")},
    **{t: ("monitor", "monitor/incidents/schema.py")
       for t in ("incidents", "incident_events", "incident_checklist", "incident_tier_history", "incident_stories")},
    **{t: ("monitor", "monitor/alerting/schema.py")
       for t in ("alert_deliveries", "alert_nflog", "alert_state", "alert_silences", "alert_config",
                 "alert_contacts")},
    **{t: ("broadcast", "broadcast/schema.py")
       for t in ("broadcast_scripts", "broadcast_versions", "broadcast_approvals", "broadcast_audit",
                 "broadcast_receipts")},
    **{t: ("web/auth", "web/auth/schema.py") for t in ("users", "api_tokens", "sessions", "app_secrets")},
}

_CREATED = re.compile(r'\[\s*"(\w+)"\s*\]\s*\.\s*create\s*\(')


def _sql(table: str) -> re.Pattern[str]:
    return re.compile(rf'\b(?:from|join|into|update|table)\s+["`]?{table}\b', re.IGNORECASE)


def _access(table: str) -> re.Pattern[str]:
    """``sqlite_utils`` access in source text: ``db["t"]``, ``d["t"]``, ``conn["t"]``, ``x.table("t")``."""
    return re.compile(r"(?:\b(?:db|d|conn|database)\s*\[|\.table\()\s*[\"']" + table + r"[\"']")


PATTERNS = {table: _sql(table) for table in OWNERS}
ACCESS = {table: _access(table) for table in OWNERS}


def _sources() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def _docstrings(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _literals(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal but docstrings; an f-string's literal parts joined by ``?``."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    skip = _docstrings(tree)
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                inside.add(id(value))
                parts.append(value.value if isinstance(value, ast.Constant) and isinstance(value.value, str)
                             else "?")
            yield node.lineno, "".join(parts)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip \
                and id(node) not in inside:
            yield node.lineno, node.value


def _owned_by(path: Path, package: str) -> bool:
    return path.relative_to(ROOT).as_posix().startswith(package + "/")


def test_only_the_owner_queries_a_table() -> None:
    found = []
    for path in _sources():
        for line, text in _literals(path):
            for table, pattern in PATTERNS.items():
                if pattern.search(text) and not _owned_by(path, OWNERS[table][0]):
                    found.append(f"{path.relative_to(ROOT)}:{line}: {table} (owner {OWNERS[table][0]}/): {text!r}")
        for number, code in enumerate(path.read_text("utf-8").splitlines(), 1):
            for table, pattern in ACCESS.items():
                if pattern.search(code) and not _owned_by(path, OWNERS[table][0]):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {table} (owner {OWNERS[table][0]}/): {code}")
    assert not found, "tables queried outside their owner package:\n" + "\n".join(found)


def test_each_table_is_created_in_its_owners_schema() -> None:
    created: dict[str, list[str]] = {}
    for path in _sources():
        for table in _CREATED.findall(path.read_text("utf-8")):
            created.setdefault(table, []).append(path.relative_to(ROOT).as_posix())
    unknown = sorted(set(created) - set(OWNERS))
    assert not unknown, f"tables with no owner listed in {Path(__file__).name}: {unknown}"
    misplaced = {t: where for t, where in created.items() if where != [OWNERS[t][1]]}
    assert not misplaced, f"tables created outside their owner's schema.py: {misplaced}"
    assert set(created) == set(OWNERS), f"listed but never created: {sorted(set(OWNERS) - set(created))}"


def test_the_check_sees_sql_and_table_access() -> None:
    """The patterns catch the forms of query the code uses, and leave prose and other names alone."""
    hits = ["select * from mentions where id = ?", "SELECT origin FROM sources WHERE name = ?",
            "insert or ignore into broadcast_receipts (script_id)", "update users set active = 0",
            "select s.* from alert_state s join incidents i on i.id = s.incident_id",
            "select name from users where name in (?)"]
    for text in hits:
        assert any(p.search(text) for p in PATTERNS.values()), text
    for code in ['db["corrections"].insert(row)', 'db.table("alert_config").upsert(row, pk="name")',
                 "d['sources'].upsert(row)"]:
        assert any(p.search(code) for p in ACCESS.values()), code
    for code in ['row["incidents"]', 'summary["mentions"]', 'labels["users"]']:
        assert not any(p.search(code) for p in ACCESS.values()), code
    misses = ["新来源 (new sources)", "mentions of the sources", "users_online", "select 1 from sqlite_master",
              "the incidents page", "create index if not exists idx_mentions_pending"]
    for text in misses:
        assert not any(p.search(text) for p in PATTERNS.values()), text
