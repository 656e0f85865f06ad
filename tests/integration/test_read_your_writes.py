"""`?wait_for=`: answered from the runners' position announcements, never wrongly early."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import psycopg
from fastapi.testclient import TestClient

from api.auth import mint_token
from projections.base import POSITIONS_CHANNEL
from projections.stock_queries import get_stock
from servicecore.container import Container
from tests.conftest import JWT_SECRET
from tests.integration.kafka_support import wait_until

Auth = Callable[..., dict[str, str]]


def _new_part(client: TestClient, clerk: dict[str, str]) -> str:
    number = "RW" + uuid.uuid4().hex[:8].upper()
    answer = client.post("/parts", headers=clerk, json={
        "part_number": number, "name": "cabin filter", "unit": "pc", "category": "maintenance",
        "list_price": "80.00"})
    assert answer.status_code == 201, answer.text
    return number


def test_every_receipt_is_read_back_at_once_with_its_notification_id(
        client: TestClient, container: Container, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    number = _new_part(client, clerk)
    # A clerk books ten deliveries, reading the stock item back after each with ?wait_for=:
    # every read shows the delivery just booked (the read model had applied it).
    for n in range(1, 11):
        booked = client.post(f"/stock/{store_id}/{number}/receipts", headers=clerk, json={
            "qty": 1, "unit_cost": "40.00", "supplier": "Mann", "supplier_doc": f"DN-{n}"})
        assert booked.status_code == 201, booked.text
        nid = booked.json()["notification_id"]
        item = client.get(f"/stock/{store_id}/{number}?wait_for={nid}", headers=clerk)
        assert item.status_code == 200, item.text
        assert float(item.json()["on_hand"]) == n
        assert len(item.json()["lots"]) == n
        # The process now knows the stock projection reached it (no table read needed next).
        assert container.positions.known("stock") >= nid
    # The same query function on a plain (thread-pool) connection answers the same item.
    with container.pool.connection() as conn:
        same = get_stock(conn, [store_id], store_id, number)
        assert get_stock(conn, ["OTHER"], store_id, number) is None
    assert same is not None
    assert [lot["lot_id"] for lot in same["lots"]] == [lot["lot_id"] for lot in item.json()["lots"]]
    assert same["version"] == item.json()["version"] and same["reservations"] == []


def test_a_work_order_is_read_back_with_its_notification_id_and_no_stale_flag(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", stores=[store_id])
    opened = client.post("/work-orders", headers=advisor, json={
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800138000"},
        "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪A12345", "brand": "VW",
                    "model": "Lavida", "year": 2022},
        "mileage": 42_000, "complaints": ["brake noise"]})
    assert opened.status_code == 201, opened.text
    body = opened.json()
    read = client.get(f"/work-orders/{body['id']}?wait_for={body['notification_id']}",
                      headers=advisor)
    assert read.status_code == 200, read.text
    assert "X-Read-Model-Stale" not in read.headers
    assert read.json()["number"] == body["number"]
    assert read.headers["ETag"] == f'"{read.json()["version"]}"'


def test_an_id_beyond_the_head_is_not_waited_for(client: TestClient, auth: Auth,
                                                 store_id: str) -> None:
    advisor = auth("advisor", stores=[store_id])
    missing = uuid.uuid4()
    # No command was ever answered with this id: the read answers (stale) instead of waiting.
    read = client.get(f"/work-orders/{missing}?wait_for={2**62}", headers=advisor)
    assert read.status_code == 404
    clerk = auth("parts_clerk", stores=[store_id])
    number = _new_part(client, clerk)
    stock = client.get(f"/stock/{store_id}/{number}?wait_for={2**62}", headers=clerk)
    assert stock.status_code == 404  # no receipt yet: nothing in stock, after no wait


def test_the_listener_hears_positions_announced_by_any_process(container: Container) -> None:
    positions = container.positions
    positions.start()
    wait_until(lambda: positions.listening, 30, "the positions listener to connect")
    name = "probe_" + uuid.uuid4().hex[:8]
    # Another process (here: a plain connection) moves a position and says so on commit.
    with psycopg.connect(container.database_url, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_notify(%s, %s)", (POSITIONS_CHANNEL, f"{name}:41"))
        conn.execute("SELECT pg_notify(%s, %s)", (POSITIONS_CHANNEL, f"{name}:42"))
        assert positions.known(name) == 0  # not before the commit
    wait_until(lambda: positions.known(name) == 42, 30, "the announcement to be heard")
    # A lower position heard later never moves it back.
    with psycopg.connect(container.database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_notify(%s, %s)", (POSITIONS_CHANNEL, f"{name}:7"))
        conn.execute("SELECT pg_notify(%s, %s)", (POSITIONS_CHANNEL, f"{name}:43"))
    wait_until(lambda: positions.known(name) == 43, 30, "the next announcement")


def test_a_verified_token_is_refused_once_it_expires(client: TestClient, store_id: str) -> None:
    # 2 s: `iat` is in whole seconds, so a 1 s token minted late in a second could expire
    # before its first use on a busy machine; this one lives at least 1 s.
    token = mint_token(JWT_SECRET, "adv-short", "advisor", [store_id], ttl_seconds=2)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/work-orders", headers=headers).status_code == 200
    time.sleep(3.1)  # the token's expiry passes (its verification was kept meanwhile)
    refused = client.get("/work-orders", headers=headers)
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
