"""Lists that read every row and cut the page in Python now ask the database for the page:
the service plans and the technicians (same `{total, limit, offset, items}` as before)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from domain.days import FIRST_DAY, LAST_DAY
from projections.customer_queries import list_plans
from projections.workshop_queries import technicians_page
from servicecore.container import Container

Auth = Callable[..., dict[str, str]]
EVERY_DAY = (FIRST_DAY, LAST_DAY)


def saved(response: Any) -> int:
    assert response.status_code in (200, 201), response.text
    return int(response.json()["notification_id"])


def test_service_plans_are_paged_by_the_database(client: TestClient, auth: Auth,
                                                 container: Container) -> None:
    manager = auth("manager", "mgr-wu")
    brand = "Brand" + uuid.uuid4().hex[:8]
    for model in ("C7", "A3", "B5"):
        last = saved(client.post("/reminders/plans", headers=manager, json={
            "brand": brand, "model": model, "months": 12, "km": 10000}))
    everything = client.get("/reminders/plans", headers=manager,
                            params={"limit": 1000, "wait_for": last}).json()
    mine = [p["model"] for p in everything["items"] if p["brand"] == brand]
    assert mine == ["A3", "B5", "C7"]
    first = everything["items"].index(next(p for p in everything["items"]
                                           if p["brand"] == brand))
    page = client.get("/reminders/plans", headers=manager,
                      params={"limit": 2, "offset": first + 1}).json()
    assert page == {"total": everything["total"], "limit": 2, "offset": first + 1,
                    "items": everything["items"][first + 1:first + 3]}
    with container.pool.connection() as conn:
        asked = list_plans(conn, limit=2, offset=first + 1)
    assert [p["model"] for p in asked["items"]] == ["B5", "C7"]
    assert asked["total"] == everything["total"]
    with container.pool.connection() as conn:
        beyond = list_plans(conn, limit=5, offset=everything["total"])
    assert beyond["items"] == [] and beyond["total"] == everything["total"]


def test_technicians_are_paged_by_the_database(client: TestClient, auth: Auth,
                                               container: Container, store_id: str) -> None:
    manager = auth("manager", "mgr-wu", [store_id])
    for user in ("tech-c", "tech-a", "tech-b"):
        last = saved(client.post(f"/technicians/{user}-{store_id}/profile", headers=manager,
                                 json={"store_id": store_id, "skills": {"engine": 2},
                                       "hourly_cost": "80.00"}))
    page = client.get("/technicians", headers=manager, params={
        "store_id": store_id, "limit": 2, "offset": 1, "wait_for": last}).json()
    assert page["total"] == 3 and page["limit"] == 2 and page["offset"] == 1
    assert [t["user_id"] for t in page["items"]] == [f"tech-b-{store_id}", f"tech-c-{store_id}"]
    with container.pool.connection() as conn:
        asked = technicians_page(conn, [store_id], store_id=None, days=EVERY_DAY, limit=1,
                                 offset=0)
        none = technicians_page(conn, ["elsewhere"], store_id=store_id, days=EVERY_DAY,
                                limit=10, offset=0)
    assert asked["total"] == 3 and [t["user_id"] for t in asked["items"]] == [
        f"tech-a-{store_id}"]
    assert none == {"total": 0, "limit": 10, "offset": 0, "items": []}
