"""The fold's handlers of customers, follow-ups, appointments and technicians' hours and
hourly costs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from analytics import fold_online_bookings as online_bookings
from analytics.fold import HANDLERS, Fold, Handler, on, on_name
from domain.customer import Customer
from domain.follow_up import FollowUp
from domain.technician import Technician

# -- customers, follow-ups --------------------------------------------------------------------

@on(Customer.Registered)
def _customer(fold: Fold, e: Customer.Registered, n: int) -> None:
    row = fold.touch("dim_customer", str(e.originator_id))
    if row is None:
        fold.put("dim_customer", {"customer_id": str(e.originator_id), "kind": e.kind,
                                  "first_seen": e.audit.at, "erased": False})
    else:
        row["kind"] = e.kind


@on(Customer.Erased)
def _erased(fold: Fold, e: Customer.Erased, n: int) -> None:
    row = fold.touch("dim_customer", str(e.originator_id))
    if row is not None:
        row["erased"] = True


@on(FollowUp.Scheduled)
def _scheduled(fold: Fold, e: FollowUp.Scheduled, n: int) -> None:
    fold.put("fact_follow_ups", {"follow_up_id": str(e.originator_id),
                                 "work_order_id": str(e.work_order_id),
                                 "store_id": e.audit.store_id,
                                 "due_on": date.fromisoformat(e.due_on)})


@on(FollowUp.Completed)
def _followed_up(fold: Fold, e: FollowUp.Completed, n: int) -> None:
    row = fold.touch("fact_follow_ups", str(e.originator_id))
    assert row is not None
    row.update(csi=e.csi, completed_at=e.audit.at, complaint=e.complaint_id is not None)


# -- appointments (matched by name: the appointment area may not exist in older logs) -----------

@on_name("Appointment.Booked")
def _booked(fold: Fold, e: Any, n: int) -> None:
    day = getattr(e, "day", None)
    fold.put("fact_appointments", {
        "appointment_id": str(e.originator_id), "store_id": e.audit.store_id,
        "day": date.fromisoformat(str(day)) if day else e.audit.at.astimezone(fold.zone).date(),
        "status": "booked", "booked_at": e.audit.at})


def _appointment_status(status: str) -> Handler:
    def handler(fold: Fold, e: Any, n: int) -> None:
        row = fold.touch("fact_appointments", str(e.originator_id))
        if row is None:
            return
        row["status"] = status
        day = getattr(e, "day", None) or getattr(e, "new_day", None)
        if status == "booked" and day:
            row["day"] = date.fromisoformat(str(day))
        work_order_id = getattr(e, "work_order_id", None)
        if work_order_id:
            row["work_order_id"] = str(work_order_id)
        if status == "arrived":  # an online booking request it came from became a visit
            online_bookings.arrived(fold, row["appointment_id"], row["work_order_id"],
                                    e.audit.at)

    return handler


for _name, _status in (("Appointment.Rescheduled", "booked"), ("Appointment.Cancelled",
                       "cancelled"), ("Appointment.NoShow", "no_show"),
                       ("Appointment.MarkedNoShow", "no_show"),
                       ("Appointment.Arrived", "arrived")):
    HANDLERS[_name] = _appointment_status(_status)


# -- technicians: shifts and attendance give the hours available --------------------------------

@on(Technician.Registered)
def _technician(fold: Fold, e: Any, n: int) -> None:
    fold.put("dim_technician_stream", {"stream_id": str(e.originator_id),
                                       "technician_id": e.user_id,
                                       "store_id": e.audit.store_id})


def _technician_of(fold: Fold, e: Any) -> dict[str, Any]:
    row = fold.get("dim_technician_stream", str(e.originator_id))
    assert row is not None, "technician event before Technician.Registered"
    return row


@on(Technician.Named)
def _named(fold: Fold, e: Technician.Named, n: int) -> None:
    tech = _technician_of(fold, e)
    row = fold.touch("dim_technician", tech["technician_id"])
    if row is None:
        fold.put("dim_technician", {"technician_id": tech["technician_id"],
                                    "store_id": tech["store_id"], "name": e.name})
    else:
        row["name"] = e.name


@on(Technician.HourlyCostSet)
def _hourly_cost(fold: Fold, e: Technician.HourlyCostSet, n: int) -> None:
    tech = _technician_of(fold, e)
    fold.append("fact_hourly_costs", {
        "notification_id": n, "technician_id": tech["technician_id"],
        "store_id": tech["store_id"], "set_at": e.audit.at, "hourly_cost": e.hourly_cost})


@on_name("Technician.ShiftsPlanned")
def _shifts(fold: Fold, e: Any, n: int) -> None:
    tech = _technician_of(fold, e)
    for shift in e.shifts:
        hours = Decimal(str(shift["hours"]))
        fold.put("fact_attendance", {
            "technician_id": tech["technician_id"], "store_id": tech["store_id"],
            "day": date.fromisoformat(shift["day"]), "planned_hours": hours,
            "available_hours": hours, "status": "planned"})


@on_name("Technician.ShiftCancelled")
def _shift_cancelled(fold: Fold, e: Any, n: int) -> None:
    row = fold.touch("fact_attendance", _technician_of(fold, e)["technician_id"],
                     date.fromisoformat(e.day))
    if row is not None:
        row.update(available_hours=Decimal(0), status="cancelled")


@on_name("Technician.AttendanceRecorded")
def _attendance(fold: Fold, e: Any, n: int) -> None:
    row = fold.touch("fact_attendance", _technician_of(fold, e)["technician_id"],
                     date.fromisoformat(e.day))
    if row is None:
        return
    hours = {"absent": Decimal(0), "partial": e.hours}.get(e.status, row["planned_hours"])
    row.update(available_hours=hours, status=e.status)
