"""A walk-in's phone, typed in full width, with blanks or in ASCII, is one phone: kept as a
registered customer's, and the front desk's search by phone (`/work-orders?customer_phone=`,
`/customers?q=`) finds every visit of it typed any way, those opened before it was kept so too."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain import work_orders
from servicecore.demo import make_vin
from tests.e2e.test_full_width_ids_api import full_width, get, head, post

Auth = Callable[..., dict[str, str]]


def as_typed(raw: str, field: str | None = None) -> str:
    """A walk-in's phone as it was read before: as typed."""
    return raw


def spaced(phone: str) -> str:
    return f"{phone[:3]} {phone[3:7]} {phone[7:]}"


def open_walk_in(client: TestClient, advisor: dict[str, str], store_id: str, rng: random.Random,
                 phone: str) -> str:
    return str(post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "张无忌", "phone": phone},
        "vehicle": {"vin": make_vin(rng)}, "mileage": 30_000,
        "complaints": ["oil change"]}, 201)["id"])


def found(client: TestClient, advisor: dict[str, str], wait: int, phone: str) -> set[str]:
    listed = get(client, "/work-orders", advisor, customer_phone=phone, wait_for=wait)
    return {item["id"] for item in listed["items"]}


def customers_found(client: TestClient, advisor: dict[str, str], wait: int,
                    key: str) -> list[dict[str, Any]]:
    return get(client, "/customers", advisor, q=key, wait_for=wait)["items"]  # type: ignore[no-any-return]


def test_walk_ins_typed_three_ways_are_one_phone(client: TestClient, auth: Auth,
                                                 store_id: str) -> None:
    advisor = auth("advisor", "adv-walk-in", [store_id])
    rng = random.Random(store_id + "walk-in")
    phone = f"138{rng.randrange(10**8):08d}"

    # Three visits of one walk-in: the phone typed in full width, with blanks, in ASCII.
    typings = (full_width(phone), spaced(phone), phone)
    opened = {open_walk_in(client, advisor, store_id, rng, typed) for typed in typings}
    wait = head(client)

    # Each visit shows the phone in its ASCII digits.
    for wo_id in opened:
        assert get(client, f"/work-orders/{wo_id}", advisor, wait_for=wait)["customer"]["phone"] == phone

    # The desk finds all three by the phone typed any way, or by its last digits.
    for key in (*typings, f"+86 {phone}", f"{phone[:3]}-{phone[3:7]}-{phone[7:]}",
                phone[-4:], full_width(phone[-6:])):
        assert found(client, advisor, wait, key) == opened, key
        assert {c["phones"][0] for c in customers_found(client, advisor, wait, key)} == {phone}
    listed = get(client, "/work-orders", advisor, customer_phone=spaced(phone))["items"]
    assert {item["customer_phone"] for item in listed} == {phone}

    # Other digits find none of them; a role that may not read customers may not search.
    assert found(client, advisor, wait, phone[:-1] + str((int(phone[-1]) + 1) % 10)) == set()
    assert found(client, advisor, wait, f"{phone[0]}+{phone[1:]}") == set()
    refused = client.get("/work-orders", params={"customer_phone": phone},
                         headers=auth("technician", "tech-walk-in", [store_id]))
    assert refused.status_code == 403 and refused.json()["field"] == "customer_phone"


def test_a_walk_in_phone_no_customer_could_register_is_422(client: TestClient, auth: Auth,
                                                           store_id: str) -> None:
    advisor = auth("advisor", "adv-walk-in", [store_id])
    before = head(client)
    refused = client.post("/work-orders", headers=advisor, json={
        "store_id": store_id, "customer": {"name": "张无忌", "phone": "021-64001234 转 8"},
        "vehicle": {"vin": make_vin(random.Random(store_id))}, "mileage": 1,
        "complaints": ["noise"]})
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "customer.phone"
    assert "not a phone number" in refused.json()["detail"]
    assert head(client) == before


def test_a_walk_in_phone_kept_as_typed_before_is_found(
        client: TestClient, auth: Auth, store_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A walk-in's phone was taken as typed before: its events stay as they are, and the read
    models keep it in the form a phone is kept now, so the desk finds it typed any way."""
    advisor = auth("advisor", "adv-walk-in", [store_id])
    rng = random.Random(store_id + "before")
    phone = f"139{rng.randrange(10**8):08d}"

    # As before: the walk-in's phone stored as typed, in full width with an ideographic space.
    with monkeypatch.context() as before:
        before.setattr(work_orders, "normalise_phone", as_typed, raising=False)
        typed = full_width(phone[:3]) + "\u3000" + full_width(phone[3:])
        wo_id = open_walk_in(client, advisor, store_id, rng, typed)
    wait = head(client)
    history = get(client, f"/work-orders/{wo_id}/history", auth("auditor", "aud-walk-in"))
    assert history["items"][0]["changes"]["customer"]["phone"] == typed

    for key in (phone, full_width(phone), spaced(phone), typed, phone[-4:]):
        assert found(client, advisor, wait, key) == {wo_id}, key
        [customer] = customers_found(client, advisor, wait, key)
        assert customer["phones"] == [phone]
    assert get(client, f"/work-orders/{wo_id}", advisor, wait_for=wait)["customer"]["phone"] == phone
