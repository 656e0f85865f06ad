"""The odometer a claim states against the car's earlier visits.

An OEM compares a claim's mileage in with the readings the dealer recorded for the same VIN
before (opening, check-in, delivery of every earlier visit): a reading that went back is a
wrong entry or a tampered odometer, and the claim is rejected. The work-order list only finds
the car's other work orders; the readings come from their events. A visit imported from the
previous system (`Vehicle.PriorVisitImported`) is an earlier reading too, on its date in: its
"number" names it as imported, with its source reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from domain.application import ServiceCore
from domain.vehicle import Vehicle
from domain.work_order import WorkOrder
from domain.work_orders import vehicle_id
from projections.base import store_scope
from projections.evidence import Recorded, read_streams, topics

READINGS = topics(WorkOrder.Opened, WorkOrder.CheckedIn, WorkOrder.Delivered)
IMPORTED = topics(Vehicle.PriorVisitImported)


def _km(event: Any) -> int | None:
    if isinstance(event, WorkOrder.Opened):
        return int(event.mileage)
    if isinstance(event, WorkOrder.CheckedIn):
        return int(event.details["mileage_in"])
    if isinstance(event, WorkOrder.Delivered):
        return int(event.mileage_out)
    return None


def highest_earlier_reading(app: ServiceCore, conn: psycopg.Connection[Any], vin: str,
                            work_order_id: UUID, before: datetime,
                            stores: Sequence[str]) -> tuple[Recorded, int, str] | None:
    """The highest odometer reading recorded for the VIN on another work order (of the
    caller's stores) before `before`: the event, its km and that work order's number."""
    scope, params = store_scope(stores)
    others = [row[0] for row in conn.execute(
        f"SELECT id FROM wo_view WHERE vin = %s AND id <> %s AND {scope}",
        [vin, work_order_id, *params])]
    best: tuple[Recorded, int, str] | None = None
    for events in read_streams(app, conn, others, only=READINGS).values():
        number = events[0].event.number if isinstance(events[0].event, WorkOrder.Opened) else ""
        for r in events:
            km = _km(r.event)
            if km is not None and r.at <= before and (best is None or km > best[1]):
                best = (r, km, number)
    for r in read_streams(app, conn, [vehicle_id(vin)], only=IMPORTED).get(vehicle_id(vin), []):
        e = r.event
        if (("*" in stores or e.audit.store_id in stores) and e.date_in <= before.date().isoformat()
                and (best is None or e.mileage_in > best[1])):
            best = (r, int(e.mileage_in), f"imported visit {e.source_ref} of {e.date_in}")
    return best


def odometer_problem(found: tuple[Recorded, int, str] | None,
                     mileage_in: int | None) -> dict[str, Any] | None:
    """The claim's problem when its mileage in is below an earlier reading, else None."""
    if found is None or mileage_in is None or mileage_in >= found[1]:
        return None
    r, km, number = found
    imported = isinstance(r.event, Vehicle.PriorVisitImported)
    return {"kind": "mileage", "job_no": None, "missing": [],
            "detail": f"mileage in {mileage_in:,} km is below the {km:,} km recorded on "
                      f"{number}{'' if imported else ' at ' + r.at.isoformat()}: an OEM "
                      "rejects a claim whose odometer went back",
            "earlier": {"work_order_id": None if imported else str(r.stream_id),
                        "number": number, "km": km, "at": r.at.isoformat(),
                        **({"imported": True, "source_ref": r.event.source_ref,
                            "date_in": r.event.date_in} if imported else {})}}
