"""Labor gross margin, unapplied time and months of supply, the formulas at their boundaries:
the figures of `domain.kpi_figures`, and the catalogue's queries over analytic tables written
by hand into an in-memory DuckDB (a cost set part-way through a period, time clocked before any
cost, no sales, no stock sold)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import duckdb
from hypothesis import given
from hypothesis import strategies as st

from analytics.kpis import Filters, run
from analytics.loader import REVISION
from analytics.tables import create
from domain import kpi_figures as figures

T0 = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def tables() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    create(conn, REVISION)
    conn.execute("SET TimeZone = 'Asia/Shanghai'")
    return conn


def insert(conn: duckdb.DuckDBPyConnection, table: str, **row: Any) -> None:
    names = ", ".join(row)
    conn.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(row))})",
                 list(row.values()))


def settled(conn: duckdb.DuckDBPyConnection, wo: str, store: str, sales: str,
            technician: str = "t1", at: datetime = T0) -> None:
    """A work order settled at `at` with one approved labor line worth `sales` without VAT."""
    insert(conn, "fact_work_orders", work_order_id=wo, store_id=store, settled_at=at,
           status="settled", brand_key="volkswagen", model_key="lavida")
    insert(conn, "fact_labor_lines", work_order_id=wo, line_id="L1", store_id=store,
           status="approved", pay_type="customer", hours_sold=Decimal(1),
           net_ex_vat=Decimal(sales), technician_id=technician)


def punch(conn: duckdb.DuckDBPyConnection, wo: str, technician: str, on: datetime,
          seconds: int, notification_id: int = 1) -> None:
    insert(conn, "fact_clock_punches", work_order_id=wo, job_no=1, technician_id=technician,
           clock_on_at=on, clock_off_at=on + timedelta(seconds=seconds),
           notification_id=notification_id)


def cost_set(conn: duckdb.DuckDBPyConnection, technician: str, at: datetime, cost: str,
             notification_id: int = 1) -> None:
    insert(conn, "fact_hourly_costs", notification_id=notification_id,
           technician_id=technician, store_id="S01", set_at=at, hourly_cost=Decimal(cost))


def margin_rows(conn: duckdb.DuckDBPyConnection, **filters: Any) -> list[dict[str, Any]]:
    return list(run(conn, "labor_gross_margin", Filters(**filters))["rows"])


# -- the figures ------------------------------------------------------------------------------

def test_labor_margin_is_null_without_sales_and_may_go_below_zero() -> None:
    assert figures.labor_margin(Decimal("0.00"), Decimal("85.00")) is None
    assert figures.labor_margin(None, None) is None
    assert figures.labor_margin(Decimal("300.00"), Decimal(0)) == Decimal("1.0000")
    assert figures.labor_margin(Decimal("300.00"), Decimal("100.00")) == Decimal("0.6667")
    assert figures.labor_margin(Decimal("100.00"), Decimal("150.00")) == Decimal("-0.5000")


def test_unapplied_time_is_null_without_hours_available() -> None:
    assert figures.unapplied(3600, Decimal(0)) is None
    assert figures.unapplied(0, None) is None
    assert figures.unapplied(0, Decimal(8)) == Decimal("1.0000")
    assert figures.unapplied(7 * 3600, Decimal(8)) == Decimal("0.1250")
    # 18 s of 100 h is 0.00005: productivity takes the half (0.0001), unapplied the rest
    assert figures.productivity(18, Decimal(100)) == Decimal("0.0001")
    assert figures.unapplied(18, Decimal(100)) == Decimal("0.9999")


@given(clocked=st.integers(0, 20 * 3600),
       available=st.integers(0, 2000).map(lambda n: Decimal(n) / 100))
def test_unapplied_time_and_productivity_add_up_to_one(clocked: int,
                                                       available: Decimal) -> None:
    productivity = figures.productivity(clocked, available)
    unapplied = figures.unapplied(clocked, available)
    assert (productivity is None) == (unapplied is None) == (available == 0)
    if productivity is not None and unapplied is not None:
        assert productivity + unapplied == 1
        assert abs(unapplied - (1 - Decimal(clocked) / (available * 3600))) <= Decimal(
            "0.00005")


# -- labor gross margin over the tables -------------------------------------------------------

def test_a_cost_changed_part_way_costs_each_punch_at_the_rate_it_started_under() -> None:
    conn = tables()
    settled(conn, "wo-1", "S01", "600.00", at=T0 + timedelta(days=2))
    cost_set(conn, "t1", T0 - timedelta(days=30), "80.00", 1)
    cost_set(conn, "t1", T0 + timedelta(hours=5), "100.00", 2)  # a raise that afternoon
    punch(conn, "wo-1", "t1", T0, 2 * 3600)  # 2 h at 80.00
    punch(conn, "wo-1", "t1", T0 + timedelta(hours=4, minutes=30), 3600)  # on before: 80.00
    punch(conn, "wo-1", "t1", T0 + timedelta(days=1), 1800)  # half an hour at 100.00
    [row] = margin_rows(conn)
    assert row["labor_cost"] == Decimal("290.00")  # 3 h x 80.00 + 0.5 h x 100.00
    assert row["labor_gross_profit"] == Decimal("310.00")
    assert row["labor_gross_margin"] == Decimal("0.5167")  # 310 / 600
    assert (row["clocked_seconds"], row["hours_clocked"]) == (12_600, Decimal("3.50"))
    assert (row["seconds_without_cost"], row["hours_without_cost"]) == (0, Decimal("0.00"))


def test_time_clocked_before_any_cost_is_left_out_of_the_cost_and_shown() -> None:
    conn = tables()
    settled(conn, "wo-1", "S01", "300.00")
    punch(conn, "wo-1", "t1", T0, 3600)  # before the first cost: unknown
    cost_set(conn, "t1", T0 + timedelta(hours=2), "90.00")  # never applies back in time
    punch(conn, "wo-1", "t2", T0, 1800)  # t2 never had one
    [row] = margin_rows(conn)
    assert row["labor_cost"] == Decimal("0.00")
    assert (row["seconds_without_cost"], row["hours_without_cost"]) == (5400, Decimal("1.50"))
    assert row["labor_gross_margin"] == Decimal("1.0000")
    # a technician's own figures: the lines dispatched to them, their own punches
    cost_set(conn, "t2", T0 - timedelta(days=1), "60.00")
    [row] = margin_rows(conn, technician="t2")
    assert (row["labor_sales_ex_vat"], row["labor_cost"]) == (Decimal(0), Decimal("30.00"))
    assert row["labor_gross_margin"] is None and row["seconds_without_cost"] == 0


def test_a_cost_is_rounded_to_the_fen_once_and_the_margin_is_null_without_sales() -> None:
    conn = tables()
    insert(conn, "fact_work_orders", work_order_id="wo-1", store_id="S02", settled_at=T0,
           status="settled")  # settled with parts only: time clocked, no labor sold
    cost_set(conn, "t1", T0 - timedelta(days=1), "85.55")
    for i in range(3):  # 3 x 1 s at 85.55: 0.07 (each alone would be 0.02)
        punch(conn, "wo-1", "t1", T0 + timedelta(minutes=i), 1)
    punch(conn, "wo-1", "t1", T0 - timedelta(days=3), 60)  # a work order not settled: not it
    conn.execute("UPDATE fact_clock_punches SET work_order_id = 'wo-open' "
                 "WHERE clock_on_at < ?", [T0 - timedelta(days=1)])
    [row] = margin_rows(conn)
    assert (row["store_id"], row["labor_sales_ex_vat"], row["labor_cost"]) == (
        "S02", Decimal(0), Decimal("0.07"))
    assert row["clocked_seconds"] == 3
    assert row["labor_gross_margin"] is None
    assert row["labor_gross_profit"] == Decimal("-0.07")


def test_each_store_its_row_and_the_period_by_the_settlement() -> None:
    conn = tables()
    cost_set(conn, "t1", T0 - timedelta(days=30), "50.00")
    settled(conn, "wo-1", "S01", "400.00")
    settled(conn, "wo-2", "S02", "200.00", at=T0 + timedelta(days=10))
    punch(conn, "wo-1", "t1", T0 - timedelta(hours=1), 3600)
    punch(conn, "wo-2", "t1", T0, 7200)
    both = {r["store_id"]: (r["labor_cost"], r["labor_gross_margin"]) for r in
            margin_rows(conn)}
    assert both == {"S01": (Decimal("50.00"), Decimal("0.8750")),
                    "S02": (Decimal("100.00"), Decimal("0.5000"))}
    [early] = margin_rows(conn, date_to=date(2025, 3, 5))
    assert early["store_id"] == "S01"
    assert margin_rows(conn, store_id="S02")[0]["labor_cost"] == Decimal("100.00")
    assert margin_rows(conn, brand="VOLKSWAGEN", model="ＬＡＶＩＤＡ") != []
    assert margin_rows(conn, brand="Audi") == []


PUNCHES = st.lists(st.tuples(st.sampled_from(["S01", "S02"]), st.sampled_from(["t1", "t2"]),
                             st.integers(0, 20 * 24 * 60), st.integers(1, 4 * 3600)),
                   max_size=12)
COSTS = st.lists(st.tuples(st.sampled_from(["t1", "t2"]), st.integers(0, 20 * 24 * 60),
                           st.integers(0, 20_000)), max_size=6)


@given(punches=PUNCHES, costs=COSTS, sales=st.integers(0, 100_000))
def test_the_cost_is_each_punch_at_its_rate_and_the_margin_that_of_the_shown_sums(
        punches: list[tuple[str, str, int, int]], costs: list[tuple[str, int, int]],
        sales: int) -> None:
    conn = tables()
    for store in ("S01", "S02"):
        settled(conn, f"wo-{store}", store, str(Decimal(sales) / 100))
    for n, (technician, minute, fen) in enumerate(costs):
        cost_set(conn, technician, T0 + timedelta(minutes=minute), str(Decimal(fen) / 100), n)
    for store, technician, minute, seconds in punches:
        punch(conn, f"wo-{store}", technician, T0 + timedelta(minutes=minute, seconds=30),
              seconds)
    rows = {r["store_id"]: r for r in margin_rows(conn)}

    def in_force(technician: str, at: int) -> Decimal | None:
        """The cost set last (by time, then by event) at or before minute `at`."""
        found = [(minute, n, Decimal(fen) / 100) for n, (t, minute, fen) in enumerate(costs)
                 if t == technician and minute <= at]
        return max(found)[2] if found else None

    for store in ("S01", "S02"):
        mine = [(in_force(t, m), s) for st_, t, m, s in punches if st_ == store]
        exact = sum((c * s for c, s in mine if c is not None), Decimal(0)) / 3600
        cost = exact.quantize(Decimal("0.01"), ROUND_HALF_UP)
        row = rows[store]
        assert row["labor_cost"] == cost
        assert row["seconds_without_cost"] == sum(s for c, s in mine if c is None)
        assert row["clocked_seconds"] == sum(s for _, s in mine)
        assert row["labor_gross_margin"] == figures.labor_margin(row["labor_sales_ex_vat"],
                                                                 cost)
    # the stores together: the margin of the summed parts is one KPI's figure for both
    total_sales = sum((r["labor_sales_ex_vat"] for r in rows.values()), Decimal(0))
    total_cost = sum((r["labor_cost"] for r in rows.values()), Decimal(0))
    profit = sum((r["labor_gross_profit"] for r in rows.values()), Decimal(0))
    assert profit == total_sales - total_cost
    assert figures.labor_margin(total_sales, total_cost) == figures.quotient(
        profit, total_sales)


# -- months of supply -------------------------------------------------------------------------

def stock(conn: duckdb.DuckDBPyConnection, n: int, kind: str, qty: int, day: date) -> None:
    insert(conn, "fact_stock_movements", notification_id=n, seq=0, store_id="S01",
           part_number="OF", type=kind, qty=Decimal(qty), unit_cost=Decimal("40.00"),
           value=Decimal(qty) * 40, moved_at=datetime(day.year, day.month, day.day, 4,
                                                      tzinfo=UTC))


def test_months_of_supply_is_the_closing_stock_over_a_months_cost_sold() -> None:
    conn = tables()
    stock(conn, 1, "receipt", 100, date(2024, 12, 1))
    period = Filters(date_from=date(2025, 1, 1), date_to=date(2025, 12, 31))  # 365 days
    [row] = run(conn, "parts_turnover", period)["rows"]
    assert row["cost_of_parts_sold"] == 0 and row["months_of_supply"] is None
    stock(conn, 2, "issue", -30, date(2025, 3, 1))  # 1,200.00 sold in the year: 100.00 a month
    stock(conn, 3, "return_from_job", 3, date(2025, 3, 2))  # 120.00 back: 90.00 a month
    [row] = run(conn, "parts_turnover", period)["rows"]
    assert (row["cost_of_parts_sold"], row["inventory_end"]) == (Decimal("1080.00"),
                                                                 Decimal("2920.00"))
    assert row["months_of_supply"] == Decimal("32.44")  # 2,920.00 / 90.00
    # a 73-day period is 2.4 months: 1,080.00 in it is 450.00 a month
    [row] = run(conn, "parts_turnover", Filters(date_from=date(2025, 2, 1),
                                                 date_to=date(2025, 4, 14)))["rows"]
    assert row["months_of_supply"] == Decimal("6.49")  # 2,920.00 / 450.00
    conn.execute("DELETE FROM fact_stock_movements WHERE type = 'receipt'")
    stock(conn, 4, "receipt", 27, date(2024, 12, 1))  # nothing left at the end
    [row] = run(conn, "parts_turnover", period)["rows"]
    assert row["inventory_end"] == 0 and row["months_of_supply"] == Decimal("0.00")
