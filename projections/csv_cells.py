"""Cells of the CSV files the API and the command line write, safe to open in a spreadsheet.

A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a
formula by Excel, WPS and LibreOffice (`=HYPERLINK(...)` typed as a customer's complaint would
become a live link in an auditor's copy of the repair records). Such a cell gets a leading `'`,
as OWASP advises against CSV injection; a number, or a string that is a decimal number (money
and quantities are strings here: "-12.50"), is written as it is. Only the CSV is changed: the
JSON form of the same data keeps the text as stored.

With `bom` a file is led by the UTF-8 byte order mark (EF BB BF, `led_by_bom`): Excel on a
Chinese Windows opens a CSV without it as GBK and shows its Chinese as mojibake. The API's
`bom=true` (api/csv_answers.py) and the command line's `--bom` both lead their files with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

UTF8_BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """The value to write in a CSV cell: text a spreadsheet would take for a formula is
    prefixed with `'`; anything else (numbers, decimal strings, other text) is unchanged."""
    if (isinstance(value, str) and value.startswith(FORMULA_STARTS)
            and not _NUMBER.fullmatch(value)):
        return "'" + value
    return value


def safe_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A csv.DictWriter row with each cell made safe."""
    return {k: safe_cell(v) for k, v in row.items()}


def led_by_bom(pieces: Iterable[str], bom: bool) -> Iterator[str]:
    """A CSV file's text as it comes, led by the UTF-8 byte order mark with `bom`."""
    if bom:
        yield UTF8_BOM
    yield from pieces
