"""A list answered as a CSV file (`format=csv`) for the month-end pack's spreadsheets.

Every CSV the API writes leaves here (`csv_file`): UTF-8, offered as an attachment, and with
`bom=true` led by the UTF-8 byte order mark (EF BB BF). Excel on a Chinese Windows opens a
CSV without the mark as GBK and shows its Chinese as mojibake; with it, as UTF-8. Without
`bom` the file is as before: tools that read plain UTF-8 (Python's csv, pandas, LibreOffice)
would otherwise find the mark in their first column's name.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal

from fastapi import Query, Response

from projections.csv_cells import led_by_bom, safe_row

Format = Literal["json", "csv"]
# the OpenAPI answer of a route that also writes CSV
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {200: {
    "content": {"text/csv": {"schema": {"type": "string"}}},
    "description": "JSON, or CSV with `format=csv`"}}
Bom = Annotated[bool, Query(description=(
    "with format=csv: start the file with the UTF-8 byte order mark, so that Excel on a "
    "Chinese Windows opens it as UTF-8 (default false; the JSON answer ignores it)"))]


def csv_file(text: str, name: str, *, bom: bool = False,
             headers: Mapping[str, str] | None = None) -> Response:
    """`text` as the CSV file `name`.csv, led by the byte order mark with `bom`. A header is
    Latin-1 and `name` may carry a query's text, so only what is safe in a file name is kept
    of it."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return Response("".join(led_by_bom((text,), bom)), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{safe}.csv"',
                             **(headers or {})})


def csv_answer(columns: Sequence[str], rows: Iterable[Mapping[str, Any]], name: str, *,
               bom: bool = False, headers: Mapping[str, str] | None = None) -> Response:
    """`rows` as CSV with a header of `columns` (other keys left out; a text cell that a
    spreadsheet would read as a formula made safe), offered as the file `name`.csv."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(safe_row(row) for row in rows)
    return csv_file(out.getvalue(), name, bom=bom, headers=headers)
