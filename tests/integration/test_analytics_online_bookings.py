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

from analytics.kpis import Filters, run
from analytics.schema import BY_NAME
from api.routes.online_bookings import service
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
