"""汽车维修电子健康档案: the repair record a shop uploads after each settlement, from events.

The 13 data elements (DOMAIN.md): shop name, VIN, plate, date in, mileage in, settlement date,
settlement-list number, fault description, work items, labor hours, part name, part code, part
quantity. Work items and parts are the settlement list's lines (labor as approved, parts as
issued; a warranty line's deductible line on the customer bill is not a second item), so the
record itemises exactly what was settled. Beside the 13 elements, each part shows the serials
recorded on its line (fitted; removed, with what became of each) and the record the visit's
evidence references (photos, diagnostic reports: where each file is kept, its SHA-256). The finance read model only finds
which work orders settled on a day; every record is built from the work order's and the
settlement's events. Beside the 13 elements, the items the 三包 rules ask of each visit's record:
time in and out, mileage out, each job's quality inspection, the labor fee and material cost,
and the towing, loaner or travel paid for the customer. For the maintenance file of the repair
regulation: each work item's technicians (who clocked on its job) and each part's stock lots.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg

from domain.application import ServiceCore
from domain.common import IllegalTransition, NotPermitted
from domain.settlement import Settlement
from domain.unreadable_events import reading
from domain.work_order import WorkOrder
from projections.claim_checks import compensations, evidence_refs, part_serials
from projections.csv_cells import safe_row
from projections.evidence import Recorded, fill_evidence, fold, plain, read_streams, stamp
from projections.warranty_claim import job_punches, visit_dates, work_order_events

CSV_COLUMNS = ("shop_name", "vin", "plate", "date_in", "mileage_in", "settlement_date",
               "settlement_number", "fault_description", "work_items", "labor_hours",
               "part_names", "part_codes", "part_quantities", "store_id", "work_order_number")
RECORDS_BATCH = 200  # visits whose streams are read at once by a whole day's export


@dataclass(frozen=True)
class ShopNames:
    """The shop name each store reports under (SERVICECORE_SHOP_NAMES / SERVICECORE_SHOP_NAME)."""

    names: Mapping[str, str] = field(default_factory=dict)
    default: str | None = None

    def of(self, store_id: str) -> str:
        return self.names.get(store_id) or self.default or store_id


class NotSettled(IllegalTransition):
    """A repair record follows settlement (HTTP 409)."""

    kind = "not-settled"


def _day_of(at: str | None, zone: ZoneInfo) -> str | None:
    return datetime.fromisoformat(at).astimezone(zone).date().isoformat() if at else None


def _line_no(line: dict[str, Any]) -> int:
    return int(str(line["line_id"]).lstrip("L") or 0)


def _fault_description(wo: WorkOrder) -> str:
    """Each job's complaint, with its diagnosed cause after " — ", jobs joined by "; "."""
    parts = []
    for job in wo.jobs.values():
        cause = (job.get("diagnosis") or {}).get("cause")
        parts.append(f"{job['complaint']} — {cause}" if cause else job["complaint"])
    return "; ".join(parts)


def _inspections(wo: WorkOrder, events: Iterable[Recorded]) -> list[dict[str, Any]]:
    """Per job, its quality inspection (质检): the last check's result, who inspected and when,
    and how many of its checks failed; `passed: null` for a job never inspected."""
    last: dict[int, Recorded] = {}
    for r in events:
        with reading(r.event) as e:
            if isinstance(e, WorkOrder.QualityChecked):
                last[e.job_no] = r
    out = []
    for job_no, job in wo.jobs.items():
        check = last.get(job_no)
        checked = stamp(check) if check else {"by": None, "role": None, "at": None}
        with reading(check.event if check else None) as e:
            passed = e.passed if e else None
        out.append({"job_no": job_no, "passed": passed,
                    "failures": job.get("qc_failures", 0), "inspector": checked["by"],
                    "at": checked["at"]})
    return out


def _certificate(events: Iterable[Recorded]) -> dict[str, Any] | None:
    """The completion certificate (竣工出厂合格证): number, inspector, the repair class it was
    issued for, who recorded it and when; None when the visit has none."""
    for r in events:
        with reading(r.event) as e:
            if isinstance(e, WorkOrder.CompletionCertified):
                return {"cert_no": e.cert_no, "inspector": e.inspector,
                        "repair_class": e.repair_class, **stamp(r)}
    return None


def _staff(wo: WorkOrder, events: list[Recorded], line_id: str) -> list[dict[str, Any]]:
    """Who did a work item (the staff of the maintenance file): each technician who clocked on
    its job, with the hours clocked there."""
    job_no = (wo.lines.get(line_id) or {}).get("job_no")
    return [] if job_no is None else [
        {"technician_id": t["technician_id"], "clocked_hours": t["clocked_hours"]}
        for t in job_punches(events, job_no)]


def _lots(wo: WorkOrder, line_id: str) -> list[dict[str, Any]]:
    """The stock lots a part was issued from, net of returns, in the order first taken: each
    lot's receipt names its supplier, delivery note and conformity certificate
    (`/stock/lots/{lot}`), so the part used is traced to where it was bought."""
    net: dict[str, Decimal] = {}
    for pick in (wo.lines.get(line_id) or {}).get("picks", []):
        net[str(pick["lot_id"])] = net.get(str(pick["lot_id"]), Decimal(0)) + pick["qty"]
    return [{"lot_id": lot, "qty": qty} for lot, qty in net.items()]


def _fees(settlement: Settlement) -> dict[str, Decimal]:
    """What each line of the visit bills in all, after discounts, whoever pays it (a warranty or
    insurance line's share on the customer bill counted with its line)."""
    fees: dict[str, Decimal] = {}
    for bill in settlement.bills.values():
        for ln in bill["lines"]:
            fees[ln["line_id"]] = fees.get(ln["line_id"], Decimal("0.00")) + ln["net"]
    return fees


def build_record(wo_events: list[Recorded], settlement_events: list[Recorded], zone: ZoneInfo,
                 shops: ShopNames, conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
    """The record of a settled visit (None while the visit is not settled)."""
    wo, settlement = fold(wo_events), fold(settlement_events)
    assert isinstance(wo, WorkOrder)
    visit = visit_dates(wo_events)
    if visit["dates"]["settled"] is None or not isinstance(settlement, Settlement):
        return None
    lines = sorted((ln for bill in settlement.bills.values() for ln in bill["lines"]
                    if not ln.get("deductible_of")), key=_line_no)  # the work is listed once
    labor = [ln for ln in lines if ln["kind"] == "labor"]
    parts = [ln for ln in lines if ln["kind"] == "part"]
    serials = part_serials(wo_events)
    fees = _fees(settlement)
    record: dict[str, Any] = plain({
        "shop_name": shops.of(wo.store_id),
        "vin": wo.vehicle["vin"],
        "plate": wo.vehicle.get("plate"),
        "date_in": _day_of(visit["dates"]["checked_in"] or visit["dates"]["opened"], zone),
        "mileage_in": visit["mileage_in"],
        "settlement_date": _day_of(visit["dates"]["settled"], zone),
        "settlement_number": visit["settlement_number"],
        "fault_description": _fault_description(wo),
        "work_items": [{"name": ln["description"], "op_code": ln["op_code"],
                        "labor_hours": ln["qty"], "fee": fees[ln["line_id"]],
                        "technicians": _staff(wo, wo_events, ln["line_id"])} for ln in labor],
        "labor_hours": sum((ln["qty"] for ln in labor), Decimal("0.0")),
        "labor_fee": sum((fees[ln["line_id"]] for ln in labor), Decimal("0.00")),
        "material_cost": sum((fees[ln["line_id"]] for ln in parts), Decimal("0.00")),
        "parts": [{"part_name": ln["description"], "part_code": ln["part_number"],
                   "quantity": ln["qty"], "unit": ln.get("unit"), "amount": fees[ln["line_id"]],
                   "lots": _lots(wo, ln["line_id"]),
                   "serials": {k: serials[ln["line_id"]][k] for k in ("fitted", "removed")}
                   if ln["line_id"] in serials else None} for ln in parts],
        "store_id": wo.store_id,
        "work_order_number": wo.number,
        "work_order_id": str(wo.id),
        "settled_at": visit["dates"]["settled"],
        "time_in": visit["dates"]["checked_in"] or visit["dates"]["opened"],
        "time_out": visit["dates"]["delivered"],
        "mileage_out": visit["mileage_out"],
        "inspections": _inspections(wo, wo_events),
        "repair_class": wo.repair_class(),
        "completion_certificate": _certificate(wo_events),
        "compensations": compensations(wo_events),
        "evidence_refs": evidence_refs(wo_events),
        "evidence": fill_evidence(conn, [*wo_events, *settlement_events]),
    })
    return record


def repair_record(app: ServiceCore, conn: psycopg.Connection[Any], work_order_id: UUID,
                  stores: Sequence[str], zone: ZoneInfo, shops: ShopNames) -> dict[str, Any]:
    """One visit's record; 404 for an unknown work order, 409 while it is not settled."""
    events = work_order_events(app, conn, work_order_id, stores)
    settlement_id = Settlement.create_id(work_order_id)
    settlement = read_streams(app, conn, [settlement_id]).get(settlement_id, [])
    record = build_record(events, settlement, zone, shops, conn)
    if record is None:
        wo = fold(events)
        raise NotSettled(f"work order {getattr(wo, 'number', work_order_id)} is "
                         f"{getattr(wo, 'status', '?')}: its repair record follows settlement")
    return record


def settled_on(conn: psycopg.Connection[Any], day: date, zone: ZoneInfo,
               store_ids: Sequence[str]) -> list[UUID]:
    """Work orders whose settlement the finance read model shows settled on `day` (store time)."""
    start = datetime.combine(day, time(0), zone)
    scope, params = ("TRUE", []) if "*" in store_ids else ("store_id = ANY(%s)", [list(store_ids)])
    rows = conn.execute(
        f"""SELECT work_order_id FROM settlements
            WHERE settled_at >= %s AND settled_at < %s AND {scope}
            ORDER BY settled_at, work_order_number""",
        [start, start + timedelta(days=1), *params]).fetchall()
    return [UUID(str(row[0])) for row in rows]


def stores_asked(stores: Sequence[str], store_id: str | None) -> list[str]:
    """The stores a report covers: the one named (if the caller may see it) or all theirs."""
    if store_id is None:
        return list(stores)
    if "*" not in stores and store_id not in stores:
        raise NotPermitted(f"your token does not cover store {store_id}")
    return [store_id]


def records_of(app: ServiceCore, conn: psycopg.Connection[Any], ids: Sequence[UUID], day: date,
               zone: ZoneInfo, shops: ShopNames) -> list[dict[str, Any]]:
    """The records of these visits settled on `day`, in their order (a visit reversed and not
    settled again, or settled again another day, has none)."""
    streams = read_streams(app, conn, [*ids, *(Settlement.create_id(i) for i in ids)])
    records = []
    for work_order_id in ids:
        record = build_record(streams.get(work_order_id, []),
                              streams.get(Settlement.create_id(work_order_id), []),
                              zone, shops, conn) if streams.get(work_order_id) else None
        if record is not None and record["settlement_date"] == day.isoformat():
            records.append(record)
    return records


def iter_repair_records(app: ServiceCore, conn: psycopg.Connection[Any], day: date,
                        zone: ZoneInfo, shops: ShopNames, stores: Sequence[str],
                        store_id: str | None = None, *,
                        batch: int = RECORDS_BATCH) -> Iterator[dict[str, Any]]:
    """The records of every visit settled on `day`, in settlement order, read `batch` visits
    at a time: a group's day is as long as its stores make it, and a file written from this
    holds one batch of events in memory, never the day's."""
    ids = settled_on(conn, day, zone, stores_asked(stores, store_id))
    for start in range(0, len(ids), batch):
        yield from records_of(app, conn, ids[start:start + batch], day, zone, shops)


def repair_records(app: ServiceCore, conn: psycopg.Connection[Any], day: date, zone: ZoneInfo,
                   shops: ShopNames, stores: Sequence[str],
                   store_id: str | None = None) -> list[dict[str, Any]]:
    """The records of every visit settled on `day`, in settlement order."""
    return list(iter_repair_records(app, conn, day, zone, shops, stores, store_id))


def repair_records_page(app: ServiceCore, conn: psycopg.Connection[Any], day: date,
                        zone: ZoneInfo, shops: ShopNames, stores: Sequence[str],
                        store_id: str | None, *, limit: int,
                        offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """How many visits were settled on `day`, and the records of `limit` of them from
    `offset` on, in settlement order."""
    ids = settled_on(conn, day, zone, stores_asked(stores, store_id))
    return len(ids), records_of(app, conn, ids[offset:offset + limit], day, zone, shops)


def csv_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One row per visit (RFC 4180, CRLF), the header first; list elements joined by " | ",
    part columns aligned item by item. A row at a time, as the records come."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)  # a field with CR or LF is quoted
    writer.writeheader()
    for r in records:
        writer.writerow(safe_row({
            **{k: r[k] for k in CSV_COLUMNS if k in r},
            "work_items": " | ".join(f"{w['name']} [{w['op_code']}] {w['labor_hours']} h"
                                     for w in r["work_items"]),
            "part_names": " | ".join(p["part_name"] for p in r["parts"]),
            "part_codes": " | ".join(p["part_code"] for p in r["parts"]),
            "part_quantities": " | ".join(str(p["quantity"]) for p in r["parts"]),
        }))
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()  # the header alone when there was no record


def jsonl_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    return (json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def as_csv(records: Iterable[dict[str, Any]]) -> str:
    return "".join(csv_lines(records))


def as_jsonl(records: Iterable[dict[str, Any]]) -> str:
    return "".join(jsonl_lines(records))
