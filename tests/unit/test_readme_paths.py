"""Every file of the project README.md names exists: a module (`api/reads.py`, or
`projections/chain_witness` without its suffix), a test, a benchmark, a glob
(`analytics/fold_*.py`), a test named alone (`test_request_deadline.py`), a module run with
`python -m` and every other document (`bench/README.md`, `*.md`)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TOP = r"(?:api|domain|projections|workers|analytics|servicecore|tests|bench|\.ci)"
# what the processes write under SERVICECORE_DATA_DIR (`analytics/servicecore.duckdb`): data,
# not the project's files
DATA = (".duckdb", ".json", ".jsonl", ".parquet")


def named() -> dict[str, int]:
    """Path → the first line that names it."""
    text = README.read_text(encoding="utf-8")
    paths: dict[str, int] = {}
    pattern = r"(?<![\w/.$-])(" + TOP + r"(?:/[\w.*-]+)+|[\w-]+\.md|test_[\w*]+\.py)(?![\w/])"
    for match in re.finditer(pattern, text):
        path = match.group(1).rstrip(".")
        paths.setdefault(path, text.count("\n", 0, match.start()) + 1)
    for match in re.finditer(r"python -m ([\w.]+)", text):
        path = match.group(1).replace(".", "/") + ".py"
        paths.setdefault(path, text.count("\n", 0, match.start()) + 1)
    return paths


def _exists(path: str) -> bool:
    if "/" not in path:  # a document or a test named alone: anywhere in the project
        return any(p for p in ROOT.rglob(path) if ".venv" not in p.parts)
    if "*" in path:
        return any(ROOT.glob(path))
    return any((ROOT / candidate).exists() for candidate in (path, path + ".py", path + ".md"))


def test_the_readme_names_files_that_exist() -> None:
    missing = [f"line {line}: {path}" for path, line in named().items()
               if not path.endswith(DATA) and not _exists(path)]
    assert missing == [], "README names files the project does not have"


def test_the_check_reads_the_paths() -> None:
    """The pattern finds what the README names, so an empty result above means something."""
    paths = named()
    assert {"api/reads.py", "bench/README.md", "analytics/fold_*.py", "test_hostile_input.py",
            "test_db_deadline*.py", "bench/soak.py"} <= set(paths)
