"""Changing a vehicle's recorded sale date (the day its 三包 validity and the OEM's warranty
start from), or the plate it already has (how the regulator's repair filing and the insurer
know the car), needs a reason like every correction: missing, blank or shorter than 3
characters is 422 naming `reason` and nothing is stored; the reason given is what the history
and the audit log show."""

from __future__ import annotations

import random
from collections.abc import Callable

from fastapi.testclient import TestClient

from servicecore.demo import make_vin
from tests.e2e.test_api_contract import problem
from tests.e2e.test_parts_api import get, head, post
from tests.scratch_systems import served_module

Auth = Callable[..., dict[str, str]]
served, container, client = served_module("sc_sale_date_reason", projections=True)


def test_a_changed_sale_date_needs_a_reason_and_the_trail_shows_it(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    vin = make_vin(random.Random(store_id))
    post(client, "/vehicles", advisor, {
        "store_id": store_id, "vin": vin, "plate": "沪A" + store_id[-5:], "brand": "Volkswagen",
        "model": "Lavida", "year": 2022, "sale_date": "2022-06-01"}, 201)
    url = f"/vehicles/{vin}"
    for reason in (None, "", "   ", "\u3000\u3000"):
        body = {"sale_date": "2022-09-01", **({} if reason is None else {"reason": reason})}
        refused = problem(client.post(f"{url}/details", headers=advisor, json=body), 422,
                          "invalid-input")
        assert refused["field"] == "reason", refused
        assert "sale date" in refused["detail"]
    assert get(client, url, advisor, wait_for=head(client))["sale_date"] == "2022-06-01"

    done = post(client, f"{url}/details", advisor, {
        "sale_date": "2022-09-01", "reason": "  invoice shows the car was sold in September "})
    why = "invoice shows the car was sold in September"
    last = get(client, f"{url}/history", auditor)["items"][-1]
    assert (last["event"], last["reason"]) == ("Vehicle.DetailsCorrected", why)
    assert (last["actor"]["user_id"], last["actor"]["role"], last["actor"]["store_id"]) == (
        "adv-" + store_id, "advisor", store_id)
    logged = get(client, "/audit/log", auditor, event_type="Vehicle.DetailsCorrected",
                 store_id=store_id, wait_for=done["notification_id"])["items"]
    assert [(e["reason"], e["actor"]["user_id"]) for e in logged] == [(why, "adv-" + store_id)]
    # The same sale date again, or a first one, is no change of a recorded date: no reason.
    again = post(client, f"{url}/details", advisor, {"sale_date": "2022-09-01",
                                                     "model": "Lavida Plus"})
    now = get(client, url, advisor, wait_for=again["notification_id"])
    assert (now["sale_date"], now["model"]) == ("2022-09-01", "Lavida Plus")


def test_a_changed_plate_needs_a_reason_a_first_plate_does_not(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    rng = random.Random(store_id + "plate")
    vin = make_vin(rng)
    url = f"/vehicles/{vin}"
    post(client, "/vehicles", advisor, {"store_id": store_id, "vin": vin, "brand": "Volkswagen",
                                        "model": "Lavida", "year": 2022}, 201)
    first = post(client, f"{url}/plate", advisor, {"plate": "沪B" + store_id[-5:]})
    assert get(client, url, advisor, wait_for=first["notification_id"])["plate"] == (
        "沪B" + store_id[-5:])
    for reason in (None, "", "   ", "\u3000\u3000", " ab "):
        body = {"plate": "沪C" + store_id[-5:], **({} if reason is None else {"reason": reason})}
        refused = problem(client.post(f"{url}/plate", headers=advisor, json=body), 422,
                          "invalid-input")
        assert refused["field"] == "reason", refused
        assert "plate" in refused["detail"]
    assert [e["event"] for e in get(client, f"{url}/history", auditor)["items"]] == [
        "Vehicle.Registered", "Vehicle.PlateChanged"]
    assert get(client, url, advisor, wait_for=head(client))["plate"] == "沪B" + store_id[-5:]

    done = post(client, f"{url}/plate", advisor, {"plate": "沪C" + store_id[-5:],
                                                  "reason": " new-energy plate issued "})
    last = get(client, f"{url}/history", auditor)["items"][-1]
    assert (last["event"], last["reason"]) == ("Vehicle.PlateChanged", "new-energy plate issued")
    assert get(client, url, advisor, wait_for=done["notification_id"])["plate"] == (
        "沪C" + store_id[-5:])
