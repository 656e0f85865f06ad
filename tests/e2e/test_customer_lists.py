"""The customer 360 of a fleet: a taxi company brings hundreds of cars and, over the years,
thousands of visits and complaints. The 360 read every visit, vehicle and complaint and
listed them all (the visits were read whole to show 50); it now lists the first 50 of each,
counts them all, and `GET /customers/{id}/{list}` pages through the rest."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient

from projections.customer_queries import SECTION_ITEMS, TagRules, customer_360
from servicecore.container import Container
from tests.e2e.test_parts_api import get, head, post
from tests.integration.audit_support import new_vin

Auth = Callable[..., dict[str, str]]


def test_a_fleets_vehicles_are_listed_50_at_a_time(client: TestClient, auth: Auth,
                                                   store_id: str) -> None:
    desk = auth("advisor", "adv-li", [store_id])
    fleet = post(client, "/customers", desk, {"store_id": store_id, "kind": "company",
                                              "name": "强生出租", "phones": ["13900000009"]},
                 201)["id"]
    vins = sorted(new_vin() for _ in range(SECTION_ITEMS + 3))
    for vin in vins:
        post(client, "/vehicles", desk, {"store_id": store_id, "vin": vin, "owner_id": fleet},
             201)
    whole = get(client, f"/customers/{fleet}", desk, wait_for=head(client))
    assert whole["vehicles_count"] == SECTION_ITEMS + 3
    assert [v["vin"] for v in whole["vehicles"]] == vins[:SECTION_ITEMS]
    assert (whole["visits"]["count"], whole["visits"]["items"]) == (0, [])
    assert (whole["complaints_count"], whole["open_work_orders_count"],
            whole["appointments_count"]) == (0, 0, 0)
    rest = get(client, f"/customers/{fleet}/vehicles", desk, offset=SECTION_ITEMS)
    assert (rest["total"], rest["offset"]) == (SECTION_ITEMS + 3, SECTION_ITEMS)
    assert [v["vin"] for v in rest["items"]] == vins[SECTION_ITEMS:]
    assert all(v["owned"] for v in rest["items"])
    for section in ("visits", "open-work-orders", "complaints", "appointments",
                    "points-history"):
        assert get(client, f"/customers/{fleet}/{section}", desk)["total"] == 0
    # Bounded like every list; another store's customer, or none, is not found.
    too_many = client.get(f"/customers/{fleet}/vehicles", headers=desk, params={"limit": 1001})
    assert too_many.status_code == 422, too_many.text
    assert [e["loc"] for e in too_many.json()["errors"]] == [["query", "limit"]]
    elsewhere = auth("advisor", "adv-2", ["S-OTHER"])
    assert client.get(f"/customers/{fleet}/vehicles", headers=elsewhere).status_code == 404
    assert client.get(f"/customers/{uuid.uuid4()}/visits", headers=desk).status_code == 404
    assert client.get(f"/customers/{fleet}/points", headers=desk).status_code == 422


def test_years_of_visits_and_complaints_are_counted_not_all_listed(container: Container,
                                                                   store_id: str) -> None:
    """Rows written straight into the read model in one transaction, rolled back after."""
    customer_id, now = uuid.uuid4(), datetime.now(UTC)
    visits = 3 * SECTION_ITEMS
    with container.pool.connection() as conn, conn.transaction(force_rollback=True):
        conn.execute("""INSERT INTO customers (id, store_id, kind, name, phones, erased,
            consent, lots, registered_at, updated_at, version) VALUES (%s, %s, 'company',
            '强生出租', ARRAY['13900000009'], false, '{}', '[]', now(), now(), 1)""",
                     (customer_id, store_id))
        for n in range(visits):
            opened = now - timedelta(days=n)
            conn.execute("""INSERT INTO visits (work_order_id, number, store_id, customer_id,
                vehicle_id, kind, status, opened_at, mileage, complaints, customer_total,
                refunded) VALUES (%s, %s, %s, %s, %s, 'paid', %s, %s, 1000, '{}', '100.00',
                %s)""", (uuid.uuid4(), f"WO-{n}", store_id, customer_id, uuid.uuid4(),
                         "in_progress" if n % 2 else "closed", opened, "10.00" if n < 4 else 0))
            conn.execute("""INSERT INTO customer_complaints (id, customer_id, store_id,
                description, status, opened_at) VALUES (%s, %s, %s, 'noise', 'opened', %s)""",
                         (uuid.uuid4(), customer_id, store_id, opened))
            conn.execute("""INSERT INTO customer_points (customer_id, notification_id, at, kind,
                points, reference, by_user) VALUES (%s, %s, %s, 'earned', 10, %s, 'cash-1')""",
                         (customer_id, -n - 1, opened, f"WO-{n}"))
        found = customer_360(conn, customer_id, [store_id], rules=TagRules(),
                             today=now.date())
    assert found is not None
    assert found["visits"]["count"] == visits
    assert len(found["visits"]["items"]) == SECTION_ITEMS
    assert found["visits"]["items"][0]["number"] == "WO-0"  # the latest first
    assert found["visits"]["last_at"] == now
    assert Decimal(found["spend"]["total"]) == Decimal(100 * visits - 40)
    assert (found["open_work_orders_count"], len(found["open_work_orders"])) == (
        visits // 2, SECTION_ITEMS)
    assert (found["complaints_count"], len(found["complaints"])) == (visits, SECTION_ITEMS)
    history = found["points"]["history"]
    assert (found["points"]["history_count"], len(history)) == (visits, SECTION_ITEMS)
    assert history[0]["reference"] == "WO-0"  # the latest first
