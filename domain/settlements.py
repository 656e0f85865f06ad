"""Cashier and finance commands: settlement, payments, refunds, day-end close, reconciliation.

`Settlements` is the one service the API and the command line use. This module holds the
settlement's own commands (drafting, the insurer's assessment, discounts, confirmation,
invoices, reversal); payments and the day-end close are `SettlementCashier`
(domain/settlement_cashier.py), refunds and credits `SettlementRefunds`
(domain/settlement_refunds.py), bank reconciliation `Reconciliation` (domain/reconciling.py);
what they share is `SettlementDesk` (domain/settlement_desk.py).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.account_open import end_stale_charge
from domain.application import CommandResult, Decision, Request, Session
from domain.common import InvalidInput, require
from domain.counter import DocumentCounter
from domain.insurer import insurer_key, insurer_name
from domain.invoice_number import InvoiceNumber, RedInvoiceNumber, invoice_number
from domain.reconciling import Reconciliation
from domain.settlement import Settlement
from domain.settlement_bills import build_bills, zero_bill
from domain.settlement_cashier import SettlementCashier
from domain.settlement_desk import Policy, business_day, peek_settlement
from domain.settlement_refunds import SettlementRefunds
from domain.settlement_state import SettlementError
from domain.taken_once import refuse_taken
from domain.work_order import WorkOrder

__all__ = ["Policy", "Settlements", "business_day", "peek_settlement"]


class Settlements(SettlementCashier, SettlementRefunds, Reconciliation):
    # -- settlement --------------------------------------------------------------------------

    def draft(self, request: Request, work_order_id: UUID, *,
              insurance: dict[str, Any] | None = None,
              internal_department: str | None = None) -> CommandResult:
        """Bills by pay type from the work order's approved labor and issued parts."""

        def decide(session: Session) -> Decision:
            wo = session.get(WorkOrder, work_order_id, "work order")
            require(wo.status == "ready_for_settlement" and wo.settlement is None,
                    SettlementError(f"work order {wo.number} is {wo.status}; settle it when it "
                                    "is ready", blockers=wo.blockers()))
            settlement = self._settlement_for(session, wo)
            payers = self._payers(wo, insurance, internal_department, settlement.assessment)
            bills = build_bills(list(wo.lines.values()), payers, settlement.assessment)
            if not bills and any(job["status"] == "closed" for job in wo.jobs.values()):
                bills = zero_bill(payers)  # no fault found, or the work declined
            for kind in bills:
                if kind in ("insurance", "internal"):
                    require(bool(payers.get(kind)), InvalidInput(
                        "insurance lines need the insurer and claim number" if kind == "insurance"
                        else "internal lines need the department that pays",
                        field="insurance" if kind == "insurance" else "internal_department"))
            settlement.draft(session.audit(wo.store_id), bills)
            return Decision(settlement, {**settlement.summary(), "work_order_id": str(wo.id)})

        return self.app.execute(request, decide, (Settlement.create_id(work_order_id),))

    @staticmethod
    def _payers(wo: WorkOrder, insurance: dict[str, Any] | None,
                internal_department: str | None,
                assessment: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """Who pays each bill; the insurer and claim are the assessment's once there is one
        (a draft naming another claim is refused)."""
        payers: dict[str, dict[str, Any]] = {
            "customer": {"customer_id": str(wo.customer_id)},
            "warranty": {"oem": wo.vehicle.get("brand") or "OEM", "vin": wo.vehicle["vin"]},
        }
        if insurance and (insurance.get("insurer") or "").strip() and \
                (insurance.get("claim_number") or "").strip():
            payers["insurance"] = {"insurer": insurer_name(insurance["insurer"]),
                                   "claim_number": insurance["claim_number"].strip()}
        if assessment is not None:
            assessed = {"insurer": assessment["insurer"],
                        "claim_number": assessment["claim_number"]}
            typed = payers.get("insurance", assessed)
            require((insurer_key(typed["insurer"]), typed["claim_number"]) == (
                insurer_key(assessed["insurer"]), assessed["claim_number"]), InvalidInput(
                f"the work order's insurance assessment is claim {assessed['claim_number']} of "
                f"{assessed['insurer']}", assessed=assessed))
            payers["insurance"] = assessed
        if (internal_department or "").strip():
            payers["internal"] = {"department": (internal_department or "").strip()}
        return payers

    def assess_insurance(self, request: Request, work_order_id: UUID, *, insurer: str,
                         claim_number: str, approved_amount: object, deductible: object = "0",
                         report_number: str | None = None,
                         reason: str | None = None) -> CommandResult:
        """The insurer's assessment of a visit the shop settles with the insurer directly: the
        insurance bill is capped at the approved amount less the deductible; the deductible
        and the excess go to the customer's bill. A drafted settlement is redrafted in the
        same save; a confirmed one is refused until a manager reverses it."""

        def decide(session: Session) -> Decision:
            wo = session.get(WorkOrder, work_order_id, "work order")
            require(wo.status != "cancelled", SettlementError("the work order is cancelled"))
            settlement = self._settlement_for(session, wo)
            kept = {k: b["payer"] for k, b in settlement.bills.items() if k == "internal"}

            def rebill(assessment: dict[str, Any]) -> dict[str, dict[str, Any]]:
                payers = self._payers(wo, None, None, assessment)
                return build_bills(list(wo.lines.values()), {**payers, **kept}, assessment)

            given = {k: str(b["discount"]) for k, b in settlement.bills.items()
                     if b.get("discount")}
            redrafted = settlement.assess_insurance(
                session.audit(wo.store_id), insurer=insurer, claim_number=claim_number,
                report_number=report_number, approved_amount=approved_amount,
                deductible=deductible, reason=reason, rebill=rebill)
            assessed = {k: v if v is None else str(v)
                        for k, v in (settlement.assessment or {}).items()}
            return Decision(settlement, {**settlement.summary(), "work_order_id": str(wo.id),
                                         "assessment": assessed, "redrafted": redrafted,
                                         "discounts_dropped": given if redrafted else {}})

        return self.app.execute(request, decide, (Settlement.create_id(work_order_id),))

    def discount(self, request: Request, settlement_id: UUID, *, bill: str,
                 amount: object, line_id: str | None = None,
                 reason: str | None = None) -> CommandResult:
        return self._on(request, settlement_id, lambda s, st: {"allocation": {
            k: str(v) for k, v in st.discount(s.audit(st.store_id), bill, line_id, amount, reason,
                                              self.policy.discount_approval_rate).items()}})

    def confirm(self, request: Request, settlement_id: UUID) -> CommandResult:
        """The settlement number (gap-free, from a counter in the same save); freezes issues.

        A zero (or deposit-covered) customer bill settles in the same transaction.
        """
        year = request.caller.at.astimezone(self.zone).year

        def act(session: Session, settlement: Settlement) -> dict[str, Any]:
            audit = session.audit(settlement.store_id)
            wo = self._work_order(session, settlement)
            number = session.next_number("settlement", "SET", settlement.store_id, year)
            settlement.confirm(audit, number, build_bills(list(wo.lines.values()), {},
                                                          settlement.assessment))
            wo.confirm_settlement(audit, settlement.id, number)
            return {"settled": self._settle_if_paid(session, settlement)}

        peek = self._peek(settlement_id)
        store = peek.store_id if peek else ""
        return self._on(request, settlement_id, act, (
            DocumentCounter.create_id("settlement", store, year),
            *((peek.work_order_id,) if peek else ())))

    def record_invoice(self, request: Request, settlement_id: UUID, *, bill: str,
                       invoice_no: str) -> CommandResult:
        """The tax invoice of a confirmed bill; its number once per store (`InvoiceNumber`,
        created in the same save)."""
        number = invoice_number(invoice_no)

        def act(session: Session, settlement: Settlement) -> None:
            audit = session.audit(settlement.store_id)
            reservation = InvoiceNumber.create_id(settlement.store_id, number)
            settlement.record_invoice(audit, bill, number)
            found = session.find(InvoiceNumber, reservation)
            refuse_taken([found])
            assert settlement.number is not None
            if found is not None:  # let go by a rejected credit
                found.take_again(audit, bill, settlement.id, settlement.number,
                                 settlement.work_order_number)
                return
            session.add(InvoiceNumber(
                id=reservation, audit=audit, invoice_no=number, bill=bill,
                settlement_id=settlement.id, settlement_number=settlement.number,
                work_order_number=settlement.work_order_number))

        peek = self._peek(settlement_id)
        held = (InvoiceNumber.create_id(peek.store_id, number),) if peek and number else ()
        return self._on(request, settlement_id, act, held)

    def reverse(self, request: Request, settlement_id: UUID, *, reason: str | None,
                red_invoice_numbers: dict[str, str] | None = None) -> CommandResult:
        """Reversing entries; an invoiced bill's red-letter invoice (红字发票) takes its number
        in the store's series, blue and red together (`RedInvoiceNumber`, in the same save)."""
        red = {bill: invoice_number(no) for bill, no in (red_invoice_numbers or {}).items()}
        numbers = [no for no in red.values() if no]
        require(len(set(numbers)) == len(numbers), InvalidInput(
            "each bill's red-letter invoice has a number of its own",
            field="red_invoice_numbers"))

        def act(session: Session, settlement: Settlement) -> dict[str, Any]:
            audit = session.audit(settlement.store_id)
            blue = {bill: str(b.get("invoice_no")) for bill, b in settlement.bills.items()}
            number = settlement.reverse(audit, reason, red)
            for bill, no in red.items():
                self._reserve_reversal_red(session, settlement, number, bill, no, blue[bill])
            self._work_order(session, settlement).reverse_settlement(audit, number, str(reason))
            end_stale_charge(session, settlement)  # a charge to account ends with it
            return {"reversed": number}

        peek = self._peek(settlement_id)
        held = tuple(InvoiceNumber.create_id(peek.store_id, no) for no in numbers) if peek else ()
        return self._on(request, settlement_id, act,
                        (*((peek.work_order_id, peek.customer_id) if peek else ()), *held))

    @staticmethod
    def _reserve_reversal_red(session: Session, settlement: Settlement, number: str, bill: str,
                              red: str, cancels: str) -> None:
        """The red-letter invoice of a reversed bill: held for good (no credit to reject)."""
        reservation = InvoiceNumber.create_id(settlement.store_id, red)
        found = session.find(InvoiceNumber, reservation)
        refuse_taken([found])
        audit = session.audit(settlement.store_id)
        if found is not None:  # let go by a rejected credit
            found.take_again(audit, bill, settlement.id, number, settlement.work_order_number,
                             None, cancels)
            return
        session.add(RedInvoiceNumber(
            id=reservation, audit=audit, invoice_no=red, bill=bill, settlement_id=settlement.id,
            settlement_number=number, work_order_number=settlement.work_order_number,
            refund_id=None, cancels=cancels))
