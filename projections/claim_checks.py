"""What a warranty claim is checked for before it goes to the OEM (its base-warranty coverage
included), the visit's towing,
loaner and travel compensation, and its part serials and evidence references: read by the
claim package (projections/warranty_claim.py), the 三包 monitor (projections/sanbao.py) and
the repair record (projections/repair_records.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from domain.unreadable_events import reading
from domain.warranty_coverage import Coverage, WarrantyTerms, coverage, goodwill_ref
from domain.work_order import WorkOrder
from projections.evidence import Recorded, stamp


def compensations(events: Iterable[Recorded]) -> list[dict[str, Any]]:
    """Towing, loaner cars and travel paid for the customer on the visit (三包 repair record)."""
    out = []
    for r in events:
        with reading(r.event) as e:
            if isinstance(e, WorkOrder.CompensationRecorded):
                out.append({"kind": e.kind, "amount": e.amount, "days": e.days,
                            "reference": e.reference, "note": e.note, **stamp(r)})
    return out


def missing_3c(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Claimed jobs an OEM would reject: each without its complaint, cause or correction (3C)."""
    out = []
    for job in jobs:
        missing = [k for k in ("complaint", "cause", "correction") if not job[k]]
        if missing:
            out.append({"kind": "3c", "job_no": job["job_no"], "missing": missing,
                        "detail": f"job {job['job_no']} has "
                                  + ", ".join(f"no {k}" for k in missing)
                                  + ": an OEM rejects a claim without its 3C"})
    return out


def still_to_come(visit: dict[str, Any], bill: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What the OEM's claim carries that the visit has not reached yet — the warranty bill and
    its tax invoice, the mileage out (delivery), the close date (the follow-up's result).
    Not problems: nothing is wrong on a visit still under way, and `complete` does not wait for
    them; listed so that the warranty clerk sees what the OEM will still ask for."""
    out = []
    if bill is None:
        out.append({"item": "warranty_bill",
                    "detail": "the warranty bill is not drafted yet (POST /settlements): "
                              "the OEM is billed what it asks"})
    elif not bill.get("invoice_no"):
        out.append({"item": "warranty_invoice",
                    "detail": "no tax invoice (发票) number on the warranty bill yet "
                              "(POST /settlements/{id}/invoice with bill warranty)"})
    if visit["mileage_out"] is None:
        out.append({"item": "mileage_out",
                    "detail": "the mileage out is recorded at delivery"})
    if visit["dates"]["closed"] is None:
        out.append({"item": "closed",
                    "detail": "the close date comes with the follow-up call's result"})
    return out


def unissued_parts(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Claimed parts the stock did not issue to the line as claimed: auditors compare parts
    claimed with parts issued, and a claimed part without its issue record is charged back."""
    out = []
    for part in job["parts"]:
        issued = sum((Decimal(str(q["qty"])) * (1 if m["movement"] == "issue" else -1)
                      for m in part["movements"] for q in m["lots"]), Decimal(0))
        if issued >= part["qty"]:
            continue
        returned = sum((Decimal(str(q["qty"])) for m in part["movements"]
                        if m["movement"] == "return" for q in m["lots"]), Decimal(0))
        what = (f"{issued:f} issued, {returned:f} returned" if returned
                else f"{issued:f} issued" if issued else "no issue record")
        out.append({"kind": "parts", "job_no": job["job_no"], "line_id": part["line_id"],
                    "part_number": part["part_number"], "missing": ["issue"],
                    "claimed_qty": part["qty"], "issued_qty": issued,
                    "returned_qty": returned,
                    "detail": f"line {part['line_id']} claims {part['qty']:f} {part['unit']} of "
                              f"{part['part_number']} but the stock shows {what}: an OEM "
                              "charges back a claimed part without its issue record"})
    return out


def over_flat_rate(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Claimed labor lines with more hours than the labor-operation master's flat-rate hours
    they were added under (a manager's override, domain/labor_pricing.py): the OEM pays its
    labor time guide's hours and charges back the rest, unless it authorised them (an
    `authorization_ref` on the line: a warning to check, else an error). A line added without
    the master (an op code not in it then) has no master hours and is not checked."""
    out = []
    for line in job["labor"]:
        master = line.get("master_flat_rate_hours")
        if master is None or Decimal(str(line["flat_rate_hours"])) <= Decimal(str(master)):
            continue
        authorised = bool(line.get("authorization_ref"))
        out.append({"kind": "flat_rate_hours", "level": "warning" if authorised else "error",
                    "job_no": job["job_no"], "line_id": line["line_id"],
                    "op_code": line["op_code"], "claimed_hours": line["flat_rate_hours"],
                    "master_flat_rate_hours": master,
                    "missing": [] if authorised else ["authorization_ref"],
                    "detail": f"line {line['line_id']} claims {line['flat_rate_hours']} h of "
                              f"{line['op_code']}, the labor-operation master's flat rate is "
                              f"{master} h" + (
                                  f" (override: {line['price_override_reason']})"
                                  if line.get("price_override_reason") else "") + (
                                  ": authorised by the OEM, check the reference before sending"
                                  if authorised else ": the OEM charges back hours beyond its "
                                  "flat rate without its prior authorisation")})
    return out


# What the package and the repair record read of each removed part (serial conflicts, the
# return checks): taken while its event is in hand, so one it lacks names that event.
REMOVED_READ = ("serial", "disposition")


def part_serials(events: Iterable[Recorded]) -> dict[str, dict[str, Any]]:
    """Per part line: the serials as last recorded (fitted; removed, each with its
    disposition and tag), who recorded them and when, and every correction with its reason.
    A correction is appended to its line's list, not copied with those before it, so the cost
    is linear in the records."""
    out: dict[str, dict[str, Any]] = {}
    for r in events:
        with reading(r.event) as e:
            if isinstance(e, WorkOrder.SerialsRecorded):
                before = out.get(e.line_id)
                corrections: list[dict[str, Any]] = before["corrections"] if before else []
                if before:
                    corrections.append({"reason": e.reason, **stamp(r)})
                removed = [{**p, **{k: p[k] for k in REMOVED_READ}} for p in e.removed]
                out[e.line_id] = {"fitted": list(e.fitted), "removed": removed, **stamp(r),
                                  "corrections": corrections}
    return out


def evidence_refs(events: Iterable[Recorded]) -> list[dict[str, Any]]:
    """The evidence references given on the visit (photos, diagnostic reports: where each
    file is kept and its SHA-256), each with who gave it and, once withdrawn, why."""
    out: dict[str, dict[str, Any]] = {}
    for r in events:
        with reading(r.event) as e:
            if isinstance(e, WorkOrder.EvidenceAdded):
                out[e.evidence_id] = {
                    "evidence_id": e.evidence_id, "job_no": e.job_no, "line_id": e.line_id,
                    "kind": e.kind, "sha256": e.sha256, "media_type": e.media_type, "size": e.size,
                    "uri": e.uri, "caption": e.caption, **stamp(r), "withdrawn": None}
            elif isinstance(e, WorkOrder.EvidenceWithdrawn) and e.evidence_id in out:
                out[e.evidence_id]["withdrawn"] = {"reason": e.reason, **stamp(r)}
    return list(out.values())


def missing_part_records(job: dict[str, Any]) -> list[dict[str, Any]]:
    """What the OEM will ask for of each claimed part: the serial of every failed part removed
    (one per whole unit claimed; a part counted in fractions, such as a fluid, has none), the
    removed part tagged and kept for its return, and evidence of the failure (a reference on
    the line or on its job). The job's references are gathered once, not per part."""
    out = []
    shown_on = {e["line_id"] for e in job["evidence_refs"] if e["withdrawn"] is None}
    for part in job["parts"]:
        qty = Decimal(str(part["qty"]))
        serials = part["serials"] or {"removed": []}
        removed = serials["removed"]
        shown = None in shown_on or part["line_id"] in shown_on
        missing, why = [], []
        if qty == qty.to_integral_value() and len(removed) < qty:
            missing.append("removed_serial")
            why.append(f"{len(removed)} of {qty:f} removed part serial(s)")
        if any(p["disposition"] != "kept_for_return" for p in removed):
            missing.append("return_tag")
            why.append("a removed part not kept for the OEM's return under a tag")
        if not shown:
            missing.append("evidence")
            why.append("no photo or diagnostic report")
        if missing:
            out.append({"kind": "part_records", "job_no": job["job_no"],
                        "line_id": part["line_id"], "part_number": part["part_number"],
                        "missing": missing,
                        "detail": f"line {part['line_id']} ({part['part_number']}) has "
                                  + "; ".join(why) + ": the OEM asks for them with the claim"})
    return out


def visit_coverage(visit: dict[str, Any], sale_date: str | None, terms: WarrantyTerms,
                   zone: ZoneInfo) -> Coverage:
    """The visit's base warranty as its events show it (`visit_dates`): the store's day it came
    in (check-in, else opening) and its mileage in, against the car's sale date on file."""
    came_in = datetime.fromisoformat(visit["dates"]["checked_in"] or visit["dates"]["opened"])
    return coverage(terms, sale_date, came_in.astimezone(zone).date(), visit["mileage_in"])


def coverage_problems(covered: Coverage, claimed: Iterable[dict[str, Any]],
                      ) -> list[dict[str, Any]]:
    """A claimed line of a car beyond the base warranty without the OEM's goodwill or
    prior-authorisation reference is charged back (an error per line); a car whose sale date
    is not on file cannot be checked (one warning, saying what the mileage alone shows)."""
    facts = covered.facts()
    if covered.sale_date is None:
        km = (f"; its mileage in, {covered.mileage_in:,} km, is beyond the "
              f"{covered.terms.km:,} km" if covered.mileage_in > covered.terms.km else "")
        return [{"kind": "coverage", "level": "warning", "job_no": None, "line_id": None,
                 "missing": ["sale_date"], **facts,
                 "detail": "the vehicle's sale date is not on file, so its base warranty "
                           f"({covered.terms.years} years / {covered.terms.km:,} km) cannot "
                           f"be checked{km}: check the car is covered (or record the sale "
                           "date) before sending; the OEM charges back a claim out of "
                           "coverage"}]
    if not covered.beyond:
        return []
    return [{"kind": "coverage", "level": "error", "job_no": line["job_no"],
             "line_id": line["line_id"], "missing": ["authorization_ref"], **facts,
             "detail": f"line {line['line_id']} is claimed for a car out of the base warranty: "
                       f"{covered.why()}; without the OEM's goodwill or prior-authorisation "
                       "reference or a recall campaign the claim is charged back"}
            for line in claimed if not goodwill_ref(line.get("warranty"))]


def graded(problems: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every problem with its `level`: `error` (the claim is not complete while one stands)
    unless it says `warning` (to check before sending)."""
    return [{**p, "level": p.get("level", "error")} for p in problems]
