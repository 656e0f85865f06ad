"""The money of a visit told as commands on the Settlements and Aftercare services, in memory.

Every visit is driven to ready_for_settlement the way the workshop does it: the pads are in the
part master and in stock, the lines are added and decided, the job is dispatched, the parts are
issued, the technician clocks on and off and completes the job, and QC passes it.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.aftercare import Aftercare
from domain.application import CommandResult, ServiceCore
from domain.cashier_day import CashierDay, DayClosed
from domain.common import DomainError, IllegalTransition, InvalidInput, NotFound, NotPermitted
from domain.follow_up import Complaint, FollowUp, FollowUpError
from domain.grievance import Grievance
from domain.payment_reference import PaymentReference
from domain.settlement import Settlement
from domain.settlement_bills import build_bills
from domain.settlement_state import MAX_PAYMENTS, MAX_REFUNDS, SettlementError
from domain.settlements import Settlements
from domain.work_order_lines import labor_line, part_line
from domain.work_order_state import WorkOrderError
from domain.work_orders import WorkOrders
from tests.unit.support import (
    PADS,
    T0,
    checked_in,
    clerk,
    events_stored,
    labor,
    load,
    load_stock,
    on_roster,
    part,
    request,
    stock_part,
)

CASHIER = request("cashier", "cash-1")
OTHER_CASHIER = request("cashier", "cash-2")
MANAGER = request("manager", "mgr-1")
OTHER_MANAGER = request("manager", "mgr-2")
TECH = request("technician", "tech-zhao")
WARRANTY = {"coverage_code": "PT-5Y"}
INSURANCE = {"insurer": "PICC", "claim_number": "CLM-2026-0042"}


@pytest.fixture
def app() -> ServiceCore:
    app = ServiceCore()
    on_roster(app, "tech-zhao")
    on_roster(app, "tech-liu", "S02")
    return app


@pytest.fixture
def care(app: ServiceCore) -> Aftercare:
    return Aftercare(app)


def visit(app: ServiceCore, wos: WorkOrders, lines: list[dict[str, Any]] | None = None, *,
          decline: tuple[str, ...] = (), issue: dict[str, str] | None = None,
          withdraw: tuple[str, ...] = (), deposit: tuple[Settlements, str] | None = None,
          ) -> UUID:
    """A visit ready for settlement: by default 1.5 h of brake labor and one set of pads, both
    the customer's (450.00 + 450.00). Lines with a part_number are part lines (the pads);
    `issue` issues only part of a line, `withdraw` withdraws the rest; `deposit` is taken at
    check-in, before any line exists."""
    stock_part(app, PADS, "20")
    wo = checked_in(wos)
    if deposit is not None:
        settlements, amount = deposit
        settlements.pay(CASHIER, work_order_id=wo, method="cash", amount=amount)
    ids = []
    for data in lines if lines is not None else [labor(), part()]:
        add = wos.add_part_line if "part_number" in data else wos.add_labor_line
        ids.append(str(add(request(), wo, 1, data).body["line_id"]))
    for line_id in ids:
        wos.authorize_line(request(), wo, line_id, channel="phone",
                           decision="declined" if line_id in decline else "approved")
    wos.dispatch(MANAGER, wo, 1, technician_id="tech-zhao")
    for line_id in ids:
        if load(app, wo).lines[line_id]["kind"] == "part" and line_id not in decline:
            wos.issue_part(clerk(), wo, line_id, qty=(issue or {}).get(line_id))
    for line_id in withdraw:
        wos.withdraw_line(request(), wo, line_id, reason="customer keeps the old one")
    wos.clock_on(TECH, wo, 1)
    wos.clock_off(TECH, wo, 1)
    wos.complete_job(TECH, wo, 1)
    wos.quality_check(MANAGER, wo, 1, passed=True)
    assert load(app, wo).status == "ready_for_settlement"
    return wo


def settlement_of(app: ServiceCore, wo: UUID) -> Settlement:
    found: object = app.repository.get(Settlement.create_id(wo))
    assert isinstance(found, Settlement)
    return found


def confirmed(money: Settlements, wo: UUID, **draft: Any) -> CommandResult:
    drafted = money.draft(CASHIER, wo, **draft)
    return money.confirm(CASHIER, UUID(drafted.body["id"]))


def balanced(entries: list[dict[str, Any]]) -> bool:
    return all(sum((p["debit"] for p in e["postings"]), Decimal(0))
               == sum((p["credit"] for p in e["postings"]), Decimal(0)) for e in entries)


def stored_since(app: ServiceCore, after: int) -> list[tuple[Any, str]]:
    """(stream, event class) of every event stored after notification `after`."""
    notes = app.recorder.select_notifications(start=after + 1, limit=100)
    return [(n.originator_id, n.topic.rsplit(":", 1)[1]) for n in notes]


# -- drafting: what is billed, to whom ----------------------------------------------------------

def test_a_settlement_is_drafted_only_from_a_ready_work_order(app: ServiceCore, wos: WorkOrders,
                                                              money: Settlements) -> None:
    wo = checked_in(wos)
    wos.add_labor_line(request(), wo, 1, labor())
    before = events_stored(app)
    with pytest.raises(SettlementError, match="checked_in"):
        money.draft(CASHIER, wo)
    with pytest.raises(NotFound):
        money.draft(CASHIER, UUID(int=7))
    assert events_stored(app) == before

    ready = visit(app, wos)
    drafted = money.draft(CASHIER, ready)
    assert drafted.body["status"] == "draft"
    assert drafted.body["bills"] == {"customer": {"total": "900.00", "allowances": "0.00",
                                                  "paid": "0.00", "expensed": "0.00",
                                                  "outstanding": "900.00",
                                                  "written_off": "0.00"}}
    # A draft may be drafted again; once confirmed it may not.
    money.draft(CASHIER, ready)
    money.confirm(CASHIER, UUID(drafted.body["id"]))
    before = events_stored(app)
    with pytest.raises(SettlementError):
        money.draft(CASHIER, ready)
    assert events_stored(app) == before


def test_bills_per_pay_type_itemise_approved_labor_and_issued_parts(app: ServiceCore,
                                                                    wos: WorkOrders,
                                                                    money: Settlements) -> None:
    wo = visit(app, wos, [
        labor(),                                                        # L1 customer 450.00
        part(qty="2"),                                                  # L2 one set issued
        labor(op_code="DIAG", hours="0.5", pay_type="warranty", warranty=WARRANTY),  # L3 150
        labor(op_code="WASH", hours="0.2", hourly_rate="100.00"),       # L4 declined
        labor(op_code="BODY", hours="2", pay_type="insurance"),         # L5 600.00
        labor(op_code="PDI", hours="1", hourly_rate="200.00", pay_type="internal"),  # L6
    ], decline=("L4",), issue={"L2": "1"}, withdraw=("L2",))

    money.draft(CASHIER, wo, insurance=INSURANCE, internal_department=" used cars ")
    bills = settlement_of(app, wo).bills

    assert sorted(bills) == ["customer", "insurance", "internal", "warranty"]
    customer = bills["customer"]
    # The declined wash is not billed; the pads at the one set issued, not the two estimated.
    assert [(ln["line_id"], ln["kind"], ln["qty"], ln["gross"], ln["vat"], ln["cost"])
            for ln in customer["lines"]] == [
        ("L1", "labor", Decimal("1.5"), Decimal("450.00"), Decimal("51.77"), Decimal("0.00")),
        ("L2", "part", Decimal(1), Decimal("450.00"), Decimal("51.77"), Decimal("210.00"))]
    assert customer["lines"][0]["op_code"] == "BRK01"
    assert customer["lines"][1]["part_number"] == PADS
    assert (customer["labor"], customer["parts"], customer["vat"], customer["total"],
            customer["cost"]) == (Decimal("450.00"), Decimal("450.00"), Decimal("103.54"),
                                  Decimal("900.00"), Decimal("210.00"))
    assert customer["payer"] == {"customer_id": str(load(app, wo).customer_id)}

    warranty = bills["warranty"]
    assert [ln["line_id"] for ln in warranty["lines"]] == ["L3"]
    assert (warranty["labor"], warranty["parts"], warranty["vat"], warranty["total"]) == (
        Decimal("150.00"), Decimal("0.00"), Decimal("17.26"), Decimal("150.00"))
    assert warranty["lines"][0]["warranty"]["coverage_code"] == "PT-5Y"
    assert warranty["payer"] == {"oem": "Volkswagen", "vin": load(app, wo).vehicle["vin"]}

    insurance = bills["insurance"]
    assert [ln["line_id"] for ln in insurance["lines"]] == ["L5"]
    assert (insurance["total"], insurance["vat"]) == (Decimal("600.00"), Decimal("69.03"))
    assert insurance["payer"] == INSURANCE

    internal = bills["internal"]
    assert (internal["total"], internal["vat"]) == (Decimal("200.00"), Decimal("23.01"))
    assert internal["payer"] == {"department": "used cars"}


def test_pending_declined_and_unissued_lines_are_not_billed() -> None:
    def decided(line: dict[str, Any], status: str, issued: str | None = None) -> dict[str, Any]:
        line["status"] = status
        if issued is not None:
            line["issued_qty"], line["issued_cost"] = Decimal(issued), Decimal("210.00")
        return line

    lines = [
        decided(labor_line("L1", 1, labor()), "approved"),
        decided(labor_line("L2", 1, labor(op_code="OIL")), "pending"),
        decided(labor_line("L3", 1, labor(op_code="WASH")), "declined"),
        decided(part_line("L4", 1, part()), "approved", issued="0"),
        decided(part_line("L5", 1, part(part_number="wb-600")), "pending", issued="1"),
        decided(part_line("L6", 1, part(part_number="oil-5w30", qty="4.5", unit_price="80.00")),
                "approved", issued="4"),
    ]
    bills = build_bills(lines, {})
    assert [ln["line_id"] for ln in bills["customer"]["lines"]] == ["L1", "L6"]
    assert bills["customer"]["parts"] == Decimal("320.00")  # 4 litres issued, not 4.5


def test_insurance_and_internal_lines_need_who_pays(app: ServiceCore, wos: WorkOrders,
                                                    money: Settlements) -> None:
    wo = visit(app, wos, [labor(), labor(op_code="BODY", pay_type="insurance"),
                          labor(op_code="PDI", pay_type="internal")])
    before = events_stored(app)
    with pytest.raises(InvalidInput, match="insurer and claim number") as no_insurer:
        money.draft(CASHIER, wo, internal_department="used cars")
    assert no_insurer.value.extra["field"] == "insurance"
    with pytest.raises(InvalidInput, match="insurer and claim number") as blank_claim:
        money.draft(CASHIER, wo, insurance={"insurer": "PICC", "claim_number": "  "},
                    internal_department="used cars")
    assert blank_claim.value.extra["field"] == "insurance"
    with pytest.raises(InvalidInput, match="department") as no_department:
        money.draft(CASHIER, wo, insurance=INSURANCE)
    assert no_department.value.extra["field"] == "internal_department"
    assert events_stored(app) == before
    assert money.draft(CASHIER, wo, insurance=INSURANCE,
                       internal_department="used cars").body["status"] == "draft"


# -- confirmation and its number -------------------------------------------------------------

def test_settlement_numbers_are_gap_free_across_visits_and_reversals(
        app: ServiceCore, wos: WorkOrders, money: Settlements) -> None:
    first, second, third = visit(app, wos), visit(app, wos), visit(app, wos)
    assert confirmed(money, first).body["number"] == "SET-S01-2026-000001"

    # The second visit's deposit covers its estimate; a discount then leaves it more than the
    # bill: confirming is refused and takes no number.
    money.pay(CASHIER, work_order_id=second, method="cash", amount="900.00")
    drafted = money.draft(CASHIER, second)
    money.discount(MANAGER, UUID(drafted.body["id"]), bill="customer", amount="100.00",
                   reason="loyal customer")
    before = events_stored(app)
    with pytest.raises(SettlementError, match="exceed the customer bill"):
        money.confirm(CASHIER, UUID(drafted.body["id"]))
    assert events_stored(app) == before
    assert confirmed(money, third).body["number"] == "SET-S01-2026-000002"

    # The first is reversed: it keeps its number; confirmed again, it takes the next one.
    reversed_ = money.reverse(MANAGER, Settlement.create_id(first), reason="wrong labor rate")
    assert reversed_.body["reversed"] == "SET-S01-2026-000001"
    assert reversed_.body["status"] == "open"
    assert load(app, first).status == "ready_for_settlement"
    assert load(app, first).settlement is None
    assert confirmed(money, first).body["number"] == "SET-S01-2026-000003"
    assert settlement_of(app, first).numbers == ["SET-S01-2026-000001", "SET-S01-2026-000003"]
    assert load(app, first).settlement["number"] == "SET-S01-2026-000003"  # type: ignore[index]

    # The second visit refunds the excess and is confirmed with the next number.
    payment_id = next(iter(settlement_of(app, second).payments))
    refund = money.request_refund(CASHIER, Settlement.create_id(second), payment_id=payment_id,
                                  amount="100.00", reason="deposit above the bill")
    money.decide_refund(MANAGER, Settlement.create_id(second), refund.body["refund_id"],
                        approve=True)
    settled = money.confirm(CASHIER, Settlement.create_id(second))
    assert settled.body["number"] == "SET-S01-2026-000004"
    assert settled.body["settled"] is True  # the deposit covers the bill


def test_deposits_are_bounded_by_the_approved_estimate_or_the_ceiling(
        app: ServiceCore, wos: WorkOrders, money: Settlements) -> None:
    # At check-in nothing is approved yet: deposits go up to the ceiling (5,000.00).
    wo = checked_in(wos)
    before = events_stored(app)
    with pytest.raises(InvalidInput, match="deposit ceiling") as typo:
        money.pay(CASHIER, work_order_id=wo, method="cash", amount="99999.00")
    assert typo.value.extra == {"field": "amount", "limit": "5000.00", "basis": "ceiling",
                                "held": "0.00"}
    assert events_stored(app) == before
    money.pay(CASHIER, work_order_id=wo, method="cash", amount="5000.00")
    # Once the estimate is approved (450.00 + 450.00), that is the limit, counting what is held.
    second = visit(app, wos)
    money.pay(CASHIER, work_order_id=second, method="cash", amount="600.00")
    before = events_stored(app)
    with pytest.raises(InvalidInput, match="approved estimate of 900.00") as over:
        money.pay(CASHIER, work_order_id=second, method="cash", amount="300.01")
    assert over.value.extra == {"field": "amount", "limit": "900.00",
                                "basis": "approved_estimate", "held": "600.00"}
    assert events_stored(app) == before
    money.pay(CASHIER, work_order_id=second, method="cash", amount="300.00")
    assert settlement_of(app, second).deposits() == Decimal("900.00")


def test_another_store_has_its_own_settlement_series(app: ServiceCore, wos: WorkOrders,
                                                     money: Settlements) -> None:
    confirmed(money, visit(app, wos))
    wo = checked_in(wos, store_id="S02")
    wos.add_labor_line(request(), wo, 1, labor())
    wos.authorize_line(request(), wo, "L1", decision="approved", channel="phone")
    wos.dispatch(MANAGER, wo, 1, technician_id="tech-liu")
    liu = request("technician", "tech-liu")
    wos.clock_on(liu, wo, 1)
    wos.clock_off(liu, wo, 1)
    wos.complete_job(liu, wo, 1)
    wos.quality_check(MANAGER, wo, 1, passed=True)
    assert confirmed(money, wo).body["number"] == "SET-S02-2026-000001"


def test_confirmation_freezes_issues_and_returns(app: ServiceCore, wos: WorkOrders,
                                                 money: Settlements) -> None:
    wo = visit(app, wos)
    confirmed(money, wo)
    on_hand = load_stock(app).figures()["on_hand"]
    before = events_stored(app)
    with pytest.raises(WorkOrderError, match="frozen"):
        wos.return_part(clerk(), wo, "L2", qty="1", reason="unused")
    with pytest.raises(WorkOrderError):
        wos.issue_part(clerk(), wo, "L2", qty="1")
    assert events_stored(app) == before
    assert load_stock(app).figures()["on_hand"] == on_hand
    assert load(app, wo).lines["L2"]["issued_qty"] == Decimal(1)


def test_a_draft_the_work_order_has_moved_away_from_is_not_confirmed(
        app: ServiceCore, wos: WorkOrders, money: Settlements) -> None:
    wo = visit(app, wos, [labor(), part(qty="2")])
    drafted = money.draft(CASHIER, wo)
    assert drafted.body["bills"]["customer"]["total"] == "1350.00"
    try:  # one set comes back unused and the customer drops it
        wos.return_part(clerk(), wo, "L2", qty="1", reason="one set unused")
        wos.withdraw_line(request(), wo, "L2", reason="customer keeps one set")
    except DomainError:
        return  # refusing returns once a draft exists also keeps the bill true
    assert load(app, wo).status == "ready_for_settlement"
    try:
        money.confirm(CASHIER, UUID(drafted.body["id"]))
    except DomainError:
        return  # refusing the stale draft (redraft first) keeps the bill true
    pads = settlement_of(app, wo).bills["customer"]["lines"][1]
    assert (pads["qty"], pads["gross"], pads["cost"]) == (
        Decimal(1), Decimal("450.00"), Decimal("210.00"))


def test_a_zero_customer_bill_settles_at_confirmation(app: ServiceCore, wos: WorkOrders,
                                                      money: Settlements) -> None:
    wo = visit(app, wos, [labor(pay_type="warranty", warranty=WARRANTY),
                          part(pay_type="warranty", warranty=WARRANTY)])
    result = confirmed(money, wo)
    assert result.body["settled"] is True
    assert result.body["status"] == "settled"
    assert load(app, wo).status == "settled"
    settlement = settlement_of(app, wo)
    assert list(settlement.bills) == ["warranty"]
    assert balanced(settlement.settled_entries)

    # The OEM pays later, by bank transfer with its reference.
    paid = money.pay(CASHIER, work_order_id=wo, bill="warranty", method="bank_transfer",
                     amount="900.00", provider_ref="OEM-2026-77")
    assert paid.body["bills"]["warranty"]["outstanding"] == "0.00"


# -- payments --------------------------------------------------------------------------------

def test_the_paying_payment_settles_the_work_order_in_the_same_save(
        app: ServiceCore, wos: WorkOrders, money: Settlements) -> None:
    wo = visit(app, wos)
    sid = UUID(confirmed(money, wo).body["id"])
    partial = money.pay(CASHIER, work_order_id=wo, method="cash", amount="100.00")
    assert partial.body["settled"] is False
    assert partial.body["bills"]["customer"]["outstanding"] == "800.00"
    assert load(app, wo).status == "ready_for_settlement"

    before = events_stored(app)
    paid = money.pay(CASHIER, work_order_id=wo, method="wechat_pay", amount="800.00",
                     provider_ref="WX-4200001")
    assert paid.body["settled"] is True
    # One save: the payment, the settling, the cashier's day and the work order, together.
    assert paid.notification_id == events_stored(app)
    stored = stored_since(app, before)
    assert len(stored) == events_stored(app) - before
    day = CashierDay.create_id("S01", "cash-1", "2026-05-01")
    assert sorted(stored, key=str) == sorted([
        (sid, "Settlement.PaymentTaken"), (sid, "Settlement.Settled"),
        (day, "CashierDay.MoneyIn"), (wo, "WorkOrder.Settled"),
        (PaymentReference.create_id("S01", "wechat_pay", "WX-4200001"),
         "PaymentReference.Reserved")], key=str)
    assert load(app, wo).status == "settled"
    settlement = settlement_of(app, wo)
    assert settlement.status == "settled"
    assert balanced(settlement.settled_entries)


def test_deposits_taken_at_check_in_count_towards_the_bill(app: ServiceCore, wos: WorkOrders,
                                                          money: Settlements) -> None:
    wo = visit(app, wos, deposit=(money, "200.00"))
    [deposit] = settlement_of(app, wo).payments.values()
    assert (deposit["kind"], deposit["amount"]) == ("deposit", Decimal("200.00"))
    drafted = money.draft(CASHIER, wo)
    assert drafted.body["deposits"] == "200.00"
    assert drafted.body["bills"]["customer"]["outstanding"] == "700.00"
    # Before confirmation only the customer pays, and only deposits.
    with pytest.raises(SettlementError, match="deposits"):
        money.pay(CASHIER, work_order_id=wo, bill="warranty", method="cash", amount="10.00")
    result = money.confirm(CASHIER, UUID(drafted.body["id"]))
    assert result.body["settled"] is False
    assert result.body["bills"]["customer"]["outstanding"] == "700.00"
    # the deposits stay what they were once it is confirmed (they were null), and the
    # payments after it are not deposits
    assert result.body["deposits"] == "200.00"
    paid = money.pay(CASHIER, work_order_id=wo, method="alipay", amount="700.00",
                     provider_ref="ALI-1")
    assert paid.body["settled"] is True and paid.body["deposits"] == "200.00"


def test_a_settlement_without_deposits_answers_none_taken(app: ServiceCore, wos: WorkOrders,
                                                          money: Settlements) -> None:
    wo = visit(app, wos)
    drafted = money.draft(CASHIER, wo)
    assert drafted.body["deposits"] == "0.00"
    assert money.confirm(CASHIER, UUID(drafted.body["id"])).body["deposits"] == "0.00"


def test_bad_payments_are_refused_and_store_nothing(app: ServiceCore, wos: WorkOrders,
                                                    money: Settlements) -> None:
    wo = visit(app, wos)
    confirmed(money, wo)
    before = events_stored(app)
    with pytest.raises(SettlementError, match="overpayment") as cash_over:
        money.pay(CASHIER, work_order_id=wo, method="cash", amount="900.01")
    # cash handed over above the bill is `tendered`: the refusal says so (it said only
    # "overpayment is refused", and the cashier typed the notes received as the amount)
    assert str(cash_over.value) == (
        "the customer bill has only 900.00 outstanding; overpayment is refused: take 900.00 as "
        "the amount and the notes handed over as `tendered`, the answer gives the change")
    with pytest.raises(SettlementError, match="overpayment") as card_over:
        money.pay(CASHIER, work_order_id=wo, method="bank_card", amount="900.01",
                  provider_ref="POS-1")
    assert "tendered" not in str(card_over.value)
    # Both name the field to correct, as every other refusal of a payment's input does.
    assert cash_over.value.extra == card_over.value.extra == {"outstanding": "900.00",
                                                              "field": "amount"}
    with pytest.raises(InvalidInput, match="reference") as no_ref:
        money.pay(CASHIER, work_order_id=wo, method="bank_card", amount="100.00")
    # the field to fill in, in words a cashier reads (it was "a bank_card payment needs the
    # provider's reference", and "a alipay payment …")
    assert str(no_ref.value) == ("a payment by bank_card needs provider_ref: the "
                                 "transaction's reference on the slip or in the app")
    assert no_ref.value.extra == {"field": "provider_ref"}
    with pytest.raises(InvalidInput, match="reference"):
        money.pay(CASHIER, work_order_id=wo, method="wechat_pay", amount="100.00",
                  provider_ref="  ")
    with pytest.raises(InvalidInput, match="tendered"):
        money.pay(CASHIER, work_order_id=wo, method="cash", amount="100.00", tendered="99.99")
    with pytest.raises(InvalidInput, match="method"):
        money.pay(CASHIER, work_order_id=wo, method="cheque", amount="100.00")
    with pytest.raises(InvalidInput, match="future"):
        money.pay(CASHIER, work_order_id=wo, method="cash", amount="100.00",
                  business_date="2026-05-02")
    with pytest.raises(InvalidInput):
        money.pay(CASHIER, work_order_id=wo, bill="internal", method="cash", amount="1.00")
    assert events_stored(app) == before
    assert settlement_of(app, wo).payments == {}


def test_cash_change_is_computed(app: ServiceCore, wos: WorkOrders, money: Settlements) -> None:
    wo = visit(app, wos)
    confirmed(money, wo)
    paid = money.pay(CASHIER, work_order_id=wo, method="cash", amount="900.00",
                     tendered="1000.00")
    assert paid.body["change"] == "100.00"
    payment = settlement_of(app, wo).payments[paid.body["payment_id"]]
    assert (payment["amount"], payment["tendered"], payment["change"]) == (
        Decimal("900.00"), Decimal("1000.00"), Decimal("100.00"))


# -- discounts -------------------------------------------------------------------------------

def test_a_discount_above_the_rate_needs_a_manager(app: ServiceCore, wos: WorkOrders,
                                                   money: Settlements) -> None:
    wo = visit(app, wos)
    sid = UUID(money.draft(CASHIER, wo).body["id"])
    # 10 % of the 900.00 bill is the cashier's own.
    given = money.discount(CASHIER, sid, bill="customer", amount="90.00",
                           reason="member's discount")
    assert given.body["allocation"] == {"L1": "45.00", "L2": "45.00"}
    before = events_stored(app)
    with pytest.raises(NotPermitted):
        money.discount(CASHIER, sid, bill="customer", amount="45.01", line_id="L1",
                       reason="loyal customer")
    with pytest.raises(InvalidInput, match="reason"):
        money.discount(MANAGER, sid, bill="customer", amount="100.00", line_id="L1")
    assert events_stored(app) == before
    money.discount(MANAGER, sid, bill="customer", amount="100.00", line_id="L1",
                   reason="loyal customer")
    line = settlement_of(app, wo).bills["customer"]["lines"][0]
    # The VAT is what is inside the discounted amount: 305.00 × 13/113.
    assert (line["discount"], line["net"], line["vat"]) == (
        Decimal("145.00"), Decimal("305.00"), Decimal("35.09"))
    assert settlement_of(app, wo).bills["customer"]["total"] == Decimal("710.00")


# -- refunds ---------------------------------------------------------------------------------

def test_a_refund_is_decided_by_another_manager(app: ServiceCore, wos: WorkOrders,
                                                money: Settlements) -> None:
    wo = visit(app, wos)
    sid = UUID(confirmed(money, wo).body["id"])
    payment_id = money.pay(CASHIER, work_order_id=wo, method="cash",
                           amount="900.00").body["payment_id"]

    before = events_stored(app)
    with pytest.raises(SettlementError, match="can still be refunded"):
        money.request_refund(MANAGER, sid, payment_id=payment_id, amount="900.01",
                             reason="too much")
    with pytest.raises(InvalidInput, match="reason"):
        money.request_refund(MANAGER, sid, payment_id=payment_id, amount="50.00", reason=" ")
    assert events_stored(app) == before

    refund_id = money.request_refund(MANAGER, sid, payment_id=payment_id, amount="50.00",
                                     reason="goodwill: car not washed",
                                     kind="payment_return").body["refund_id"]
    # What is asked for is held: no more than the rest can be asked for meanwhile.
    with pytest.raises(SettlementError, match="850.00"):
        money.request_refund(CASHIER, sid, payment_id=payment_id, amount="850.01",
                             reason="second request")
    before = events_stored(app)
    with pytest.raises(NotPermitted, match="another user"):
        money.decide_refund(MANAGER, sid, refund_id, approve=True)
    with pytest.raises(NotPermitted):
        money.decide_refund(OTHER_CASHIER, sid, refund_id, approve=True)
    assert events_stored(app) == before

    approved = money.decide_refund(OTHER_MANAGER, sid, refund_id, approve=True)
    assert approved.body["refund_status"] == "approved"
    assert approved.body["bills"]["customer"]["paid"] == "850.00"
    with pytest.raises(SettlementError, match="already approved"):
        money.decide_refund(OTHER_MANAGER, sid, refund_id, approve=False, reason="changed mind")
    # The money left the requester's day.
    day: object = app.repository.get(CashierDay.create_id("S01", "mgr-1", "2026-05-01"))
    assert isinstance(day, CashierDay)
    assert day.totals == {"cash": Decimal("-50.00")}

    # A rejection needs a reason.
    second = money.request_refund(CASHIER, sid, payment_id=payment_id, amount="10.00",
                                  reason="parking fee", kind="payment_return").body["refund_id"]
    with pytest.raises(InvalidInput, match="reason"):
        money.decide_refund(MANAGER, sid, second, approve=False)
    money.decide_refund(MANAGER, sid, second, approve=False, reason="not our car park")
    assert settlement_of(app, wo).refunds[second]["status"] == "rejected"
    assert settlement_of(app, wo).paid("customer") == Decimal("850.00")


# -- the cashier's day -----------------------------------------------------------------------

def test_day_end_close_totals_by_method_and_explains_a_variance(
        app: ServiceCore, wos: WorkOrders, money: Settlements) -> None:
    first, second = visit(app, wos), visit(app, wos)
    confirmed(money, first)
    confirmed(money, second)
    money.pay(CASHIER, work_order_id=first, method="cash", amount="500.00", tendered="600.00")
    money.pay(CASHIER, work_order_id=first, method="wechat_pay", amount="400.00",
              provider_ref="WX-1")
    money.pay(CASHIER, work_order_id=second, method="bank_card", amount="900.00",
              provider_ref="POS-1")

    before = events_stored(app)
    with pytest.raises(InvalidInput, match="variance") as unexplained:
        money.close_day(CASHIER, store_id="S01", counted_cash="480.00")
    # The refusal tells the desk what it is to explain: expected, counted and the variance.
    assert unexplained.value.extra == {"field": "reason", "expected_cash": "500.00",
                                       "counted_cash": "480.00", "variance": "-20.00"}
    assert "500.00 expected, 480.00 counted" in unexplained.value.detail
    with pytest.raises(NotPermitted):
        money.close_day(CASHIER, store_id="S01", counted_cash="500.00", cashier_id="cash-2")
    assert events_stored(app) == before

    closed = money.close_day(CASHIER, store_id="S01", counted_cash="480.00",
                             reason="20.00 short, cash-1 to explain")
    assert closed.body["totals"] == {"cash": "500.00", "wechat_pay": "400.00",
                                     "bank_card": "900.00"}
    assert (closed.body["expected_cash"], closed.body["variance"]) == ("500.00", "-20.00")
    with pytest.raises(DayClosed):
        money.close_day(CASHIER, store_id="S01", counted_cash="480.00", reason="again")


def test_a_closed_day_takes_no_late_payment_but_a_correction_today(
        app: ServiceCore, wos: WorkOrders, money: Settlements) -> None:
    wo = visit(app, wos)
    confirmed(money, wo)
    money.pay(CASHIER, work_order_id=wo, method="cash", amount="500.00")
    assert money.close_day(CASHIER, store_id="S01", counted_cash="500.00"
                           ).body["variance"] == "0.00"

    next_day = request("cashier", "cash-1", at=T0 + timedelta(days=1))
    before = events_stored(app)
    with pytest.raises(DayClosed):
        money.pay(next_day, work_order_id=wo, method="cash", amount="100.00",
                  business_date="2026-05-01")
    with pytest.raises(InvalidInput, match="not a closed day"):
        money.pay(next_day, work_order_id=wo, method="cash", amount="100.00",
                  correction_of="2026-04-30", reason="paid at closing")
    assert events_stored(app) == before

    corrected = money.pay(next_day, work_order_id=wo, method="cash", amount="100.00",
                          correction_of="2026-05-01", reason="paid at closing")
    payment = settlement_of(app, wo).payments[corrected.body["payment_id"]]
    assert (payment["business_date"], payment["correction_of"]) == ("2026-05-02", "2026-05-01")
    today: object = app.repository.get(CashierDay.create_id("S01", "cash-1", "2026-05-02"))
    assert isinstance(today, CashierDay)
    assert today.totals == {"cash": Decimal("100.00")}


# -- reversal, delivery, follow-up, complaints ---------------------------------------------

def test_a_reversal_needs_a_manager_and_comes_before_delivery(
        app: ServiceCore, wos: WorkOrders, money: Settlements, care: Aftercare) -> None:
    wo = visit(app, wos)
    sid = UUID(confirmed(money, wo).body["id"])
    money.pay(CASHIER, work_order_id=wo, method="cash", amount="900.00")

    before = events_stored(app)
    with pytest.raises(NotPermitted):
        money.reverse(CASHIER, sid, reason="wrong labor rate")
    with pytest.raises(InvalidInput, match="reason"):
        money.reverse(MANAGER, sid, reason="")
    assert events_stored(app) == before

    care.deliver(request(), wo, mileage_out=42_020, acknowledged_by="陈静")
    before = events_stored(app)
    with pytest.raises(WorkOrderError, match="delivered"):
        money.reverse(MANAGER, sid, reason="wrong labor rate")
    assert events_stored(app) == before
    assert settlement_of(app, wo).status == "settled"


def test_a_reversal_posts_the_settlement_back(app: ServiceCore, wos: WorkOrders,
                                              money: Settlements) -> None:
    wo = visit(app, wos)
    sid = UUID(confirmed(money, wo).body["id"])
    money.pay(CASHIER, work_order_id=wo, method="cash", amount="900.00")
    posted = settlement_of(app, wo).settled_entries
    money.reverse(MANAGER, sid, reason="wrong labor rate")

    events = list(app.events.get(sid))
    reversal = next(e for e in events if isinstance(e, Settlement.Reversed))
    assert reversal.number == "SET-S01-2026-000001"
    assert balanced(reversal.entries)
    assert [[(p["account"], p["debit"], p["credit"]) for p in e["postings"]]
            for e in reversal.entries] == [
        [(p["account"], p["credit"], p["debit"]) for p in e["postings"]] for e in posted]
    # The payment stays, as a deposit towards the corrected settlement.
    assert settlement_of(app, wo).summary()["deposits"] == "900.00"
    assert load(app, wo).status == "ready_for_settlement"


def test_delivery_follows_settlement_and_schedules_the_follow_up(
        app: ServiceCore, wos: WorkOrders, money: Settlements, care: Aftercare) -> None:
    wo = visit(app, wos)
    confirmed(money, wo)
    before = events_stored(app)
    with pytest.raises(WorkOrderError, match="delivery follows settlement"):
        care.deliver(request(), wo, mileage_out=42_020, acknowledged_by="陈静")
    assert events_stored(app) == before

    money.pay(CASHIER, work_order_id=wo, method="cash", amount="900.00")
    with pytest.raises(InvalidInput, match="mileage"):
        care.deliver(request(), wo, mileage_out=41_000, acknowledged_by="陈静")
    delivered = care.deliver(request(), wo, mileage_out=42_020, acknowledged_by="陈静",
                             method="sms_code")
    assert delivered.body["status"] == "delivered"
    assert delivered.body["follow_up"]["due_on"] == "2026-05-04"  # three days on
    follow_up: object = app.repository.get(UUID(delivered.body["follow_up"]["id"]))
    assert isinstance(follow_up, FollowUp)
    assert (follow_up.work_order_id, follow_up.due_on, follow_up.status) == (
        wo, "2026-05-04", "open")
    assert load(app, wo).status == "delivered"


@pytest.mark.parametrize(("days", "due_on"), [(1, "2026-05-03"), (7, "2026-05-09")])
def test_the_follow_up_is_due_the_configured_days_after_delivery(
        app: ServiceCore, wos: WorkOrders, money: Settlements, days: int, due_on: str) -> None:
    # delivered at 01:00 on 2 May in Shanghai (17:00 UTC the day before): days count from 2 May
    wo = visit(app, wos)
    confirmed(money, wo)
    money.pay(CASHIER, work_order_id=wo, method="cash", amount="900.00")
    delivered = Aftercare(app, follow_up_days=days).deliver(
        request(at=T0 + timedelta(hours=16)), wo, mileage_out=42_020, acknowledged_by="陈静")
    assert delivered.body["follow_up"]["due_on"] == due_on
    follow_up: object = app.repository.get(UUID(delivered.body["follow_up"]["id"]))
    assert isinstance(follow_up, FollowUp) and follow_up.due_on == due_on


def test_completing_the_follow_up_closes_the_work_order(
        app: ServiceCore, wos: WorkOrders, money: Settlements, care: Aftercare) -> None:
    wo = visit(app, wos)
    confirmed(money, wo)
    money.pay(CASHIER, work_order_id=wo, method="cash", amount="900.00")
    follow_up_id = UUID(care.deliver(request(), wo, mileage_out=42_020,
                                     acknowledged_by="陈静").body["follow_up"]["id"])
    care.attempt(request(), follow_up_id, outcome="no_answer")
    with pytest.raises(InvalidInput, match="CSI"):
        care.complete(request(), follow_up_id, csi=6)
    done = care.complete(request(), follow_up_id, csi=5, comment="quick and friendly")
    assert done.body == {**done.body, "status": "done", "work_order_status": "closed",
                         "complaint_id": None}
    assert load(app, wo).status == "closed"
    with pytest.raises(FollowUpError):
        care.complete(request(), follow_up_id, csi=5)


def test_a_complaint_on_the_call_opens_a_complaint_case(
        app: ServiceCore, wos: WorkOrders, money: Settlements, care: Aftercare) -> None:
    wo = visit(app, wos)
    confirmed(money, wo)
    money.pay(CASHIER, work_order_id=wo, method="cash", amount="900.00")
    follow_up_id = UUID(care.deliver(request(), wo, mileage_out=42_020,
                                     acknowledged_by="陈静").body["follow_up"]["id"])
    with pytest.raises(InvalidInput, match="description") as blank:
        care.complete(request(), follow_up_id, csi=2, complaint={"description": "  "})
    assert blank.value.extra["field"] == "complaint.description"
    done = care.complete(request(), follow_up_id, csi=2,
                         complaint={"description": "brakes squeal again"})
    assert done.body["complaint_id"] is None
    case: Any = app.repository.get(UUID(done.body["grievance_id"]))
    assert isinstance(case, Grievance)
    assert (case.kind, case.severity, case.status) == ("complaint", "normal", "registered")


def test_an_older_complaint_is_assigned_and_resolved(
        app: ServiceCore, wos: WorkOrders, money: Settlements, care: Aftercare) -> None:
    wo = visit(app, wos)
    order: Any = app.repository.get(wo)
    # a complaint the follow-up call opened before calls opened complaint cases
    complaint_id = uuid4()
    app.save(Complaint(id=complaint_id, audit=request().caller.audit(order.store_id),
                       work_order_id=wo, work_order_number=order.number,
                       customer_id=order.customer_id, description="brakes squeal again",
                       source="follow_up"))

    before = events_stored(app)
    with pytest.raises(FollowUpError, match="assign it first"):
        care.resolve_complaint(request(), complaint_id, resolution="pads re-bedded")
    assert events_stored(app) == before
    assert care.assign_complaint(request("manager"), complaint_id, assignee="adv-li"
                                 ).body["status"] == "assigned"
    with pytest.raises(InvalidInput, match="reason"):
        care.resolve_complaint(request(), complaint_id, resolution="ok")
    assert care.resolve_complaint(request(), complaint_id, resolution="pads re-bedded, quiet"
                                  ).body["status"] == "resolved"
    with pytest.raises(FollowUpError, match="resolved"):
        care.assign_complaint(request("manager"), complaint_id, assignee="adv-wu")
    # Resolving it again is refused as done, not with advice to assign it first.
    with pytest.raises(FollowUpError, match="already resolved") as again:
        care.resolve_complaint(request(), complaint_id, resolution="pads re-bedded, quiet")
    assert "assign" not in str(again.value)


# -- reconciliation --------------------------------------------------------------------------

STATEMENT = """date,amount,reference,counterparty
2026-05-01,850.00,WX-4200001,陈静
2026-05-01,50.00,POS-77,陈静
2026-05-01,12.00,WX-999,someone else
"""


def test_statements_are_matched_to_payments_once(app: ServiceCore, wos: WorkOrders,
                                                 money: Settlements) -> None:
    wo = visit(app, wos)
    sid = UUID(confirmed(money, wo).body["id"])
    second = money.pay(CASHIER, work_order_id=wo, method="wechat_pay", amount="50.00",
                       provider_ref="WX-4200077").body["payment_id"]
    wechat = money.pay(CASHIER, work_order_id=wo, method="wechat_pay", amount="850.00",
                       provider_ref="WX-4200001").body["payment_id"]
    finance = request("finance", "fin-1")

    before = events_stored(app)
    for bad in ("date,amount,reference\n2026-05-01,1.00,X\n",            # a column missing
                "date,amount,reference,counterparty\n01/05/2026,1.00,X,Y\n",  # a bad date
                "date,amount,reference,counterparty\n2026-05-01,1.005,X,Y\n",  # 3 decimals
                "date,amount,reference,counterparty\n2026-05-01,abc,X,Y\n",
                "date,amount,reference,counterparty\n"):                  # no lines
        with pytest.raises(InvalidInput):
            money.import_statement(finance, store_id="S01", source="wechat_pay",
                                   account="WX merchant", csv_text=bad)
    with pytest.raises(InvalidInput, match="source"):
        money.import_statement(finance, store_id="S01", source="paypal", account="x",
                               csv_text=STATEMENT)
    assert events_stored(app) == before

    imported = money.import_statement(finance, store_id="S01", source="wechat_pay",
                                      account="WX merchant", csv_text=STATEMENT)
    assert imported.body["lines"] == 3
    statement_id = UUID(imported.body["id"])

    def pair(line_no: int, payment_id: str) -> list[dict[str, Any]]:
        return [{"line_no": line_no, "settlement_id": str(sid), "payment_id": payment_id}]

    # Automatic matching needs the same amount and the same reference.
    before = events_stored(app)
    with pytest.raises(IllegalTransition, match="differ"):
        money.match(finance, statement_id, pair(3, wechat))  # other amount, other reference
    with pytest.raises(IllegalTransition, match="differ"):
        money.match(finance, statement_id, pair(2, second))  # same amount, other reference
    assert events_stored(app) == before
    money.match(finance, statement_id, pair(1, wechat))
    assert settlement_of(app, wo).payments[wechat]["reconciled"] == {
        "statement_id": str(statement_id), "line_no": 1}

    # A payment is matched once, a line once; a manual match needs a reason.
    before = events_stored(app)
    with pytest.raises(SettlementError, match="already matched"):
        money.match(finance, statement_id, pair(3, wechat), manual=True,
                    reason="customer paid twice?")
    with pytest.raises(IllegalTransition, match="already matched"):
        money.match(finance, statement_id, pair(1, second), manual=True, reason="by hand")
    with pytest.raises(InvalidInput, match="reason"):
        money.match(finance, statement_id, pair(2, second), manual=True)
    assert events_stored(app) == before
    money.match(finance, statement_id, pair(2, second), manual=True,
                reason="the provider printed the terminal's reference")
    assert settlement_of(app, wo).payments[second]["reconciled"] == {
        "statement_id": str(statement_id), "line_no": 2}


def test_a_settlement_takes_at_most_max_payments_and_max_refund_requests(
        app: ServiceCore, wos: WorkOrders, money: Settlements) -> None:
    """Deposits before the bills exist had no bound, refund requests none either, and each
    one loads, copies and saves every one before it."""
    wo = visit(app, wos)
    for _ in range(MAX_PAYMENTS - 1):
        money.pay(CASHIER, work_order_id=wo, method="cash", amount="0.01")
    sid = UUID(confirmed(money, wo).body["id"])
    payment_id = money.pay(CASHIER, work_order_id=wo, method="cash",
                           amount="800.00").body["payment_id"]
    before = events_stored(app)
    with pytest.raises(InvalidInput, match=f"at most {MAX_PAYMENTS} payments"):
        money.pay(CASHIER, work_order_id=wo, method="cash", amount="0.01")
    assert events_stored(app) == before
    for _ in range(MAX_REFUNDS):
        money.request_refund(MANAGER, sid, payment_id=payment_id, amount="0.01",
                             reason="fen back")
    with pytest.raises(InvalidInput, match=f"at most {MAX_REFUNDS} refund requests"):
        money.request_refund(MANAGER, sid, payment_id=payment_id, amount="0.01",
                             reason="fen back")
    settlement = settlement_of(app, wo)
    assert (len(settlement.payments), len(settlement.refunds)) == (MAX_PAYMENTS, MAX_REFUNDS)
