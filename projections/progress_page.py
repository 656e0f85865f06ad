"""What a customer sees of their work order: a whitelist of the work-order read model.

Only the work-order number, the plate, brand and model, the stage in words, the promised
pick-up time, the lines awaiting their decision, the approved lines and totals (each line with
the customer's share of it: a warranty line's deductible is theirs, and under the insurer's
assessment the deductible and the excess of the insurance lines, as the bills split them, the
insurer named as the insurer master names it, `insurer_shown`; once the settlement has drafted
bills, the bills' figures, each line's discount included: see `projections.visit_totals`). Never the customer's name, phone or WeChat id, the VIN, complaints, diagnoses, technicians, part costs,
stock or who at the store did what.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg

from domain.customer_progress import CUSTOMER_PAY_TYPES
from domain.work_order_lines import customer_share
from projections.base import read
from projections.insurers import name_assessment_insurer
from projections.visit_totals import billed_discounts, billed_shares, insurance_share

STAGES = ("received", "diagnosing", "awaiting_approval", "in_repair", "quality_check", "ready",
          "delivered")
WORKING = ("dispatched", "in_repair", "awaiting_qc")


def _visible(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [line for line in doc["lines"] if line["pay_type"] in CUSTOMER_PAY_TYPES]


def stage(doc: dict[str, Any]) -> str:
    """One of STAGES, or "cancelled": where the car is, in the customer's terms."""
    status = doc["status"]
    if status == "cancelled":
        return "cancelled"
    if status in ("delivered", "closed"):
        return "delivered"
    if status in ("ready_for_settlement", "settled"):
        return "ready"
    if any(line["status"] == "pending" for line in _visible(doc)):
        return "awaiting_approval"
    if status == "opened":
        return "received"
    working = [job for job in doc["jobs"] if job["status"] in WORKING]
    if status == "in_progress" and working:
        return "quality_check" if all(j["status"] == "awaiting_qc" for j in working) \
            else "in_repair"
    if any(line["status"] == "approved" for line in doc["lines"]):
        return "in_repair"  # approved work waiting for its bay
    return "diagnosing"


def _line(line: dict[str, Any], insured: dict[str, Any] | None = None,
          billed: dict[str, tuple[Decimal, Decimal]] | None = None,
          discounts: dict[str, Decimal] | None = None) -> dict[str, Any]:
    """A line as the customer decides on it: its price, what of it is theirs to pay (a
    warranty line's deductible; all of a customer line; under the insurer's assessment an
    approved insurance line's deductible and excess, None while they are known only as a
    total) and what the OEM or insurer covers; once the settlement has drafted bills, what
    the customer's bill and the OEM's or insurer's charge for it, discounts taken off, and
    the discount the bills give it (None before a draft)."""
    labor = line["kind"] == "labor"
    price = Decimal(str(line["gross"]))
    own: Decimal | None = customer_share(line)
    if insured is not None and line["pay_type"] == "insurance" and line["status"] == "approved":
        own = None if insured["lines"] is None \
            else insured["lines"].get(line["line_id"], Decimal("0.00"))
    covered = None if own is None else price - own
    discount: Decimal | None = None
    if billed is not None and line["status"] == "approved":
        own, covered = billed.get(line["line_id"], (Decimal("0.00"), Decimal("0.00")))
        discount = (discounts or {}).get(line["line_id"], Decimal("0.00"))
    return {
        "line_id": line["line_id"], "kind": line["kind"], "description": line["description"],
        "quantity": str(line["hours"] if labor else line["qty"]),
        "unit": "h" if labor else line.get("unit") or "pc", "price": str(price),
        "pay_type": line["pay_type"], "status": line["status"],
        "customer_share": None if own is None else str(own),
        "covered_share": None if covered is None else str(covered),
        "discount": None if discount is None else str(discount),
    }


def _local(value: str | None, zone: ZoneInfo) -> str | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    try:
        moment = moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)
    except OverflowError:  # stored before such times were refused: shown as it was given
        return value
    return moment.isoformat()


def public_view(doc: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    lines = _visible(doc)
    vehicle = doc["vehicle"]
    insured = insurance_share(doc)
    theirs = insured["deductible"] + insured["excess"] if insured else Decimal("0.00")
    totals = doc.get("totals") or {}
    billed = billed_shares(doc)
    customer = totals.get("customer") or {}
    covered = {pay_type: Decimal(figures["total"]) for pay_type, figures in totals.items()
               if pay_type in ("warranty", "insurance")}
    return {
        "number": doc["number"],
        "plate": vehicle.get("plate"),
        "vehicle": " ".join(str(v) for v in (vehicle.get("brand"), vehicle.get("model")) if v)
        or None,
        "stage": stage(doc),
        "promised_at": _local((doc.get("check_in") or {}).get("promised_at"), zone),
        "awaiting_decision": [_line(line) for line in lines if line["status"] == "pending"],
        "approved": [_line(line, insured, billed, billed_discounts(doc)) for line in lines
                     if line["status"] == "approved"],
        "approved_total": str(Decimal(customer.get("total") or "0.00")),
        "allowances": str(Decimal(customer.get("allowances") or "0.00")),
        "due": str(Decimal(customer.get("due") or customer.get("total") or "0.00")),
        "covered": {pay_type: str(amount) for pay_type, amount in covered.items()},
        "insurance": None if insured is None else {
            **{k: str(v) if isinstance(v, Decimal) else v for k, v in insured.items()
               if k != "lines"},
            "insurer": insurer_shown(doc["insurance_assessment"]),
            "total": str(theirs), "by_line": insured["lines"] is not None},
        "currency": "CNY",
        "updated_at": _local(doc.get("updated_at"), zone),
    }


def insurer_shown(assessment: dict[str, Any]) -> str:
    """The insurer as the customer reads it: the master's short name (else its name) when the
    assessment's typed name is one of a registered insurer's (`master_insurer`), else the name
    as typed. Only the name: never the master's code, id or whether it is active."""
    master = assessment.get("master_insurer")
    if master:
        return str(master["short_name"] or master["name"])
    return str(assessment["insurer"])


def progress_of(conn: psycopg.Connection[Any], work_order_id: UUID,
                zone: ZoneInfo) -> dict[str, Any] | None:
    """The page's view of the work order, its assessment's insurer resolved through the master
    now, as the work order's own read resolves it."""
    row = conn.execute("SELECT doc FROM wo_view WHERE id = %s", (work_order_id,)).fetchone()
    return public_view(read(conn, name_assessment_insurer(row[0])), zone) if row else None
