"""Every stored event says who, when and why (DESIGN: "Rules of the event store"), checked over
every event class in domain/, so that a new one cannot leave it out unnoticed.

- Who and when: each event class carries `audit` (user, role, store, business time,
  correlation id, idempotency key); the store adds the recorded time.
- Why: an event that moves money, stock, a price, a cost, a qualification, a consent or
  personal data, or whose name says it cancels, reverses, writes off, withdraws, corrects,
  changes, rejects, releases, returns or scraps something, has a field saying why (`reason`,
  or the `note`, `why`, `changes` or `resolution` its command asks for), unless it is listed
  below with the reason it needs none. A new such event fails here until it is given a reason
  or listed, which is the decision the auditor wants someone to have made.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import fields

import pytest
from eventsourcing.domain import Aggregate

import domain
from domain.application import ServiceCore
from domain.common import Audit, InvalidInput
from domain.inventory import Inventory
from domain.part import Part
from tests.unit.support import PADS, clerk, register_part, stored_before

WHY_FIELDS = frozenset({"reason", "note", "why", "changes", "resolution",
                        "over_delivery_reason", "comment"})
# Fields whose change an auditor follows: money, stock, prices and costs, qualifications and
# hours, a decision or a check, consent, sealed personal data.
MOVING_FIELDS = frozenset({
    "amount", "qty", "cost", "unit_cost", "unit_price", "list_price", "new_price",
    "hourly_cost", "picks", "adjustments", "limit", "gross", "approved_amount", "variance",
    "counted_cash", "points", "lots", "payment", "entries", "entry", "customer_total", "bills",
    "totals", "assessment", "allocation", "rates", "flat_rate_hours", "min_stock",
    "reorder_qty", "skills", "hours", "passed", "decision", "sealed", "granted", "claimed",
    "lines", "line"})
UNDOING = re.compile(
    r"Cancel|Revers|Written|WriteOff|Scrap|Void|Withdraw|Correct|Changed|Reopen|Refund|"
    r"Discount|Repric|Variance|Reject|Released|Lost|Erased|Removed|Deactivat|Renamed|Replanned|"
    r"Left$|Shredded|Returned|Short|Declined|Revoked|Refiled|Resubmitted|Set$|Moved|Expired|"
    r"Untagged|Assessed|Closed|Recorded")

# Events that need no reason of their own, and why not.
FORWARD_STEP = "the ordinary step of its flow: its document or reference is the why"
SAME_SAVE = "written in the same save as an event that carries the reason (or its document)"
FIRST_RECORD = "a registration or first record: nothing held before is changed"
TIMER = "the system's own bookkeeping by a rule: the rule is the why"
NO_REASON_NEEDED = {
    "CashierDay.MoneyIn": SAME_SAVE, "CashierDay.MoneyOut": SAME_SAVE,
    "Complaint.Moved": SAME_SAVE,
    "Customer.AccountCharged": SAME_SAVE, "Customer.AccountPaid": SAME_SAVE,
    "Customer.AccountChargesClosed": SAME_SAVE, "Customer.AccountChargeReopened": SAME_SAVE,
    "Customer.PaidAgain": SAME_SAVE, "Customer.PaymentRefunded": SAME_SAVE,
    "Customer.PointsEarned": SAME_SAVE, "Customer.PointsRedeemed": SAME_SAVE,
    "Customer.PointsExpired": TIMER, "Customer.Registered": FIRST_RECORD,
    "InsurerName.Released": SAME_SAVE, "InvoiceNumber.Released": SAME_SAVE,
    "RedInvoiceNumber.Released": SAME_SAVE,
    "LaborOperation.Registered": FIRST_RECORD, "OemClaim.Submitted": FORWARD_STEP,
    "OnlineBooking.Expired": TIMER, "OnlineBooking.Requested": FIRST_RECORD,
    "Part.Registered": FIRST_RECORD, "PurchaseOrder.Drafted": FORWARD_STEP,
    "PurchaseOrder.LineAdded": FORWARD_STEP, "ServicePlan.Set": FIRST_RECORD,
    "Settlement.ChargedToAccount": FORWARD_STEP, "Settlement.Confirmed": FORWARD_STEP,
    "Settlement.Drafted": FORWARD_STEP, "Settlement.InvoiceRecorded": FORWARD_STEP,
    "Settlement.RefundApproved": SAME_SAVE, "Settlement.Settled": FORWARD_STEP,
    "Statement.Imported": FORWARD_STEP, "StatementImport.Recorded": SAME_SAVE,
    "StockItem.Issued": FORWARD_STEP, "StockItem.LevelsSet": FORWARD_STEP,
    "StockItem.LowStockAlertRaised": TIMER, "StockItem.Opened": FIRST_RECORD,
    "StockItem.OrderClosed": SAME_SAVE, "StockItem.Ordered": SAME_SAVE,
    "StockItem.Received": FORWARD_STEP, "StockItem.Reserved": FORWARD_STEP,
    "StockItem.TransferredIn": FORWARD_STEP, "Technician.JobAssigned": SAME_SAVE,
    "TransfersComing.TransferSent": SAME_SAVE, "Vehicle.PriorVisitImported": FIRST_RECORD,
    "WorkOrder.Closed": FORWARD_STEP, "WorkOrder.LineAdded": FORWARD_STEP,
    "WorkOrder.PartsIssued": FORWARD_STEP, "WorkOrder.Settled": FORWARD_STEP,
}


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def event_classes() -> dict[str, type]:
    """Every event class of domain/ ("WorkOrder.Cancelled": class), but the bases each
    aggregate declares (`Event`, `Created`, a step's `Step`), which are never stored as such."""
    for module in pkgutil.iter_modules(domain.__path__):
        importlib.import_module(f"domain.{module.name}")
    return {cls.__qualname__: cls for cls in _subclasses(Aggregate.Event)
            if cls.__module__.startswith("domain.")
            and cls.__qualname__.rsplit(".", 1)[-1] not in ("Event", "Created", "Step")}


def _fields(cls: type) -> set[str]:
    return {name for klass in cls.__mro__ for name in getattr(klass, "__annotations__", {})}


def _why(cls: type) -> set[str]:
    """The fields of `cls` that say why: text (`str`, or `str | None` where an older event
    or the first decision may have none), not a field of that name holding data (a part's
    `changes` is the fields changed)."""
    return {name for klass in cls.__mro__
            for name, kind in getattr(klass, "__annotations__", {}).items()
            if name in WHY_FIELDS and str(kind) in ("str", "str | None")}


def needs_why(name: str, cls: type) -> bool:
    return bool(_fields(cls) & MOVING_FIELDS) or bool(UNDOING.search(name.rsplit(".", 1)[-1]))


def test_the_sweep_sees_every_aggregates_events() -> None:
    found = event_classes()
    assert len(found) > 200
    assert {"WorkOrder.Cancelled", "StockItem.Scrapped", "Settlement.Reversed",
            "Customer.DetailsChanged", "DocumentCounter.Taken"} <= found.keys()


def test_every_event_says_who_and_when() -> None:
    assert {f.name for f in fields(Audit)} >= {"user_id", "role", "store_id", "at",
                                                "correlation_id", "idempotency_key"}
    without = sorted(name for name, cls in event_classes().items() if "audit" not in _fields(cls))
    assert without == []


def test_every_change_an_auditor_follows_says_why() -> None:
    without = sorted(name for name, cls in event_classes().items()
                     if needs_why(name, cls) and not _why(cls)
                     and name not in NO_REASON_NEEDED)
    assert without == [], "give these events a reason, or list them in NO_REASON_NEEDED"


def test_the_events_said_to_need_no_reason_exist_and_have_none() -> None:
    found = event_classes()
    stale = sorted(name for name in NO_REASON_NEEDED
                   if name not in found or _why(found[name])
                   or not needs_why(name, found[name]))
    assert stale == []


def test_a_part_change_stored_before_reasons_were_required_reads_without_one() -> None:
    app = ServiceCore()
    register_part(app)
    with pytest.raises(InvalidInput) as refused:
        Inventory(app).change_part(clerk(), PADS, {"barcode": "6901234567890"}, " ")
    assert refused.value.extra["field"] == "reason"
    Inventory(app).change_part(clerk(), PADS, {"barcode": "6901234567890"}, " new label ")
    event = [e for e in app.events.get(Part.create_id(PADS))][-1]
    assert isinstance(event, Part.DetailsChanged) and event.reason == "new label"
    old = stored_before(app, event, 1, "reason")
    assert isinstance(old, Part.DetailsChanged) and old.reason is None
    assert old.changes == event.changes == {"barcode": "6901234567890"}
