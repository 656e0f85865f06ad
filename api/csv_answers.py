"""A list answered as a CSV file (`format=csv`) for the month-end pack's spreadsheets."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from fastapi import Response

from projections.csv_cells import safe_row

Format = Literal["json", "csv"]
# the OpenAPI answer of a route that also writes CSV
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {200: {
    "content": {"text/csv": {"schema": {"type": "string"}}},
    "description": "JSON, or CSV with `format=csv`"}}


def csv_answer(columns: Sequence[str], rows: Iterable[Mapping[str, Any]],
               name: str) -> Response:
    """`rows` as CSV with a header of `columns` (other keys left out; a text cell that a
    spreadsheet would read as a formula made safe), offered as the file `name`.csv. A header
    is Latin-1 and `name` may carry a query's text, so only what is safe in a file name is
    kept of it."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(safe_row(row) for row in rows)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{safe}.csv"'})
