"""Reservations for the invoice numbers recorded before numbers were reserved.

A bill invoiced (or a credit given its red-letter number) before `InvoiceNumber` existed has
no reservation, so a new bill could take its number. The backfill reads every use of an
invoice number in the event log, blue (`Settlement.InvoiceRecorded`) and red (a credit's
`Settlement.RefundRequested`), in log order, and reserves each (store, number) for its first
use where no reservation exists yet. A number the log already holds twice cannot be undone
(events are never changed): each later use is reported for the auditor, never a failure.

Run again it writes nothing and reports the same. It may run while the API serves: a command
taking a number at the same moment creates the same stream, the event store keeps one of the
two, and the backfill reports the other use as a duplicate if it was the command's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from domain.application import ServiceCore
from domain.common import Audit
from domain.invoice_number import InvoiceNumber, RedInvoiceNumber, invoice_number
from domain.settlement import Settlement

TOPICS = (get_topic(Settlement.InvoiceRecorded), get_topic(Settlement.RefundRequested))
BATCH = 1000


@dataclass(frozen=True)
class Use:
    """One use of an invoice number in the log: a blue invoice, or a credit's red one."""

    notification_id: int
    store_id: str
    invoice_no: str
    settlement_id: UUID
    version: int  # the settlement's, after the event
    bill: str | None = None  # a blue invoice's (a red one's is its credit's payment's)
    refund_id: str | None = None  # a red-letter invoice's credit

    @property
    def key(self) -> tuple[str, str]:
        return self.store_id, self.invoice_no

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "settlement_id": str(self.settlement_id),
                "red_letter": self.refund_id is not None}


@dataclass
class BackfillReport:
    uses: int = 0  # invoice numbers found on bills and credits
    reserved: list[Use] = field(default_factory=list)  # reservations this run wrote
    held: int = 0  # numbers already reserved
    duplicates: list[tuple[Use, Use]] = field(default_factory=list)  # (first use, later use)

    def as_dict(self) -> dict[str, Any]:
        return {"uses": self.uses, "reserved": len(self.reserved), "held": self.held,
                "duplicates": [{"store_id": first.store_id, "invoice_no": first.invoice_no,
                                "first": first.as_dict(), "again": again.as_dict()}
                               for first, again in self.duplicates]}


def uses_in_log(app: ServiceCore, batch: int = BATCH) -> Iterator[Use]:
    """Every use of an invoice number, blue or red, in log order."""
    start = 1
    while notifications := app.recorder.select_notifications(start, batch, topics=TOPICS):
        for notification in notifications:
            event: Any = app.mapper.to_domain_event(notification)
            number = getattr(event, "invoice_no", None) or getattr(
                event, "red_invoice_number", None)
            if not number:
                continue
            red = isinstance(event, Settlement.RefundRequested)
            # in the form kept: a number recorded before it was kept so is the same number
            yield Use(notification.id, event.audit.store_id, invoice_number(number),
                      event.originator_id, event.originator_version, None if red else event.bill,
                      event.refund_id if red else None)
        start = notifications[-1].id + 1


def backfill(app: ServiceCore, audit: Audit, batch: int = BATCH) -> BackfillReport:
    """Reserve every invoice number of the log for its first use; report later uses.

    `audit` stamps the reservations written (its store is each number's own)."""
    report = BackfillReport()
    first: dict[tuple[str, str], Use] = {}
    for use in uses_in_log(app, batch):
        report.uses += 1
        earlier = first.get(use.key)
        if earlier is not None:
            report.duplicates.append((earlier, use))
            continue
        first[use.key] = use
        if _reservation(app, use) is not None:
            report.held += 1
            continue
        try:
            app.save(_reserve(app, use, replace(audit, store_id=use.store_id)))
        except IntegrityError:
            # a command took the number since the log was read: its use is stored after
            # every one read so far, so the scan comes to it and reports it as a duplicate
            report.held += 1
            continue
        report.reserved.append(use)
    return report


def _reservation(app: ServiceCore, use: Use) -> InvoiceNumber | None:
    try:
        found: Any = app.repository.get(InvoiceNumber.create_id(use.store_id, use.invoice_no))
    except AggregateNotFoundError:
        return None
    return found if isinstance(found, InvoiceNumber) else None


def _reserve(app: ServiceCore, use: Use, audit: Audit) -> InvoiceNumber:
    """The reservation the command would have written, from the settlement as it was then."""
    settlement: Any = app.repository.get(use.settlement_id, version=use.version)
    assert isinstance(settlement, Settlement)
    reservation_id = InvoiceNumber.create_id(use.store_id, use.invoice_no)
    number = settlement.number or ""
    if use.refund_id is None:
        assert use.bill is not None
        return InvoiceNumber(id=reservation_id, audit=audit, invoice_no=use.invoice_no,
                             bill=use.bill, settlement_id=use.settlement_id,
                             settlement_number=number,
                             work_order_number=settlement.work_order_number)
    refund = settlement.refunds[use.refund_id]
    return RedInvoiceNumber(
        id=reservation_id, audit=audit, invoice_no=use.invoice_no, bill=refund["bill"],
        settlement_id=use.settlement_id, settlement_number=number,
        work_order_number=settlement.work_order_number, refund_id=use.refund_id,
        cancels=settlement.bills.get(refund["bill"], {}).get("invoice_no") or "")
