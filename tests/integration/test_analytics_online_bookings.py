"""The analytic tables carry online booking requests (`fact_online_bookings`), one row per
request updated by its answer, cancellation or recorded lapse and by its appointment's arrival,
alike read event by event, in batches and rebuilt from the whole log; never the customer's
name, phone, car, note or a reason given; a shredded request, and one confirmed for a customer
since erased, keep their rows. The conversion KPI counted from it."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import duckdb
import pytest

from analytics.kpis import Filters, run
from analytics.loader import AnalyticsLoader
from analytics.schema import BY_NAME
from api.routes.online_bookings import service
from domain.common import InvalidInput
from domain.online_bookings import OnlineBookings
from servicecore.container import Container
from servicecore.demo import make_vin
from tests.integration.analytics_support import (
    Shop,
    assert_same_tables,
    at,
    one_by_one_and_batched,
    rebuilt_tables,
    table_rows,
)
from tests.scratch_systems import module_container

D = Decimal
container = module_container("sc_booking_facts")
DAY, SLOT_DAY = "2025-06-10", "2025-06-11"
NAME, PHONE, PLATE, NOTE = "韩梅梅", "13655554444", "沪C12345", "please call before 9"
REASONS = ("closed for stocktaking", "found another garage")


def test_requests_one_by_one_in_batches_and_rebuilt_and_their_conversion(
        container: Container, tmp_path: Path) -> None:
    one, batched = one_by_one_and_batched(container, tmp_path)
    shop = Shop(container, "OB" + uuid.uuid4().hex[:6].upper())
    bookings: OnlineBookings = service(container.api_context())
    container.appointments.plan_capacity(
        shop.r("manager", at(DAY, "00:30")), store_id=shop.store, from_day=DAY,
        to_day=SLOT_DAY, opens="08:00", closes="18:00", bays=2,
        skill_hours={"maintenance": 16})
    vin = make_vin(shop.rng)

    def made(hhmm: str, arrival: str) -> tuple[UUID, str]:
        answer = bookings.request(
            shop.r("booking_channel", at(DAY, hhmm), user="mini-program"), store_id=shop.store,
            name=NAME, phone=PHONE, vin=None, plate=PLATE, day=SLOT_DAY, arrival=arrival,
            services=[{"description": "oil change"}], note=NOTE).body
        return UUID(answer["booking_id"]), bookings.token(answer)

    # 01:00 made, confirmed at 03:30 (a new customer), the car came the next morning
    kept, _ = made("01:00", "09:00")
    done = bookings.confirm(shop.r("advisor", at(DAY, "03:30")), kept, vin=vin).body
    # 02:00 made, declined at 03:00
    declined, _ = made("02:00", "10:00")
    bookings.decline(shop.r("advisor", at(DAY, "03:00")), declined, reason=REASONS[0])
    # 02:30 made, withdrawn by the customer at 04:00 through the link
    withdrawn, link = made("02:30", "11:00")
    bookings.cancel(link, reason=REASONS[1], at=at(DAY, "04:00"), correlation_id="c-1")
    # 04:30 made and never answered: lapsed by the clock at its slot (11:00 Shanghai)
    made("04:30", "11:00")
    # 05:30 made, its lapse recorded the next day, shredded at once (no retention left)
    lapsed, _ = made("05:30", "14:00")
    system = shop.r("system", at("2025-06-12", "03:00"), user="online-booking-retention")
    assert bookings.expire(system, lapsed) is not None
    assert bookings.shred_unconfirmed(system, lapsed, 0)
    arrived = container.appointments.arrive(shop.r("advisor", at(SLOT_DAY, "00:50")),
                                            UUID(done["appointment_id"]), mileage=12_000)
    container.customers.erase(shop.r("manager", at("2025-06-13", "03:00")),
                              UUID(done["customer_id"]), reason="the customer asked (PIPL)")
    june = Filters(store_id=shop.store, date_from=date(2025, 6, 1), date_to=date(2025, 6, 30))

    def conversion(conn: duckdb.DuckDBPyConnection) -> object:
        return run(conn, "online_booking_conversion", june)["rows"]

    rows = ("SELECT booking_id, outcome, hours_to_answer, appointment_id, work_order_id "
            "FROM fact_online_bookings WHERE store_id = ? ORDER BY requested_at")
    try:
        for loader in (one, batched):
            loader.catch_up()
            found = loader.conn.execute(rows, [shop.store]).fetchall()
            assert found == [
                (str(kept), "confirmed", D("2.50"), done["appointment_id"],
                 arrived.body["work_order_id"]),
                (str(declined), "declined", D("1.00"), None, None),
                (str(withdrawn), "cancelled", None, None, None),
                (found[3][0], None, None, None, None),
                (str(lapsed), "expired", None, None, None)]
            # five requests: 1 confirmed and came, 1 declined, 1 cancelled, 2 expired (one by
            # the clock); answered after 2.50 h and 1.00 h
            assert conversion(loader.conn) == [{
                "requests": 5, "confirmed": 1, "declined": 1, "cancelled": 1, "expired": 2,
                "waiting": 0, "arrived": 1, "confirmation_rate": D("0.2000"),
                "arrival_rate": D("1.0000"), "conversion": D("0.2000"), "answered": 2,
                "median_hours_to_answer": D("1.75"), "p90_hours_to_answer": D("2.35")}]
            # who asked, their car and words are nowhere in the tables' online bookings
            written = str(table_rows(loader.conn, "fact_online_bookings"))
            assert not any(secret in written for secret in (NAME, PHONE, PLATE, NOTE, vin,
                                                            *REASONS))
        with rebuilt_tables(container, tmp_path) as rebuilt:
            assert_same_tables(one.conn, batched.conn, rebuilt)
            assert conversion(rebuilt) == conversion(one.conn)
    finally:
        one.close()
        batched.close()


def test_the_table_has_no_column_for_who_asked_or_their_car() -> None:
    columns = BY_NAME["fact_online_bookings"].column_names
    assert not {"name", "phone", "vin", "plate", "note", "reason", "vehicle"} & set(columns)


def test_the_conversion_by_store_channel_and_weekday_adds_up_to_the_total(
        container: Container, tmp_path: Path) -> None:
    """July 2025, two stores: A's three requests (two by wechat-mp, one by website) and B's
    one (website); slots on Tuesday 8 and Wednesday 9 July."""
    bookings: OnlineBookings = service(container.api_context())
    a, b = (Shop(container, name + uuid.uuid4().hex[:6].upper()) for name in ("OA", "OB"))
    made_on = "2025-07-07"
    for shop in (a, b):
        container.appointments.plan_capacity(
            shop.r("manager", at(made_on, "00:30")), store_id=shop.store, from_day=made_on,
            to_day="2025-07-09", opens="08:00", closes="18:00", bays=2,
            skill_hours={"maintenance": 16})

    def made(shop: Shop, channel: str, hhmm: str, day: str, arrival: str) -> UUID:
        return UUID(bookings.request(
            shop.r("booking_channel", at(made_on, hhmm), user=channel), store_id=shop.store,
            name=NAME, phone=PHONE, vin=None, plate=PLATE, day=day, arrival=arrival,
            services=[{"description": "oil change"}], note=None).body["booking_id"])

    # A: wechat-mp for Tuesday, confirmed after 1.00 h; website for Wednesday, declined after
    # 2.00 h; wechat-mp for Wednesday, never answered (expired by the clock)
    bookings.confirm(a.r("advisor", at(made_on, "02:00")),
                     made(a, "wechat-mp", "01:00", "2025-07-08", "09:00"), vin=make_vin(a.rng))
    bookings.decline(a.r("advisor", at(made_on, "03:30")),
                     made(a, "website", "01:30", "2025-07-09", "10:00"), reason=REASONS[0])
    made(a, "wechat-mp", "02:00", "2025-07-09", "10:30")
    # B: website for Tuesday, confirmed after 0.50 h
    bookings.confirm(b.r("advisor", at(made_on, "01:30")),
                     made(b, "website", "01:00", "2025-07-08", "09:00"), vin=make_vin(b.rng))
    loader = AnalyticsLoader(container.app, tmp_path / "a.duckdb")
    counts = ("requests", "confirmed", "declined", "cancelled", "expired", "waiting",
              "arrived", "answered")
    try:
        loader.catch_up()

        def rows(by: str | None) -> list[dict[str, object]]:
            return run(loader.conn, "online_booking_conversion", Filters(
                date_from=date(2025, 7, 1), date_to=date(2025, 7, 31), by=by))["rows"]

        (total,) = rows(None)
        assert {k: total[k] for k in counts} == {
            "requests": 4, "confirmed": 2, "declined": 1, "cancelled": 0, "expired": 1,
            "waiting": 0, "arrived": 0, "answered": 3}
        per_store = {r["store_id"]: r for r in rows("store")}
        assert {s: (r["requests"], r["confirmed"], r["declined"], r["expired"])
                for s, r in per_store.items()} == {a.store: (3, 1, 1, 1), b.store: (1, 1, 0, 0)}
        assert per_store[a.store]["confirmation_rate"] == D("0.3333")
        per_channel = {r["channel"]: r for r in rows("channel")}
        assert {c: (r["requests"], r["confirmed"], r["declined"], r["expired"])
                for c, r in per_channel.items()} == {"website": (2, 1, 1, 0),
                                                     "wechat-mp": (2, 1, 0, 1)}
        # website answered after 2.00 h (A) and 0.50 h (B): median 1.25
        assert per_channel["website"]["median_hours_to_answer"] == D("1.25")
        per_day = rows("weekday")
        assert [r["weekday"] for r in per_day] == [
            "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
        assert [(r["requests"], r["confirmed"]) for r in per_day] == [
            (0, 0), (2, 2), (2, 0), (0, 0), (0, 0), (0, 0), (0, 0)]
        assert per_day[0]["conversion"] is None and per_day[0]["median_hours_to_answer"] is None
        for by in ("store", "channel", "weekday"):
            for column in counts:
                assert sum(int(str(r[column])) for r in rows(by)) == total[column], (by, column)
        for wrong in ("slot", "Store", "category"):
            with pytest.raises(InvalidInput) as refused:
                rows(wrong)
            assert refused.value.extra["field"] == "by"
    finally:
        loader.close()
