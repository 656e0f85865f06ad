"""The OEM warranty-claim package of one work order, assembled from the event store alone.

It carries what DOMAIN.md "What an OEM warranty claim carries" lists, as far as the events hold
it: the vehicle with its mileage in and out, the visit's dates, the customer (personal data opened
with the customer's key, `[erased]` once erased), and per job with approved warranty lines: the 3C
and fault codes, op codes with flat-rate hours against every clock punch of every technician
(with their qualification as it stood then: projections/claim_technicians.py), the parts with
the lots and suppliers their stock issues named, the causal part, campaign, coverage,
authorization and sublet references, sublet work with the outside shop's invoice and cost, QC,
towing / loaner / travel paid for the customer, and who approved what. Internal costs are left out.
Amounts are shown as the OEM's warranty bill asks them: list price, discount, billed, so that the
claim reconciles with the invoice. A claimed job without its 3C, a claimed part the stock did
not issue to its line as claimed (never issued, or returned and not issued again), and a mileage
in below a reading recorded on the car's earlier visits, and a part serial another visit
recorded as a failed part removed too or on another vehicle (`serial_conflicts`), and a
claimed part's failed part untagged, lost or scrapped without the OEM's instruction (`custody`,
each part's tags shown with it: projections/claim_custody.py) are listed
under `problems` (the package is still built: it is the dealer's worksheet for fixing the claim
before it is sent). The read models are used only to turn a work-order number into its id and
to find the car's other work orders and the visits that recorded the same serials.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg

from domain.application import ServiceCore
from domain.common import IllegalTransition, NotFound
from domain.inventory_desk import stock_stream
from domain.oem_claim import OemClaim
from domain.settlement import Settlement
from domain.unreadable_events import reading
from domain.warranty_coverage import WarrantyTerms
from domain.work_order import WorkOrder
from domain.work_orders import vehicle_id
from projections.claim_checks import (
    compensations,
    coverage_problems,
    evidence_refs,
    graded,
    missing_3c,
    missing_part_records,
    over_flat_rate,
    part_serials,
    still_to_come,
    unissued_parts,
    visit_coverage,
)
from projections.claim_custody import custody_by_line, custody_problems, with_custody
from projections.claim_lots import STOCK_EVENTS, claimed_lots
from projections.claim_technicians import qualification_problems, with_qualifications
from projections.evidence import Recorded, fill_evidence, fold, plain, read_streams, stamp
from projections.odometer import highest_earlier_reading, odometer_problem
from projections.oem_claim_history import oem_claim
from projections.serial_conflicts import conflict_problems, serial_matches

Opener = Callable[[UUID, "str | None"], "str | None"]
HOUR = Decimal("0.01")
STORE_ZONE = ZoneInfo("Asia/Shanghai")  # the settings' default store_timezone


class NothingToClaim(IllegalTransition):
    """The work order has no approved warranty line (HTTP 409)."""

    kind = "nothing-to-claim"


def may_see(stores: Sequence[str], store_id: str) -> bool:
    return "*" in stores or store_id in stores


def find_work_order(conn: psycopg.Connection[Any], ref: str, stores: Sequence[str]) -> UUID:
    """A work order named by its id or by its number (looked up in the work-order list)."""
    try:
        return UUID(ref)
    except ValueError:
        pass
    row = conn.execute("SELECT id, store_id FROM wo_view WHERE number = %s",
                       (ref.strip(),)).fetchone()
    if row is None or not may_see(stores, row[1]):
        raise NotFound(f"work order {ref} not found")
    return UUID(str(row[0]))


def work_order_events(app: ServiceCore, conn: psycopg.Connection[Any], work_order_id: UUID,
                      stores: Sequence[str]) -> list[Recorded]:
    """The work order's events; unknown ids and other stores' work orders are 404."""
    events = read_streams(app, conn, [work_order_id]).get(work_order_id, [])
    if not events or not isinstance(events[0].event, WorkOrder.Opened) \
            or not may_see(stores, events[0].event.audit.store_id):
        raise NotFound(f"work order {work_order_id} not found")
    return events


def customer_of(open_pii: Opener, opened: WorkOrder.Opened) -> dict[str, Any]:
    """The customer as the work order recorded them, opened with their key (or `[erased]`)."""
    sealed = opened.customer
    return {"id": str(opened.customer_id),
            "name": open_pii(opened.customer_id, sealed.get("name")),
            "phone": open_pii(opened.customer_id, sealed.get("phone"))}


def visit_dates(events: Iterable[Recorded]) -> dict[str, Any]:
    """Milestones of the visit; a reversal clears the settlement, new repair work the completion."""
    found: dict[str, Any] = dict.fromkeys(
        ("opened", "checked_in", "completed", "settlement_confirmed", "settled", "delivered",
         "closed"))
    extra: dict[str, Any] = {"mileage_in": None, "mileage_out": None, "settlement_number": None}
    for r in events:
        with reading(r.event) as e:
            at = r.at.isoformat()
            if isinstance(e, WorkOrder.Opened):
                found["opened"], extra["mileage_in"] = at, e.mileage
            elif isinstance(e, WorkOrder.CheckedIn):
                found["checked_in"], extra["mileage_in"] = at, e.details["mileage_in"]
            elif isinstance(e, WorkOrder.ReadyForSettlement):
                found["completed"] = at
            elif isinstance(e, WorkOrder.BackInProgress):
                found["completed"] = None
            elif isinstance(e, WorkOrder.SettlementConfirmed):
                found["settlement_confirmed"], extra["settlement_number"] = at, e.number
            elif isinstance(e, WorkOrder.Settled):
                found["settled"] = at
            elif isinstance(e, WorkOrder.SettlementReversed):
                found["settlement_confirmed"] = found["settled"] = extra["settlement_number"] = None
            elif isinstance(e, WorkOrder.Delivered):
                found["delivered"], extra["mileage_out"] = at, e.mileage_out
            elif isinstance(e, WorkOrder.Closed):
                found["closed"] = at
    return {"dates": found, **extra}


def job_punches(events: Iterable[Recorded], job_no: int) -> list[dict[str, Any]]:
    """Each technician's clock punches on the job (an open punch has no clock-off yet)."""
    techs: dict[str, dict[str, Any]] = {}
    open_on: dict[str, Recorded] = {}
    for r in events:
        with reading(r.event) as e:
            if isinstance(e, WorkOrder.ClockedOn) and e.job_no == job_no:
                open_on[e.technician_id] = r
            elif isinstance(e, WorkOrder.ClockedOff) and e.job_no == job_no:
                on = open_on.pop(e.technician_id, None)
                hours = (Decimal(e.seconds) / 3600).quantize(HOUR)
                tech = techs.setdefault(e.technician_id, {"technician_id": e.technician_id,
                                                          "punches": [], "clocked_hours": HOUR * 0})
                tech["punches"].append({"clock_on": on.at.isoformat() if on else None,
                                        "clock_off": r.at.isoformat(), "hours": hours})
                tech["clocked_hours"] += hours
    for tech_id, on in open_on.items():
        techs.setdefault(tech_id, {"technician_id": tech_id, "punches": [],
                                   "clocked_hours": HOUR * 0})["punches"].append(
            {"clock_on": on.at.isoformat(), "clock_off": None, "hours": None})
    return list(techs.values())


def _warranty_refs(line: dict[str, Any]) -> dict[str, Any]:
    return dict(line.get("warranty") or {})


def _billed(line: dict[str, Any] | None) -> dict[str, Any]:
    """What the warranty bill asks for a claimed line: its list price (`amount`) less the
    coverage deductible the customer pays and the discount given on it; None for all three
    while no bill is drafted."""
    return {"billed": line, "deductible_billed": (line.get("deductible") or Decimal("0.00"))
            if line else None, "discount": line["discount"] if line else None,
            "billed_amount": line["net"] if line else None}


def _claim_totals(jobs: list[dict[str, Any]], drafted: bool) -> dict[str, Any]:
    """Hours and amounts of the claimed lines: list price, discount and what the OEM is billed,
    so that the claim reconciles with the warranty invoice."""
    lines = [*(ln for job in jobs for ln in job["labor"]), *(p for job in jobs
                                                             for p in job["parts"])]
    labor = sum((ln["amount"] for job in jobs for ln in job["labor"]), Decimal("0.00"))
    parts = sum((p["amount"] for job in jobs for p in job["parts"]), Decimal("0.00"))
    zero = Decimal("0.00")
    discount = sum((ln["discount"] or zero for ln in lines), zero)
    deductible = sum((ln["deductible_billed"] or zero for ln in lines), zero)
    billed = sum((ln["billed_amount"] or zero for ln in lines), zero)
    sublet = sum((ln["sublet_invoice"]["cost"] for job in jobs for ln in job["labor"]
                  if ln["sublet_invoice"]), zero)
    return {"flat_rate_hours": sum((j["flat_rate_hours"] for j in jobs), HOUR * 0),
            "clocked_hours": sum((j["clocked_hours"] for j in jobs), HOUR * 0),
            "labor": labor, "parts": parts, "list_price": labor + parts,
            "deductible": deductible if drafted else None,
            "discount": discount if drafted else None,
            "billed": billed if drafted else None, "claimed_lines": len(lines),
            "sublet_cost": sublet}


def _causal_part(lines: list[dict[str, Any]], parts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The part a warranty line names as causal; else the job's first warranty part line."""
    named = next((str(ln["warranty"]["causal_part"]).strip().upper() for ln in lines
                  if (ln.get("warranty") or {}).get("causal_part")), None)
    if named is not None:
        line = next((p for p in parts if p["part_number"] == named), None)
        return {"part_number": named, "named_on_claim": True,
                "description": line["description"] if line else None,
                "line_id": line["line_id"] if line else None,
                "lots": line["lots"] if line else []}
    first = next((p for p in parts if p["pay_type"] == "warranty"), None)
    if first is None:
        return None
    return {"part_number": first["part_number"], "named_on_claim": False,
            "description": first["description"], "line_id": first["line_id"],
            "lots": first["lots"]}


def _job(wo: WorkOrder, job_no: int, events: list[Recorded], stock: dict[str, dict[str, Any]],
         billed: dict[str, dict[str, Any]],
         records: tuple[dict[str, Any], dict[int, list[Any]]]) -> dict[str, Any]:
    serials, refs = records
    job = wo.jobs[job_no]
    approved = [ln for ln in wo.job_lines(job_no) if ln["status"] == "approved"]
    claimed = [ln for ln in approved if ln["pay_type"] == "warranty"]
    labor = [{"line_id": ln["line_id"], "op_code": ln["op_code"], "description": ln["description"],
              "flat_rate_hours": ln["hours"], "amount": ln["gross"], "vat": ln["vat"],
              "master_flat_rate_hours": (ln.get("labor_operation") or {}).get("flat_rate_hours"),
              "labor_operation": ln.get("labor_operation"),
              "price_override_reason": ln.get("price_override_reason"),
              **_billed(billed.get(ln["line_id"])), **_warranty_refs(ln),
              "sublet_invoice": ln.get("sublet")}
             for ln in claimed if ln["kind"] == "labor"]
    parts = [{"line_id": ln["line_id"], "pay_type": ln["pay_type"],
              "part_number": ln["part_number"], "description": ln["description"],
              "qty": ln["qty"], "unit": ln["unit"], "issued_qty": ln["issued_qty"],
              "amount": ln["gross"], "vat": ln["vat"], **_billed(billed.get(ln["line_id"])),
              **_warranty_refs(ln), **stock.get(ln["line_id"], {"movements": [], "lots": []}),
              "serials": serials.get(ln["line_id"])}
             for ln in approved if ln["kind"] == "part"]
    steps = _job_steps(events, job_no)
    technicians = job_punches(events, job_no)
    return {
        "job_no": job_no, "complaint": job["complaint"], "status": job["status"],
        **{k: steps[k] for k in ("cause", "correction", "fault_codes", "diagnosed")},
        "labor": labor,
        "parts": [p for p in parts if p["pay_type"] == "warranty"],
        "causal_part": _causal_part(claimed, parts),
        "flat_rate_hours": sum((ln["flat_rate_hours"] for ln in labor), HOUR * 0),
        "clocked_hours": sum((t["clocked_hours"] for t in technicians), HOUR * 0),
        "technicians": technicians,
        "dispatches": steps["dispatches"], "evidence_refs": refs.get(job_no, []),
        "quality_checks": steps["quality_checks"],
    }


def _job_steps(events: Iterable[Recorded], job_no: int) -> dict[str, Any]:
    """The job's last diagnosis (3C), its dispatches and its quality checks, as recorded."""
    steps: dict[str, Any] = {"cause": None, "correction": None, "fault_codes": [],
                             "diagnosed": None, "dispatches": [], "quality_checks": []}
    for r in events:
        with reading(r.event) as e:
            if isinstance(e, WorkOrder.Diagnosed) and e.job_no == job_no:
                steps.update(cause=e.cause, correction=e.correction,
                             fault_codes=list(e.fault_codes), diagnosed=stamp(r))
            elif isinstance(e, WorkOrder.JobDispatched) and e.job_no == job_no:
                steps["dispatches"].append({"technician_id": e.technician_id,
                                            "previous": e.previous, "reason": e.reason,
                                            **stamp(r)})
            elif isinstance(e, WorkOrder.QualityChecked) and e.job_no == job_no:
                steps["quality_checks"].append({"passed": e.passed, "reason": e.reason,
                                                "inspector": e.audit.user_id,
                                                "at": r.at.isoformat()})
    return steps


def _approvals(wo: WorkOrder, events: Iterable[Recorded]) -> list[dict[str, Any]]:
    """Who approved or changed what: authorizations, price changes, withdrawals, discounts,
    settlement reversals, in the order they happened."""
    out: list[dict[str, Any]] = []
    for r in sorted(events, key=lambda r: r.notification_id):
        with reading(r.event) as e:
            pay_type = wo.lines[e.line_id]["pay_type"] if getattr(e, "line_id", None) in wo.lines \
                else None
            if isinstance(e, WorkOrder.LineAuthorized):
                out.append({"what": "authorization", "line_id": e.line_id, "pay_type": pay_type,
                            "decision": e.decision, "channel": e.channel, "note": e.note,
                            **stamp(r)})
            elif isinstance(e, WorkOrder.LineRepriced):
                out.append({"what": "price_change", "line_id": e.line_id, "pay_type": pay_type,
                            "unit_price": e.unit_price, "reason": e.reason, **stamp(r)})
            elif isinstance(e, WorkOrder.LineWithdrawn):
                out.append({"what": "withdrawal", "line_id": e.line_id, "pay_type": pay_type,
                            "qty": e.withdrawn_qty, "reason": e.reason, **stamp(r)})
            elif isinstance(e, Settlement.DiscountGiven):
                out.append({"what": "discount", "bill": e.bill, "line_id": e.line_id,
                            "amount": e.amount, "reason": e.reason, "approved_by": e.approved_by,
                            **stamp(r)})
            elif isinstance(e, Settlement.Reversed):
                out.append({"what": "settlement_reversal", "number": e.number, "reason": e.reason,
                            **stamp(r)})
    return out


def _warranty_bill(settlement: Settlement | None) -> dict[str, Any] | None:
    if settlement is None or "warranty" not in settlement.bills:
        return None
    bill = settlement.bills["warranty"]
    return {"settlement_status": settlement.status, "settlement_number": settlement.number,
            "payer": bill["payer"], "invoice_no": bill.get("invoice_no"),
            "gross": bill["gross"], "deductible": bill.get("deductible", Decimal("0.00")),
            "discount": bill["discount"], "total": bill["total"],
            "vat": bill["vat"], "allowances": settlement.allowances("warranty"),
            "lines": [{**{k: ln[k] for k in ("line_id", "kind", "qty", "gross", "discount",
                                             "net", "vat")},
                       "deductible": ln.get("deductible") or Decimal("0.00")}
                      for ln in bill["lines"]]}


def warranty_claim(app: ServiceCore, conn: psycopg.Connection[Any], work_order_id: UUID,
                   stores: Sequence[str], open_pii: Opener | None = None, *,
                   terms: WarrantyTerms | None = None,
                   zone: ZoneInfo = STORE_ZONE) -> dict[str, Any]:
    """The claim package, or NotFound (unknown / other store) or NothingToClaim (409).

    `open_pii` opens the customer's sealed name and phone (an auditor's opener remembers it did,
    so that the read is recorded); by default the key store's. `terms`: the base warranty the
    claim is checked against, counted in the store's days (`zone`).
    """
    events = work_order_events(app, conn, work_order_id, stores)
    wo = fold(events)
    assert isinstance(wo, WorkOrder)
    opened = events[0].event
    claimed = [ln for ln in wo.lines.values()
               if ln["pay_type"] == "warranty" and ln["status"] == "approved"]
    if not claimed:
        raise NothingToClaim(f"work order {wo.number} has no approved warranty line: "
                             "nothing to claim", number=wo.number)
    settlement_id, car_id = Settlement.create_id(work_order_id), vehicle_id(wo.vehicle["vin"])
    outcome_id = OemClaim.create_id(work_order_id)
    others = read_streams(app, conn, [settlement_id, car_id, outcome_id])
    job_nos = sorted({ln["job_no"] for ln in claimed})
    part_numbers = {ln["part_number"] for ln in wo.lines.values()
                    if ln["kind"] == "part" and ln["job_no"] in job_nos}
    stock, stock_used = claimed_lots(read_streams(
        app, conn, [stock_stream(wo.store_id, p) for p in sorted(part_numbers)],
        only=STOCK_EVENTS), work_order_id)
    settlement = fold(others.get(settlement_id, []))
    bill = _warranty_bill(settlement if isinstance(settlement, Settlement) else None)
    billed = {ln["line_id"]: ln for ln in bill["lines"]} if bill else {}
    car = fold(others.get(car_id, []))
    refs: dict[int, list[dict[str, Any]]] = {}
    for ref in evidence_refs(events):  # per job, in one pass rather than one per job
        refs.setdefault(ref["job_no"], []).append(ref)
    records = (part_serials(events), refs)
    jobs = [_job(wo, no, events, stock, billed, records) for no in job_nos]
    tags, custody_events = custody_by_line(app, conn, work_order_id)
    with_custody(jobs, tags)
    skills_events = with_qualifications(app, conn, wo, jobs, events)
    shown = {p["line_id"] for job in jobs for p in job["parts"]} | {
        job["causal_part"]["line_id"] for job in jobs if job["causal_part"]}
    visit = visit_dates(events)
    earlier = highest_earlier_reading(app, conn, wo.vehicle["vin"], work_order_id,
                                      events[0].at, stores)
    odometer = odometer_problem(earlier, visit["mileage_in"])
    claimed_parts = {p["line_id"]: (job["job_no"], p) for job in jobs for p in job["parts"]}
    conflicts, serial_history, serial_events = serial_matches(
        app, conn, work_order_id, wo.vehicle["vin"],
        {line_id: p["serials"] for line_id, (_, p) in claimed_parts.items() if p["serials"]},
        stores)
    covered = visit_coverage(visit, getattr(car, "sale_date", None),
                             terms or WarrantyTerms(), zone)
    problems = graded([
                *coverage_problems(covered, claimed),
                *missing_3c(jobs), *(p for job in jobs for p in unissued_parts(job)),
                *(p for job in jobs for p in over_flat_rate(job)),
                *(p for job in jobs for p in missing_part_records(job)),
                *custody_problems(jobs), *qualification_problems(jobs),
                *conflict_problems(conflicts, {line_id: (no, p["part_number"]) for line_id,
                                               (no, p) in claimed_parts.items()}),
                *([odometer] if odometer else [])])
    claim: dict[str, Any] = plain({
        "work_order": {"id": str(work_order_id), "number": wo.number, "store_id": wo.store_id,
                       "kind": wo.kind, "status": wo.status},
        # A work order opened by the VIN alone before it took the vehicle file's details has
        # none of its own: the vehicle file's stand in.
        "vehicle": {**{k: wo.vehicle.get(k) if wo.vehicle.get(k) is not None
                       else getattr(car, k, None)
                       for k in ("vin", "plate", "brand", "model", "year")},
                    "sale_date": getattr(car, "sale_date", None)},
        "customer": customer_of(open_pii or app.personal_data.open, opened),
        "mileage": {"in": visit["mileage_in"], "out": visit["mileage_out"]},
        "dates": visit["dates"],
        "settlement": {"number": visit["settlement_number"], "warranty_bill": bill},
        "jobs": jobs,
        "compensations": compensations(events),
        "totals": _claim_totals(jobs, bill is not None),
        "oem_claim": oem_claim(others.get(outcome_id, []),
                               settlement if isinstance(settlement, Settlement) else None),
        "complete": all(p["level"] == "warning" for p in problems), "problems": problems,
        "still_to_come": still_to_come(visit, bill),
        "serial_conflicts": conflicts, "serial_history": serial_history,
        "approvals": _approvals(wo, [*events, *others.get(settlement_id, [])]),
        "evidence": fill_evidence(conn, [*events, *others.get(settlement_id, []),
                                         *others.get(car_id, []),
                                         *([earlier[0]] if odometer and earlier else []),
                                         *serial_events, *others.get(outcome_id, []),
                                         *custody_events, *skills_events,
                                         *(r for line_id in shown
                                           for r in stock_used.get(line_id, []))]),
    })
    return claim
