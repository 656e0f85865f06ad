"""The fold's handlers of settlements, their payments and refunds (a work order's own events:
`analytics.fold_work_orders`)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from analytics.events import Event, json_ready
from analytics.fold import Fold, ignore, on
from analytics.fold_work_orders import NOTHING, ZERO, discount_labor
from domain.insurer import insurer_key
from domain.settlement import Settlement
from domain.settlement_bills import bill_totals


def _settlement(fold: Fold, e: Any) -> dict[str, Any]:
    row = fold.touch("fact_settlements", str(e.originator_id))
    assert row is not None
    return row


@on(Settlement.Opened)
def _s_opened(fold: Fold, e: Settlement.Opened, n: int) -> None:
    fold.put("fact_settlements", {"settlement_id": str(e.originator_id),
                                  "work_order_id": str(e.work_order_id),
                                  "store_id": e.audit.store_id, "status": "open"})


def _bill_figures(row: dict[str, Any], bills: dict[str, Any]) -> None:
    """The settlement's figures from its bills, stored (`Event.stored`) or decoded."""
    text = json_ready(bills)  # every amount as the text the JSON copy holds
    net = vat = cost = discount = ZERO  # the lines' sums, each amount read once
    for bill in text.values():
        for ln in bill["lines"]:
            net += Decimal(ln["net"])
            vat += Decimal(ln["vat"])
            cost += Decimal(ln["cost"])
            discount += Decimal(ln["discount"])
    insurer = (text["insurance"].get("payer") or {}).get("insurer") \
        if "insurance" in text else None
    row.update(
        revenue=net - vat, vat=vat, parts_cost=cost, discount=discount,
        **{f"{kind}_total": _decimal(text[kind]["total"]) if kind in text else None
           for kind in ("customer", "warranty", "insurance", "internal")},
        bills_json=json.dumps(text), allowances=NOTHING, insurer=insurer,
        insurer_key=insurer_key(insurer) if insurer else None)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


@on(Settlement.Drafted)
def _s_drafted(fold: Fold, e: Event, n: int) -> None:
    row = _settlement(fold, e)
    row["status"] = "draft"
    _bill_figures(row, e.stored("bills"))  # not decoded: read as text, summed as Decimals
    _reset_discounts(fold, row["work_order_id"])


@on(Settlement.DiscountGiven)
def _s_discount(fold: Fold, e: Settlement.DiscountGiven, n: int) -> None:
    row = _settlement(fold, e)
    bills = {kind: _decimal_bill(bill) for kind, bill in json.loads(row["bills_json"]).items()}
    bill = bills[e.bill]
    for line in bill["lines"]:
        line["discount"] += e.allocation.get(line["line_id"], Decimal(0))
    bill_totals(bill)
    _bill_figures(row, bills)
    for line_id, amount in e.allocation.items():
        labor = fold.touch("fact_labor_lines", row["work_order_id"], line_id)
        if labor is not None:
            discount_labor(labor, labor["discount"] + amount)


BILL_AMOUNTS = ("gross", "discount", "labor", "parts", "vat", "total", "cost", "deductible")
LINE_AMOUNTS = ("gross", "discount", "net", "vat", "cost", "vat_rate", "qty", "unit_price",
                "deductible")


def _decimal_bill(bill: dict[str, Any]) -> dict[str, Any]:
    """A bill read back from its JSON copy, with every amount a Decimal again."""
    return {**{k: Decimal(v) if k in BILL_AMOUNTS and v is not None else v
               for k, v in bill.items()},
            "lines": [{k: Decimal(v) if k in LINE_AMOUNTS and v is not None else v
                       for k, v in line.items()} for line in bill["lines"]]}


def _reset_discounts(fold: Fold, work_order_id: str) -> None:
    for labor in fold.where("fact_labor_lines", work_order_id):
        discount_labor(labor, NOTHING)


@on(Settlement.Confirmed)
def _s_confirmed(fold: Fold, e: Settlement.Confirmed, n: int) -> None:
    _settlement(fold, e).update(status="confirmed", number=e.number, confirmed_at=e.audit.at)


@on(Settlement.Settled)
def _s_settled(fold: Fold, e: Settlement.Settled, n: int) -> None:
    _settlement(fold, e).update(status="settled", settled_at=e.audit.at)


@on(Settlement.Reversed)
def _s_reversed(fold: Fold, e: Settlement.Reversed, n: int) -> None:
    _reset_discounts(fold, _settlement(fold, e)["work_order_id"])
    _settlement(fold, e).update(
        status="open", number=None, settled_at=None, confirmed_at=None, revenue=None, vat=None,
        parts_cost=None, discount=None, customer_total=None, warranty_total=None,
        insurance_total=None, internal_total=None, bills_json=None, allowances=None,
        insurer=None, insurer_key=None)


@on(Settlement.PaymentTaken)
def _s_paid(fold: Fold, e: Settlement.PaymentTaken, n: int) -> None:
    p = e.payment
    fold.append("fact_payments", {
        "notification_id": n, "payment_id": p["payment_id"],
        "settlement_id": str(e.originator_id), "store_id": e.audit.store_id, "kind": p["kind"],
        "bill": p["bill"], "method": p["method"], "amount": p["amount"], "paid_at": e.audit.at,
        "business_date": date.fromisoformat(p["business_date"]), "cashier": p["cashier"],
        "approved_by": None, "bank": getattr(e, "bank_receipt", False)})


def _payment(fold: Fold, payment_id: str) -> dict[str, Any]:
    for row in fold.appends.get("fact_payments", []):
        if row["payment_id"] == payment_id:
            return row
    assert payment_id in fold.payments, payment_id
    return fold.payments[payment_id]


@on(Settlement.RefundRequested)
def _r_requested(fold: Fold, e: Settlement.RefundRequested, n: int) -> None:
    payment = _payment(fold, e.payment_id)
    fold.put("fact_refunds", {
        "refund_id": e.refund_id, "settlement_id": str(e.originator_id),
        "payment_id": e.payment_id, "store_id": e.audit.store_id, "method": payment["method"],
        "bill": payment["bill"], "amount": e.amount, "status": "requested",
        "requested_at": e.audit.at, "kind": _refund_kind(e),
        "red_letter": getattr(e, "red_invoice_number", None) is not None,
        "requested_by": e.audit.user_id})


def _refund_kind(e: Any) -> str:
    """A refund's kind; one stored before refunds had kinds (read as stored, not upcast)
    returned a payment."""
    return getattr(e, "kind", "payment_return")


@on(Settlement.RefundApproved, Settlement.RefundRejected)
def _r_decided(fold: Fold, e: Any, n: int) -> None:
    row = fold.touch("fact_refunds", e.refund_id)
    assert row is not None
    approved = e.qualname == "Settlement.RefundApproved"
    row.update(status="approved" if approved else "rejected", decided_at=e.audit.at,
               decided_by=e.audit.user_id)
    if approved:  # one approved before payout methods (or bank refunds) was paid out as its
        # payment came in, from the requester's day (read as stored, not upcast: neither said)
        row.update(business_date=date.fromisoformat(e.business_date), vat=ZERO,
                   payout_method=getattr(e, "payout_method", None) or row["method"],
                   bank=getattr(e, "bank_refund", False))
    if approved and _refund_kind(e) == "credit":  # the settlement's revenue carries it
        settlement = _settlement(fold, e)
        postings = e.entry["postings"]
        vat = sum((Decimal(p["debit"]) for p in postings if p["account"] == "2221"), ZERO)
        row["vat"] = vat  # the output VAT the credit (its red-letter invoice) takes back
        settlement.update(
            revenue=settlement["revenue"] - sum((Decimal(p["debit"]) for p in postings
                                                 if p["account"] == "6003"), Decimal(0)),
            vat=settlement["vat"] - vat,
            allowances=(settlement.get("allowances") or Decimal(0)) + row["amount"])
    if approved:  # paid out from the requester's day, or (a bank refund) by the approver
        fold.append("fact_payments", {
            "notification_id": n, "payment_id": e.refund_id, "settlement_id": row["settlement_id"],
            "store_id": row["store_id"], "kind": "refund", "bill": row["bill"],
            "method": row["payout_method"], "amount": -row["amount"], "paid_at": e.audit.at,
            "business_date": date.fromisoformat(e.business_date),
            "cashier": e.audit.user_id if row["bank"] else row["requested_by"],
            "approved_by": e.audit.user_id, "bank": row["bank"]})


@on(Settlement.ReceivableWrittenOff, Settlement.WriteOffReversed)
def _written_off(fold: Fold, e: Any, n: int) -> None:
    """A receivable written off (a claim loss: domain/receivable_adjustment.py; no money and no
    revenue move), or taken back: the amount negative."""
    back = e.qualname == "Settlement.WriteOffReversed"
    fold.append("fact_write_offs", {
        "notification_id": n, "write_off_id": getattr(e, "write_off_id", None),
        "settlement_id": str(e.originator_id), "store_id": e.audit.store_id, "bill": e.bill,
        "kind": e.kind, "amount": -e.amount if back else e.amount, "adjusted_at": e.audit.at,
        "business_date": e.audit.at.astimezone(fold.zone).date()})


# kept in the event store and the finance read model; an insurer's assessment reaches the
# tables through the bills it shapes (the customer's deductible and excess lines, the
# insurer's lines net of them: Settlement.Drafted)
ignore(Settlement.InvoiceRecorded, Settlement.PaymentReconciled, Settlement.InsuranceAssessed,
       Settlement.RefundReconciled, Settlement.RefundReconciliationWithdrawn,
       Settlement.PaymentReconciliationWithdrawn)
# a charge to account (挂账) reaches the tables through the Settlement.Settled it comes with;
# its due day is the finance read model's
ignore(Settlement.ChargedToAccount)
