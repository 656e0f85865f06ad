"""Refunds and credits of a visit's payments: requested by the cashier, decided by a manager
(not the requester); an approved refund leaves the requester's cashier day by the payout's
method and, on a settled visit's customer bill, lowers the customer's spend and points."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from domain.account_open import open_on_account
from domain.application import CommandResult, Request, Session
from domain.cashier_day import CashierDay
from domain.customer import Customer
from domain.customer_lots import lot_back
from domain.invoice_number import InvoiceNumber, RedInvoiceNumber, invoice_number
from domain.loyalty import LoyaltyRules
from domain.on_account import check_refund_on_account
from domain.payment_reference import RefundPayoutReference, provider_reference
from domain.settlement import Settlement
from domain.settlement_desk import SettlementDesk
from domain.taken_once import refuse_taken


class SettlementRefunds(SettlementDesk):
    def _refund_to_customer(self, session: Session, settlement: Settlement,
                            refund: dict[str, Any]) -> None:
        """Money of a settled visit's customer bill going back (either kind) lowers the
        customer's spend and takes back the points earned on it, in the approving save.
        Before settlement nothing was earned or counted as spend: the visit settles on what is
        paid net of refunds."""
        customer = session.find(Customer, settlement.customer_id)
        if customer is None or settlement.status != "settled" or refund["bill"] != "customer":
            return
        lot_back(session, customer, settlement.work_order_number)  # the visit's earning
        customer.refunded(session.audit(customer.store_id), self.policy.loyalty or LoyaltyRules(),
                          refund["refund_id"], settlement.work_order_id,
                          settlement.work_order_number, refund["amount"], refund["kind"],
                          self.today(session.request))

    def request_refund(self, request: Request, settlement_id: UUID, *, payment_id: str,
                       amount: object, reason: str | None, kind: str | None = None,
                       red_invoice_number: str | None = None) -> CommandResult:
        """A refund or a credit (`kind` unsaid: see `Settlement.unsaid_kind`); a credit's
        red-letter invoice number once per store, blue and red together
        (`RedInvoiceNumber`, created in the same save)."""
        refund_id = "RF-" + uuid4().hex[:12].upper()
        red = invoice_number(red_invoice_number or "")

        def act(session: Session, settlement: Settlement) -> dict[str, Any]:
            audit = session.audit(settlement.store_id)
            settlement.request_refund(audit, refund_id, payment_id, amount, reason, kind,
                                      red or None)
            if red:  # the credit's bill was invoiced: request_refund refuses it otherwise
                self._reserve_red(session, settlement, refund_id, red)
            return {"refund_id": refund_id, "refund_status": "requested",
                    "kind": settlement.refunds[refund_id]["kind"]}

        peek = self._peek(settlement_id)
        held = (InvoiceNumber.create_id(peek.store_id, red),) if peek and red else ()
        return self._on(request, settlement_id, act, held)

    @staticmethod
    def _reserve_red(session: Session, settlement: Settlement, refund_id: str,
                     red: str) -> None:
        reservation = InvoiceNumber.create_id(settlement.store_id, red)
        found = session.find(InvoiceNumber, reservation)
        refuse_taken([found])
        refund = settlement.refunds[refund_id]
        assert settlement.number is not None
        audit, cancels = session.audit(settlement.store_id), settlement.bills[refund["bill"]][
            "invoice_no"]
        if found is not None:  # let go by a rejected credit
            found.take_again(audit, refund["bill"], settlement.id, settlement.number,
                             settlement.work_order_number, refund_id, cancels)
            return
        session.add(RedInvoiceNumber(
            id=reservation, audit=audit, invoice_no=red, bill=refund["bill"],
            settlement_id=settlement.id, settlement_number=settlement.number,
            work_order_number=settlement.work_order_number, refund_id=refund_id,
            cancels=cancels))

    def decide_refund(self, request: Request, settlement_id: UUID, refund_id: str, *,
                      approve: bool, reason: str | None = None, payout_method: str | None = None,
                      payout_ref: str | None = None) -> CommandResult:
        """A manager (not the requester) approves: the money leaves the cashier's day (by the
        payout's method), unless it is a bank receipt paid back by bank transfer (a
        `bank_refund`: it leaves the bank, in no cashier's day, so no closed day refuses it).
        A rejected credit lets its red-letter number go in the same save."""
        day = self.today(request).isoformat()

        def act(session: Session, settlement: Settlement) -> dict[str, Any]:
            audit = session.audit(settlement.store_id)
            was_open = open_on_account(settlement)
            refund = settlement.decide_refund(audit, refund_id, approve, reason, day,
                                              payout_method, payout_ref)
            if not approve and refund.get("red_invoice_number"):
                found = session.find(InvoiceNumber, InvoiceNumber.create_id(
                    settlement.store_id, invoice_number(refund["red_invoice_number"])))
                if found is not None:  # none: a credit from before numbers were reserved
                    found.release(audit, refund_id)
            if approve and refund["payout_ref"] is not None:
                self._reserve_payout(session, settlement, refund)
            if approve and not refund["bank_refund"]:  # a bank refund leaves no drawer
                cashier = refund["requested_by"]
                day_id = CashierDay.create_id(settlement.store_id, cashier, day)
                cashier_day = session.find(CashierDay, day_id)
                if cashier_day is None:
                    cashier_day = CashierDay(id=day_id, audit=audit, cashier_id=cashier,
                                             business_date=day)
                    session.add(cashier_day)
                cashier_day.money_out(audit, settlement.id, refund_id, refund["payout_method"],
                                      refund["amount"])
            if approve:
                self._refund_to_customer(session, settlement, refund)
                check_refund_on_account(session, settlement,
                                        session.find(Customer, settlement.customer_id), was_open)
            return {"refund_id": refund_id, "refund_status": "approved" if approve
                    else "rejected", "kind": refund.get("kind", "payment_return")}

        peek = self._peek(settlement_id)
        red = (peek.refunds.get(refund_id) or {}).get("red_invoice_number") if peek else None
        held: tuple[UUID, ...] = (InvoiceNumber.create_id(peek.store_id, red),) \
            if peek and red else ()
        payment = (peek.payments.get((peek.refunds.get(refund_id) or {}).get("payment_id", ""))
                   if peek else None)
        reference = provider_reference(payout_ref)
        if peek and payment and reference and approve:  # the reservation the approval takes
            held += (RefundPayoutReference.create_id(
                peek.store_id, payout_method or payment["method"], reference),)
        if peek and getattr(peek, "charged", None):  # the account's turn, as a charge takes
            held += (peek.customer_id,)
        return self._on(request, settlement_id, act, held)

    @staticmethod
    def _reserve_payout(session: Session, settlement: Settlement,
                        refund: dict[str, Any]) -> None:
        """The payout reference, once per store and payout method: another refund's is 409
        naming it (domain/payment_reference.py)."""
        method, reference = refund["payout_method"], refund["payout_ref"]
        reservation = RefundPayoutReference.create_id(settlement.store_id, method, reference)
        refuse_taken([session.find(RefundPayoutReference, reservation)])
        session.add(RefundPayoutReference(
            id=reservation, audit=session.audit(settlement.store_id), method=method,
            reference=reference, refund_id=refund["refund_id"], settlement_id=settlement.id,
            work_order_number=settlement.work_order_number))
