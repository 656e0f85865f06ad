"""The front desk types with a Chinese input method: a VIN, plate, phone or part number in
full-width letters and digits is the ASCII one, kept in its ASCII form and found typed either
way."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain import customers, part
from servicecore.demo import make_vin
from tests.e2e.test_parts_api import head

Auth = Callable[..., dict[str, str]]


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def post(client: TestClient, path: str, headers: dict[str, str], body: Any,
         status: int = 200) -> dict[str, Any]:
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def get(client: TestClient, path: str, headers: dict[str, str], **params: Any) -> Any:
    response = client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_car_and_its_owner_typed_in_full_width(client: TestClient, auth: Auth,
                                                 store_id: str) -> None:
    advisor = auth("advisor", "adv-wide", [store_id])
    rng = random.Random(store_id + "wide")
    vin = make_vin(rng)
    plate = "沪C" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(5))
    phone = f"137{rng.randrange(10**8):08d}"

    # The customer's mobile typed in full width is kept as its ASCII digits.
    customer = post(client, "/customers", advisor, {
        "store_id": store_id, "name": "赵敏", "phones": [f"\u3000{full_width(phone)}\u3000"]},
        201)
    cid = customer["id"]

    # The car, VIN and plate typed in full width (lower case too), is kept in ASCII.
    registered = post(client, "/vehicles", advisor, {
        "store_id": store_id, "vin": full_width(vin.lower()), "plate": full_width(plate),
        "brand": "Volkswagen", "model": "Lavida", "owner_id": cid}, 201)
    assert registered["vin"] == vin
    wait = head(client)
    file = get(client, f"/vehicles/{vin}", advisor, wait_for=wait)
    assert file["vin"] == vin and file["plate"] == plate
    assert get(client, f"/vehicles/{full_width(vin)}", advisor)["vin"] == vin

    # Registered again in ASCII it is the same car: refused as any second registration is.
    again = client.post("/vehicles", headers=advisor, json={
        "store_id": store_id, "vin": vin, "plate": plate, "owner_id": cid})
    assert again.status_code == 409 and "already registered" in again.json()["detail"]

    # One key finds her typed either way: the plate, the phone, its last digits, the VIN.
    for key in (plate, full_width(plate), phone, full_width(phone),
                f"\u3000{full_width(phone)}", full_width(phone[-4:]), full_width(vin)):
        found = get(client, "/customers", advisor, q=key, wait_for=wait)
        assert [c["id"] for c in found["items"]] == [cid], key
    hit = get(client, "/customers", advisor, q=phone)["items"][0]
    assert hit["phones"] == [phone] and hit["plates"] == [plate]

    # The vehicle lookup takes the full-width forms too.
    for key in (full_width(plate), full_width(vin[:10])):
        assert [v["vin"] for v in get(client, "/vehicles", advisor, q=key)["items"]] == [vin]

    # A visit opened for the car typed in full width is the car's, and listed by either form.
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "赵敏", "phone": phone},
        "vehicle": {"vin": full_width(vin), "plate": full_width(plate)}, "mileage": 12000,
        "complaints": ["oil change"]}, 201)
    wait = head(client)
    for filters in ({"plate": full_width(plate)}, {"vin": full_width(vin.lower())},
                    {"plate": plate}):
        listed = get(client, "/work-orders", advisor, wait_for=wait, **filters)
        assert [w["id"] for w in listed["items"]] == [opened["id"]], filters


def test_a_part_number_and_barcode_typed_in_full_width(client: TestClient, auth: Auth) -> None:
    clerk = auth("parts_clerk", "clerk-wide")
    number = "FW" + uuid.uuid4().hex[:8].upper()
    barcode = "69" + str(uuid.uuid4().int)[:11]

    # A part registered with its number and barcode in full width keeps them in ASCII.
    post(client, "/parts", clerk, {
        "part_number": f"\u3000{full_width(number)}", "name": "oil filter", "unit": "pc",
        "category": "maintenance", "list_price": "45.00", "barcode": full_width(barcode)}, 201)
    wait = head(client)
    part = get(client, f"/parts/{full_width(number)}", clerk, wait_for=wait)
    assert (part["part_number"], part["barcode"]) == (number, barcode)

    # Registered again in ASCII it is the same part.
    again = client.post("/parts", headers=clerk, json={
        "part_number": number, "name": "oil filter", "unit": "pc", "category": "maintenance",
        "list_price": "45.00"})
    assert again.status_code == 409, again.text

    # The part search finds it by number or barcode typed either way.
    for key in (number, full_width(number), full_width(number[:6]), barcode,
                full_width(barcode)):
        found = get(client, "/parts", clerk, q=key)
        assert [p["part_number"] for p in found["items"]] == [number], key


def test_a_phone_and_a_barcode_kept_in_full_width_before_are_found(
        client: TestClient, auth: Auth, store_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A phone or barcode in full width was taken as typed before: its events stay as they are,
    and the read models keep its ASCII form, so the desk finds it typed either way."""
    advisor = auth("advisor", "adv-wide", [store_id])
    clerk = auth("parts_clerk", "clerk-wide")
    phone = f"136{random.Random(store_id + 'old').randrange(10**8):08d}"
    number = "FW" + uuid.uuid4().hex[:8].upper()
    barcode = "69" + str(uuid.uuid4().int)[:11]

    # As before: the phone's digits taken as typed, the barcode stored as typed.
    with monkeypatch.context() as before:
        # (the command's step alone: the read models, running meanwhile, read a phone with
        # `normalise_phone` as it is now)
        before.setattr(customers, "_phones", lambda raw: [p.strip() for p in raw])
        before.setattr(part, "ascii_width", lambda text: text)
        cid = post(client, "/customers", advisor, {
            "store_id": store_id, "name": "周芷若", "phones": [full_width(phone)]}, 201)["id"]
        post(client, "/parts", clerk, {
            "part_number": number, "name": "air filter", "unit": "pc",
            "category": "maintenance", "list_price": "60.00",
            "barcode": full_width(barcode)}, 201)
    wait = head(client)

    for key in (phone, full_width(phone), phone[-4:]):
        found = get(client, "/customers", advisor, q=key, wait_for=wait)
        assert [c["id"] for c in found["items"]] == [cid], key
    assert get(client, f"/customers/{cid}", advisor)["phones"] == [phone]
    for key in (barcode, full_width(barcode)):
        found = get(client, "/parts", clerk, q=key, wait_for=wait)
        assert [p["part_number"] for p in found["items"]] == [number], key
