"""The repair-record CSV keeps one row per visit whatever the free text holds (commas, quotes,
line breaks, Chinese), and its part columns stay aligned item by item."""

from __future__ import annotations

import csv
import io
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from projections.csv_cells import safe_cell
from projections.repair_records import CSV_COLUMNS, as_csv

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="|"), max_size=30)
HOURS = st.decimals(min_value=0, max_value=99, places=1).map(str)
PART = st.fixed_dictionaries({"part_name": TEXT, "part_code": TEXT,
                              "quantity": st.integers(1, 99).map(str), "unit": st.just("pc")})
ITEM = st.fixed_dictionaries({"name": TEXT, "op_code": TEXT, "labor_hours": HOURS})
RECORD = st.fixed_dictionaries({
    "shop_name": TEXT, "vin": TEXT, "plate": TEXT, "date_in": st.just("2025-08-14"),
    "mileage_in": st.integers(0, 999_999), "settlement_date": st.just("2025-08-15"),
    "settlement_number": TEXT, "fault_description": TEXT,
    "work_items": st.lists(ITEM, max_size=4), "labor_hours": HOURS,
    "parts": st.lists(PART, max_size=4), "store_id": TEXT, "work_order_number": TEXT})


@given(st.lists(RECORD, max_size=5))
def test_one_row_per_visit_and_aligned_part_columns(records: list[dict[str, Any]]) -> None:
    rows = list(csv.DictReader(io.StringIO(as_csv(records), newline="")))
    assert len(rows) == len(records)
    for row, record in zip(rows, records, strict=True):
        assert tuple(row) == CSV_COLUMNS
        for column in ("shop_name", "vin", "plate", "fault_description", "settlement_number",
                       "work_order_number"):
            assert row[column] == safe_cell(record[column])  # a formula's start: "'" first
        assert row["mileage_in"] == str(record["mileage_in"])
        if record["parts"]:
            for column, key in (("part_names", "part_name"), ("part_codes", "part_code"),
                                ("part_quantities", "quantity")):
                # item by item, the cell prefixed when its first item starts like a formula
                items = [p[key] for p in record["parts"]]
                assert row[column] == safe_cell(" | ".join(items))
        else:
            assert row["part_names"] == row["part_codes"] == row["part_quantities"] == ""
