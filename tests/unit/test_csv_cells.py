"""The one rule every CSV writer applies: text a spreadsheet would run as a formula gets a
leading `'`; numbers and decimal strings (money, quantities) stay as they are."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from api.routes.analytics import _csv
from projections.csv_cells import safe_cell


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x","click")', "+1+cmd|' /C calc'!A0",
                                  "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "-", "+",
                                  "=", "-12.50 CNY", "-1e"])
def test_text_that_reads_as_a_formula_is_prefixed(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["-12.50", "+3", "-0.0150", "12.50", "-.5", "-1E+2",
                                   -12.5, Decimal("-12.50"), 7, None, "", "plain text",
                                   "王磊 =1", "'=already"])
def test_numbers_and_plain_text_are_unchanged(value: object) -> None:
    assert safe_cell(value) == value


def test_the_kpi_and_monthly_report_csv_prefix_text_and_keep_money() -> None:
    """Both analytics CSVs (`/analytics/kpis/{name}` and `/analytics/reports/monthly` with
    `format=csv`) are written by `_csv`: a technician's name typed as a formula is prefixed, a
    negative change of money is not."""
    rows = [{"technician_id": "@t1", "technician_name": '=HYPERLINK("http://x","click")',
             "change_mom": "-12.50", "change_mom_rate": "-0.0150", "work_orders": -3},
            {"technician_id": "t2", "technician_name": "\t+cmd", "change_mom": "+12.50",
             "change_mom_rate": None, "work_orders": 4}]
    columns = ["technician_id", "technician_name", "change_mom", "change_mom_rate",
               "work_orders"]
    answer = _csv(columns, rows, "kpi", {"position": 1})
    body = bytes(answer.body).decode()
    got = list(csv.DictReader(io.StringIO(body, newline="")))
    assert [(r["technician_id"], r["technician_name"]) for r in got] == [
        ("'@t1", "'=HYPERLINK(\"http://x\",\"click\")"), ("t2", "'\t+cmd")]
    assert [(r["change_mom"], r["change_mom_rate"], r["work_orders"]) for r in got] == [
        ("-12.50", "-0.0150", "-3"), ("+12.50", "", "4")]
    assert rows[0]["technician_name"].startswith("=")  # the rows themselves are not changed
