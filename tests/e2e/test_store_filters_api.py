"""A token of several stores lists one store's work orders and purchase orders: both lists take
`store_id` (the purchase orders answered 422 "Unknown query parameter"), scoped to the token's
stores as every list's `store_id` is — another store's is an empty page, never its rows."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from servicecore.demo import make_vin
from tests.e2e.test_parts_api import head, new_part, post

Auth = Callable[..., dict[str, str]]


def _listed(client: TestClient, path: str, headers: dict[str, str], **params: Any) -> Any:
    response = client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_group_token_lists_one_stores_work_orders_and_purchase_orders(
        client: TestClient, auth: Auth, store_id: str) -> None:
    other = store_id + "B"
    stores = [store_id, other]
    advisor = auth("advisor", "adv-" + store_id, stores)
    clerk = auth("parts_clerk", "clerk-" + store_id, stores)
    number = new_part(client, clerk)
    visits, orders = {}, {}
    for store in stores:
        visits[store] = post(client, "/work-orders", advisor, {
            "store_id": store, "customer": {"name": "周敏", "phone": "13544445555"},
            "vehicle": {"vin": make_vin(random.Random("filters" + store)), "plate": "沪F12345"},
            "mileage": 12000, "complaints": ["oil service"]}, 201)["id"]
        orders[store] = post(client, "/purchase-orders", clerk, {
            "store_id": store, "supplier": "S",
            "lines": [{"part_number": number, "qty": "2", "unit_cost": "100.00"}]}, 201)["id"]
    manager = auth("manager", "mgr-" + store_id, stores)
    after = head(client)

    for path, made in (("/work-orders", visits), ("/purchase-orders", orders)):
        both = _listed(client, path, manager, wait_for=after)
        assert {made[s] for s in stores} <= {x["id"] for x in both["items"]}
        for store in stores:
            one = _listed(client, path, manager, store_id=store)
            assert [(x["id"], x["store_id"]) for x in one["items"]] == [(made[store], store)]
            assert one["total"] == 1
        # A store the token does not cover: none of its rows.
        elsewhere = auth("manager", "mgr-x", [store_id + "X"])
        nothing = _listed(client, path, elsewhere, store_id=store_id)
        assert {k: nothing[k] for k in ("total", "limit", "offset", "items")} == {
            "total": 0, "limit": 50, "offset": 0, "items": []}
        assert nothing.get("open_value", "0.00") == "0.00"  # the orders': nothing owed
