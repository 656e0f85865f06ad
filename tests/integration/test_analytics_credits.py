"""Credits after settlement (`credits`, 退款与红冲), on the scripted month of the parts sales
test (tests/integration/test_analytics_parts_sales.py): a payment return of 10.00 on V1 and a
credit of 11.30 on V2, both on the customer bill, both approved in May. Then a month of its
own: a credit with its red-letter invoice, one rejected, one taken back by a reversal, and
V1's warranty bill written off once the OEM rejected its claim."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import duckdb
import pytest

from analytics.loader import AnalyticsLoader
from domain.oem_claims import OemClaims
from domain.receivable_adjustments import ReceivableAdjustments
from servicecore.container import Container
from tests.integration.analytics_support import Shop, at
from tests.integration.test_analytics_parts_sales import MAY, Loaded, kpi, month, visit

D = Decimal
JUNE = {"date_from": date(2025, 6, 1), "date_to": date(2025, 6, 30)}


def june(c: Container, store: str, v1: UUID, s1: UUID) -> None:
    """V4 (2 June): customer labor 1.0 h @ 113.00, paid, invoiced; a credit of 22.60 with its
    red-letter invoice (20.00 + 2.60 VAT), a credit of 5.65 rejected. V5 (3 June): labor 2.0 h
    @ 113.00, a credit of 11.30 approved, then the settlement reversed (the credit counts as a
    payment return from then on)."""
    shop = Shop(c, store)
    s = c.settlements
    d = "2025-06-02"
    v4 = visit(shop, d)
    labor = shop.labor(v4, "1.0", "113.00", at(d, "03:15"))
    shop.approve(v4, [labor], at(d, "03:20"))
    shop.workshop(v4, shop.t1, at(d, "04:00"), at(d, "05:00"))
    s4 = shop.settle(v4, at(d, "06:00"), [("cash", "113.00")])
    s.record_invoice(shop.r("cashier", at(d, "06:10")), s4, bill="customer",
                     invoice_no="1100" + uuid.uuid4().hex[:8])
    (payment,) = c.app.repository.get(s4).payments
    red = s.request_refund(shop.r("cashier", at(d, "07:00")), s4, payment_id=payment,
                           amount="22.60", reason="goodwill", kind="credit",
                           red_invoice_number="2200" + uuid.uuid4().hex[:8]).body["refund_id"]
    s.decide_refund(shop.r("manager", at(d, "07:10")), s4, red, approve=True)
    no = s.request_refund(shop.r("cashier", at(d, "07:20")), s4, payment_id=payment,
                          amount="5.65", reason="asked again", kind="credit",
                          red_invoice_number="3300" + uuid.uuid4().hex[:8]).body["refund_id"]
    s.decide_refund(shop.r("manager", at(d, "07:30")), s4, no, approve=False, reason="one is enough")

    d = "2025-06-03"
    v5 = visit(shop, d)
    labor = shop.labor(v5, "2.0", "113.00", at(d, "03:15"))
    shop.approve(v5, [labor], at(d, "03:20"))
    shop.workshop(v5, shop.t1, at(d, "04:00"), at(d, "05:00"))
    s5 = shop.settle(v5, at(d, "06:00"), [("cash", "226.00")])
    (payment,) = c.app.repository.get(s5).payments
    back = s.request_refund(shop.r("cashier", at(d, "07:00")), s5, payment_id=payment,
                            amount="11.30", reason="goodwill", kind="credit").body["refund_id"]
    s.decide_refund(shop.r("manager", at(d, "07:10")), s5, back, approve=True)
    s.reverse(shop.r("manager", at(d, "08:00")), s5, reason="wrong pay type")

    # V1's claim (warranty bill 169.50) rejected by the OEM: 169.50 written off on the 5th,
    # taken back and 100.00 written off again on the 6th
    d = "2025-06-05"
    claims = OemClaims(c.app)
    claims.submit(shop.r("advisor", at(d, "03:00")), v1,
                        oem_claim_number="VW-" + uuid.uuid4().hex[:8])
    claims.reject(shop.r("advisor", at(d, "03:10")), v1, reason_code="R-40",
                        reason="repair record missing")
    adjust = ReceivableAdjustments(c.app)
    first = adjust.write_off(shop.r("manager", at(d, "04:00")), s1, kind="oem_rejected",
                             amount=None, reason="final rejection").body["written_off"]["write_off_id"]
    d = "2025-06-06"
    adjust.reverse_write_off(shop.r("manager", at(d, "04:00")), s1, first, reason="appealed")
    adjust.write_off(shop.r("manager", at(d, "05:00")), s1, kind="oem_rejected",
                     amount="100.00", reason="final rejection, in part")


@pytest.fixture(scope="module")
def loaded(container: Container, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[duckdb.DuckDBPyConnection, str]]:
    store = "CR" + uuid.uuid4().hex[:6].upper()
    june(container, store, *month(container, store))
    loader = AnalyticsLoader(container.app, tmp_path_factory.mktemp("credits") / "a.duckdb")
    loader.catch_up()
    loader.conn.execute("SET TimeZone = 'UTC'")
    yield loader.conn, store
    loader.close()


def by_pay_type(loaded: Loaded, **filters: Any) -> dict[str, dict[str, Any]]:
    rows = kpi(loaded, "credits", **filters)
    assert rows[-1]["pay_type"] == "total"
    return {r["pay_type"]: r for r in rows}


def test_a_payment_return_and_a_credit_by_kind(loaded: Loaded) -> None:
    rows = by_pay_type(loaded, **MAY)
    assert list(rows) == ["customer", "total"]
    t = rows["total"]
    # 10.00 returned (no VAT taken back) + 11.30 credited (10.00 + 1.30 VAT)
    assert (t["credits"], t["amount"], t["vat_taken_back"], t["amount_ex_vat"]) == (
        2, D("21.30"), D("1.30"), D("20.00"))
    assert (t["payment_returns"], t["payment_returns_amount"]) == (1, D("10.00"))
    assert (t["credit_notes"], t["credit_notes_amount"], t["credit_notes_ex_vat"]) == (
        1, D("11.30"), D("10.00"))
    assert t["red_letter_invoices"] == 0  # neither bill was invoiced
    assert rows["customer"] == {**t, "pay_type": "customer"}
    for name in ("amount", "vat_taken_back", "amount_ex_vat", "credit_notes_ex_vat"):
        assert isinstance(t[name], Decimal) and len(str(t[name]).partition(".")[2]) == 2


def test_labor_and_parts_sales_less_credits_are_the_gross_profit_revenue(
        loaded: Loaded) -> None:
    labor = sum((r["labor_sales_ex_vat"] for r in kpi(loaded, "effective_labor_rate", **MAY)),
                D(0))
    parts = kpi(loaded, "parts_sales", **MAY)[-1]
    (gross,) = kpi(loaded, "gross_profit", **MAY)
    credited = by_pay_type(loaded, **MAY)["total"]["credit_notes_ex_vat"]
    # 280.00 + 690.57 − 10.00 = 960.57; the payment returned is not revenue
    assert labor + parts["parts_sales_ex_vat"] - credited == gross["revenue_ex_vat"] == D(
        "960.57")
    # June too: V4 labor 100.00 less its credit's 20.00 (V5 reversed: not settled, not sold)
    labor = sum((r["labor_sales_ex_vat"] for r in kpi(loaded, "effective_labor_rate", **JUNE)),
                D(0))
    (gross,) = kpi(loaded, "gross_profit", **JUNE)
    credited = by_pay_type(loaded, **JUNE)["total"]["credit_notes_ex_vat"]
    assert labor - credited == gross["revenue_ex_vat"] == D("80.00")


def test_a_red_letter_credit_a_rejected_one_and_a_reversed_one(loaded: Loaded) -> None:
    t = by_pay_type(loaded, **JUNE)["total"]
    # V4's credit of 22.60 with its red-letter invoice; the 5.65 rejected is not counted;
    # V5's credit of 11.30, taken back by the reversal, counts as a payment return
    assert (t["credit_notes"], t["red_letter_invoices"], t["credit_notes_amount"],
            t["credit_notes_ex_vat"]) == (1, 1, D("22.60"), D("20.00"))
    assert (t["payment_returns"], t["payment_returns_amount"]) == (1, D("11.30"))
    assert (t["credits"], t["amount"], t["vat_taken_back"], t["amount_ex_vat"]) == (
        2, D("33.90"), D("2.60"), D("31.30"))


def test_write_offs_beside_the_money_given_back(loaded: Loaded) -> None:
    rows = by_pay_type(loaded, **JUNE)
    assert list(rows) == ["customer", "warranty", "total"]
    # 169.50 written off, taken back, 100.00 written off: two write-offs, 100.00 net; no
    # money moved, so none of it is in the credits' count or amount
    w = rows["warranty"]
    assert (w["write_offs"], w["write_offs_amount"], w["credits"], w["amount"]) == (
        2, D("100.00"), 0, D("0.00"))
    assert (rows["total"]["write_offs"], rows["total"]["write_offs_amount"]) == (2, D("100.00"))
    # day by day: the 5th's write-off, the 6th's taking back and new write-off
    fifth = by_pay_type(loaded, date_from=date(2025, 6, 5), date_to=date(2025, 6, 5))["total"]
    sixth = by_pay_type(loaded, date_from=date(2025, 6, 6), date_to=date(2025, 6, 6))["total"]
    assert (fifth["write_offs"], fifth["write_offs_amount"]) == (1, D("169.50"))
    assert (sixth["write_offs"], sixth["write_offs_amount"]) == (1, D("-69.50"))
    assert by_pay_type(loaded, pay_type="customer", **JUNE)["total"]["write_offs"] == 0


def test_filters(loaded: Loaded) -> None:
    # the approval's business day: V1's return on the 6th, V2's credit on the 8th
    sixth = by_pay_type(loaded, date_from=date(2025, 5, 6), date_to=date(2025, 5, 6))["total"]
    assert (sixth["credits"], sixth["payment_returns"], sixth["amount"]) == (1, 1, D("10.00"))
    (none,) = kpi(loaded, "credits", pay_type="warranty", **MAY)
    assert (none["pay_type"], none["credits"], none["amount"]) == ("total", 0, D("0.00"))
    assert by_pay_type(loaded, brand="VOLKSWAGEN", model="lavida", **MAY)[
        "total"]["amount"] == D("21.30")
    (empty,) = kpi(loaded, "credits", date_from=date(2025, 7, 1), date_to=date(2025, 7, 31))
    assert (empty["credits"], empty["credit_notes_ex_vat"]) == (0, D("0.00"))
