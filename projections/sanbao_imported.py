"""Visits imported from the previous system (`Vehicle.PriorVisitImported`) as 三包 repairs:
one paid by the OEM (`pay_type` warranty) or of kind warranty counts toward the vehicle's repair
days and visit counts like a work order does, named `imported <source_ref>` and listed in each
flag it takes part in (`imported`). An imported record has dates, not times: its repair days are
the days from date in to date out (at least 1; no date out: 1); it is one job, whose problem is
the system of its first op code that `SYSTEMS` knows, else its first complaint."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from domain.unreadable_events import reading
from domain.vehicle import Vehicle
from projections.evidence import Recorded

PREFIX = "imported "
REFERENCES = ("work_orders", "replaced_on", "work_order")  # where a flag names its visits


def imported_repairs(car_events: Iterable[Recorded], stores: Sequence[str], zone: ZoneInfo,
                     problem_of: Callable[[dict[str, Any], Sequence[str]], str],
                     system_of: Callable[[str], str | None]) -> list[dict[str, Any]]:
    """The vehicle's imported warranty visits of the caller's stores, as 三包 repairs."""
    found = []
    for r in car_events:
        with reading(r.event) as e:
            if not isinstance(e, Vehicle.PriorVisitImported) or not (
                    "*" in stores or e.audit.store_id in stores) or not (
                    e.pay_type == "warranty" or e.kind == "warranty"):
                continue
            day_in = date.fromisoformat(e.date_in)
            day_out = date.fromisoformat(e.date_out) if e.date_out else None
            op_codes = [w["op_code"] for w in e.work if w.get("op_code")]
            complaint = (e.complaints[0] if e.complaints
                         else e.work[0]["description"] if e.work else "")
            job = {"job_no": 1, "complaint": complaint, "fault_codes": [],
                   "problem": problem_of({"complaint": complaint}, op_codes),
                   "systems": sorted({s for op in op_codes if (s := system_of(op))}),
                   "parts_replaced": [{"part_number": p["part_number"], "description": p["name"],
                                       "qty": p["qty"]} for p in e.parts]}
            found.append({
                "work_order_id": None, "number": PREFIX + e.source_ref,
                "store_id": e.audit.store_id,
                "kind": e.kind, "imported": True, "source_ref": e.source_ref,
                "checked_in": datetime.combine(day_in, time(0), zone).isoformat(),
                "completed": datetime.combine(day_out, time(0), zone).isoformat() if day_out
                else None, "ongoing": False, "day_in": day_in,
                "repair_days": max(1, (day_out - day_in).days) if day_out else 1,
                "mileage_in": e.mileage_in, "mileage": e.mileage_in, "jobs": [job],
                "compensations": []})
    return found


def mark_imported(flags: list[dict[str, Any]],
                  visits: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each flag that counts an imported visit lists their source references (`imported`)."""
    refs = {v["number"]: v["source_ref"] for v in visits if v.get("imported")}
    if not refs:
        return flags
    for flag in flags:
        named = [n for key in REFERENCES
                 for n in (flag[key] if isinstance(flag.get(key), list) else [flag.get(key)])]
        if imported := sorted({refs[n] for n in named if n in refs}):
            flag["imported"] = imported
    return flags
