"""Writing off what the OEM or an insurer will not pay, in memory: for any sequence of the OEM's
answers, its payments and write-offs (any kind, any amount, in any status), the settlement's
journal balances, the warranty receivable (1123) is what the bill still has outstanding and
never below zero, the write-offs are the claim losses (6601), a charge-back is owed back to the
OEM (2241), and the bank (1002) holds only the OEM's payments; a refused step stores nothing.
What an approved claim's remittance paid short of the approval (`oem_underpaid`) is written off
exactly when the OEM has paid something and the remainder (approved less paid less earlier
underpaid write-offs, and the bill's outstanding) has room for the amount. A write-off taken
back (its mirror entry) counts no more: 1123 and 6601 follow what stays written off, and
the claim returns to the status the write-off found it in. The cashier's day-end comes at any
step: the OEM's remittances by bank transfer enter no cashier's day, so a closed day never
refuses one, and neither does a remittance paid back to the OEM by bank transfer (an
overpaid remittance returned): the drawer's totals stay the customer's cash."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from domain import receivable_adjustments
from domain.application import ServiceCore
from domain.cashier_day import CashierDay, DayClosed
from domain.common import DomainError, IllegalTransition, InvalidInput, NotFound, NotPermitted
from domain.ledger import METHOD_ACCOUNTS, balances
from domain.oem_claim import OemClaim
from domain.oem_claims import OemClaims
from domain.receivable_adjustments import ReceivableAdjustments
from domain.settlement import Settlement
from domain.settlements import Settlements
from domain.work_orders import WorkOrders
from tests.unit.support import events_stored, labor, on_roster, part, request
from tests.unit.test_settlement import CASHIER, INSURANCE, MANAGER, WARRANTY, visit

ZERO = Decimal("0.00")
CLERK = request("advisor", "warranty-clerk")
# Around the claimed 450.00: the OEM approves all, part or nothing, pays in parts.
SOME = st.one_of(st.sampled_from([Decimal("450.00"), Decimal("300.00"), Decimal("0.00")]),
                 st.decimals(min_value=0, max_value=500, places=2))
STEP = st.one_of(
    st.tuples(st.just("pay"), st.decimals(min_value="0.01", max_value=450, places=2)),
    st.tuples(st.just("reject")), st.tuples(st.just("resubmit")),
    st.tuples(st.just("approve"), SOME),
    st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=5)),
    st.tuples(st.just("close")),  # the cashier's day-end: the OEM's remittances still come
    # the latest remittance, in part or whole, paid back to the OEM by bank transfer
    st.tuples(st.just("refund"), st.decimals(min_value="0.01", max_value=450, places=2)),
    st.tuples(st.just("write_off"), st.sampled_from(
        ["oem_rejected", "oem_short_paid", "oem_underpaid", "oem_charged_back",
         "insurer_short_paid"]),
        st.one_of(st.none(), SOME)))


def settled_warranty_visit(submitted: bool = True) -> tuple[ServiceCore, UUID, UUID]:
    """A visit with 450.00 of warranty labor and the customer's pads (450.00, paid in cash):
    settled, its warranty claim submitted (unless not `submitted`). (app, work order,
    settlement)."""
    app = ServiceCore()
    on_roster(app, "tech-zhao")
    on_roster(app, "tech-liu", "S02")
    money = Settlements(app)
    wo = visit(app, WorkOrders(app), [labor(pay_type="warranty", warranty=WARRANTY), part()])
    drafted = money.draft(CASHIER, wo)
    sid = UUID(drafted.body["id"])
    money.confirm(CASHIER, sid)
    money.pay(CASHIER, work_order_id=wo, method="cash", amount="450.00")
    if submitted:
        OemClaims(app).submit(CLERK, wo, oem_claim_number="VW-1")
    return app, wo, sid


def books(app: ServiceCore, sid: UUID) -> tuple[Settlement, dict[str, Decimal], list[Any]]:
    events = list(app.events.get(sid))
    entries: list[dict[str, Any]] = []
    for e in events:
        if isinstance(e, Settlement.Settled | Settlement.Reversed):
            entries += e.entries
        elif isinstance(e, Settlement.PaymentTaken | Settlement.ReceivableWrittenOff
                        | Settlement.WriteOffReversed | Settlement.RefundApproved):
            entries.append(e.entry)
    for one in entries:
        assert sum((p["debit"] for p in one["postings"]), ZERO) == sum(
            (p["credit"] for p in one["postings"]), ZERO), one["memo"]
    found = app.repository.get(sid)
    assert isinstance(found, Settlement)
    return found, balances(entries), events


def events_of(app: ServiceCore, sid: UUID) -> list[Any]:
    return list(app.events.get(sid))


def pay_back(money: Settlements, sid: UUID, amount: Decimal, n: int) -> None:
    """The cashier asks to pay `amount` of the OEM's latest remittance back, a manager approves
    it paid out by bank transfer (nothing when the OEM has paid nothing yet)."""
    found = money.app.repository.get(sid)
    assert isinstance(found, Settlement)
    remitted = [i for i, p in found.payments.items() if p["bill"] == "warranty"]
    if not remitted:
        return
    asked = money.request_refund(CASHIER, sid, payment_id=remitted[-1], amount=amount,
                                 reason="the OEM overpaid the claim")
    money.decide_refund(MANAGER, sid, asked.body["refund_id"], approve=True,
                        payout_method="bank_transfer", payout_ref=f"OEM-BACK-{n}")


def underpaid_room(app: ServiceCore, wo: UUID, sid: UUID) -> Decimal | None:
    """What an `oem_underpaid` write-off may take now (None: the claim is not approved or the
    OEM has paid nothing on the warranty bill): approved less paid less what was written off as
    underpaid already, at most the bill's outstanding."""
    settlement, _, events = books(app, sid)
    claim = app.repository.get(OemClaim.create_id(wo))
    assert isinstance(claim, OemClaim)
    paid = settlement.paid("warranty")
    if claim.status != "approved" or claim.approved_amount is None or paid <= 0:
        return None
    taken = sum((e.amount for e in events if isinstance(e, Settlement.ReceivableWrittenOff)
                 and e.kind == "oem_underpaid"), ZERO) - sum(
        (e.amount for e in events if isinstance(e, Settlement.WriteOffReversed)
         and e.kind == "oem_underpaid"), ZERO)
    return min(claim.approved_amount - paid - taken, settlement.outstanding("warranty"))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEP, max_size=12))
@example(steps=[("approve", Decimal("450.00")), ("pay", Decimal("400.00")),
                ("write_off", "oem_underpaid", Decimal("50.01")),
                ("write_off", "oem_underpaid", Decimal("30.00")),
                ("write_off", "oem_underpaid", None), ("pay", Decimal("0.01"))])
@example(steps=[("approve", Decimal("300.00")), ("write_off", "oem_underpaid", None),
                ("pay", Decimal("280.00")), ("write_off", "oem_short_paid", None),
                ("write_off", "oem_underpaid", None)])
@example(steps=[("reject",), ("write_off", "oem_rejected", None), ("reverse", 0),
                ("reverse", 0), ("pay", Decimal("450.00"))])
@example(steps=[("approve", Decimal("450.00")), ("pay", Decimal("450.00")),
                ("write_off", "oem_charged_back", Decimal("100.00")), ("reverse", 0),
                ("write_off", "oem_charged_back", None)])
@example(steps=[("approve", Decimal("450.00")), ("close",), ("pay", Decimal("200.00")),
                ("close",), ("pay", Decimal("250.00"))])
@example(steps=[("pay", Decimal("300.00")), ("refund", Decimal("50.00")), ("close",),
                ("refund", Decimal("100.00")), ("pay", Decimal("200.00"))])
@example(steps=[("approve", Decimal("450.00")), ("pay", Decimal("450.00")),
                ("write_off", "oem_charged_back", Decimal("100.00")),
                ("refund", Decimal("450.00")), ("refund", Decimal("350.00"))])
def test_any_sequence_of_claims_payments_and_write_offs_keeps_the_books(
        steps: list[tuple[Any, ...]]) -> None:
    app, wo, sid = settled_warranty_visit()
    claims, adjust, money = OemClaims(app), ReceivableAdjustments(app), Settlements(app)
    for n, step in enumerate(steps):
        before = events_stored(app)
        room = underpaid_room(app, wo, sid)
        try:
            if step[0] == "pay":
                money.pay(CASHIER, work_order_id=wo, method="bank_transfer", bill="warranty",
                          amount=step[1], provider_ref=f"OEM-{n}")
            elif step[0] == "reject":
                claims.reject(CLERK, wo, reason_code=None, reason="record missing")
            elif step[0] == "resubmit":
                claims.resubmit(CLERK, wo, changes="record added")
            elif step[0] == "approve":
                claims.approve(CLERK, wo, approved_amount=step[1], reason="labor time cut")
            elif step[0] == "close":
                money.close_day(CASHIER, store_id="S01", counted_cash="450.00")
                event("the cashier's day closed")
            elif step[0] == "refund":
                pay_back(money, sid, step[1], n)
                event("a remittance paid back by bank")
            elif step[0] == "reverse":
                done = [e.write_off_id for e in events_of(app, sid)
                        if isinstance(e, Settlement.ReceivableWrittenOff)]
                if done:
                    adjust.reverse_write_off(MANAGER, sid, str(done[step[1] % len(done)]),
                                             reason="the OEM paid after all")
                    event("write-off taken back")
            else:
                adjust.write_off(MANAGER, sid, kind=step[1], amount=step[2],
                                 reason="the OEM will not pay")
                event(f"written off: {step[1]}")
        except DayClosed:
            # closed once; a remittance, or its return by bank, never meets a closed day
            assert step[0] == "close"
            assert events_stored(app) == before
        except DomainError:
            assert events_stored(app) == before  # a refusal stores nothing
        if step[:2] == ("write_off", "oem_underpaid"):
            fits = room is not None and room > 0 and (step[2] is None or 0 < step[2] <= room)
            assert (events_stored(app) != before) == fits, (room, step)
        settlement, ledger, events = books(app, sid)
        outstanding = settlement.outstanding("warranty")
        assert outstanding >= 0
        assert ledger.get("1123", ZERO) == outstanding
        taken_back = {e.write_off_id for e in events if isinstance(e, Settlement.WriteOffReversed)}
        offs = [e for e in events if isinstance(e, Settlement.ReceivableWrittenOff)
                and e.write_off_id not in taken_back]  # the write-offs standing
        assert ledger.get("6601", ZERO) == sum((e.amount for e in offs), ZERO)
        back = sum((e.amount for e in offs if e.kind == "oem_charged_back"), ZERO)
        assert -ledger.get("2241", ZERO) == back <= settlement.paid("warranty")
        assert ledger.get("1002", ZERO) == settlement.paid("warranty")  # the OEM's payments only
        for e in offs:
            assert not {p["account"] for p in e.entry["postings"]} & set(METHOD_ACCOUNTS.values())
        claim = app.repository.get(OemClaim.create_id(wo))
        assert isinstance(claim, OemClaim)
        kinds = {e.kind for e in offs}
        assert ("oem_rejected" in kinds) == (claim.status == "written_off")
        assert ("oem_charged_back" in kinds) == (claim.status == "charged_back")
        assert "insurer_short_paid" not in kinds  # the visit has no insurance bill
        # The drawer holds the customer's cash alone: the remittances are the bank's (1002).
        day = app.repository.get(CashierDay.create_id("S01", "cash-1", "2026-05-01"))
        assert isinstance(day, CashierDay) and day.totals == {"cash": Decimal("450.00")}


def test_an_insurer_short_pay_is_written_off_within_the_insurance_bill() -> None:
    app = ServiceCore()
    on_roster(app, "tech-zhao")
    on_roster(app, "tech-liu", "S02")
    money = Settlements(app)
    wo = visit(app, WorkOrders(app), [labor(pay_type="insurance"), part()])
    sid = UUID(money.draft(CASHIER, wo, insurance=INSURANCE).body["id"])
    money.confirm(CASHIER, sid)
    money.pay(CASHIER, work_order_id=wo, method="cash", amount="450.00")
    adjust = ReceivableAdjustments(app)
    before = events_stored(app)
    for kind, amount in (("insurer_short_paid", "450.01"), ("oem_rejected", "1.00")):
        with pytest.raises(DomainError):
            adjust.write_off(MANAGER, sid, kind=kind, amount=amount, reason="insurer cut")
    with pytest.raises(DomainError):
        adjust.write_off(CASHIER, sid, kind="insurer_short_paid", amount="1.00",
                         reason="insurer cut")
    assert events_stored(app) == before
    done = adjust.write_off(MANAGER, sid, kind="insurer_short_paid", amount="50.00",
                            reason="insurer cut the labor", reference="CLM-2026-0042")
    assert done.body["bills"]["insurance"]["outstanding"] == "400.00"
    settlement, ledger, _ = books(app, sid)
    assert (ledger["1124"], ledger["6601"]) == (Decimal("400.00"), Decimal("50.00"))
    assert settlement.outstanding("insurance") == Decimal("400.00")
    with pytest.raises(DomainError, match="reversed"):
        money.reverse(MANAGER, sid, reason="wrong bill")
    # Once the write-off is taken back, nothing stays written off: the settlement may go.
    adjust.reverse_write_off(MANAGER, sid, done.body["written_off"]["write_off_id"],
                             reason="the insurer paid in full after all")
    money.reverse(MANAGER, sid, reason="wrong bill")
    settlement, ledger, _ = books(app, sid)
    assert settlement.status == "open"
    assert (ledger.get("1124", ZERO), ledger.get("6601", ZERO)) == (ZERO, ZERO)


def test_a_write_off_taken_back_restores_the_receivable_once_and_only_on_its_settlement() -> None:
    app, wo, sid = settled_warranty_visit()
    _, other_wo, other_sid = settled_warranty_visit()
    claims, adjust, money = OemClaims(app), ReceivableAdjustments(app), Settlements(app)
    claims.reject(CLERK, wo, reason_code="R-40", reason="record missing")
    done = adjust.write_off(MANAGER, sid, kind="oem_rejected", amount=None,
                            reason="appeal window closed")
    write_off_id = done.body["written_off"]["write_off_id"]
    # Its own form on paper: never read as a work-order number (WO-S01-2026-000123).
    assert re.fullmatch(r"WRITEOFF-[0-9A-F]{12}", write_off_id)
    assert done.body["bills"]["warranty"]["outstanding"] == "0.00"
    with pytest.raises(DomainError):  # nothing outstanding: the OEM's late payment is refused
        money.pay(CASHIER, work_order_id=wo, method="bank_transfer", bill="warranty",
                  amount="150.00", provider_ref="OEM-LATE")
    before = events_stored(app)
    refusals = [(CASHIER, sid, write_off_id, "the OEM paid", NotPermitted),
                (MANAGER, sid, write_off_id, " ", InvalidInput),
                (MANAGER, sid, "WO-NOT-MADE", "the OEM paid", NotFound),
                (MANAGER, other_sid, write_off_id, "the OEM paid", NotFound)]
    for caller, settlement_id, which, reason, error in refusals:
        with pytest.raises(error):
            adjust.reverse_write_off(caller, settlement_id, which, reason=reason)
    assert events_stored(app) == before
    back = adjust.reverse_write_off(MANAGER, sid, write_off_id, reason="the OEM paid after all")
    assert back.body["claim_status"] == "rejected"
    assert back.body["reversed"]["amount"] == "450.00"
    assert back.body["bills"]["warranty"]["outstanding"] == "450.00"
    with pytest.raises(IllegalTransition, match="taken back already"):
        adjust.reverse_write_off(MANAGER, sid, write_off_id, reason="the OEM paid after all")
    # The receivable is open again: the OEM's payment clears it as any payment does.
    money.pay(CASHIER, work_order_id=wo, method="bank_transfer", bill="warranty",
              amount="450.00", provider_ref="OEM-LATE")
    settlement, ledger, _ = books(app, sid)
    assert (ledger.get("1123", ZERO), ledger.get("6601", ZERO)) == (ZERO, ZERO)
    assert settlement.outstanding("warranty") == ZERO
    claim = app.repository.get(OemClaim.create_id(wo))
    assert isinstance(claim, OemClaim) and claim.status == "rejected"
    assert other_wo != wo


def test_a_write_off_stored_before_ids_is_known_by_its_settlement_and_place() -> None:
    app, wo, sid = settled_warranty_visit()
    OemClaims(app).reject(CLERK, wo, reason_code=None, reason="record missing")
    ReceivableAdjustments(app).write_off(MANAGER, sid, kind="oem_rejected", amount="100.00",
                                         reason="appeal window closed")
    mapper = app.mapper
    replayed = None
    for stored_one in app.events.get(sid):
        one = stored_one
        if isinstance(one, Settlement.ReceivableWrittenOff):  # as v1 stored it: no id
            stored = mapper.to_stored_event(one)
            state = json.loads(stored.state)
            state.pop("class_version")
            state.pop("write_off_id")
            one = mapper.to_domain_event(StoredEvent(
                stored.originator_id, stored.originator_version, stored.topic,
                json.dumps(state).encode()))
            assert one.write_off_id is None
        replayed = one.mutate(replayed)
    assert isinstance(replayed, Settlement)
    assert list(replayed.write_offs) == [f"{replayed.number}-W1"]
    assert replayed.write_offs[f"{replayed.number}-W1"]["amount"] == Decimal("100.00")


def test_a_write_off_made_with_the_old_id_form_is_still_taken_back_by_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    app, wo, sid = settled_warranty_visit()
    OemClaims(app).reject(CLERK, wo, reason_code=None, reason="record missing")
    adjust = ReceivableAdjustments(app)
    monkeypatch.setattr(receivable_adjustments, "WRITE_OFF_PREFIX", "WO-")  # as ids were made
    done = adjust.write_off(MANAGER, sid, kind="oem_rejected", amount="100.00",
                            reason="appeal window closed")
    monkeypatch.undo()
    old_id = done.body["written_off"]["write_off_id"]
    assert re.fullmatch(r"WO-[0-9A-F]{12}", old_id)
    back = adjust.reverse_write_off(MANAGER, sid, old_id, reason="the OEM paid after all")
    assert back.body["reversed"]["write_off_id"] == old_id
    assert back.body["bills"]["warranty"]["outstanding"] == "450.00"
