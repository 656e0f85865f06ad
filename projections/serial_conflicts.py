"""A claim's part serials against the other visits that recorded the same serials.

OEM auditors look for the same failed part claimed twice (a removed serial already removed on
another visit) and for a part recorded on two vehicles (a fitted or removed serial that another
car's visit recorded). Either is flagged, never refused: the entry in error may be the other
visit's, to be corrected there. A serial the same car's other visit recorded is the part's life
(fitted on one visit, removed as failed on a later one) and is shown as its history. The part
serials view finds the other visits (projections/part_serials.py); their serials, VIN and
number are read from their own events, which the package cites.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import psycopg

from domain.application import ServiceCore
from domain.work_order import WorkOrder
from projections.evidence import Recorded, read_streams, topics
from projections.part_serials import kind_of, visits_holding

SERIAL_EVENTS = topics(WorkOrder.Opened, WorkOrder.SerialsRecorded)


def _held(serials: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A line's recorded serials as (serial, side) pairs."""
    return [*((s, "fitted") for s in serials["fitted"]),
            *((r["serial"], "removed") for r in serials["removed"])]


def _detail(serial: str, kind: str | None, side: str, line_id: str,
            other: dict[str, Any]) -> str:
    where = f"{other['number']} (line {other['line_id']})"
    if kind == "removed_twice":
        return (f"serial {serial}, removed as a failed part on line {line_id}, was removed on "
                f"{where} too: an OEM charges back a failed part claimed twice")
    if kind == "other_vehicle":
        return (f"serial {serial}, {side} on line {line_id}, is recorded {other['side']} on "
                f"{where} of another vehicle, VIN {other['vin']}: one part cannot be on two cars")
    return f"serial {serial} was recorded {other['side']} on {where} of the same vehicle"


def serial_matches(app: ServiceCore, conn: psycopg.Connection[Any], work_order_id: UUID,
                   vin: str, lines: Mapping[str, Mapping[str, Any]], stores: Sequence[str],
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Recorded]]:
    """The serials of these lines (line id -> serials as recorded) recorded on other visits of
    the caller's stores: the conflicts, the same car's history, and the events they come from.
    Each entry: serial, this visit's `line_id` and `side`, `kind` (`removed_twice`,
    `other_vehicle`; None in the history) and the `other` visit's work order, number, store,
    VIN, line, side and when its serials were recorded."""
    mine = {serial: (line_id, side) for line_id, serials in lines.items()
            for serial, side in _held(serials)}
    others = visits_holding(conn, sorted(mine), work_order_id, stores)
    conflicts: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    cited: list[Recorded] = []
    for events in read_streams(app, conn, others, only=SERIAL_EVENTS).values():
        opened = events[0].event
        if not isinstance(opened, WorkOrder.Opened):
            continue
        latest: dict[str, Recorded] = {}
        for r in events:
            if isinstance(r.event, WorkOrder.SerialsRecorded):
                latest[r.event.line_id] = r
        for r in latest.values():
            e = r.event
            for serial, other_side in _held({"fitted": e.fitted, "removed": e.removed}):
                if serial not in mine:
                    continue
                line_id, side = mine[serial]
                other_vin = str(opened.vehicle["vin"])
                kind = kind_of(side, other_side, other_vin == vin)
                other = {"work_order_id": str(r.stream_id), "number": opened.number,
                         "store_id": opened.audit.store_id, "vin": other_vin,
                         "line_id": e.line_id, "side": other_side,
                         "recorded_at": r.at.isoformat()}
                (conflicts if kind else history).append({
                    "serial": serial, "line_id": line_id, "side": side, "kind": kind,
                    "other": other, "detail": _detail(serial, kind, side, line_id, other)})
                cited += [events[0], r]
    order = lambda m: (m["other"]["recorded_at"], m["serial"])
    return sorted(conflicts, key=order), sorted(history, key=order), cited


def conflict_problems(conflicts: Sequence[Mapping[str, Any]],
                      parts: Mapping[str, tuple[int, str]]) -> list[dict[str, Any]]:
    """A problem per conflict (line id -> (job no, part number)): the claim is not complete
    while one stands."""
    return [{"kind": "serial_conflict", "job_no": parts[c["line_id"]][0],
             "line_id": c["line_id"], "part_number": parts[c["line_id"]][1], "missing": [],
             "serial": c["serial"], "detail": c["detail"]} for c in conflicts]
