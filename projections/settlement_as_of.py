"""A settlement as it stood at a moment, for the auditor: its stream replayed into the
`Settlement` aggregate up to that moment (business time: each event's audit stamp `at`),
answered in the shape of the finance read model's detail (projections/finance_queries.py
`get_settlement`), plus the moment, the stream version reached and the journal entries the
settling posted, to the accounts the ledger books them to (`domain.ledger.settlement_entries`:
one stored crediting 1405 reads 1408, as in the finance view's journal).

What the aggregate does not keep (when it was confirmed and settled, the discounts given on a
bill, who decided a refund, when and why) is taken from the replayed events themselves.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.application import ServiceCore
from domain.ledger import settlement_entries
from domain.settlement import Settlement
from domain.settlement_state import ZERO
from domain.unreadable_events import mutated


class _Trail:
    """What the read model shows beside the aggregate's state, noted event by event."""

    def __init__(self) -> None:
        self.confirmed_at: datetime | None = None
        self.settled_at: datetime | None = None
        self.updated_at: datetime | None = None
        self.discounts: dict[str, list[dict[str, Any]]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}

    def note(self, event: Settlement.Event) -> None:
        at = event.audit.at
        self.updated_at = at
        if isinstance(event, Settlement.Drafted):
            self.discounts = {}
        elif isinstance(event, Settlement.DiscountGiven):
            self.discounts.setdefault(event.bill, []).append({
                "line_id": event.line_id, "amount": event.amount, "reason": event.reason,
                "approved_by": event.approved_by, "by": event.audit.user_id})
        elif isinstance(event, Settlement.Confirmed):
            self.confirmed_at = at
        elif isinstance(event, Settlement.Settled):
            self.settled_at = at
        elif isinstance(event, Settlement.Reversed):
            self.confirmed_at = self.settled_at = None
            self.discounts = {}
        elif isinstance(event, Settlement.RefundRequested):
            self.refunds[event.refund_id] = {"requested_at": at, "decided_by": None,
                                             "decided_at": None, "decision_reason": None,
                                             "business_date": None}
        elif isinstance(event, Settlement.RefundApproved | Settlement.RefundRejected):
            self.refunds[event.refund_id].update(
                decided_by=event.audit.user_id, decided_at=at,
                decision_reason=getattr(event, "reason", None),
                business_date=getattr(event, "business_date", None))


def settlement_as_of(app: ServiceCore, settlement_id: UUID,
                     at: datetime) -> dict[str, Any] | None:
    """The settlement as it stood at `at`; None when it did not exist yet (or the id is not a
    settlement's)."""
    settlement: Settlement | None = None
    trail = _Trail()
    for event in app.events.get(settlement_id):
        if not isinstance(event, Settlement.Event):
            return None
        if event.audit.at > at:
            break
        settlement = mutated(event, settlement)
        trail.note(event)
    if settlement is None:
        return None
    return _doc(settlement, trail, at)


def _refunded(settlement: Settlement, payment_id: str, by_bank: bool = False) -> Decimal:
    """What approved refunds paid back of the payment; `by_bank`: of them, the bank refunds
    alone (a bank receipt paid back by bank transfer, as the finance view's `bank_refunded`)."""
    return sum((r["amount"] for r in settlement.refunds.values()
                if r["payment_id"] == payment_id and r["status"] == "approved"
                and (not by_bank or r.get("bank_refund", False))), ZERO)


def _allowed(settlement: Settlement, account: str) -> Decimal:
    """What the credits granted on the current bills took off revenue (6003) or VAT (2221)."""
    return sum((p["debit"] for r in settlement.refunds.values()
                if r.get("allowed_on") is not None and r["allowed_on"] == settlement.number
                for p in r["allowance"] if p["account"] == account), ZERO)


def _doc(s: Settlement, trail: _Trail, at: datetime) -> dict[str, Any]:
    bills = {kind: {**bill, "discounts": trail.discounts[kind]} if kind in trail.discounts
             else bill for kind, bill in s.bills.items()}
    lines = [ln for bill in s.bills.values() for ln in bill["lines"]]
    return {
        "id": s.id, "work_order_id": s.work_order_id, "work_order_number": s.work_order_number,
        "store_id": s.store_id, "customer_id": s.customer_id, "status": s.status,
        "number": s.number, "numbers": list(s.numbers), "bills": bills,
        "insurance_assessment": s.assessment,
        "revenue": sum((ln["net"] - ln["vat"] for ln in lines), ZERO) - _allowed(s, "6003"),
        "vat": sum((ln["vat"] for ln in lines), ZERO) - _allowed(s, "2221"),
        "parts_cost": sum((ln["cost"] for ln in lines), ZERO),
        "confirmed_at": trail.confirmed_at, "settled_at": trail.settled_at,
        "updated_at": trail.updated_at, "version": s.version, "as_of": at.isoformat(),
        "bill_status": [{"kind": kind, "payer": bill["payer"], "total": bill["total"],
                         "allowances": s.allowances(kind), "paid": s.paid(kind),
                         "expensed": s.expensed(kind),
                         "written_off": bill.get("written_off", ZERO),
                         "outstanding": bill["total"] - s.allowances(kind) - s.paid(kind)
                         - s.expensed(kind) - bill.get("written_off", ZERO),
                         "invoice_no": bill.get("invoice_no")}
                        for kind, bill in sorted(s.bills.items())],
        "payments": [{
            "payment_id": p["payment_id"], "bill": p["bill"], "kind": p["kind"],
            "method": p["method"], "amount": p["amount"], "tendered": p["tendered"],
            "change": p["change"], "provider_ref": p["provider_ref"],
            "business_date": p["business_date"], "cashier": p["cashier"],
            "correction_of": p.get("correction_of"),
            "refunded": _refunded(s, p["payment_id"]),
            "statement_id": (p.get("reconciled") or {}).get("statement_id"),
            "bank_receipt": p.get("bank_receipt", False),
            "bank_refunded": _refunded(s, p["payment_id"], by_bank=True),
        } for p in s.payments.values()],
        "refunds": [{
            "refund_id": r["refund_id"], "settlement_id": s.id, "store_id": s.store_id,
            "payment_id": r["payment_id"], "amount": r["amount"], "status": r["status"],
            "reason": r["reason"], "requested_by": r["requested_by"], "kind": r["kind"],
            "red_invoice_number": r["red_invoice_number"],
            "payout_method": r.get("payout_method"), "payout_ref": r.get("payout_ref"),
            "bank_refund": r.get("bank_refund", False),
            "statement_id": (r.get("reconciled") or {}).get("statement_id"),
            "statement_line": (r.get("reconciled") or {}).get("line_no"),
            **trail.refunds[r["refund_id"]],
        } for r in s.refunds.values()],
        "settled_entries": settlement_entries(s.settled_entries),  # as the ledger books them
    }
