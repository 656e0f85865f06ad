"""The customer 360's visits name the car by its plate (they carried the vehicle's id only):
the car's plate as the store's vehicle file holds it now, in the 360 and its paged list."""

from __future__ import annotations

import random
from collections.abc import Callable

from fastapi.testclient import TestClient

from servicecore.demo import make_vin
from tests.e2e.test_parts_api import get, head, post

Auth = Callable[..., dict[str, str]]


def test_the_customers_visits_carry_the_cars_plate(client: TestClient, auth: Auth,
                                                   store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    rng = random.Random("visit-plates-" + store_id)
    first = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "郑洁", "phone": "13933334444"},
        "vehicle": {"vin": make_vin(rng), "plate": "沪G11111"}, "mileage": 8000,
        "complaints": ["oil service"]}, 201)
    customer_id = first["customer_id"]
    post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer_id": customer_id,
        "vehicle": {"vin": make_vin(rng), "plate": "沪G22222"}, "mileage": 51000,
        "complaints": ["brake noise"]}, 201)

    whole = get(client, f"/customers/{customer_id}", advisor, wait_for=head(client))
    assert sorted(v["plate"] for v in whole["visits"]["items"]) == ["沪G11111", "沪G22222"]
    listed = get(client, f"/customers/{customer_id}/visits", advisor)["items"]
    assert {v["work_order_id"]: v["plate"] for v in listed}[first["id"]] == "沪G11111"
    assert all(v["vehicle_id"] for v in listed)
