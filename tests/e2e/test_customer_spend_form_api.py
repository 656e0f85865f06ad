"""Amounts of money have two decimals in every answer: a customer with no visit in the last 12
months was listed by the lookup with `spend_12m` "0" (and the customer 360 with
`last_12_months` "0"), where every other customer's was "1030.00"."""

from __future__ import annotations

import random
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.e2e.test_front_desk_api import get, head, post

Auth = Callable[..., dict[str, str]]


def test_a_customer_without_visits_has_spent_0_00(client: TestClient, auth: Auth,
                                                  store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    phone = f"135{random.Random(store_id).randrange(10**8):08d}"
    customer = post(client, "/customers", advisor, {"store_id": store_id, "name": "冯晓",
                                                    "phones": [phone]}, 201)["id"]
    [found] = get(client, "/customers", advisor, q=phone, wait_for=head(client))["items"]
    assert (found["id"], found["spend_12m"], found["visits_12m"]) == (customer, "0.00", 0)
    seen = get(client, f"/customers/{customer}", advisor)
    assert seen["spend"] == {"total": "0.00", "last_12_months": "0.00"}
