"""Reservations for the invoice numbers recorded before numbers were reserved.

A bill invoiced (or a credit given its red-letter number) before `InvoiceNumber` existed has
no reservation, so a new bill could take its number. The backfill reads every use of an
invoice number in the event log, blue (`Settlement.InvoiceRecorded`) and red (a credit's
`Settlement.RefundRequested`), in log order, and reserves each (store, number) for its first
use where no reservation exists yet. A number the log already holds twice cannot be undone
(events are never changed): a use that the number's reservation does not name (another bill,
another credit) is reported for the auditor, with the use that holds the number, never a
failure. A number is reserved in the form kept (`invoice_number`): a reservation taken before
numbers were kept so, under the number as typed, leaves the kept form to the backfill.

The log is read in batches: per batch one question for the reservations that exist, and one
save (one transaction) of the missing ones. Memory stays bounded whatever the log's length:
what decides is the reservation stored, not a list of the numbers seen, and the report keeps
the first `keep` duplicates and counts the rest. `after_batch` sees the report after each
batch (its `position` is the last notification read): a caller keeps it, and a later run
given that report goes on from there.

Run again it writes nothing and reports the same. It may run while the API serves: a command
taking a number at the same moment creates the same stream, the event store keeps one of the
two; when it is the command's, the batch is decided again on what is stored, and the
backfill's use is reported as a duplicate of the command's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from itertools import groupby
from operator import attrgetter
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from domain.aggregate_loads import replay
from domain.application import ServiceCore
from domain.common import Audit
from domain.invoice_number import InvoiceNumber, RedInvoiceNumber, invoice_number
from domain.settlement import Settlement

TOPICS = (get_topic(Settlement.InvoiceRecorded), get_topic(Settlement.RefundRequested))
BATCH = 1000
KEEP = 200  # duplicates (and reservations written) a report lists; the rest are counted
ATTEMPTS = 10  # decisions of one batch, each after a command took one of its numbers
EVERY_VERSION = 2**31 - 1  # a reservation's whole stream (a few events: taken, let go, ...)

Key = tuple[str, str]


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
    def key(self) -> Key:
        return self.store_id, self.invoice_no

    def named_by(self, reservation: Any) -> bool:
        """Whether the reservation (its first event) is this use's: same bill or credit."""
        return (reservation.settlement_id == self.settlement_id
                and getattr(reservation, "refund_id", None) == self.refund_id
                and (self.refund_id is not None or reservation.bill == self.bill))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "settlement_id": str(self.settlement_id),
                "red_letter": self.refund_id is not None}

    @classmethod
    def from_dict(cls, kept: dict[str, Any]) -> Use:
        fields = {k: v for k, v in kept.items() if k != "red_letter"}
        return cls(**{**fields, "settlement_id": UUID(fields["settlement_id"])})


@dataclass
class BackfillReport:
    uses: int = 0  # invoice numbers found on bills and credits
    reserved: int = 0  # reservations this run wrote
    held: int = 0  # uses whose number was already reserved for them
    duplicates: list[tuple[Use, Use]] = field(default_factory=list)  # (first use, later use)
    unlisted_duplicates: int = 0  # found beyond the `keep` listed
    position: int = 0  # the last notification read
    written: list[Use] = field(default_factory=list)  # the first `keep` reservations written
    keep: int = KEEP

    def duplicate(self, first: Use, again: Use) -> None:
        if len(self.duplicates) < self.keep:
            self.duplicates.append((first, again))
        else:
            self.unlisted_duplicates += 1

    def as_dict(self) -> dict[str, Any]:
        return {"uses": self.uses, "reserved": self.reserved, "held": self.held,
                "duplicates": [{"store_id": first.store_id, "invoice_no": first.invoice_no,
                                "first": first.as_dict(), "again": again.as_dict()}
                               for first, again in self.duplicates],
                "unlisted_duplicates": self.unlisted_duplicates, "position": self.position}

    @classmethod
    def from_dict(cls, kept: dict[str, Any], keep: int = KEEP) -> BackfillReport:
        """A report as `as_dict` kept it, to go on from its position."""
        return cls(uses=kept["uses"], reserved=kept["reserved"], held=kept["held"],
                   duplicates=[(Use.from_dict(d["first"]), Use.from_dict(d["again"]))
                               for d in kept["duplicates"]],
                   unlisted_duplicates=kept.get("unlisted_duplicates", 0),
                   position=kept.get("position", 0), keep=keep)


def backfill(app: ServiceCore, audit: Audit, batch: int = BATCH, keep: int = KEEP,
             report: BackfillReport | None = None,
             after_batch: Callable[[BackfillReport], bool] | None = None) -> BackfillReport:
    """Reserve every invoice number of the log for its first use; report later uses.

    `audit` stamps the reservations written (its store is each number's own). From the start
    of the log, or after `report.position`; `after_batch` returning False stops after a batch."""
    report = report or BackfillReport(keep=keep)
    while notifications := app.recorder.select_notifications(report.position + 1, batch,
                                                             topics=TOPICS):
        _settle(app, audit, list(_uses(app, notifications)), report)
        report.position = notifications[-1].id
        if after_batch is not None and not after_batch(report):
            break
    return report


def _uses(app: ServiceCore, notifications: Iterable[Any]) -> Iterable[Use]:
    for notification in notifications:
        use = _use(app.mapper.to_domain_event(notification), notification.id)
        if use is not None:
            yield use


def _use(event: Any, notification_id: int) -> Use | None:
    number = getattr(event, "invoice_no", None) or getattr(event, "red_invoice_number", None)
    if not number:
        return None
    red = isinstance(event, Settlement.RefundRequested)
    # in the form kept: a number recorded before it was kept so is the same number
    return Use(notification_id, event.audit.store_id, invoice_number(number),
               event.originator_id, event.originator_version, None if red else event.bill,
               event.refund_id if red else None)


@dataclass
class _Decision:
    write: list[Use] = field(default_factory=list)
    held: int = 0
    duplicates: list[tuple[Use, Use]] = field(default_factory=list)


def _settle(app: ServiceCore, audit: Audit, uses: list[Use], report: BackfillReport) -> None:
    """One batch: its missing reservations saved together, its duplicates reported. A number
    taken by a command meanwhile fails the save; the batch is then decided again."""
    for _ in range(ATTEMPTS):
        decision = _decide(app, uses, _held(app, {use.key for use in uses}))
        reservations = _reservations(app, decision.write, audit)
        try:
            if reservations:
                app.save(*reservations)
        except IntegrityError:
            continue
        report.uses += len(uses)
        report.reserved += len(decision.write)
        report.written += decision.write[:max(0, report.keep - len(report.written))]
        report.held += decision.held
        for first, again in decision.duplicates:
            report.duplicate(first, again)
        return
    raise RuntimeError(f"invoice numbers after notification {report.position}: taken by "
                       f"commands meanwhile {ATTEMPTS} times in a row; run the backfill again")


def _decide(app: ServiceCore, uses: list[Use], held: dict[Key, list[Any]]) -> _Decision:
    decision = _Decision()
    first: dict[Key, Use] = {}  # the batch's first use of a number nobody holds yet
    holders: dict[Key, Use] = {}  # the use a stored reservation names, once looked up
    for use in uses:
        named = held.get(use.key)
        if named is None:
            earlier = first.setdefault(use.key, use)
            if earlier is use:
                decision.write.append(use)
            elif use.named_by(earlier):  # a use has the fields a reservation is named by
                decision.held += 1
            else:
                decision.duplicates.append((earlier, use))
        elif any(use.named_by(reservation) for reservation in named):
            decision.held += 1  # its use, or one that held it before a rejected credit
        else:  # let it go and another use took it again
            reservation = named[-1]
            holder = holders.get(use.key) or _holder(app, use.key, reservation)
            holders[use.key] = holder
            pair = (holder, use) if holder.notification_id < use.notification_id else (
                use, holder)
            decision.duplicates.append(pair)
    return decision


def _held(app: ServiceCore, keys: set[Key]) -> dict[Key, list[Any]]:
    """The uses each of these numbers' stored reservation named, in order: its first event,
    and each `Retaken` after a rejected credit let it go (the last holds it now)."""
    ids = {InvoiceNumber.create_id(*key): key for key in keys}
    found: dict[Key, list[Any]] = {}
    for stored in _streams(app, dict.fromkeys(ids, EVERY_VERSION)):
        event = app.mapper.to_domain_event(stored)
        if getattr(event, "settlement_id", None) is not None:  # not a release
            found.setdefault(ids[stored.originator_id], []).append(event)
    return found


def _streams(app: ServiceCore, up_to: dict[UUID, int]) -> list[Any]:
    """These streams' stored events up to a version of each: one statement where the event
    store has it (servicecore/event_store.py), else one per stream."""
    select = getattr(app.recorder, "select_streams", None)
    if select is not None:
        return list(select(up_to))
    return [e for stream, version in up_to.items()
            for e in app.recorder.select_events(stream, lte=version)]


def _reservations(app: ServiceCore, uses: list[Use], audit: Audit) -> list[InvoiceNumber]:
    """Each use's reservation, from its settlement as it was after the use's event: one read
    of the settlements' streams, each decoded in turn and let go."""
    by_stream: dict[UUID, list[Use]] = {}
    for use in uses:
        by_stream.setdefault(use.settlement_id, []).append(use)
    up_to = {stream: max(use.version for use in its) for stream, its in by_stream.items()}
    reservations = []
    for stream, stored in groupby(_streams(app, up_to), key=attrgetter("originator_id")):
        events = [app.mapper.to_domain_event(s) for s in stored]
        for use in by_stream[stream]:
            settlement = replay(None, events[:use.version])
            assert isinstance(settlement, Settlement)
            reservations.append(_reserve(use, settlement, replace(audit, store_id=use.store_id)))
    assert len(reservations) == len(uses), "a settlement stream the log names is missing"
    return reservations


def _holder(app: ServiceCore, key: Key, reservation: Any) -> Use:
    """The use of the log that a stored reservation names (its settlement's event)."""
    stream = reservation.settlement_id
    for stored in app.recorder.select_events(stream):
        if stored.topic in TOPICS:
            use = _use(app.mapper.to_domain_event(stored), 0)
            if use is not None and use.key == key and use.named_by(reservation):
                lookup = getattr(app.recorder, "notification_id_of", None)
                found = lookup([(stream, stored.originator_version)]) if lookup else None
                return replace(use, notification_id=found or 0)
    # a reservation whose use the log does not show: reported as it names it
    return Use(0, key[0], key[1], stream, 0, getattr(reservation, "bill", None),
               getattr(reservation, "refund_id", None))


def _reserve(use: Use, settlement: Settlement, audit: Audit) -> InvoiceNumber:
    """The reservation the command would have written, from the settlement as it was then."""
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
