"""三包 monitor: vehicles within the three-guarantee validity that approach its thresholds.

Rules (PRC car 三包, see DOMAIN.md), counted from the vehicle's sale date (Vehicle events):
- validity: 2 years / 50,000 km, whichever comes first; a vehicle past either is not listed;
- a 三包 repair is a visit (not cancelled) of kind `warranty` or with an approved warranty line:
  quality faults within the validity are repaired under warranty; its jobs are the jobs with an
  approved warranty line (every job with an approved line on a `warranty` visit);
- repair days per visit: check-in (else opening) to repair completion (ready for settlement; a
  visit not complete at `as_of` counts until then), rounded up to whole days, at least 1 (a
  repair under 24 hours counts as one day); summed over the visits: warning from
  `repair_days_warn`, breach above `repair_days_limit` (30);
- the same problem: a job's problem is the system of its first approved labor op code that the
  prefix table below knows, else the system letter of its first fault code (`dtc-powertrain`…),
  else its complaint in lower case with spaces collapsed; visits per problem: warning from
  `same_problem_warn`, breach above `same_problem_limit` (4);
- serious systems: a repair of engine, transmission or traction battery / drive motor within 7
  days of the sale, and of steering, brakes, body, fuel system or traction battery (the rule's
  battery fire) within 60 days and 3,000 km (odometer at sale taken as 0): a breach when parts
  were replaced on that job, else a warning;
- a serious safety fault remaining after 2 repairs, an engine / transmission / traction battery /
  drive motor replaced twice and still failing, the same main part replaced twice: see
  `projections/sanbao_triggers.py`.
A vehicle without a recorded sale date is listed with `sale_date: null`: its 三包 repairs of the
two years up to `as_of` (under 50,000 km) are counted, the 7- and 60-day rules are not evaluated.
The work-order read model only finds candidate work orders; every figure comes from events.
Visits imported from the previous system count as 三包 repairs of the vehicles found so
(`projections/sanbao_imported.py`), and a vehicle whose only warranty visits are imported is a
candidate too (found in the customers read model's `prior_visits`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg

from domain.application import ServiceCore
from domain.days import add_months
from domain.vehicle import Vehicle
from domain.work_order import WorkOrder
from domain.work_orders import vehicle_id
from projections.claim_checks import compensations
from projections.evidence import Recorded, fill_evidence, fold, plain, read_streams
from projections.repair_records import stores_asked
from projections.sanbao_imported import imported_repairs, mark_imported
from projections.sanbao_triggers import (
    SEVEN_DAY,
    SIXTY_DAY,
    SIXTY_DAY_KM,
    flag_level,
    trigger_flags,
)
from projections.warranty_claim import visit_dates

VALIDITY_YEARS, VALIDITY_KM = 2, 50_000
# op-code prefix -> system; the longest matching prefix wins; maintenance codes name no problem
SYSTEMS = {
    "ENG": "engine", "ENGOH": "engine", "TRN": "transmission", "GBX": "transmission",
    "EV": "traction_battery", "HV": "traction_battery", "BAT": "traction_battery",
    "MOTOR": "traction_battery", "STEER": "steering", "BRK": "brakes", "SUS": "suspension",
    "ALIGN": "suspension", "TIRE": "tires", "AC": "air_conditioning", "ELE": "electrical",
    "ECU": "electrical", "BODY": "body", "BDY": "body", "PNT": "paint", "PAINT": "paint",
    "FUEL": "fuel",
}
DTC_SYSTEMS = {"P": "dtc-powertrain", "C": "dtc-chassis", "B": "dtc-body", "U": "dtc-network"}


@dataclass(frozen=True)
class SanbaoRules:
    """The warning levels (settings) beside the legal thresholds."""

    repair_days_warn: int = 20
    repair_days_limit: int = 30
    same_problem_warn: int = 3
    same_problem_limit: int = 4
    serious_fault_warn: int = 2
    serious_fault_limit: int = 2
    assembly_replaced_warn: int = 2
    assembly_replaced_limit: int = 2
    main_part_warn: int = 1
    main_part_limit: int = 1


def system_of(op_code: str) -> str | None:
    code = re.sub(r"[^A-Z0-9]", "", op_code.upper())
    matches = [prefix for prefix in SYSTEMS if code.startswith(prefix)]
    return SYSTEMS[max(matches, key=len)] if matches else None


def problem_of(job: dict[str, Any], op_codes: Sequence[str]) -> str:
    """The documented "same problem" key of a job (see the module docstring)."""
    for op_code in op_codes:
        if (system := system_of(op_code)) is not None:
            return system
    for code in (job.get("diagnosis") or {}).get("fault_codes", []):
        if code[:1].upper() in DTC_SYSTEMS:
            return DTC_SYSTEMS[code[:1].upper()]
    return "complaint: " + " ".join(str(job["complaint"]).lower().split())


def _visit(events: list[Recorded], end: datetime, zone: ZoneInfo) -> dict[str, Any] | None:
    """A 三包 repair as the events up to `end` show it (None when the visit does not count)."""
    wo = fold(events)
    assert isinstance(wo, WorkOrder)
    lines = [ln for ln in wo.lines.values() if ln["status"] == "approved"]
    counted = sorted({ln["job_no"] for ln in lines
                      if ln["pay_type"] == "warranty" or wo.kind == "warranty"})
    if wo.status == "cancelled" or not (counted or wo.kind == "warranty"):
        return None
    dates = visit_dates(events)
    start = datetime.fromisoformat(dates["dates"]["checked_in"] or dates["dates"]["opened"])
    done = dates["dates"]["completed"]
    finish = datetime.fromisoformat(done) if done else end
    jobs = []
    for no in counted:
        mine = [ln for ln in lines if ln["job_no"] == no]
        op_codes = [ln["op_code"] for ln in mine if ln["kind"] == "labor"]
        jobs.append({
            "job_no": no, "complaint": wo.jobs[no]["complaint"],
            "fault_codes": (wo.jobs[no].get("diagnosis") or {}).get("fault_codes", []),
            "problem": problem_of(wo.jobs[no], op_codes),
            "systems": sorted({s for op in op_codes if (s := system_of(op))}),
            "parts_replaced": [{"part_number": ln["part_number"], "description": ln["description"],
                                "qty": ln["issued_qty"]} for ln in mine
                               if ln["kind"] == "part" and ln["issued_qty"] > 0]})
    return {
        "work_order_id": str(wo.id), "number": wo.number, "store_id": wo.store_id,
        "kind": wo.kind, "checked_in": start.isoformat(), "completed": done,
        "ongoing": done is None, "day_in": start.astimezone(zone).date(),
        "repair_days": max(1, math.ceil((finish - start).total_seconds() / 86400)),
        "mileage_in": dates["mileage_in"],
        "mileage": max(m for m in (dates["mileage_in"], dates["mileage_out"]) if m is not None),
        "jobs": jobs,
        "compensations": compensations(events),
    }


def in_validity(visit: dict[str, Any], first: date, valid_until: date) -> bool:
    """Whether a 三包 repair counts: checked in from `first` (the sale) to `valid_until`, at
    most 50,000 km on the odometer (none read: counted)."""
    return first <= visit["day_in"] <= valid_until and (visit["mileage_in"] or 0) <= VALIDITY_KM


def flags_of(visits: list[dict[str, Any]], sale: date | None,
             rules: SanbaoRules) -> list[dict[str, Any]]:
    """The flags of a vehicle's 三包 repairs within the validity: the rules above, then the
    triggers of `projections/sanbao_triggers.py`."""
    return mark_imported([*_flags(visits, sale, rules), *trigger_flags(visits, rules)], visits)


def _flags(visits: list[dict[str, Any]], sale: date | None,
           rules: SanbaoRules) -> list[dict[str, Any]]:
    flags: list[dict[str, Any]] = []
    days = sum(v["repair_days"] for v in visits)
    if level := flag_level(days, rules.repair_days_warn, rules.repair_days_limit):
        flags.append({"rule": "repair_days", "level": level, "days": days,
                      "warn_from": rules.repair_days_warn, "limit": rules.repair_days_limit})
    problems: dict[str, list[str]] = {}
    for v in visits:
        for problem in dict.fromkeys(job["problem"] for job in v["jobs"]):
            problems.setdefault(problem, []).append(v["number"])
    for problem, numbers in sorted(problems.items()):
        if level := flag_level(len(numbers), rules.same_problem_warn, rules.same_problem_limit):
            flags.append({"rule": "same_problem", "level": level, "problem": problem,
                          "repairs": len(numbers), "work_orders": numbers,
                          "warn_from": rules.same_problem_warn,
                          "limit": rules.same_problem_limit})
    if sale is None:
        return flags
    for v in visits:
        after = (v["day_in"] - sale).days
        for job in v["jobs"]:
            for rule, systems, window in (("serious_7_days", SEVEN_DAY, 7),
                                          ("serious_60_days", SIXTY_DAY, 60)):
                hit = sorted(systems.intersection(job["systems"]))
                if not hit or after > window or (
                        window == 60 and (v["mileage_in"] or 0) > SIXTY_DAY_KM):
                    continue
                flags.append({"rule": rule, "level": "breach" if job["parts_replaced"]
                              else "warning", "systems": hit, "work_order": v["number"],
                              "job_no": job["job_no"], "days_after_sale": after,
                              "mileage_in": v["mileage_in"]})
    return flags


# the warranty-looking visits: work orders (the read model) and imported visits (their dates)
WARRANTYISH = """(
    SELECT vin, id, opened_at, store_id FROM wo_view
    WHERE (kind = 'warranty' OR doc->'lines' @> '[{"pay_type": "warranty"}]')
      AND opened_at >= %s AND opened_at <= %s
    UNION ALL
    SELECT v.vin, NULL::uuid, p.date_in::timestamptz, p.store_id
    FROM prior_visits AS p JOIN vehicles AS v ON v.id = p.vehicle_id
    WHERE (p.kind = 'warranty' OR p.pay_type = 'warranty')
      AND p.date_in >= %s AND p.date_in <= %s)"""


def candidates(conn: psycopg.Connection[Any], stores: Sequence[str], asked: Sequence[str],
               since: datetime, end: datetime, limit: int | None = None,
               offset: int = 0) -> tuple[int, dict[str, list[UUID]]]:
    """Per VIN with a warranty visit (a work order or an imported one) in the asked stores: its
    warranty-looking work orders in the caller's stores (found in the read models; the events
    decide; a car whose only such visits are imported has none). Answers how many VINs
    there are, and the work orders of `limit` of them (by VIN) from `offset` on."""
    def scope(column: str, among: Sequence[str]) -> tuple[str, list[Any]]:
        return ("TRUE", []) if "*" in among else (f"{column} = ANY(%s)", [list(among)])

    mine, mine_params = scope("store_id", stores)
    there, there_params = scope("store_id", asked)
    visits = f"""SELECT vin, id, opened_at FROM {WARRANTYISH} AS w WHERE {mine}
        AND vin IN (SELECT vin FROM {WARRANTYISH} AS t WHERE {there})"""
    window = [since, end, since.date(), end.date()]
    params = [*window, *mine_params, *window, *there_params]
    row = conn.execute(f"SELECT count(DISTINCT vin) FROM ({visits}) AS v", params).fetchone()
    rows = conn.execute(
        f"""SELECT vin, id FROM ({visits}) AS v WHERE vin IN (
                SELECT DISTINCT vin FROM ({visits}) AS page ORDER BY vin LIMIT %s OFFSET %s)
            ORDER BY vin, opened_at""", [*params, *params, limit, offset]).fetchall()
    found: dict[str, list[UUID]] = {}
    for vin, work_order_id in rows:
        ids = found.setdefault(vin, [])
        if work_order_id is not None:  # an imported visit: read from the vehicle's stream
            ids.append(UUID(str(work_order_id)))
    return (row[0] if row else 0), found


def sanbao(app: ServiceCore, conn: psycopg.Connection[Any], stores: Sequence[str],
           zone: ZoneInfo, rules: SanbaoRules, as_of: date,
           store_id: str | None = None, limit: int | None = None,
           offset: int = 0) -> dict[str, Any]:
    """Flagged vehicles with their flags, 三包 repairs and the events behind them: among the
    vehicles with a warranty visit in the validity (`examined` of `candidates`, by VIN), at
    most `limit` of them from `offset` on (each is read from its events: a group's two years of
    warranty visits are too many for one answer)."""
    end = datetime.combine(as_of + timedelta(days=1), time(0), zone) - timedelta(microseconds=1)
    since = datetime.combine(add_months(as_of, -12 * VALIDITY_YEARS), time(0), zone)
    total, found = candidates(conn, stores, stores_asked(stores, store_id), since, end,
                              limit, offset)
    streams = read_streams(app, conn, [*(i for ids in found.values() for i in ids),
                                       *(vehicle_id(vin) for vin in found)])
    vehicles = []
    for vin, ids in found.items():
        car_events = [r for r in streams.get(vehicle_id(vin), []) if r.at <= end]
        folded = fold(car_events)
        car = folded if isinstance(folded, Vehicle) else None
        sale = date.fromisoformat(car.sale_date) if car and car.sale_date else None
        first = sale or since.date()
        valid_until = add_months(first, 12 * VALIDITY_YEARS)
        used = list(car_events)
        visits = []
        for work_order_id in ids:
            events = [r for r in streams.get(work_order_id, []) if r.at <= end]
            visit = _visit(events, end, zone) if events else None
            if visit and in_validity(visit, first, valid_until):
                visits.append(visit)
                used += events
        brought = [v for v in imported_repairs(car_events, stores, zone, problem_of, system_of)
                   if in_validity(v, first, valid_until)]
        if brought:  # in the order they came in, the previous system's among the work orders
            visits = sorted([*brought, *visits],
                            key=lambda v: datetime.fromisoformat(v["checked_in"]))
        mileage = max((v["mileage"] for v in visits), default=0)
        if not visits or as_of > valid_until or mileage > VALIDITY_KM:
            continue
        flags = flags_of(visits, sale, rules)
        if not flags:
            continue
        seen = streams[ids[-1]][0].event.vehicle if ids else {}  # the latest visit's snapshot
        vehicles.append({
            "vin": vin, "plate": car.plate if car and car.plate else seen.get("plate"),
            "brand": car.brand if car else seen.get("brand"),
            "model": car.model if car else seen.get("model"),
            "sale_date": sale, "valid_until": valid_until if sale else None,
            "mileage_latest": mileage,
            "status": "breach" if any(f["level"] == "breach" for f in flags) else "warning",
            "repair_days": sum(v["repair_days"] for v in visits), "flags": flags,
            "visits": [{k: v for k, v in visit.items() if k not in ("day_in", "mileage")}
                       for visit in visits],
            "evidence": fill_evidence(conn, used),
        })
    vehicles.sort(key=lambda v: (v["status"] != "breach", v["vin"]))
    answer: dict[str, Any] = plain({
        "as_of": as_of, "store_id": store_id, "timezone": str(zone), "rules": asdict(rules),
        "candidates": total, "offset": offset, "limit": limit, "examined": len(found),
        "count": len(vehicles), "vehicles": vehicles})
    return answer
