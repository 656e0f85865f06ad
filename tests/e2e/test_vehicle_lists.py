"""The vehicle file of a taxi: years of visits, odometer readings and reminder outcomes. The
file listed every one of them; it now lists at most 50 of each, counts them all
(`<list>_count`), and `GET /vehicles/{vin}/visits`, `/mileage-readings`, `/reminders` and
`/prior-visits` page through all of them in the file's order, every list newest first."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from domain.work_orders import vehicle_id
from projections.customer_queries import VEHICLE_ITEMS, vehicle_detail, vehicle_section
from servicecore.container import Container
from tests.e2e.test_api_contract import opening
from tests.e2e.test_parts_api import get, head, post
from tests.e2e.test_prior_visits_api import visit
from tests.integration.audit_support import new_vin

Auth = Callable[..., dict[str, str]]
LISTS = ("visits", "mileage-readings", "reminders", "prior-visits")


def test_years_of_visits_readings_and_reminders_are_counted_not_all_listed(
        container: Container, store_id: str) -> None:
    """Rows written straight into the read model in one transaction, rolled back after."""
    vin, now, many = new_vin(), datetime.now(UTC), 3 * VEHICLE_ITEMS
    car = vehicle_id(vin)
    with container.pool.connection() as conn, conn.transaction(force_rollback=True):
        conn.execute("""INSERT INTO vehicles (id, vin, store_id, registered, plates, owners,
            first_seen, updated_at) VALUES (%s, %s, %s, true, '[]', '[]', now(), now())""",
                     (car, vin, store_id))
        for n in range(many):  # n days ago
            at = now - timedelta(days=n)
            conn.execute("""INSERT INTO visits (work_order_id, number, store_id, customer_id,
                vehicle_id, kind, status, opened_at, mileage, complaints, customer_total,
                refunded) VALUES (%s, %s, %s, %s, %s, 'paid', 'closed', %s, %s, '{}',
                '100.00', 0)""", (uuid.uuid4(), f"WO-{n}", store_id, uuid.uuid4(), car, at,
                                  100_000 - n))
            conn.execute("""INSERT INTO vehicle_readings (vehicle_id, work_order_id, source,
                at, on_day, km) VALUES (%s, %s, 'opening', %s, %s, %s)""",
                         (car, uuid.uuid4(), at, at.date(), 100_000 - n))
            conn.execute("""INSERT INTO reminder_outcomes (notification_id, vehicle_id, due_on,
                outcome, by_user, at) VALUES (%s, %s, %s, 'no_answer', 'adv-1', %s)""",
                         (-10**9 - n, car, at.date(), at))
        found = vehicle_detail(conn, car, [store_id])
        pages = {name: [row for offset in range(0, many, 40) for row in vehicle_section(
            conn, car, name, limit=40, offset=offset)["items"]]
            for name in ("visits", "mileage_readings", "reminders")}
        assert vehicle_detail(conn, car, ["S-OTHER"]) is None
    assert found is not None
    assert (found["visits_count"], found["mileage_readings_count"],
            found["reminders_count"], found["prior_visits_count"]) == (many, many, many, 0)
    # Visits newest first: the first 50.
    assert [v["number"] for v in found["visits"]] == [f"WO-{n}" for n in range(VEHICLE_ITEMS)]
    # Readings and reminder outcomes newest first too, as the customer 360's lists: the
    # latest 50, the first the latest.
    assert [r["km"] for r in found["mileage_readings"]] == [
        100_000 - n for n in range(VEHICLE_ITEMS)]
    assert [r["at"] for r in found["reminders"]] == [
        now - timedelta(days=n) for n in range(VEHICLE_ITEMS)]
    # The pages hold every row once, in the file's order: the file's are the first page.
    assert [v["number"] for v in pages["visits"]] == [f"WO-{n}" for n in range(many)]
    assert [r["km"] for r in pages["mileage_readings"]] == [100_000 - n for n in range(many)]
    assert [r["at"] for r in pages["reminders"]] == [
        now - timedelta(days=n) for n in range(many)]
    assert pages["mileage_readings"][:VEHICLE_ITEMS] == found["mileage_readings"]
    assert pages["reminders"][:VEHICLE_ITEMS] == found["reminders"]


def test_the_vehicle_files_lists_page_over_http_within_the_stores_scope(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    vin, imported = new_vin(), VEHICLE_ITEMS + 3
    refs = [f"DMS-{n:03d}" for n in range(imported)]
    for n, ref in enumerate(refs):  # one a day, the latest last
        day = (datetime(2020, 1, 1) + timedelta(days=n)).date().isoformat()
        post(client, f"/vehicles/{vin}/prior-visits", manager,
             visit(store_id, source_ref=ref, date_in=day, date_out=day,
                   mileage_in=10_000 + n), 201)
    post(client, "/work-orders", advisor,
         opening(store_id, vehicle={"vin": vin}, mileage=90_000), 201)
    car = get(client, f"/vehicles/{vin}", advisor, wait_for=head(client))
    assert (car["prior_visits_count"], len(car["prior_visits"])) == (imported, VEHICLE_ITEMS)
    assert [v["source_ref"] for v in car["prior_visits"]] == refs[::-1][:VEHICLE_ITEMS]
    assert (car["visits_count"], car["mileage_readings_count"], car["reminders_count"]) == (
        1, len(car["mileage_readings"]), 0)
    # Page by page, every imported visit once, latest first.
    paged = [get(client, f"/vehicles/{vin}/prior-visits", advisor, limit=20, offset=offset)
             for offset in range(0, imported, 20)]
    assert {(p["total"], p["limit"]) for p in paged} == {(imported, 20)}
    assert [v["source_ref"] for p in paged for v in p["items"]] == refs[::-1]
    [seen] = get(client, f"/vehicles/{vin}/visits", advisor)["items"]
    assert seen["mileage"] == 90_000 and seen["number"] == car["visits"][0]["number"]
    readings = get(client, f"/vehicles/{vin}/mileage-readings", advisor)
    assert (readings["total"], readings["limit"], readings["items"]) == (
        car["mileage_readings_count"], 50, car["mileage_readings"])
    assert get(client, f"/vehicles/{vin}/reminders", advisor)["total"] == 0
    # Bounded like every list; another store's car, or none, is not found, as its file.
    too_many = client.get(f"/vehicles/{vin}/visits", headers=advisor, params={"limit": 501})
    assert too_many.status_code == 422, too_many.text
    elsewhere = auth("advisor", "adv-2", ["S-OTHER"])
    for name in LISTS:
        assert client.get(f"/vehicles/{vin}/{name}", headers=elsewhere).status_code == 404
        assert client.get(f"/vehicles/{new_vin()}/{name}", headers=advisor).status_code == 404
