"""A technician and an appointment as they stood at a moment (`?as_of=`), folded from their
own streams' events up to the moment (`projections.audit.folded_as_of`, as every `as_of` read)
into the row the workshop view keeps (projections/workshop.py), so that the answer has the
shape of the current read.

Was the technician who did a warranty job qualified for it that day (skills and levels),
on the roster, on shift? When was the booking for, and had it been cancelled yet?
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import psycopg

from domain.application import ServiceCore
from domain.appointment import Appointment
from domain.roster import Roster
from domain.technician import Technician
from projections.audit import aggregate_as_of, folded_as_of
from projections.base import rows
from projections.batch_rows import plain
from projections.workshop import (
    appointment_changes,
    appointment_entry,
    new_technician,
    technician_change,
)

# -- appointments ------------------------------------------------------------------------------


def appointment_row(doc: dict[str, Any] | None, e: Appointment.Event) -> dict[str, Any]:
    entry = appointment_entry(e)
    if isinstance(e, Appointment.Booked):
        return {"id": e.originator_id, "store_id": e.store_id, "day": date.fromisoformat(e.day),
                "arrival": e.arrival, "status": "booked", "customer_id": e.customer_id,
                "vin": e.vehicle["vin"], "plate": e.vehicle.get("plate"),
                "vehicle": plain(e.vehicle), "services": plain(e.services), "kind": e.kind,
                "note": e.note, "work_order_id": None, "work_order_number": None,
                "history": [entry], "booked_at": e.audit.at, "updated_at": e.audit.at,
                "version": e.originator_version}
    assert doc is not None
    sets = appointment_changes(e, entry)
    if "day" in sets:
        sets["day"] = date.fromisoformat(sets["day"])
    return {**doc, **sets, "history": [*doc["history"], entry], "updated_at": e.audit.at,
            "version": e.originator_version}


def appointment_as_of(app: ServiceCore, conn: psycopg.Connection[Any], appointment_id: UUID,
                      at: datetime) -> dict[str, Any] | None:
    """The booking at `at` (day, arrival, status, its history until then), with the
    customer's name and phones as the customers view holds them now (as the current read
    shows them) and `as_of`; None before it was booked."""
    doc = folded_as_of(app, appointment_id, at, Appointment.Event, appointment_row)
    if doc is None:
        return None
    found = rows(conn, "SELECT name, phones FROM customers WHERE id = %s", (doc["customer_id"],))
    customer = found[0] if found else {"name": None, "phones": None}
    return {**doc, "customer_name": customer["name"], "customer_phones": customer["phones"],
            "as_of": at.isoformat()}


# -- technicians ---------------------------------------------------------------------------------

def technician_row(doc: dict[str, Any] | None, e: Technician.Event) -> dict[str, Any]:
    if isinstance(e, Technician.Registered):
        return new_technician(e.user_id, e.store_id, False)
    assert doc is not None  # the fold's own: changed in place (years of shifts, a day each)
    technician_change(doc, e)
    return doc


def technician_as_of(app: ServiceCore, user_id: str, at: datetime,
                     days: tuple[date, date]) -> dict[str, Any] | None:
    """The technician at `at`: skills and levels, hourly cost, name, whether on the store's
    roster (its roster replayed to `at`), the shifts and attendance recorded by then from the
    first of `days` to the last, the open clock; with `as_of`. None before the technician's
    stream began."""
    doc = folded_as_of(app, Technician.create_id(user_id), at, Technician.Event,
                       technician_row)
    if doc is None:
        return None
    roster = aggregate_as_of(app, Roster.create_id(doc["store_id"]), at)
    first, last = (day.isoformat() for day in days)
    return {**doc, "on_roster": isinstance(roster, Roster) and user_id in roster.members,
            **{key: {d: v for d, v in doc[key].items() if first <= d <= last}
               for key in ("shifts", "attendance")},
            "as_of": at.isoformat()}
