"""Parts sales and parts gross margin (`parts_sales`), checked against figures worked out by
hand on a scripted month, and reconciled with the other money KPIs: labor sales (effective
labor rate) + parts sales − credits after settlement = the gross profit's revenue.

Every price carries 13 % VAT; a net n holds round(n × 0.13 / 1.13, 2) of it. All times are UTC
between 03:00 and 10:00, far from any day boundary; the KPI connection runs in UTC.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import duckdb
import pytest

from analytics.kpis import Filters, run
from analytics.loader import AnalyticsLoader
from servicecore.container import Container
from servicecore.demo import make_vin
from tests.integration.analytics_support import Shop, at

D = Decimal
MAY = {"date_from": date(2025, 5, 1), "date_to": date(2025, 5, 31)}


def visit(shop: Shop, day: str) -> UUID:
    wo, _ = shop.open(make_vin(shop.rng), "wipers", "repair", at(day, "03:00"))
    shop.c.work_orders.check_in(shop.r("advisor", at(day, "03:10")), wo, mileage_in=30_010,
                                fuel_level=50)
    return wo


def month(c: Container, store: str) -> tuple[UUID, UUID]:
    """Two settled visits in May 2025 and one left unsettled (numbers in the asserts); V1's
    work order and settlement (its warranty bill left to the OEM)."""
    shop = Shop(c, store)
    # PA (list 200.00): 5 @ 80.00; PB (list 113.00): 4 @ 50.00
    shop.register(shop.p1, "wiper", "200.00", at("2025-04-01", "03:00"))
    shop.register(shop.p2, "sensor", "113.00", at("2025-04-01", "03:00"))
    shop.receive(shop.p1, 5, "80.00", at("2025-04-01", "03:10"))
    shop.receive(shop.p2, 4, "50.00", at("2025-04-01", "03:10"))
    w = c.work_orders

    # V1 (6 May): customer labor 1.0 h @ 226.00; customer part PA x2 = 400.00; warranty part
    # PB x2 = 226.00 with a 56.50 deductible (the warranty bill 169.50, the customer bill a
    # deductible line of 56.50). 68.25 off the customer bill (682.50): a tenth of each line,
    # 22.60 + 40.00 + 5.65.
    d = "2025-05-06"
    v1 = visit(shop, d)
    labor = shop.labor(v1, "1.0", "226.00", at(d, "03:15"))
    pa = shop.part(v1, shop.p1, 2, at(d, "03:16"))
    pb = str(w.add_part_line(shop.r("advisor", at(d, "03:17")), v1, 1, {
        "part_number": shop.p2, "qty": 2, "pay_type": "warranty",
        "warranty": {"coverage_code": "C-1", "deductible": "56.50"}}).body["line_id"])
    shop.approve(v1, [labor, pa, pb], at(d, "03:20"))
    shop.workshop(v1, shop.t1, at(d, "04:00"), at(d, "05:00"), issue=(pa, pb))
    s1 = shop.settle(v1, at(d, "06:00"), [("cash", "614.25")], discount="68.25")
    (payment,) = c.app.repository.get(s1).payments
    # a payment returned after settlement (the customer paid 10.00 too much in cash, say):
    # money, not revenue: neither the gross profit nor the parts sales change
    refund = c.settlements.request_refund(shop.r("cashier", at(d, "07:00")), s1,
                                          payment_id=payment, amount="10.00",
                                          reason="paid twice",
                                          kind="payment_return").body["refund_id"]
    c.settlements.decide_refund(shop.r("manager", at(d, "07:10")), s1, refund, approve=True,
                                payout_method="cash")

    # V2 (8 May): customer labor 0.5 h @ 226.00 = 113.00; customer part PA x1 = 200.00; then
    # a credit of 11.30 (a price allowance after settlement: 10.00 revenue, 1.30 VAT)
    d = "2025-05-08"
    v2 = visit(shop, d)
    labor2 = shop.labor(v2, "0.5", "226.00", at(d, "03:15"))
    pa2 = shop.part(v2, shop.p1, 1, at(d, "03:16"))
    shop.approve(v2, [labor2, pa2], at(d, "03:20"))
    shop.workshop(v2, shop.t1, at(d, "04:00"), at(d, "05:00"), issue=(pa2,))
    s2 = shop.settle(v2, at(d, "06:00"), [("cash", "313.00")])
    (payment,) = c.app.repository.get(s2).payments
    credit = c.settlements.request_refund(shop.r("cashier", at(d, "07:00")), s2,
                                          payment_id=payment, amount="11.30",
                                          reason="goodwill: waiting time",
                                          kind="credit").body["refund_id"]
    c.settlements.decide_refund(shop.r("manager", at(d, "07:10")), s2, credit, approve=True)

    # V3 (9 May): PA x1 approved and issued, the work done, but not settled: no sale yet
    d = "2025-05-09"
    v3 = visit(shop, d)
    pa3 = shop.part(v3, shop.p1, 1, at(d, "03:16"))
    shop.approve(v3, [pa3], at(d, "03:20"))
    shop.workshop(v3, shop.t1, at(d, "04:00"), at(d, "05:00"), issue=(pa3,))
    return v1, s1


@pytest.fixture(scope="module")
def loaded(container: Container, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[duckdb.DuckDBPyConnection, str]]:
    store = "PS" + uuid.uuid4().hex[:6].upper()
    month(container, store)
    loader = AnalyticsLoader(container.app, tmp_path_factory.mktemp("parts") / "a.duckdb")
    loader.catch_up()
    loader.conn.execute("SET TimeZone = 'UTC'")
    yield loader.conn, store
    loader.close()


Loaded = tuple[duckdb.DuckDBPyConnection, str]


def kpi(loaded: Loaded, name: str, **filters: Any) -> list[dict[str, Any]]:
    conn, store = loaded
    return run(conn, name, Filters(store_id=store, **filters))["rows"]


def by_pay_type(loaded: Loaded, **filters: Any) -> dict[str, dict[str, Any]]:
    rows = kpi(loaded, "parts_sales", **filters)
    assert rows[-1]["pay_type"] == "total"  # the pay types first, the total last
    return {r["pay_type"]: r for r in rows}


def test_parts_sales_per_pay_type_after_discounts_without_vat(loaded: Loaded) -> None:
    rows = by_pay_type(loaded, **MAY)
    assert list(rows) == ["customer", "warranty", "total"]
    # customer: V1 PA 400.00 − 40.00 = 360.00, VAT 41.42: 318.58; V2 PA 200.00, VAT 23.01:
    # 176.99; sales 495.57; FIFO cost 3 × 80.00 = 240.00; 255.57 ÷ 495.57 = 0.5157
    c = rows["customer"]
    assert (c["part_lines"], c["units"]) == (2, D("3.000"))
    assert (c["parts_sales_ex_vat"], c["parts_cost"]) == (D("495.57"), D("240.00"))
    assert (c["parts_gross_profit"], c["parts_gross_margin"]) == (D("255.57"), D("0.5157"))
    # warranty: V1 PB on the warranty bill 169.50, VAT 19.50: 150.00, and its deductible on
    # the customer bill 56.50 − 5.65 = 50.85, VAT 5.85: 45.00 (counted with its line);
    # sales 195.00; cost 2 × 50.00 = 100.00; 95.00 ÷ 195.00 = 0.4872; one line of 2 units
    wy = rows["warranty"]
    assert (wy["part_lines"], wy["units"]) == (1, D("2.000"))
    assert (wy["parts_sales_ex_vat"], wy["parts_cost"]) == (D("195.00"), D("100.00"))
    assert (wy["parts_gross_profit"], wy["parts_gross_margin"]) == (D("95.00"), D("0.4872"))
    # total: 690.57 − 340.00 = 350.57; 350.57 ÷ 690.57 = 0.5077. V3 is not settled.
    t = rows["total"]
    assert (t["part_lines"], t["units"]) == (3, D("5.000"))
    assert (t["parts_sales_ex_vat"], t["parts_cost"]) == (D("690.57"), D("340.00"))
    assert (t["parts_gross_profit"], t["parts_gross_margin"]) == (D("350.57"), D("0.5077"))
    for row in rows.values():
        for name in ("parts_sales_ex_vat", "parts_cost", "parts_gross_profit",
                     "parts_gross_margin", "units"):
            assert isinstance(row[name], Decimal), (name, row[name])  # never a float
        assert len(str(row["parts_sales_ex_vat"]).partition(".")[2]) == 2
        assert len(str(row["parts_gross_margin"]).partition(".")[2]) == 4


def test_parts_sales_filters(loaded: Loaded) -> None:
    rows = by_pay_type(loaded, pay_type="warranty", **MAY)
    assert list(rows) == ["warranty", "total"]
    assert rows["total"]["parts_sales_ex_vat"] == D("195.00")
    # V1 alone (settled 6 May)
    one_day = by_pay_type(loaded, date_from=date(2025, 5, 6), date_to=date(2025, 5, 6))
    assert one_day["total"]["parts_sales_ex_vat"] == D("513.58")  # 318.58 + 195.00
    assert by_pay_type(loaded, brand="VOLKSWAGEN", model="lavida", **MAY)[
        "total"]["parts_sales_ex_vat"] == D("690.57")
    # nothing sold: a total row of zeros, no margin
    (empty,) = kpi(loaded, "parts_sales", date_from=date(2025, 6, 1), date_to=date(2025, 6, 30))
    assert (empty["pay_type"], empty["part_lines"], empty["parts_sales_ex_vat"]) == (
        "total", 0, D("0.00"))
    assert empty["parts_gross_margin"] is None


def test_labor_and_parts_sales_add_up_to_the_gross_profit_revenue(loaded: Loaded) -> None:
    labor = sum((r["labor_sales_ex_vat"] for r in kpi(loaded, "effective_labor_rate", **MAY)),
                D(0))
    parts = by_pay_type(loaded, **MAY)["total"]
    (gross,) = kpi(loaded, "gross_profit", **MAY)
    # labor: V1 226.00 − 22.60 = 203.40, VAT 23.40: 180.00; V2 113.00, VAT 13.00: 100.00
    assert labor == D("280.00")
    # the credit on V2 (11.30 with its VAT: 10.00 of revenue) is the gross profit's only
    # other revenue figure: 280.00 + 690.57 − 10.00 = 960.57; the 10.00 returned is not one
    assert gross["revenue_ex_vat"] == labor + parts["parts_sales_ex_vat"] - D("10.00")
    assert gross["revenue_ex_vat"] == D("960.57")
    assert gross["parts_cost"] == parts["parts_cost"]
    # and day by day: the 6th has no credit, so labor + parts is the revenue itself
    sixth = {"date_from": date(2025, 5, 6), "date_to": date(2025, 5, 6)}
    (day,) = kpi(loaded, "gross_profit", **sixth)
    labor_6 = sum((r["labor_sales_ex_vat"] for r in kpi(loaded, "effective_labor_rate",
                                                        **sixth)), D(0))
    assert day["revenue_ex_vat"] == labor_6 + by_pay_type(loaded, **sixth)[
        "total"]["parts_sales_ex_vat"] == D("693.58")
