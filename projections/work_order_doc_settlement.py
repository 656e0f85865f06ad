"""The visit's settlement in the work-order doc (projections/work_order_doc.py): the insurer's
assessment, the drafted bills with their discounts and credits, and the totals they give."""

from __future__ import annotations

from decimal import Decimal

from domain.settlement import Settlement
from projections.base import StoredEvent
from projections.visit_totals import credited, discounted, drafted, pending_totals, visit_totals
from projections.work_order_doc_values import Doc, State, decoded, plain, text


def refresh_totals(doc: Doc) -> None:
    """What each payer owes (`projections.visit_totals`): the drafted bills', else the
    estimate's; `totals_basis` says which; `pending_totals` what the lines still waiting for
    the customer's approval would add."""
    doc["totals_basis"], doc["totals"] = visit_totals(doc)
    doc["pending_totals"] = pending_totals(doc)


# the settlement's events the doc folds (its stream is found by the doc's settlement id)
SETTLEMENT_EVENTS = (Settlement.InsuranceAssessed, Settlement.Drafted,
                     Settlement.DiscountGiven, Settlement.Reversed, Settlement.PaymentTaken,
                     Settlement.RefundRequested, Settlement.RefundApproved,
                     Settlement.RefundRejected)


def _credit_asked(state: State, doc: Doc) -> None:
    """A credit asked for on a payment's bill, kept in `credits_asked` until decided (a
    payment return changes no bill: it is not kept)."""
    if state["kind"] != "credit":
        return
    bill = (doc.get("payment_bills") or {}).get(state["payment_id"], "customer")
    doc.setdefault("credits_asked", {})[state["refund_id"]] = {
        "bill": bill, "amount": text(state["amount"])}


def _credit_decided(state: State, doc: Doc, approved: bool) -> None:
    """A credit decided: approved, its bill's `allowances` grow; rejected, it is dropped."""
    asked = (doc.get("credits_asked") or {}).pop(state["refund_id"], None)
    if asked is not None and approved and doc.get("bills"):
        credited(doc["bills"], asked["bill"], Decimal(asked["amount"]))


def settled(event: StoredEvent, doc: Doc) -> None:
    """One of the visit's settlement events (`SETTLEMENT_EVENTS`): the insurer's assessment
    (insurer, claim and report number, approved amount, deductible; the latest replacing the
    one before) in `insurance_assessment`, the drafted bills with their discounts and approved
    credits in `bills` (None again once reversed); the totals follow (`refresh_totals`). A
    payment's bill is kept when it is not the customer's (`payment_bills`), for a credit on
    it to find its bill. The work order's own version and time are left as they are."""
    state = event.state()
    cls = event.cls
    if issubclass(cls, Settlement.PaymentTaken):
        payment = state["payment"]
        if payment["bill"] != "customer":
            doc.setdefault("payment_bills", {})[payment["payment_id"]] = payment["bill"]
    elif issubclass(cls, Settlement.RefundRequested):
        _credit_asked(state, doc)
    elif issubclass(cls, Settlement.RefundApproved | Settlement.RefundRejected):
        _credit_decided(state, doc, issubclass(cls, Settlement.RefundApproved))
    elif issubclass(cls, Settlement.InsuranceAssessed):
        doc["insurance_assessment"] = plain(state["assessment"])
    elif issubclass(cls, Settlement.Drafted):
        doc["bills"] = drafted(decoded(state["bills"]))
    elif issubclass(cls, Settlement.DiscountGiven):
        if doc.get("bills") and state["bill"] in doc["bills"]:
            discounted(doc["bills"], state["bill"], decoded(state["allocation"]))
    elif issubclass(cls, Settlement.Reversed):
        doc["bills"] = None
    refresh_totals(doc)
