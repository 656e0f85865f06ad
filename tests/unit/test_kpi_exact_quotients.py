"""The catalogue's quotients are exact: divided in whole numbers and rounded once, half up, as
`domain.kpi_figures` rounds (DuckDB divides numbers as DOUBLE, so 3 ÷ 160 = 0.01875 came out
0.0187, and 2.01 h over 2 work orders 1.00). Over analytic tables written by hand into an
in-memory DuckDB, as in `test_labor_margin_kpis`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import duckdb
from hypothesis import given
from hypothesis import strategies as st

from analytics import monthly
from analytics.kpi_where import exact_ratio
from analytics.kpis import Filters, run
from domain import kpi_figures as figures
from tests.unit.test_labor_margin_kpis import insert, tables

AT = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
MARCH = Filters(date_from=date(2025, 3, 1), date_to=date(2025, 3, 31), today=date(2025, 4, 2))


def _row(conn: duckdb.DuckDBPyConnection, name: str, store: str) -> dict[str, Any]:
    return dict(run(conn, name, replace(MARCH, store_id=store))["rows"][0])


def _surveys(conn: duckdb.DuckDBPyConnection, store: str, scores: list[int]) -> None:
    insert(conn, "fact_work_orders", work_order_id=f"wo-{store}", store_id=store,
           status="closed", opened_at=AT)
    for n, score in enumerate(scores):
        insert(conn, "fact_follow_ups", follow_up_id=f"{store}-{n}",
               work_order_id=f"wo-{store}", store_id=store, csi=score, completed_at=AT)


def test_csi_and_its_average_score_are_rounded_half_up_exactly() -> None:
    conn = tables()
    _surveys(conn, "S01", [5] * 3 + [1] * 157)  # 3 satisfied of 160: 0.01875
    _surveys(conn, "S02", [2] + [1] * 39)  # 41 points over 40 surveys: 1.025
    assert _row(conn, "csi", "S01")["csi"] == Decimal("0.0188")
    assert _row(conn, "csi", "S02")["average_score"] == Decimal("1.03")
    # and the monthly report, which takes the catalogue's CSI
    month = monthly.month_of("2025-03", date(2025, 4, 2))
    assert monthly.figures(conn, Filters(store_id="S01", today=date(2025, 4, 2)),
                           month)["csi"] == Decimal("0.0188")


def test_hours_per_work_order_and_gross_margin_are_rounded_half_up_exactly() -> None:
    conn = tables()
    for wo, hours in (("wo-1", "1.00"), ("wo-2", "1.01")):  # 2.01 h over 2 work orders
        insert(conn, "fact_work_orders", work_order_id=wo, store_id="S01", kind="repair",
               status="closed", opened_at=AT, settled_at=AT)
        insert(conn, "fact_labor_lines", work_order_id=wo, line_id="L1", store_id="S01",
               status="approved", pay_type="customer", hours_sold=Decimal(hours))
    # 160.00 of revenue at 157.00 of parts cost: a margin of 0.01875
    insert(conn, "fact_settlements", settlement_id="s-1", work_order_id="wo-1", store_id="S01",
           status="settled", revenue=Decimal("160.00"), parts_cost=Decimal("157.00"),
           settled_at=AT)
    assert _row(conn, "hours_per_work_order", "S01")["hours_per_work_order"] == Decimal("1.01")
    assert _row(conn, "gross_profit", "S01")["gross_margin"] == Decimal("0.0188")
    month = monthly.month_of("2025-03", date(2025, 4, 2))
    assert monthly.figures(conn, Filters(store_id="S01", today=date(2025, 4, 2)),
                           month)["gross_margin"] == Decimal("0.0188")


def test_a_share_of_nothing_is_null_not_an_error() -> None:
    conn = tables()
    assert conn.execute(f"SELECT {exact_ratio('0', '0')}, {exact_ratio('3', '-1')}"
                        ).fetchall() == [(None, None)]


@given(top=st.integers(-10**9, 10**9), bottom=st.integers(-10, 10**7),
       places=st.sampled_from([1, 2, 4]))
def test_exact_ratio_is_the_quotient_of_kpi_figures(top: int, bottom: int, places: int) -> None:
    conn = duckdb.connect()
    for scale, t, b in ((0, Decimal(top), Decimal(bottom)),
                        (2, Decimal(top).scaleb(-2), Decimal(bottom).scaleb(-2))):
        got = conn.execute(
            f"SELECT {exact_ratio('t', 'b', places, scale)} "
            f"FROM (SELECT ?::DECIMAL(18, {scale}) AS t, ?::DECIMAL(18, {scale}) AS b)",
            [t, b]).fetchall()[0][0]
        assert got == figures.quotient(t, b, Decimal(1).scaleb(-places))


def test_churn_and_obsolete_stock_count_twelve_calendar_months_to_date_to() -> None:
    conn = tables()
    # date_to 2025-03-31: the 12 months are 2024-04-01 to 2025-03-31
    for n, day in enumerate(("2024-03-31", "2024-04-01", "2025-03-31")):
        insert(conn, "fact_work_orders", work_order_id=f"wo-{n}", store_id="S01",
               customer_id=f"c-{n}", status="closed",
               opened_at=datetime.fromisoformat(f"{day}T10:00:00+08:00"))
        insert(conn, "fact_stock_movements", notification_id=n, seq=1, store_id="S01",
               part_number=f"P{n}", type="receipt", qty=Decimal(2), value=Decimal("20.00"),
               moved_at=datetime.fromisoformat("2024-01-02T10:00:00+08:00"))
        insert(conn, "fact_stock_movements", notification_id=10 + n, seq=1, store_id="S01",
               part_number=f"P{n}", type="issue", qty=Decimal(-1), value=Decimal("-10.00"),
               moved_at=datetime.fromisoformat(f"{day}T10:00:00+08:00"))
    end = Filters(date_to=date(2025, 3, 31), store_id="S01")
    assert run(conn, "customer_churn", end)["rows"] == [
        {"customers": 3, "churned": 1, "churn_rate": Decimal("0.3333"),
         "retention_rate": Decimal("0.6667")}]
    obsolete = run(conn, "obsolete_stock", end)["rows"][0]
    assert (obsolete["obsolete_parts"], obsolete["obsolete_value"]) == (1, Decimal("10.00"))
    # the list behind it: the part issued on the same day a year before, 365 days ago
    assert [(r["part_number"], r["on_hand"], r["value"], r["days_since_last_issue"])
            for r in run(conn, "obsolete_parts", end)["rows"]] == [
        ("P0", Decimal("1.000"), Decimal("10.00"), 365)]


def test_the_obsolete_parts_values_add_up_to_the_obsolete_stock_value_to_the_fen() -> None:
    conn = tables()
    # three parts of 0.5 litre at 0.01 each, received in 2023 and never issued: 0.005 a part,
    # 0.01 on each row of the list; the KPI adds the rows (0.03), not 0.015 rounded (0.02)
    for n in range(3):
        insert(conn, "fact_stock_movements", notification_id=n, seq=1, store_id="S02",
               part_number=f"L{n}", type="receipt", qty=Decimal("0.5"),
               value=Decimal("0.005"), moved_at=AT.replace(year=2023))
    end = Filters(date_to=date(2025, 3, 31), store_id="S02")
    rows = run(conn, "obsolete_parts", end)["rows"]
    assert [(r["value"], r["last_receipt_date"]) for r in rows] == [
        (Decimal("0.01"), date(2023, 3, 3))] * 3
    obsolete = run(conn, "obsolete_stock", end)["rows"][0]
    assert sum(r["value"] for r in rows) == obsolete["obsolete_value"] == Decimal("0.03")
