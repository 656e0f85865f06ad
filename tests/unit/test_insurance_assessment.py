"""A body-shop visit the shop settles with the insurer directly, in memory: the insurer's
assessment caps the insurance bill at its approved amount less the deductible, and the
deductible and the excess go to the customer's bill, to the fen."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from domain.application import ServiceCore
from domain.common import Audit, InvalidInput
from domain.integration_payloads import PAYLOADS
from domain.settlement import Settlement
from domain.settlement_bills import build_bills
from domain.settlement_state import SettlementError
from domain.settlements import Settlements
from domain.work_order_lines import labor_line
from domain.work_orders import WorkOrders
from tests.unit.support import events_stored, labor, part
from tests.unit.test_settlement import CASHIER, MANAGER, settlement_of, visit

PICC = {"insurer": "PICC", "claim_number": "CLM-2026-0042"}


def body_shop(app: ServiceCore, wos: WorkOrders) -> UUID:
    """A customer's wash (L1 450.00), a bumper repair for the insurer (L2 2 h, 600.00) and the
    insurer's pads (L3 450.00, cost 210.00)."""
    return visit(app, wos, [labor(),
                            labor(op_code="BUMPER", hours="2", pay_type="insurance"),
                            part(pay_type="insurance")])


def total(settlement: Settlement, kind: str) -> Decimal:
    return settlement.bills[kind]["total"]  # type: ignore[no-any-return]


def test_the_assessment_caps_the_insurer_and_bills_the_customer_deductible_and_excess(
        app: ServiceCore, wos: WorkOrders, money: Settlements) -> None:
    wo = body_shop(app, wos)
    # The insurer approved 900.00 of the 1,050.00 asked; the policy's deductible is 200.00.
    answer = money.assess_insurance(CASHIER, wo, **PICC, report_number="RPT-7",
                                    approved_amount="900.00", deductible="200.00")
    assert answer.body["status"] == "open" and answer.body["redrafted"] is False
    money.draft(CASHIER, wo)
    settlement = settlement_of(app, wo)
    insurance, customer = settlement.bills["insurance"], settlement.bills["customer"]
    # The insurer pays the approved amount less the deductible; the customer the rest.
    assert insurance["total"] == Decimal("700.00")
    assert insurance["payer"] == PICC
    assert insurance["assessment"] == {"approved_amount": Decimal("900.00"),
                                       "deductible": Decimal("200.00"),
                                       "excess": Decimal("150.00"), "report_number": "RPT-7"}
    assert customer["total"] == Decimal("450.00") + Decimal("350.00")
    assert customer["insurance_share"] == {**PICC, "deductible": Decimal("200.00"),
                                           "excess": Decimal("150.00")}
    # Line by line: the excess by what each line bills, then the deductible by what is left
    # (each to the fen by `allocate`: the odd fen to the line with the most).
    assert [(ln["line_id"], ln["gross"], ln["excess"], ln["deductible"])
            for ln in insurance["lines"]] == [
        ("L2", Decimal("399.99"), Decimal("85.72"), Decimal("114.29")),
        ("L3", Decimal("300.01"), Decimal("64.28"), Decimal("85.71"))]
    shares = [ln for ln in customer["lines"] if ln.get("deductible_of") == "insurance"]
    assert [(ln["line_id"], ln["gross"], ln["insurance_deductible"], ln["insurance_excess"],
             ln["qty"], ln["cost"]) for ln in shares] == [
        ("L2", Decimal("200.01"), Decimal("114.29"), Decimal("85.72"), 0, 0),
        ("L3", Decimal("149.99"), Decimal("85.71"), Decimal("64.28"), 0, 0)]
    assert shares[0]["description"] == "deductible and excess (claim CLM-2026-0042): replace front pads"
    # VAT inside each piece at the line's rate, as every bill computes it.
    for bill in (insurance, customer):
        assert bill["vat"] == sum((ln["vat"] for ln in bill["lines"]), Decimal(0))
    assert insurance["lines"][0]["vat"] == Decimal("46.02")  # 399.99 at 13 %
    # The parts' cost stays on the insurer's line: nothing counted twice.
    assert sum((ln["cost"] for b in settlement.bills.values() for ln in b["lines"]),
               Decimal(0)) == Decimal("210.00")


def test_a_repair_under_the_approved_amount_bills_the_deductible_alone(
        app: ServiceCore, wos: WorkOrders, money: Settlements) -> None:
    wo = body_shop(app, wos)
    money.assess_insurance(CASHIER, wo, **PICC, approved_amount="2000.00", deductible="100.00")
    money.draft(CASHIER, wo)
    settlement = settlement_of(app, wo)
    assert total(settlement, "insurance") == Decimal("950.00")
    assert settlement.bills["customer"]["insurance_share"]["excess"] == Decimal("0.00")
    assert total(settlement, "customer") == Decimal("550.00")


def test_changing_the_assessment_redrafts_and_a_confirmed_bill_refuses_it(
        app: ServiceCore, wos: WorkOrders, money: Settlements) -> None:
    wo = body_shop(app, wos)
    money.assess_insurance(CASHIER, wo, **PICC, approved_amount="900.00", deductible="200.00")
    sid = UUID(money.draft(CASHIER, wo).body["id"])
    money.discount(CASHIER, sid, bill="customer", amount="10.00", reason="member's discount")
    # A change says why; without a reason nothing is stored.
    before = events_stored(app)
    with pytest.raises(InvalidInput, match="reason"):
        money.assess_insurance(CASHIER, wo, **PICC, approved_amount="1050.00",
                               deductible="200.00")
    assert events_stored(app) == before
    # The supplementary assessment approves it all: the draft follows in the same save (the
    # discount given on the old draft goes with it).
    again = money.assess_insurance(CASHIER, wo, **PICC, approved_amount="1050.00",
                                   deductible="200.00", reason="supplementary assessment")
    assert again.body["redrafted"] is True
    assert again.body["bills"]["insurance"]["total"] == "850.00"
    assert again.body["bills"]["customer"]["total"] == "650.00"
    # The answer says which discount the redraft dropped, for the cashier to give it again.
    assert again.body["discounts_dropped"] == {"customer": "10.00"}
    # The same assessment again changes nothing.
    same = money.assess_insurance(CASHIER, wo, **PICC, approved_amount="1050.00",
                                  deductible="200.00").body
    assert (same["redrafted"], same["discounts_dropped"]) == (False, {})
    assert events_stored(app) == before + 2
    money.confirm(CASHIER, sid)
    with pytest.raises(SettlementError, match="reverse it"):
        money.assess_insurance(CASHIER, wo, **PICC, approved_amount="800.00",
                               deductible="200.00", reason="insurer lowered it")
    # After a manager's reversal the assessment may change and the next draft follows it.
    money.reverse(MANAGER, sid, reason="insurer lowered the approval")
    money.assess_insurance(CASHIER, wo, **PICC, approved_amount="800.00", deductible="200.00",
                           reason="insurer lowered it")
    assert money.draft(CASHIER, wo).body["bills"]["insurance"]["total"] == "600.00"


def test_bad_assessments_and_another_claim_on_the_draft_are_refused(
        app: ServiceCore, wos: WorkOrders, money: Settlements) -> None:
    wo = body_shop(app, wos)
    before = events_stored(app)
    for amounts, match in ((("100.00", "200.00"), "deductible exceeds"),
                           (("-1", "0"), "negative"), (("1.005", "0"), "decimals")):
        with pytest.raises(InvalidInput, match=match):
            money.assess_insurance(CASHIER, wo, **PICC, approved_amount=amounts[0],
                                   deductible=amounts[1])
    with pytest.raises(InvalidInput, match="insurer and the claim"):
        money.assess_insurance(CASHIER, wo, insurer="PICC", claim_number="  ",
                               approved_amount="100.00")
    assert events_stored(app) == before
    money.assess_insurance(CASHIER, wo, **PICC, approved_amount="900.00")
    with pytest.raises(InvalidInput, match="claim CLM-2026-0042 of PICC"):
        money.draft(CASHIER, wo, insurance={"insurer": "PICC", "claim_number": "OTHER"})
    assert money.draft(CASHIER, wo, insurance=PICC).body["status"] == "draft"


def test_a_deductible_above_what_the_lines_bill_leaves_the_insurer_nothing() -> None:
    line = labor_line("L1", 1, labor(hours="1", pay_type="insurance"))
    line["status"] = "approved"
    bills = build_bills([line], {}, {**PICC, "report_number": None,
                                     "approved_amount": Decimal("1000.00"),
                                     "deductible": Decimal("500.00")})
    assert bills["insurance"]["total"] == Decimal("0.00")
    assert bills["customer"]["total"] == Decimal("300.00")
    assert bills["customer"]["insurance_share"]["deductible"] == Decimal("300.00")


def test_a_change_that_moves_money_between_deductible_and_excess_alone_redrafts(
        app: ServiceCore, wos: WorkOrders, money: Settlements) -> None:
    """Found by the settlement state machine: the lines bill the same (350.00 the customer's
    either way), but the bill must print the new deductible and excess."""
    wo = body_shop(app, wos)
    money.assess_insurance(CASHIER, wo, **PICC, approved_amount="900.00", deductible="200.00")
    money.draft(CASHIER, wo)
    again = money.assess_insurance(CASHIER, wo, **PICC, approved_amount="1000.00",
                                   deductible="300.00", reason="policy deductible corrected")
    assert again.body["redrafted"] is True
    customer = settlement_of(app, wo).bills["customer"]
    assert customer["total"] == Decimal("800.00")  # as before
    assert customer["insurance_share"] == {**PICC, "deductible": Decimal("300.00"),
                                           "excess": Decimal("50.00")}


def test_deposits_may_cover_the_customers_share_of_the_insurance_lines(
        app: ServiceCore, wos: WorkOrders, money: Settlements) -> None:
    wo = body_shop(app, wos)
    # Without an assessment the insurer's lines are the insurer's: the customer's 450.00 is
    # what a deposit may cover.
    with pytest.raises(InvalidInput, match="approved estimate of 450.00"):
        money.pay(CASHIER, work_order_id=wo, method="cash", amount="450.01")
    # Under it, their deductible (200.00) and excess (150.00) too.
    money.assess_insurance(CASHIER, wo, **PICC, approved_amount="900.00", deductible="200.00")
    with pytest.raises(InvalidInput, match="approved estimate of 800.00"):
        money.pay(CASHIER, work_order_id=wo, method="cash", amount="800.01")
    money.pay(CASHIER, work_order_id=wo, method="cash", amount="800.00")
    # The deposits pay the customer's bill in full: confirming settles the visit.
    sid = UUID(money.draft(CASHIER, wo).body["id"])
    assert money.confirm(CASHIER, sid).body["settled"] is True


def test_the_integration_event_of_an_assessment_carries_it_and_why() -> None:
    audit = CASHIER.caller.audit("S01")
    settlement = Settlement(id=Settlement.create_id(UUID(int=1)), audit=audit,
                            work_order_id=UUID(int=1), work_order_number="WO-S01-2026-000001",
                            customer_id=UUID(int=2))
    settlement.assess_insurance(audit, **PICC, report_number=None,
                                approved_amount="900.00", deductible="200.00", reason=None,
                                rebill=lambda a: {})
    assessed = list(settlement.collect_events())[-1]
    payload = PAYLOADS["Settlement"]["InsuranceAssessed"](assessed)
    assert payload == {"assessment": {**PICC, "report_number": None,
                                      "approved_amount": Decimal("900.00"),
                                      "deductible": Decimal("200.00")}, "reason": None}


def test_an_insurers_typed_name_is_kept_in_one_form_and_retyped_is_the_same(
        app: ServiceCore, wos: WorkOrders, money: Settlements) -> None:
    wo = body_shop(app, wos)
    # Typed full-width with stray spaces (a Chinese input method): kept as ASCII, trimmed.
    money.assess_insurance(CASHIER, wo, insurer=" ＰＩＮＧ　　ＡＮ ", claim_number="PA-1",
                           approved_amount="900.00")
    assert settlement_of(app, wo).assessment["insurer"] == "PING AN"  # type: ignore[index]
    # The same assessment typed again changes nothing; the draft may name the insurer in
    # another case and spacing: it is the assessment's.
    before = events_stored(app)
    assert money.assess_insurance(CASHIER, wo, insurer="PING AN ", claim_number="PA-1",
                                  approved_amount="900.00").body["redrafted"] is False
    assert events_stored(app) == before
    money.draft(CASHIER, wo, insurance={"insurer": "Ping  an", "claim_number": "PA-1"})
    assert settlement_of(app, wo).bills["insurance"]["payer"] == {
        "insurer": "PING AN", "claim_number": "PA-1"}
    # An assessment kept before, as typed, is the same assessment typed again too.
    settlement = settlement_of(app, wo)
    settlement._assessed(Audit("cash-1", "cashier", "S01", datetime.now(UTC), "corr"),
                         {**settlement.assessment, "insurer": "ping  an "}, "as typed")
    app.save(settlement)
    before = events_stored(app)
    money.assess_insurance(CASHIER, wo, insurer="ping an", claim_number="PA-1",
                           approved_amount="900.00")
    assert events_stored(app) == before
