"""The desk types a plate without its province character: switching the input method to type 沪
costs a keystroke or two, so the advisor types `A12345` (or `a12345`, `A·12345`). The customer
lookup and the vehicle search found nothing for it; they now find the cars whose current plate
it ends, in any province, and the lookup still finds a name starting so."""

from __future__ import annotations

import random
from collections.abc import Callable

from fastapi.testclient import TestClient

from servicecore.demo import make_vin
from tests.e2e.test_front_desk_api import get, head, post

Auth = Callable[..., dict[str, str]]


def test_a_plate_typed_without_its_province_finds_the_car_and_its_owner(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    rng = random.Random("plate-rest-" + store_id)
    rest = f"F{rng.randrange(10**4, 10**5)}"  # a plate's rest no other test uses
    owners = {}
    for province, name in (("沪", "钱进"), ("苏", "周红")):
        customer = post(client, "/customers", advisor, {
            "store_id": store_id, "name": name,
            "phones": [f"139{rng.randrange(10**8):08d}"]}, 201)["id"]
        vin = make_vin(rng)
        post(client, "/vehicles", advisor, {"store_id": store_id, "vin": vin,
                                            "plate": province + rest, "owner_id": customer}, 201)
        owners[province + rest] = (customer, vin)
    other = make_vin(rng)  # a car whose plate merely contains the digits
    post(client, "/vehicles", advisor, {"store_id": store_id, "vin": other,
                                        "plate": f"沪{rest}D"}, 201)
    wait = head(client)
    for typed in (rest, rest.lower(), f"{rest[0]}·{rest[1:]}", f"{rest[0]} {rest[1:]}"):
        cars = get(client, "/vehicles", advisor, q=typed, wait_for=wait)["items"]
        assert sorted(v["plate"] for v in cars) == sorted(owners), typed
        people = get(client, "/customers", advisor, q=typed)["items"]
        assert sorted(c["id"] for c in people) == sorted(c for c, _ in owners.values()), typed
    # With the province, one car and one owner, as before.
    [car] = get(client, "/vehicles", advisor, q="苏" + rest)["items"]
    assert car["vin"] == owners["苏" + rest][1]
    # A name is still a name: a Latin one has no digit, so it is never a plate.
    named = post(client, "/customers", advisor, {
        "store_id": store_id, "name": "Wangli Trading", "kind": "company",
        "phones": [f"138{rng.randrange(10**8):08d}"]}, 201)["id"]
    found = get(client, "/customers", advisor, q="WANGLI", wait_for=head(client))["items"]
    assert [c["id"] for c in found] == [named]
