"""Parts fill rate (DOMAIN.md): (demand − emergency purchases − lost sales) ÷ demand, where a
lost sale is itself a line of demand — the KPI's query over analytic tables made in memory."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.kpis import Filters, run
from analytics.loader import REVISION
from analytics.tables import create
from domain.kpi_figures import fill_rate

AT = datetime(2026, 5, 4, 3, 0, tzinfo=UTC)
SUPPLIES = st.sampled_from(["reserved", "back_order", "special_order"])


@pytest.fixture(scope="module")
def conn() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(":memory:") as db:
        create(db, REVISION)
        yield db


def stored(conn: duckdb.DuckDBPyConnection, supplies: list[str], emergency: list[bool],
           lost: int) -> dict[str, Any]:
    """The KPI over one visit's part lines, `lost` lost sales and the purchase-order lines
    (sent; `True`: emergency) of store S01."""
    for table in ("fact_work_orders", "fact_part_lines", "fact_lost_sales",
                  "fact_purchase_order_lines"):
        conn.execute(f"DELETE FROM {table}")
    conn.execute("INSERT INTO fact_work_orders (work_order_id, store_id, opened_at) "
                 "VALUES ('wo', 'S01', ?)", [AT])
    for n, supply in enumerate(supplies):
        conn.execute("INSERT INTO fact_part_lines (work_order_id, line_id, store_id, status, "
                     "supply, approved_at) VALUES ('wo', ?, 'S01', 'approved', ?, ?)",
                     [f"L{n}", supply, AT])
    for n in range(lost):
        conn.execute("INSERT INTO fact_lost_sales (notification_id, lost_sale_id, recorded_at, "
                     "store_id, part_number, qty, reason) VALUES (?, ?, ?, 'S01', 'P', 1, "
                     "'price')", [n, f"ls{n}", AT])
    for n, flagged in enumerate(emergency):
        conn.execute("INSERT INTO fact_purchase_order_lines (purchase_order_id, line_no, "
                     "store_id, emergency, sent_at) VALUES ('po', ?, 'S01', ?, ?)",
                     [n, flagged, AT])
    (figures,) = run(conn, "parts_fill_rate", Filters(store_id="S01"))["rows"]
    return figures


def test_hand_computed_figures(conn: duckdb.DuckDBPyConnection) -> None:
    # 4 approved lines (3 reserved at approval) + 2 lost sales = 6 lines of demand; 1 line
    # bought in an emergency (the other purchase-order line is a normal one): (6 − 1 − 2) ÷ 6
    figures = stored(conn, ["reserved"] * 3 + ["back_order"], [True, False], 2)
    assert figures == {
        "demand": 6, "emergency_purchases": 1, "lost_sales": 2, "fill_rate": Decimal("0.5000"),
        "part_lines_demanded": 4, "filled_from_stock": 3, "back_ordered": 1,
        "special_orders": 0, "reserved_at_approval_rate": Decimal("0.7500")}
    assert fill_rate(2, 5, 0) == Decimal("0.0000")  # more emergency lines than demand: none
    assert fill_rate(0, 2, 0) is None  # no demand, no rate


@settings(max_examples=40)
@given(supplies=st.lists(SUPPLIES, max_size=6), emergency=st.lists(st.booleans(), max_size=6),
       lost=st.integers(0, 5), more=st.integers(1, 3))
def test_the_rate_stays_within_0_and_1_and_lost_sales_never_reduce_demand(
        conn: duckdb.DuckDBPyConnection, supplies: list[str], emergency: list[bool],
        lost: int, more: int) -> None:
    before = stored(conn, supplies, emergency, lost)
    after = stored(conn, supplies, emergency, lost + more)
    assert before["demand"] == len(supplies) + lost
    assert after["demand"] == before["demand"] + more  # a lost sale is demand, never less
    assert after["lost_sales"] == lost + more
    for figures in (before, after):
        rate = figures["fill_rate"]
        assert (rate is None) == (figures["demand"] == 0)
        assert rate is None or Decimal(0) <= rate <= Decimal(1)
    assert after["fill_rate"] is not None
    assert before["fill_rate"] is None or after["fill_rate"] <= before["fill_rate"]


def test_a_voided_lost_sale_is_no_demand(conn: duckdb.DuckDBPyConnection) -> None:
    """A lost sale voided as a wrong entry keeps its row and counts in no figure."""
    before = stored(conn, ["reserved"] * 2, [], 1)
    conn.execute("INSERT INTO fact_lost_sales (notification_id, lost_sale_id, recorded_at, "
                 "store_id, part_number, qty, reason, voided_at) VALUES (9, 'typo', ?, 'S01', "
                 "'P', 20, 'price', ?)", [AT, AT])
    (after,) = run(conn, "parts_fill_rate", Filters(store_id="S01"))["rows"]
    assert (before["demand"], before["lost_sales"]) == (3, 1)
    assert after == before
