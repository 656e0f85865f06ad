"""README's table of the relay's topics ("Kafka relay") against `domain/integration_events.py`:
every stream kind the mapper routes is named in its topic's row, and in no other."""

from __future__ import annotations

import re
from pathlib import Path

from domain.integration_events import INTERNAL_STREAMS, ROUTES

README = Path(__file__).resolve().parents[2] / "README.md"


def rows() -> dict[str, set[str]]:
    """Topic (without the prefix) → the stream kinds its row names (a capitalised word at the
    start of the cell or after a comma, before its bracketed note)."""
    text = README.read_text(encoding="utf-8").split("\n## Kafka relay\n", 1)[1]
    found: dict[str, set[str]] = {}
    for line in text.splitlines():
        match = re.match(r"\| `servicecore\.([a-z-]+)` \| (.*) \|$", line)
        if match:
            cell = re.sub(r"\([^()]*(?:\([^()]*\)[^()]*)*\)", "", match.group(2))
            found[match.group(1)] = set(re.findall(r"(?:^|, )([A-Z][A-Za-z]+)", cell))
    return found


def test_every_stream_kind_is_in_its_topic_s_row() -> None:
    table = rows()
    assert "work-orders" in table, table  # the table was read
    wrong = sorted(f"{kind}: topic {route.topic}, README "
                   f"{[topic for topic, kinds in table.items() if kind in kinds] or 'none'}"
                   for kind, route in ROUTES.items()
                   if [topic for topic, kinds in table.items() if kind in kinds] != [route.topic])
    assert not wrong, "README's Kafka topics differ from the mapper: " + "; ".join(wrong)


def test_every_internal_stream_kind_is_named_as_unpublished() -> None:
    text = README.read_text(encoding="utf-8").split("\n## Kafka relay\n", 1)[1]
    sentence = next(line for line in text.splitlines() if "are internal and never published" in line)
    named = set(re.findall(r"\b([A-Z][A-Za-z]+)\b", sentence))
    missing = sorted(INTERNAL_STREAMS - named)
    assert not missing, "README does not name these unpublished stream kinds: " + ", ".join(missing)
