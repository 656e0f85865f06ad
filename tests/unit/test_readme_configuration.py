"""README's Configuration table against `servicecore/settings.py`: every setting is in the table
under its environment variable with the default the code has, the table names no setting the
code does not read, and a range the table states ("1–64)") is the one the code enforces."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from annotated_types import Ge, Le

from servicecore.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
# read by libraries, not by Settings, and documented in the same table
NOT_SETTINGS = {"PROMETHEUS_MULTIPROC_DIR"}


def table() -> dict[str, tuple[str, str]]:
    """Environment variable → (default cell, meaning cell). A row may name several variables
    (`A` / `B`, or `SERVICECORE_X_WARN` / `_LIMIT`) with as many defaults (`1` / `2`)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        names_cell, default_cell, meaning = (c.strip() for c in line.strip("| ").split(" | ", 2))
        names: list[str] = []
        for name in re.findall(r"`([A-Z0-9_]+)`", names_cell):
            names.append(names[-1].rsplit("_", 1)[0] + name if name.startswith("_") else name)
        defaults = default_cell.split(" / ") if len(names) > 1 else [default_cell]
        assert len(defaults) == len(names), f"{names}: {len(defaults)} defaults"
        for name, default in zip(names, defaults, strict=True):
            rows[name] = (default.strip(), meaning)
    return rows


def variables() -> dict[str, Any]:
    """Environment variable → the setting's field name."""
    named: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        named[str(choices[0]) if choices else "SERVICECORE_" + name.upper()] = name
    return named


def _written(value: Any) -> str:
    """A default as the table writes it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _default(name: str) -> Any:
    field = Settings.model_fields[name]
    return field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]


def test_every_setting_is_in_the_table_and_nothing_else() -> None:
    rows, settings = table(), variables()
    assert sorted(set(settings) - set(rows)) == [], "settings missing from README Configuration"
    assert sorted(set(rows) - set(settings) - NOT_SETTINGS) == [], \
        "README Configuration names variables servicecore/settings.py does not read"


def test_every_default_is_the_code_s() -> None:
    wrong, rows = [], table()
    for variable, name in variables().items():
        if variable not in rows:
            continue  # the test above names it
        cell = rows[variable][0]
        default = _default(name)
        shown = re.match(r"`([^`]*)`", cell)
        if default is None:
            # unset, or derived from another setting (`$SERVICECORE_DATA_DIR/…`, generated)
            ok = shown is None or shown.group(1).startswith("$")
        elif shown is None:
            ok = False
        elif isinstance(default, Decimal):
            ok = shown.group(1) == str(default)  # as written: 0.10 is not 0.1
        else:
            ok = shown.group(1) == _written(default)
        if not ok:
            wrong.append(f"{variable}: README {cell!r}, code {default!r}")
    assert not wrong, "README Configuration defaults differ: " + "; ".join(wrong)


def test_a_range_the_table_states_is_the_one_the_code_enforces() -> None:
    wrong, rows = [], table()
    for variable, name in variables().items():
        stated = re.search(r"\b(\d+)–(\d+)\)", rows.get(variable, ("", ""))[1])
        if stated is None:
            continue
        metadata = Settings.model_fields[name].metadata
        low = next((m.ge for m in metadata if isinstance(m, Ge)), None)
        high = next((m.le for m in metadata if isinstance(m, Le)), None)
        if (low, high) != (int(stated.group(1)), int(stated.group(2))):
            wrong.append(f"{variable}: README {stated.group(0)}, code ge={low} le={high}")
    assert not wrong, "README Configuration ranges differ: " + "; ".join(wrong)


# what the code reads from the environment itself, outside Settings: `os.environ.get("X")`,
# `os.environ["X"]` (not an assignment), `getenv("X")`
_READ = re.compile(r"""(?:environ\.get\(|environ\[|getenv\()\s*["']([A-Z][A-Z0-9_]+)["']\s*"""
                   r"""(?![\]]\s*=[^=])""")
SOURCES = ("servicecore", "api", "workers", "domain", "projections", "analytics")


def test_every_variable_the_code_reads_itself_is_in_the_table() -> None:
    root = README.parent
    section = README.read_text(encoding="utf-8").split("\n## Configuration\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    unlisted = sorted({f"{name} ({path.relative_to(root)})"
                       for folder in SOURCES for path in (root / folder).rglob("*.py")
                       for name in _READ.findall(path.read_text(encoding="utf-8"))
                       if f"`{name}`" not in section})
    assert not unlisted, "the code reads variables README Configuration does not name: " + \
        "; ".join(unlisted)
