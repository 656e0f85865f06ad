"""Stored events as the analytics loader reads them: decoded only as far as a handler looks,
and dates made from instants in the store's time zone."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from analytics.events import Event, plain
from analytics.fold import HANDLERS, IGNORED, Fold
from analytics.loader import REVISION
from analytics.tables import create
from domain.common import Audit
from domain.grievance import Grievance
from domain.part import Part
from domain.settlement import Settlement
from domain.stock import StockItem
from domain.work_order import WorkOrder


def audit(at: str) -> dict[str, Any]:
    return {"_type_": "audit", "_data_": {
        "user_id": "adv-1", "role": "advisor", "store_id": "S01", "at": at,
        "correlation_id": "c-1", "idempotency_key": None}}


def test_stored_values_are_turned_back_into_values() -> None:
    stored = {"amount": {"_type_": "decimal_str", "_data_": "12.30"},
              "lines": [{"qty": {"_type_": "decimal_str", "_data_": "1.5"}, "note": "x"}],
              "customer_id": {"_type_": "uuid_hex", "_data_": "9316fdb9df154305a05aa0b923d13463"},
              "at": {"_type_": "datetime_iso", "_data_": "2025-03-31T23:30:00+00:00"},
              "audit": audit("2025-03-31T23:30:00+00:00")}
    assert plain(stored) == {
        "amount": Decimal("12.30"), "lines": [{"qty": Decimal("1.5"), "note": "x"}],
        "customer_id": "9316fdb9-df15-4305-a05a-a0b923d13463",
        "at": datetime(2025, 3, 31, 23, 30, tzinfo=UTC),
        "audit": Audit("adv-1", "advisor", "S01", datetime(2025, 3, 31, 23, 30, tzinfo=UTC),
                       "c-1")}
    with pytest.raises(KeyError):  # a wrapper the loader does not know is not loaded as a dict
        plain({"_type_": "money_v9", "_data_": "1"})
    event = Event(7, "id-1", "domain.x:Thing.Happened", {"amount": stored["amount"]})
    assert (event.qualname, event.aggregate, event.amount) == ("Thing.Happened", "Thing",
                                                               Decimal("12.30"))
    assert getattr(event, "missing", None) is None


def booked(at: str, day: str | None = None) -> tuple[Fold, dict[str, Any]]:
    conn = duckdb.connect()
    create(conn, REVISION)
    fold = Fold(conn)
    state = {"audit": audit(at), **({"day": day} if day else {})}
    event = Event(1, str(uuid.uuid4()), "domain.appointment:Appointment.Booked", state)
    HANDLERS["Appointment.Booked"](fold, event, 1)
    row = fold.rows["fact_appointments"][(event.originator_id,)]
    assert row is not None
    return fold, row


def test_a_day_made_from_an_instant_is_the_stores_day() -> None:
    # booked at 23:30 UTC on 31 March: 07:30 on 1 April in Shanghai
    _fold, row = booked("2025-03-31T23:30:00+00:00")
    assert row["day"] == date(2025, 4, 1)
    _fold, row = booked("2025-03-31T15:59:00+00:00")  # 23:59 in Shanghai
    assert row["day"] == date(2025, 3, 31)
    _fold, row = booked("2025-03-31T23:30:00+00:00", day="2025-04-03")  # the day asked for
    assert row["day"] == date(2025, 4, 3)


def test_every_event_of_the_loaded_areas_is_handled_or_left_out_on_purpose() -> None:
    # the state of an event without a handler is not even fetched: a new event class of
    # these aggregates must say whether the tables carry it
    for aggregate in (WorkOrder, Settlement, StockItem, Part, Grievance):
        for name in (n for n, v in vars(aggregate).items()
                     if isinstance(v, type) and n not in ("Event", "Created")):
            qualname = f"{aggregate.__name__}.{name}"
            assert (qualname in HANDLERS) != (qualname in IGNORED), qualname
    assert IGNORED.isdisjoint(HANDLERS)
