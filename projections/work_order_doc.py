"""The work order as one JSON doc, folded from its events as the log stores them.

`step(event, doc, open_pii)` applies one `StoredEvent` (the event's JSON state, parsed but not
decoded) and gives the doc back: the projection folds a whole batch this way without building
domain events, and `fold` does the same for domain events (an `as_of` reconstruction) after
encoding them as the log would. So the view and `as_of` always have the same shape.

A doc holds only what a jsonb column gives back: a transcoded value of the state
(`{"_type_": ..., "_data_": ...}`) becomes its plain form (`plain`), a value the old code
printed with `str()` is decoded first (`text`), so that a doc is the same whether it was
folded in memory or read back from the table between two batches (the forms are in
projections/work_order_doc_values.py; the visit's settlement events fold by
projections/work_order_doc_settlement.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Transcoder

from domain.customers import shown_phone
from domain.pii import is_sealed
from domain.unreadable_events import applying
from domain.work_order import WorkOrder
from projections.base import StoredEvent, stored_event
from projections.quantities import PART_LINE_QUANTITIES, shown_text, shown_texts
from projections.work_order_doc_settlement import refresh_totals
from projections.work_order_doc_values import Doc, State, decoded, plain, text
from projections.work_order_doc_warranty import (
    comeback_mark_withdrawn,
    comeback_marked,
    completion_certified,
    evidence_added,
    evidence_withdrawn,
    serials_recorded,
)

Opener = Callable[[UUID, "str | None"], "str | None"]
Handler = Callable[[State, "Doc | None", Opener], "Doc | None"]


def _audit(state: State) -> dict[str, Any]:
    return state["audit"]["_data_"]  # type: ignore[no-any-return]


def _stamp(state: State) -> dict[str, Any]:
    audit = _audit(state)
    return {"by": audit["user_id"], "role": audit["role"], "at": audit["at"]}


def _job(complaint: str, job_no: int) -> dict[str, Any]:
    return {"job_no": job_no, "complaint": complaint, "status": "reported", "diagnosis": None,
            "technician_id": None, "clock": None, "clocked_seconds": 0, "qc_failures": 0,
            "qc": [], "set_aside": [], "closure": None}


def _job_of(doc: Doc, job_no: int) -> dict[str, Any]:
    return doc["jobs"][job_no - 1]  # type: ignore[no-any-return]


def _line_of(doc: Doc, line_id: str) -> dict[str, Any]:
    return next(line for line in doc["lines"] if line["line_id"] == line_id)


HANDLERS: dict[type, Handler] = {}


def _on(cls: type) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[cls] = handler
        return handler
    return register


def _unchanged(s: State, doc: Doc | None, open_pii: Opener) -> Doc | None:
    """Events without a handler of their own leave the doc as it is."""
    return doc


_RESOLVED: dict[type, Handler] = {}


def handler_of(cls: type) -> Handler:
    """The handler of `cls` or of its nearest base class that has one."""
    found = _RESOLVED.get(cls)
    if found is None:
        found = _RESOLVED[cls] = next(
            (HANDLERS[base] for base in cls.__mro__ if base in HANDLERS), _unchanged)
    return found


@_on(WorkOrder.Opened)
def _opened(s: State, doc: Doc | None, open_pii: Opener) -> Doc:
    customer_id = decoded(s["customer_id"])
    customer = s["customer"]
    return {
        "id": str(s["originator_id"]), "number": s["number"], "store_id": _audit(s)["store_id"],
        "status": "opened", "kind": s["kind"], "appointment_id": plain(s["appointment_id"]),
        "customer": {"id": str(customer_id), "name": open_pii(customer_id, customer.get("name")),
                     "phone": shown_phone(open_pii(customer_id, customer.get("phone"))),
                     "wechat_id": open_pii(customer_id, customer.get("wechat_id"))},
        "vehicle": plain(s["vehicle"]), "mileage": plain(s["mileage"]), "check_in": None,
        "jobs": [_job(c, n) for n, c in enumerate(s["complaints"], start=1)],
        "lines": [], "totals": {}, "pending_totals": {}, "technicians": [], "opened": _stamp(s),
        "ready_at": None, "cancelled": None,
    }


@_on(WorkOrder.CheckedIn)
def _checked_in(s: State, doc: Any, open_pii: Opener) -> Any:
    details = plain(s["details"])
    doc.update(status="checked_in", check_in={**details, **_stamp(s)},
               mileage=details["mileage_in"])
    return doc


@_on(WorkOrder.JobAdded)
def _job_added(s: State, doc: Any, open_pii: Opener) -> Any:
    doc["jobs"].append(_job(s["complaint"], len(doc["jobs"]) + 1))
    return doc


@_on(WorkOrder.Diagnosed)
def _diagnosed(s: State, doc: Any, open_pii: Opener) -> Any:
    job = _job_of(doc, s["job_no"])
    job["diagnosis"] = {"cause": s["cause"], "correction": s["correction"],
                        "fault_codes": plain(s["fault_codes"]), **_stamp(s)}
    if job["status"] == "reported":
        job["status"] = "diagnosed"
    return doc


@_on(WorkOrder.LineAdded)
def _line_added(s: State, doc: Any, open_pii: Opener) -> Any:
    line = _part_quantities({**plain(s["line"]), "authorization": None})
    doc["lines"].append(line)
    job = _job_of(doc, line["job_no"])
    if job["status"] == "awaiting_qc":
        job["status"] = "in_repair"
    return doc


@_on(WorkOrder.LineRepriced)
def _repriced(s: State, doc: Any, open_pii: Opener) -> Any:
    _line_of(doc, s["line_id"]).update(
        unit_price=text(s["unit_price"]), gross=text(s["gross"]), vat=text(s["vat"]))
    return doc


@_on(WorkOrder.LineAuthorized)
def _authorized(s: State, doc: Any, open_pii: Opener) -> Any:
    line = _line_of(doc, s["line_id"])
    line["status"] = s["decision"]
    line["authorization"] = {"decision": s["decision"], "channel": s["channel"],
                             "note": s["note"], **_stamp(s)}
    if s["decision"] == "declined" and "reserved_qty" in line:
        # the same save let the stock reservation go (domain/work_orders.py authorize_line):
        # the line holds nothing and is supplied by nothing until it is approved again
        line.update(supply=None, reserved_qty="0")
    return doc


@_on(WorkOrder.JobDispatched)
def _dispatched(s: State, doc: Any, open_pii: Opener) -> Any:
    job = _job_of(doc, s["job_no"])
    job["technician_id"] = s["technician_id"]
    # what the dispatch set aside (a manager's override; none before `JobDispatched` v2)
    job["set_aside"] = plain(s.get("set_aside") or [])
    if job["status"] in ("reported", "diagnosed"):
        job["status"] = "dispatched"
    doc["status"] = "in_progress"
    doc["technicians"] = sorted({j["technician_id"] for j in doc["jobs"] if j["technician_id"]})
    return doc


@_on(WorkOrder.JobClosed)
def _job_closed(s: State, doc: Any, open_pii: Opener) -> Any:
    job = _job_of(doc, s["job_no"])
    job.update(status="closed", closure={"outcome": s["outcome"], "reason": s["reason"],
                                         **_stamp(s)})
    return doc


@_on(WorkOrder.ClockedOn)
def _clocked_on(s: State, doc: Any, open_pii: Opener) -> Any:
    job = _job_of(doc, s["job_no"])
    job["clock"] = {"technician_id": s["technician_id"], "since": _audit(s)["at"]}
    job["status"] = "in_repair"
    return doc


@_on(WorkOrder.ClockedOff)
def _clocked_off(s: State, doc: Any, open_pii: Opener) -> Any:
    job = _job_of(doc, s["job_no"])
    job["clock"] = None
    job["clocked_seconds"] += s["seconds"]
    return doc


@_on(WorkOrder.JobCompleted)
def _completed(s: State, doc: Any, open_pii: Opener) -> Any:
    _job_of(doc, s["job_no"])["status"] = "awaiting_qc"
    return doc


@_on(WorkOrder.QualityChecked)
def _quality_checked(s: State, doc: Any, open_pii: Opener) -> Any:
    job = _job_of(doc, s["job_no"])
    passed = s["passed"]
    job["qc"].append({"passed": passed, "reason": s["reason"], **_stamp(s)})
    job["status"] = "passed" if passed else "in_repair"
    job["qc_failures"] += 0 if passed else 1
    return doc


@_on(WorkOrder.ReadyForSettlement)
def _ready(s: State, doc: Any, open_pii: Opener) -> Any:
    doc.update(status="ready_for_settlement", ready_at=_audit(s)["at"])
    return doc


@_on(WorkOrder.Cancelled)
def _cancelled(s: State, doc: Any, open_pii: Opener) -> Any:
    doc.update(status="cancelled", cancelled={"reason": s["reason"], **_stamp(s)})
    for line in doc["lines"]:  # the cancellation's save let every reservation go
        if "reserved_qty" in line:
            line["reserved_qty"] = "0"
    return doc


@_on(WorkOrder.PartSupply)
def _supply(s: State, doc: Any, open_pii: Opener) -> Any:
    _line_of(doc, s["line_id"]).update(supply=s["supply"],
                                           reserved_qty=shown_text(decoded(s["reserved_qty"])))
    return doc


def _picks_out(picks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [shown_texts({k: text(v) for k, v in pick.items()}, ("qty",)) for pick in picks]


def _part_quantities(line: dict[str, Any]) -> dict[str, Any]:
    """A part line's quantities as every quantity read shows them (projections/quantities.py)."""
    if line["kind"] == "part":
        shown_texts(line, PART_LINE_QUANTITIES)
        if line.get("withdrawn"):
            shown_texts(line["withdrawn"], ("qty",))
    return line


@_on(WorkOrder.PartsIssued)
def _issued(s: State, doc: Any, open_pii: Opener) -> Any:
    line = _line_of(doc, s["line_id"])
    qty = decoded(s["qty"])
    line["issued_qty"] = shown_text(Decimal(line["issued_qty"]) + qty)
    line["reserved_qty"] = shown_text(max(Decimal(0),
                                          Decimal(line.get("reserved_qty") or 0) - qty))
    line.setdefault("issues", []).append({"qty": shown_text(qty), "cost": text(s["cost"]),
                                          "picks": _picks_out(s["picks"]), **_stamp(s)})
    return doc


@_on(WorkOrder.PartsReturned)
def _returned(s: State, doc: Any, open_pii: Opener) -> Any:
    line = _line_of(doc, s["line_id"])
    qty = decoded(s["qty"])
    line["issued_qty"] = shown_text(Decimal(line["issued_qty"]) - qty)
    line.setdefault("issues", []).append({"qty": shown_text(-qty),
                                          "cost": str(-decoded(s["cost"])),
                                          "picks": _picks_out(s["picks"]),
                                          "reason": s["reason"], **_stamp(s)})
    return doc


@_on(WorkOrder.LineWithdrawn)
def _withdrawn(s: State, doc: Any, open_pii: Opener) -> Any:
    line = _line_of(doc, s["line_id"])
    qty = decoded(s["qty"])
    line.update(qty=shown_text(qty), gross=text(s["gross"]), vat=text(s["vat"]),
                reserved_qty="0", withdrawn={"qty": shown_text(decoded(s["withdrawn_qty"])),
                                             "reason": s["reason"], **_stamp(s)})
    if qty == 0:
        line["status"] = "declined"
    return doc


@_on(WorkOrder.LinesMoved)
def _moved(s: State, doc: Any, open_pii: Opener) -> Any:
    line_ids = plain(s["line_ids"])
    for line_id in line_ids:
        _line_of(doc, line_id).update(status="moved", moved_to=s["follow_on_number"],
                                      reserved_qty="0")
    doc.setdefault("follow_ons", []).append({
        "id": text(s["follow_on_id"]), "number": s["follow_on_number"],
        "lines": line_ids, "reason": s["reason"], **_stamp(s)})
    return doc


@_on(WorkOrder.LinesCarriedOver)
def _carried_over(s: State, doc: Any, open_pii: Opener) -> Any:
    doc["follow_on_of"] = {"id": text(s["from_id"]), "number": s["from_number"],
                           "reason": s["reason"]}
    doc["lines"].extend(_part_quantities(line) for line in plain(s["lines"]))
    return doc


@_on(WorkOrder.BackInProgress)
def _back_in_progress(s: State, doc: Any, open_pii: Opener) -> Any:
    doc.update(status="in_progress", ready_at=None)
    return doc


@_on(WorkOrder.SettlementConfirmed)
def _settlement_confirmed(s: State, doc: Any, open_pii: Opener) -> Any:
    doc["settlement"] = {"id": text(s["settlement_id"]), "number": s["number"],
                         "confirmed": _stamp(s), "settled": None}
    return doc


@_on(WorkOrder.Settled)
def _settled(s: State, doc: Any, open_pii: Opener) -> Any:
    doc["status"] = "settled"
    doc["settlement"] = {**(doc.get("settlement") or {}), "settled": _stamp(s),
                         "customer_total": text(s["customer_total"])}
    return doc


@_on(WorkOrder.SettlementReversed)
def _settlement_reversed(s: State, doc: Any, open_pii: Opener) -> Any:
    doc["status"] = "ready_for_settlement"
    doc.setdefault("reversed_settlements", []).append(
        {"number": s["number"], "reason": s["reason"], **_stamp(s)})
    doc["settlement"] = None
    return doc


@_on(WorkOrder.Delivered)
def _delivered(s: State, doc: Any, open_pii: Opener) -> Any:
    acknowledgement = plain(s["acknowledgement"])
    signed = acknowledgement.get("acknowledged_by")
    if is_sealed(signed):  # since v2: the customer's name, sealed with their key
        acknowledgement["acknowledged_by"] = open_pii(UUID(doc["customer"]["id"]), signed)
    doc.update(status="delivered", mileage=s["mileage_out"], delivery={
        "mileage_out": s["mileage_out"], "handed_over_by": s["handed_over_by"],
        "acknowledgement": acknowledgement, **_stamp(s)},
        follow_up={"id": text(s["follow_up_id"]), "due_on": plain(s["follow_up_due"])})
    return doc


@_on(WorkOrder.Closed)
def _closed(s: State, doc: Any, open_pii: Opener) -> Any:
    doc.update(status="closed", closed=_stamp(s))
    return doc


HANDLERS.update({WorkOrder.SerialsRecorded: serials_recorded,
                 WorkOrder.EvidenceAdded: evidence_added,
                 WorkOrder.EvidenceWithdrawn: evidence_withdrawn,
                 WorkOrder.CompletionCertified: completion_certified,
                 WorkOrder.ComebackMarked: comeback_marked,
                 WorkOrder.ComebackMarkWithdrawn: comeback_mark_withdrawn})


# events that change the lines, after which the totals are computed again
LINE_EVENTS = frozenset({WorkOrder.LineAdded, WorkOrder.LineRepriced, WorkOrder.LineAuthorized,
                         WorkOrder.LineWithdrawn, WorkOrder.LinesMoved,
                         WorkOrder.LinesCarriedOver})


def step(event: StoredEvent, doc: Doc | None, open_pii: Opener) -> Doc | None:
    """One event applied, with the version and time it leaves the work order at.

    The totals are left behind the lines: the caller refreshes them (`refresh_totals`) once
    for all the events that changed lines (`LINE_EVENTS`) before anyone reads the doc."""
    state = event.state()
    state["originator_id"] = event.originator_id
    doc = handler_of(event.cls)(state, doc, open_pii)
    if doc is not None:
        doc["version"] = event.originator_version
        doc["updated_at"] = _audit(state)["at"]
    return doc


def fold(events: Iterable[Any], open_pii: Opener, transcoder: Transcoder) -> Doc | None:
    """The doc of a work order's domain events (encoded with `transcoder` as the log keeps
    them, then folded like the projection folds them)."""
    doc: Doc | None = None
    lines_changed = False
    for event in events:
        try:
            stored = stored_event(event, transcoder)
            doc = step(stored, doc, open_pii)
        except Exception as error:
            raise applying(event, error) from error
        lines_changed = lines_changed or stored.cls in LINE_EVENTS
    if doc is not None and lines_changed:
        refresh_totals(doc)
    return doc
