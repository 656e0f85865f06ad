"""README's "Architecture in brief" names every read model the processes run: the diagram's
`projections/:` list against the views `servicecore/container.py` registers."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def registered() -> set[str]:
    """The `name` of every view the container's list builds (`WorkOrdersView(...)`, one a line)."""
    container = (ROOT / "servicecore" / "container.py").read_text(encoding="utf-8")
    views = container.split("views: list[ReadModel] = [", 1)[1].split("\n    ]", 1)[0]
    names: set[str] = set()
    for cls in re.findall(r"^\s+(\w+View)\(", views, re.MULTILINE):
        for module in (ROOT / "projections").glob("*.py"):
            text = module.read_text(encoding="utf-8")
            found = re.search(rf"^class {cls}\(.*?^    name = \"(\w+)\"", text,
                              re.MULTILINE | re.DOTALL)
            if found:
                names.add(found.group(1))
    return names


def test_the_diagram_names_every_view() -> None:
    text = README.read_text(encoding="utf-8")
    diagram = text.split("\n## Architecture in brief\n", 1)[1].split("```", 2)[1]
    listed = " ".join(diagram.split("projections/:", 1)[1].split())
    names = registered()
    assert len(names) > 10, names  # the container's list was read
    missing = sorted(name for name in names
                     if name.replace("_", " ") not in listed.lower())
    assert not missing, "views missing from README's architecture diagram: " + ", ".join(missing)
