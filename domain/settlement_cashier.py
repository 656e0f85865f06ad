"""The cashier's commands: payments (a deposit before confirmation; the one that completes the
customer bill settles the visit in the same save) and the day-end close.

The rule from the seed: when the customer's payment completes, the work order's status, the
bills and the journal change together or not at all — the settling payment, the settlement, the
cashier's day and the work order are saved in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from domain.account_open import end_stale_charge
from domain.application import CommandResult, Decision, Request, Session
from domain.cashier_day import CashierDay, DayStillOwes
from domain.common import InvalidInput, NotPermitted, require, require_group_store
from domain.customer import Customer
from domain.customer_lots import lot_back
from domain.loyalty import LoyaltyRules
from domain.payment_reference import PaymentReference, provider_reference
from domain.settlement import Settlement
from domain.settlement_bills import insurance_shares
from domain.settlement_desk import SettlementDesk
from domain.settlement_state import ELECTRONIC, DepositLimit, SettlementError, bank_receipt
from domain.taken_once import refuse_taken
from domain.work_order import WorkOrder


class SettlementCashier(SettlementDesk):
    def pay(self, request: Request, *, work_order_id: UUID, method: str, amount: object,
            bill: str = "customer", tendered: object | None = None,
            provider_ref: str | None = None, business_date: str | None = None,
            correction_of: str | None = None, reason: str | None = None) -> CommandResult:
        """A payment (a deposit before confirmation); the one that completes the customer bill
        settles the visit in the same transaction. A correction of a closed day says why. The
        OEM's or an insurer's remittance by bank transfer (`bank_receipt`) is the bank's, not a
        drawer's: it enters no cashier's day, so a closed day never refuses it; the finance
        desk records these from the bank's statement, and nothing else."""
        received = bank_receipt(bill, method)
        require(received or request.caller.role != "finance", NotPermitted(
            "the finance role records the OEM's and insurers' remittances by bank transfer "
            "(bill warranty or insurance, method bank_transfer), never money into a cashier's "
            "drawer: that is for the cashier and manager roles", field="method"))
        day = self._business_date(request, business_date)
        if correction_of is not None:
            try:
                require(date.fromisoformat(correction_of).isoformat() < day,
                        InvalidInput("correction_of names an earlier, closed day",
                                     field="correction_of"))
            except ValueError:
                raise InvalidInput("correction_of must be YYYY-MM-DD",
                                   field="correction_of") from None
        payment_id = "PAY-" + uuid4().hex[:12].upper()

        def decide(session: Session) -> Decision:
            wo = session.get(WorkOrder, work_order_id, "work order")
            require(wo.status not in ("cancelled",), SettlementError("the work order is cancelled"))
            settlement = self._settlement_for(session, wo)
            audit = session.audit(wo.store_id)
            if correction_of is not None and not received:  # a receipt's: refused below
                closed = session.find(CashierDay, CashierDay.create_id(
                    wo.store_id, session.caller.user_id, correction_of))
                require(closed is not None and closed.closed, InvalidInput(
                    f"{correction_of} is not a closed day of yours; no correction needed",
                    field="correction_of"))
            # the earlier payment that took this reference
            refuse_taken(session.find(PaymentReference, i) for i in (*held, *before))
            was_settled = settlement.status == "settled"
            # a remittance the bank received goes through no cashier's day: no close refuses it
            cashier_day = None if received else self._cashier_day(session, wo.store_id, day)
            if cashier_day is not None:
                cashier_day.check_takes_payment(self.today(request).isoformat())  # the reason's
            payment = settlement.take_payment(
                audit, payment_id=payment_id, bill=bill, method=method, amount=amount,
                business_date=day, tendered=tendered, provider_ref=provider_ref,
                correction_of=correction_of, reason=reason,
                deposit_limit=self._deposit_limit(wo, settlement.assessment),
                opened_on=wo.opened_at.astimezone(self.zone).date().isoformat(),
                today=self.today(request).isoformat())
            for reference_id in held:
                session.add(PaymentReference(
                    id=reference_id, audit=audit, method=method, reference=payment["provider_ref"],
                    payment_id=payment_id, settlement_id=settlement.id,
                    work_order_number=wo.number))
            if cashier_day is not None:
                cashier_day.money_in(audit, settlement.id, payment,
                                     self.today(request).isoformat())
            # settled: the visit is, by this payment or before it (an insurer's or the OEM's
            # bill paid after the customer's, a returned amount paid again)
            settled = self._settle_if_paid(session, settlement) or settlement.status == "settled"
            if was_settled and payment["bill"] == "customer":
                self._paid_again(session, settlement, payment)
            return Decision(settlement, {**settlement.summary(), "payment_id": payment_id,
                                         "change": str(payment["change"]), "settled": settled})

        store = self._store_of(work_order_id)
        cashier_day = () if received else (CashierDay.create_id(store, request.caller.user_id,
                                                                 day),)
        reference = provider_reference(provider_ref)  # an electronic payment's (one per store)
        held = (PaymentReference.create_id(store, method, reference),) \
            if reference and method in ELECTRONIC else ()
        before = PaymentReference.typed_before(store, method, provider_ref or "") if held else ()
        return self.app.execute(request, decide, (Settlement.create_id(work_order_id),
                                                  work_order_id, *cashier_day, *held))

    def _deposit_limit(self, wo: WorkOrder, assessment: dict[str, Any] | None) -> DepositLimit:
        """Deposits go up to what the customer approved on the estimate (their pay-type lines,
        the deductibles of approved warranty lines and, under an insurer's assessment, the
        deductible and excess of the approved insurance lines; VAT included): a service
        manager takes money against agreed work. Before any such line is approved, up to the
        configured ceiling."""
        zero = Decimal("0.00")
        insured = sum((ln["gross"] for ln in wo.lines.values()
                       if ln["status"] == "approved" and ln["pay_type"] == "insurance"), zero)
        estimate = wo.totals().get("customer", {}).get("total", zero) + (
            sum(insurance_shares(insured, assessment), zero) if assessment and insured else zero)
        if estimate > 0:
            return DepositLimit(estimate, "approved_estimate")
        return DepositLimit(self.policy.deposit_ceiling, "ceiling")

    def _paid_again(self, session: Session, settlement: Settlement,
                    payment: dict[str, Any]) -> None:
        """A payment on a settled visit's customer bill pays again money that went back (it
        is refused beyond what is outstanding, and only a payment return leaves anything
        outstanding after settlement): the spend and points the refund lowered come back, in
        the payment's save."""
        end_stale_charge(session, settlement)  # an entry a reversal left (domain/account_open.py)
        customer = session.find(Customer, settlement.customer_id)
        if customer is None:
            return
        lot_back(session, customer, settlement.work_order_number)  # the visit's earning
        customer.paid_again(session.audit(customer.store_id),
                            self.policy.loyalty or LoyaltyRules(), payment["payment_id"],
                            settlement.work_order_id, settlement.work_order_number,
                            payment["amount"])

    def close_day(self, request: Request, *, store_id: str, business_date: str | None = None,
                  counted_cash: object, reason: str | None = None,
                  cashier_id: str | None = None,
                  waiting: Iterable[tuple[UUID, str]] = ()) -> CommandResult:
        """Totals by method; expected vs counted cash, a variance needs a reason. Today's
        close is refused (`DayStillOwes`) while a refund the cashier asked for in the store
        waits for a manager's decision: approved after the close, it would be refused until
        their next business day. `waiting` proposes those refunds (settlement, refund id; the
        finance view's), each re-checked on its settlement here."""
        caller = request.caller
        require_group_store(self.stores, store_id)
        require(caller.may_use(store_id), NotPermitted(f"your token does not cover {store_id}"))
        cashier = cashier_id or caller.user_id
        require(cashier == caller.user_id or caller.role in ("manager", "finance"),
                NotPermitted("a cashier closes their own day"))
        day = self._business_date(request, business_date, "a day-end close")
        day_id = CashierDay.create_id(store_id, cashier, day)

        def decide(session: Session) -> Decision:
            found = session.find(CashierDay, day_id)
            if (found is None or not found.closed) and day == self.today(request).isoformat():
                _refuse_waiting_refunds(session, store_id, cashier, waiting)
            if found is None:  # a day without takings still closes (zero totals)
                found = CashierDay(id=day_id, audit=session.audit(store_id), cashier_id=cashier,
                                   business_date=day)
                session.add(found)
            variance = found.close(session.audit(store_id), counted_cash, reason)
            return Decision(found, {"business_date": day, "cashier_id": cashier,
                                    "totals": {k: str(v) for k, v in found.totals.items()},
                                    "expected_cash": str(found.expected_cash),
                                    "counted_cash": str(found.counted_cash),
                                    "variance": str(variance), "reason": found.reason})

        return self.app.execute(request, decide, (day_id,))


def _refuse_waiting_refunds(session: Session, store_id: str, cashier: str,
                            waiting: Iterable[tuple[UUID, str]]) -> None:
    """DayStillOwes naming each proposed refund still waiting on its settlement."""
    still: list[dict[str, Any]] = []
    for settlement_id, refund_id in waiting:
        settlement = session.find(Settlement, settlement_id)
        refund = settlement.refunds.get(refund_id) if settlement is not None else None
        if (settlement is None or refund is None or settlement.store_id != store_id
                or refund["status"] != "requested" or refund["requested_by"] != cashier):
            continue
        still.append({"refund_id": refund_id, "settlement_id": str(settlement_id),
                      "work_order_number": settlement.work_order_number,
                      "payment_id": refund["payment_id"], "kind": refund["kind"],
                      "amount": str(refund["amount"])})
    if still:
        raise DayStillOwes(
            f"{len(still)} refund(s) {cashier} asked for still wait for a manager's decision "
            f"({', '.join(r['refund_id'] for r in still)}): a refund leaves its cashier's day "
            "when approved, and once the day is closed it waits for the next business day. "
            "Have a manager approve or reject them, then close the day",
            open_refunds=still)
