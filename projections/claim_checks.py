"""What a warranty claim is checked for before it goes to the OEM, and the visit's towing,
loaner and travel compensation: read by the claim package (projections/warranty_claim.py) and
the 三包 monitor (projections/sanbao.py)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from domain.work_order import WorkOrder
from projections.evidence import Recorded, stamp


def compensations(events: Iterable[Recorded]) -> list[dict[str, Any]]:
    """Towing, loaner cars and travel paid for the customer on the visit (三包 repair record)."""
    return [{"kind": r.event.kind, "amount": r.event.amount, "days": r.event.days,
             "reference": r.event.reference, "note": r.event.note, **stamp(r)}
            for r in events if isinstance(r.event, WorkOrder.CompensationRecorded)]


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
