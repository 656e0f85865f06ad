"""The fold's handlers of online booking requests (线上预约, `fact_online_bookings`): one row per
request, put when it is made and updated by the desk's answer, the customer's cancellation or
the recorded lapse, in whatever batch each comes (the request's row is preloaded for the batch:
analytics/loader.py). The arrival of the appointment a request became is folded with the
appointment's own row (analytics/fold_people.py), which hands it to `arrived`: the request is
found through `Fold.booked_from`, filled by a confirmation of the same batch or by `preload`
from the table. Who asked (name, phone), their car (VIN, plate), their note and the reasons
given for a decline or a cancellation are never read; shredding a request's key changes none
of its row."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from analytics.fold import Fold, ignore, on
from domain.online_booking import OnlineBooking

TABLE = "fact_online_bookings"
HOUR = Decimal(3_600_000_000)  # microseconds
HUNDREDTH = Decimal("0.01")


def _utc(at: datetime) -> datetime:
    """An instant as the batch holds it (an event's, zone-aware) or as a preloaded row gives it
    (naive UTC), zone-aware."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def hours_between(start: datetime, end: datetime) -> Decimal:
    """Hours from `start` to `end`, to 1/100 h, half up."""
    elapsed = (_utc(end) - _utc(start)) // timedelta(microseconds=1)
    return (Decimal(elapsed) / HOUR).quantize(HUNDREDTH, ROUND_HALF_UP)


@on(OnlineBooking.Requested)
def _requested(fold: Fold, e: Any, n: int) -> None:
    made = e.audit.at
    fold.put(TABLE, {
        "booking_id": str(e.originator_id), "store_id": e.store_id, "requested_at": made,
        "channel": e.audit.user_id,
        "requested_day": made.astimezone(fold.zone).date(),
        "slot_day": date.fromisoformat(e.day), "slot_arrival": e.arrival,
        # a request stored before requests had deadlines (class_version 1) names none
        "answer_by": getattr(e, "answer_by", None)})


def _request(fold: Fold, e: Any) -> dict[str, Any] | None:
    """The request's row, marked as changed (None: a request the tables do not hold, which no
    step of the domain makes)."""
    return fold.touch(TABLE, str(e.originator_id))


def _answered(row: dict[str, Any], outcome: str, at: datetime) -> None:
    row.update(outcome=outcome, outcome_at=at, answered_at=at,
               hours_to_answer=hours_between(row["requested_at"], at))


@on(OnlineBooking.Confirmed)
def _confirmed(fold: Fold, e: Any, n: int) -> None:
    row = _request(fold, e)
    if row is None:
        return
    appointment = str(e.appointment_id)
    _answered(row, "confirmed", e.audit.at)
    row.update(appointment_id=appointment, customer_id=str(e.customer_id),
               new_customer=e.registered)
    fold.booked_from[appointment] = row["booking_id"]


@on(OnlineBooking.Declined)
def _declined(fold: Fold, e: Any, n: int) -> None:
    row = _request(fold, e)
    if row is not None:
        _answered(row, "declined", e.audit.at)


@on(OnlineBooking.Cancelled)
def _cancelled(fold: Fold, e: Any, n: int) -> None:
    row = _request(fold, e)
    if row is not None:
        row.update(outcome="cancelled", outcome_at=e.audit.at)


@on(OnlineBooking.Expired)
def _expired(fold: Fold, e: Any, n: int) -> None:
    """Recorded by the retention run, some time after the deadline: the request ended at its
    deadline (as the domain closes it), which a request made before deadlines gets here."""
    row = _request(fold, e)
    if row is not None:
        row.update(outcome="expired", outcome_at=e.answer_by,
                   answer_by=row["answer_by"] or e.answer_by)


# shredding deletes the request's key: the row holds nothing it sealed
ignore(OnlineBooking.Shredded)


def arrived(fold: Fold, appointment_id: str, work_order_id: str, at: datetime) -> None:
    """The appointment's car arrived (its work order opened): the request it came from, if
    any, became a visit."""
    booking = fold.booked_from.get(appointment_id)
    if booking is None:
        return
    row = fold.touch(TABLE, booking)
    if row is not None:
        row.update(work_order_id=work_order_id, arrived_at=at)


def preload(fold: Fold, bookings: Iterable[str], arrivals: Iterable[str]) -> None:
    """The rows of the batch's requests, and of the requests confirmed into the appointments
    arriving in it (one query: appointment id to request)."""
    arriving = sorted(set(arrivals))
    found: list[tuple[str, str]] = fold.conn.execute(
        f"SELECT appointment_id, booking_id FROM {TABLE} WHERE appointment_id IN "
        "(SELECT unnest(?::VARCHAR[]))", [arriving]).fetchall() if arriving else []
    fold.booked_from.update(found)
    fold.preload(TABLE, {*bookings, *(booking for _, booking in found)})
