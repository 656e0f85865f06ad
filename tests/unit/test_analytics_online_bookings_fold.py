"""An online booking request's row of `fact_online_bookings` is the same whether its events are
folded one batch each, a few to a batch or all in one: put when it is made, updated by the
desk's answer, the customer's cancellation or the recorded lapse, and by the arrival of the
appointment it became (found from the appointment, in the batch or in the table); a request
made before requests had deadlines has none; a shredded request keeps its row; the customer's
name, phone, car, note and the reasons given are never written. The conversion KPI counts a
request left waiting past its deadline as expired, by the clock."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import duckdb

from analytics.events import Event
from analytics.fold import HANDLERS, IGNORED, Fold
from analytics.kpis import Filters, run
from analytics.loader import REVISION, _preload
from analytics.tables import create

SEALED = "sealed:v1:name-phone-note-ciphertext"
VIN, PLATE = "LSVAU2180N2183294", "沪A54321"
REASONS = ("closed for stocktaking", "cannot come", "kept 30 days after it closed")
D = Decimal


def audit(at: str, role: str = "advisor") -> dict[str, Any]:
    return {"_type_": "audit", "_data_": {
        "user_id": "u-1", "role": role, "store_id": "S01", "at": at,
        "correlation_id": "c-1", "idempotency_key": None}}


def instant(at: str) -> dict[str, str]:
    return {"_type_": "datetime_iso", "_data_": at}


def hexed(value: uuid.UUID) -> dict[str, str]:
    return {"_type_": "uuid_hex", "_data_": value.hex}


def requested(answer_by: str | None, old: bool = False) -> dict[str, Any]:
    state: dict[str, Any] = {
        "store_id": "S01", "day": "2025-06-11", "arrival": "09:00", "kind": "maintenance",
        "services": [{"description": "oil change", "op_code": None, "skill": "maintenance",
                      "hours": "1.00"}],
        "vehicle": {"vin": VIN, "plate": PLATE}, "sealed": {"name": SEALED, "phone": SEALED,
                                                            "note": SEALED},
        "link_nonce": "nonce-1", "link_expires_at": instant("2025-07-11T00:00:00+08:00")}
    if not old:  # one stored before requests had deadlines has no answer_by
        state["answer_by"] = None if answer_by is None else instant(answer_by)
    return state


APPOINTMENT, CUSTOMER, WORK_ORDER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
A, B, C, E, F, G = (str(uuid.uuid4()) for _ in range(6))
BOOKING = "domain.online_booking:OnlineBooking."
BOOKED = "domain.appointment:Appointment."
STEPS: list[tuple[str, str, str, dict[str, Any]]] = [
    (A, BOOKING + "Requested", "2025-06-10T01:00:00+00:00",
     requested("2025-06-11T01:00:00+00:00")),
    (B, BOOKING + "Requested", "2025-06-10T02:00:00+00:00", requested(None, old=True)),
    (C, BOOKING + "Requested", "2025-06-10T02:30:00+00:00",
     requested("2025-06-11T01:00:00+00:00")),
    (B, BOOKING + "Declined", "2025-06-10T03:00:00+00:00", {"reason": REASONS[0]}),
    (A, BOOKING + "Confirmed", "2025-06-10T03:30:00+00:00", {
        "appointment_id": hexed(APPOINTMENT), "customer_id": hexed(CUSTOMER),
        "registered": True}),
    (str(APPOINTMENT), BOOKED + "Booked", "2025-06-10T03:30:00+00:00", {
        "store_id": "S01", "customer_id": hexed(CUSTOMER), "vehicle": {"vin": VIN},
        "day": "2025-06-11", "arrival": "09:00", "services": [], "kind": "maintenance",
        "note": None}),
    (C, BOOKING + "Cancelled", "2025-06-10T04:00:00+00:00", {"reason": REASONS[1]}),
    (E, BOOKING + "Requested", "2025-06-10T04:30:00+00:00",
     requested("2025-06-10T20:00:00+00:00")),  # never answered, lapse not recorded
    (F, BOOKING + "Requested", "2025-06-10T05:00:00+00:00",
     requested("2999-01-01T00:00:00+00:00")),  # still waiting
    (G, BOOKING + "Requested", "2025-06-10T05:30:00+00:00",
     requested("2025-06-11T01:00:00+00:00")),
    (G, BOOKING + "Expired", "2025-06-11T06:00:00+00:00",
     {"answer_by": instant("2025-06-11T01:00:00+00:00")}),
    (G, BOOKING + "Shredded", "2025-07-12T06:00:00+00:00", {"reason": REASONS[2]}),
    (str(APPOINTMENT), BOOKED + "Arrived", "2025-06-11T00:50:00+00:00", {
        "work_order_id": hexed(WORK_ORDER), "work_order_number": "WO-S01-2025-7"}),
]


def events() -> list[Event]:
    return [Event(n, stream, topic, {"audit": audit(at), **state})
            for n, (stream, topic, at, state) in enumerate(STEPS, start=1)]


def folded(size: int) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    create(conn, REVISION)
    read = [e for e in events() if e.qualname in HANDLERS]  # as the loader reads them
    for start in range(0, len(read), size):
        batch = read[start:start + size]
        fold = Fold(conn)
        _preload(fold, batch)
        for event in batch:
            fold.current = event.notification_id
            HANDLERS[event.qualname](fold, event, event.notification_id)
        fold.write()
    return conn


def rows(conn: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT * FROM fact_online_bookings ORDER BY ALL").fetchall()


def test_a_request_reads_the_same_one_event_a_batch_in_batches_and_at_once() -> None:
    assert "OnlineBooking.Shredded" in IGNORED
    whole = folded(len(STEPS))
    assert rows(folded(1)) == rows(whole) and rows(folded(4)) == rows(whole)
    names = [c[0] for c in whole.execute("DESCRIBE fact_online_bookings").fetchall()]
    by_id = {r[0]: dict(zip(names, r, strict=True)) for r in rows(whole)}
    utc = UTC
    confirmed = by_id[A]
    assert (confirmed["outcome"], confirmed["hours_to_answer"]) == ("confirmed", D("2.50"))
    assert (confirmed["requested_day"], confirmed["slot_day"], confirmed["slot_arrival"]) == (
        date(2025, 6, 10), date(2025, 6, 11), "09:00")
    assert confirmed["answered_at"] == confirmed["outcome_at"] == datetime(2025, 6, 10, 3, 30,
                                                                           tzinfo=utc)
    assert (confirmed["appointment_id"], confirmed["customer_id"], confirmed["new_customer"],
            confirmed["work_order_id"], confirmed["arrived_at"]) == (
        str(APPOINTMENT), str(CUSTOMER), True, str(WORK_ORDER),
        datetime(2025, 6, 11, 0, 50, tzinfo=utc))
    assert confirmed["last_notification_id"] == len(STEPS)  # the arrival changed it last
    declined = by_id[B]
    assert (declined["outcome"], declined["hours_to_answer"], declined["answer_by"]) == (
        "declined", D("1.00"), None)
    cancelled = by_id[C]
    assert (cancelled["outcome"], cancelled["answered_at"], cancelled["outcome_at"]) == (
        "cancelled", None, datetime(2025, 6, 10, 4, tzinfo=utc))
    assert by_id[E]["outcome"] is None and by_id[F]["outcome"] is None
    lapsed = by_id[G]  # recorded, then shredded: the row stays as it was
    assert (lapsed["outcome"], lapsed["outcome_at"], lapsed["answered_at"]) == (
        "expired", datetime(2025, 6, 11, 1, tzinfo=utc), None)
    everything = str(rows(whole))
    assert not any(secret in everything for secret in (SEALED, VIN, PLATE, *REASONS))


def test_the_conversion_counts_a_request_waiting_past_its_deadline_as_expired() -> None:
    june = Filters(store_id="S01", date_from=date(2025, 6, 1), date_to=date(2025, 6, 30))
    # six requests: one confirmed (and arrived), one declined, one cancelled, two expired
    # (one recorded, one by the clock), one waiting; answered after 2.50 h and 1.00 h
    assert run(folded(len(STEPS)), "online_booking_conversion", june)["rows"] == [{
        "requests": 6, "confirmed": 1, "declined": 1, "cancelled": 1, "expired": 2,
        "waiting": 1, "arrived": 1, "confirmation_rate": D("0.1667"),
        "arrival_rate": D("1.0000"), "conversion": D("0.1667"), "answered": 2,
        "median_hours_to_answer": D("1.75"), "p90_hours_to_answer": D("2.35")}]
