"""Online booking requests as the desk works them, the booking conversion, and the free slots the
booking channel may offer.

`online_bookings`: one row per request (its slot, services, the car as given, the customer's
name, phone and note still sealed with the request's key — opened when the desk reads them —,
status, who decided and why, the appointment it became and when that car arrived, the time the
store must answer it by and when its key was shredded). A request left unanswered past its
`answer_by` reads as `expired` here at once (the query decides by the clock, as the capacity
check does), before the sweep records its `Expired`. The customer's erasure deletes the keys
of the requests confirmed for them (a confirmation stored after the erasure, its own key; and
`Shredded`, a request's own key, again: a command stopped between its event and the deletion is
mended). The conversion figures count these rows: requests confirmed ÷ requests, confirmed that arrived ÷
confirmed. The free slots read the workshop view's days (projections/workshop.py) by the rule
the booking itself is held to (domain/workshop_day.py `free_slots`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from eventsourcing.utils import get_topic
from psycopg.types.json import Jsonb

from domain.appointment import Appointment
from domain.customer import Customer
from domain.kpi_figures import hours as shown
from domain.kpi_figures import quotient
from domain.online_booking import OnlineBooking
from domain.pii import PersonalData
from domain.workshop_day import free_slots, holding
from projections.base import Index, ReadModel, page, rows, store_scope
from projections.key_check import EVENTS_TABLE

SEALED = ("name", "phone", "note")
# a confirmation stored after its customer's erasure (the two raced): its key goes at once
ERASED_TOPIC = get_topic(Customer.Erased)
ERASED_ALREADY = f"SELECT 1 FROM {EVENTS_TABLE} WHERE originator_id = %s AND topic = %s LIMIT 1"
# the status a request shows: one left unanswered past its answer_by is expired already
STATUS = ("CASE WHEN status = 'requested' AND answer_by <= %s THEN 'expired' "
          "ELSE status END")


class OnlineBookingsView(ReadModel):
    name = "online_bookings"
    tables = {  # noqa: RUF012
        "online_bookings": """
            id uuid PRIMARY KEY, store_id text NOT NULL, status text NOT NULL,
            day date NOT NULL, arrival text NOT NULL, services jsonb NOT NULL,
            vin text, plate text, sealed jsonb NOT NULL, requested_at timestamptz NOT NULL,
            requested_by text NOT NULL, decided_at timestamptz, decided_by text,
            decided_role text, reason text, appointment_id uuid, customer_id uuid,
            registered boolean, arrived_at timestamptz, work_order_id uuid,
            version integer NOT NULL, answer_by timestamptz, shredded_at timestamptz""",
    }
    revision = 2  # 2: expired requests, the answer_by deadline, shredding, erasures
    indexes = (Index("online_bookings", "online_bookings_store_idx",
                     "(store_id, status, day, arrival)"),
               Index("online_bookings", "online_bookings_appointment_idx", "(appointment_id)"))
    handles = (OnlineBooking.Requested, OnlineBooking.Confirmed, OnlineBooking.Declined,
               OnlineBooking.Cancelled, OnlineBooking.Expired, OnlineBooking.Shredded,
               Appointment.Arrived, Customer.Erased)

    def __init__(self, personal_data: PersonalData) -> None:
        self.personal_data = personal_data

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        with conn.cursor() as cur:
            for _, e in events:
                if isinstance(e, Customer.Erased):
                    self._shred(cur.execute(f"SELECT id FROM online_bookings{suffix} WHERE "
                                            "customer_id = %s", (e.originator_id,)).fetchall())
                    continue
                cur.execute(*_statement(e, suffix))
                if isinstance(e, OnlineBooking.Shredded) or (
                        isinstance(e, OnlineBooking.Confirmed) and cur.execute(
                            ERASED_ALREADY, (e.customer_id, ERASED_TOPIC)).fetchone()):
                    self._shred([(e.originator_id,)])

    def _shred(self, found: Sequence[tuple[Any, ...]]) -> None:
        """Delete the keys of these requests (their name, phone and note read as erased)."""
        for (booking_id,) in found:
            self.personal_data.keys.delete_key(booking_id)


def _statement(e: Any, s: str) -> tuple[str, Sequence[Any]]:
    at, by = e.audit.at, e.audit.user_id
    if isinstance(e, OnlineBooking.Requested):
        services = [{"description": x["description"], "op_code": x.get("op_code"),
                     "skill": x["skill"], "hours": str(shown(x["hours"]))} for x in e.services]
        return (f"""INSERT INTO online_bookings{s} (id, store_id, status, day, arrival, services,
                    vin, plate, sealed, requested_at, requested_by, version, answer_by)
                    VALUES (%s, %s, 'requested', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (e.originator_id, e.store_id, e.day, e.arrival, Jsonb(services),
                 e.vehicle.get("vin"), e.vehicle.get("plate"),
                 Jsonb({k: e.sealed.get(k) for k in SEALED}), at, by, e.originator_version,
                 e.answer_by))
    if isinstance(e, Appointment.Arrived):
        arrived = (f"UPDATE online_bookings{s} SET arrived_at = %s, work_order_id = %s "
                   f"WHERE appointment_id = %s")
        return arrived, (at, e.work_order_id, e.originator_id)
    if isinstance(e, OnlineBooking.Shredded):
        return (f"UPDATE online_bookings{s} SET shredded_at = %s, version = %s WHERE id = %s",
                (at, e.originator_version, e.originator_id))
    if isinstance(e, OnlineBooking.Expired):  # the system's sweep: no one decided it
        expired = (f"UPDATE online_bookings{s} SET status = 'expired', decided_at = %s, "
                   "decided_by = %s, decided_role = %s, reason = %s, version = %s WHERE id = %s")
        return (expired, (at, by, e.audit.role, "not answered by its deadline", e.originator_version,
                          e.originator_id))
    status = {OnlineBooking.Confirmed: "confirmed", OnlineBooking.Declined: "declined",
              OnlineBooking.Cancelled: "cancelled"}[type(e)]
    return (f"""UPDATE online_bookings{s} SET status = %s, decided_at = %s, decided_by = %s,
                decided_role = %s, reason = %s, appointment_id = %s, customer_id = %s,
                registered = %s, version = %s WHERE id = %s""",
            (status, at, by, e.audit.role, getattr(e, "reason", None),
             getattr(e, "appointment_id", None), getattr(e, "customer_id", None),
             getattr(e, "registered", None), e.originator_version, e.originator_id))


def list_bookings(conn: psycopg.Connection[Any], stores: Sequence[str], *, now: datetime,
                  store_id: str | None = None, status: str | None = None, limit: int = 100,
                  offset: int = 0) -> dict[str, Any]:
    """The requests, the earliest slot first, each with its status at `now`; `sealed` holds the
    customer's fields still sealed (the route opens them for whoever may read them)."""
    scope, params = store_scope(stores)
    where = [scope]
    if store_id is not None:
        where.append("store_id = %s")
        params.append(store_id)
    if status is not None:
        where.append(f"{STATUS} = %s")
        params += [now, status]
    return page(conn, f"""SELECT id, store_id, {STATUS} AS status, day, arrival, services, vin,
        plate, sealed, requested_at, requested_by, answer_by, decided_at, decided_by, reason,
        appointment_id, customer_id, registered, arrived_at, work_order_id, version
        FROM online_bookings WHERE {' AND '.join(where)}""", [now, *params],
                order_by="day, arrival, requested_at, id", limit=limit, offset=offset)


def conversion(conn: psycopg.Connection[Any], stores: Sequence[str], now: datetime,
               store_id: str | None = None) -> dict[str, Any]:
    """The booking conversion (客户预约转化率) over every request the caller's stores hold:
    confirmed ÷ requests, and arrived ÷ confirmed (ratios, null without a denominator);
    `pending` counts the requests still awaiting an answer at `now`, `expired` those the store
    left unanswered."""
    scope, params = store_scope(stores)
    if store_id is not None:
        scope += " AND store_id = %s"
        params.append(store_id)
    [row] = rows(conn, f"""SELECT count(*) AS requests,
        count(*) FILTER (WHERE status = 'confirmed') AS confirmed,
        count(*) FILTER (WHERE status = 'confirmed' AND arrived_at IS NOT NULL) AS arrived,
        count(*) FILTER (WHERE {STATUS} = 'requested') AS pending,
        count(*) FILTER (WHERE {STATUS} = 'expired') AS expired
        FROM online_bookings WHERE {scope}""", [now, now, *params])
    return {**row, "confirmation_rate": quotient(row["confirmed"], row["requests"]),
            "arrival_rate": quotient(row["arrived"], row["confirmed"])}


def free_slots_of(conn: psycopg.Connection[Any], stores: Sequence[str], *, store_id: str,
                  first: date, last: date, work: Mapping[str, Decimal],
                  now: datetime) -> list[dict[str, Any]]:
    """Per planned day: the arrival slots a booking of `work` would fit (none before `now` on
    its own day; no lapsed request's hold counted). Only the slots: no hours, bays or other
    bookings."""
    scope, params = store_scope(stores)
    days = rows(conn, f"""SELECT day, opens, closes, bays, skill_hours, bookings FROM
        workshop_days WHERE {scope} AND store_id = %s AND day BETWEEN %s AND %s ORDER BY day""",
                [*params, store_id, first, last])
    found = []
    for d in days:
        bookings = {key: {**b, "work": {k: Decimal(str(v)) for k, v in b["work"].items()}}
                    for key, b in holding(d["bookings"], now).items()}
        hours = {k: Decimal(str(v)) for k, v in d["skill_hours"].items()}
        after = now.strftime("%H:%M") if d["day"] == now.date() else None
        found.append({"day": d["day"], "slots": free_slots(
            d["opens"], d["closes"], d["bays"], hours, bookings, work, after)})
    return found
