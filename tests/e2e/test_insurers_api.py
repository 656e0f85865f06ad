"""The insurer master over HTTP: a manager registers an insurer with its names and aliases, and
the receivables group every bill typed under any of them as that one insurer, the bills
settled before it was registered too. A name another insurer has is 409 naming it, bad input
422, and neither stores anything.

The master is shared by every store (and every test of the run): each test names its insurers
after its own store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from domain.insurer import insurer_key
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.e2e.test_receivables_insurers import settled_claim


def _patch(client: TestClient, url: str, headers: dict[str, str], body: Any,
           status: int = 200) -> dict[str, Any]:
    response = client.patch(url, headers=headers, json=body)
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def _refused(client: TestClient, method: str, url: str, headers: dict[str, str], body: Any,
             status: int) -> dict[str, Any]:
    response = client.request(method, url, headers=headers, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()  # type: ignore[no-any-return]


def test_bills_typed_under_an_insurers_names_are_one_group_before_and_after_it_is_registered(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    finance = auth("finance", "fin-" + store_id, [store_id])
    chinese, english, other = f"中国平安{store_id}", f"Ping An {store_id}", f"平安产险{store_id}"
    # Two claims settled while there is no master yet: two groups, as before.
    early = [settled_claim(client, auth, store_id, chinese, "ZG-1"),
             settled_claim(client, auth, store_id, english.upper(), "PA-1")]
    owed = get(client, "/receivables", finance, kind="insurance", wait_for=head(client))
    assert sorted(g["payer_key"] for g in owed["items"]) == sorted(
        [insurer_key(chinese), insurer_key(english)])
    assert all(g["insurer"] is None for g in owed["items"])

    # The manager registers the insurer: its short name is the Chinese name, "Ping An" an alias.
    code = "PA" + store_id
    made = post(client, "/insurers", {**manager, "Idempotency-Key": "reg-" + store_id}, {
        "code": code.lower(), "name": f"中国平安财产保险股份有限公司{store_id}",
        "short_name": chinese, "aliases": [english]}, 201)
    assert made["code"] == code
    again = client.post("/insurers", headers={**manager, "Idempotency-Key": "reg-" + store_id},
                        json={"code": code.lower(), "name": f"中国平安财产保险股份有限公司{store_id}",
                              "short_name": chinese, "aliases": [english]})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    # A later claim under an alias added afterwards.
    post(client, f"/insurers/{code}/aliases", manager,
         {"add": [other], "reason": "typed so on the claims desk"})
    late = [settled_claim(client, auth, store_id, f" {other} ", "PA-2")]

    owed = get(client, "/receivables", finance, kind="insurance", wait_for=head(client))
    [group] = owed["items"]
    assert group["payer_key"] == made["id"]
    assert group["insurer"]["code"] == code and group["insurer"]["short_name"] == chinese
    assert group["names_typed"] == sorted([chinese, english.upper(), other])
    assert group["open_bills_count"] == 3
    assert Decimal(group["outstanding"]) == sum(
        Decimal(v["outstanding"]) for v in early + late)
    # Narrowed to it by its id or by any of its names as typed.
    for key in (made["id"], english.lower(), chinese):
        one = get(client, "/receivables", finance, payer_key=key)
        assert [g["payer_key"] for g in one["items"]] == [made["id"]], key

    # A settlement's insurance bill names the insurer its typed name resolves to.
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    detail = get(client, f"/settlements/{early[1]['settlement_id']}", cashier)
    [bill] = [b for b in detail["bill_status"] if b["kind"] == "insurance"]
    assert bill["payer"]["insurer"] == english.upper()
    assert (bill["insurer"]["id"], bill["insurer"]["code"]) == (made["id"], code)
    # The auditor's replay of it names the same insurer (the master as it stands now).
    then = get(client, f"/settlements/{early[1]['settlement_id']}", cashier,
               as_of=datetime.now(UTC).isoformat())
    assert then["bill_status"] == detail["bill_status"]

    # The master answers it, with its history: who, when, why.
    found = get(client, f"/insurers/{code}", finance, wait_for=head(client))
    assert found["aliases"] == [english, other] and found["active"] is True
    assert get(client, "/insurers", finance, q=english.upper())["items"][0]["code"] == code
    renamed = _patch(client, f"/insurers/{code}", manager,
                     {"short_name": f"平安财险{store_id}", "reason": "the insurer's new brand"})
    assert renamed["short_name"] == f"平安财险{store_id}"
    history = get(client, f"/insurers/{code}/history", manager)["items"]
    assert [e["event"] for e in history] == [
        "Insurer.Registered", "Insurer.AliasesChanged", "Insurer.Renamed"]
    assert history[-1]["reason"] == "the insurer's new brand"
    assert history[-1]["actor"]["user_id"] == "mgr-" + store_id
    # The old short name no longer names it: its bill is a group of its own again.
    owed = get(client, "/receivables", finance, kind="insurance", wait_for=head(client))
    assert sorted(g["payer_key"] for g in owed["items"]) == sorted(
        [made["id"], insurer_key(chinese)])
    detail = get(client, f"/settlements/{early[0]['settlement_id']}", cashier)
    assert [b["insurer"] for b in detail["bill_status"] if b["kind"] == "insurance"] == [None]


def test_a_taken_name_is_409_naming_its_insurer_and_bad_input_422_storing_nothing(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    post(client, "/insurers", manager, {"code": "PICC" + store_id, "name": f"人保财险{store_id}",
                                        "short_name": f"人保{store_id}",
                                        "aliases": [f"PICC {store_id}"]}, 201)
    stored = head(client)
    taken = _refused(client, "POST", "/insurers", manager, {
        "code": "CPIC" + store_id, "name": f"太平洋{store_id}", "short_name": f"太保{store_id}",
        "aliases": [f"picc  {store_id}"]}, 409)
    assert taken["insurer_code"] == "PICC" + store_id
    post(client, "/insurers", manager, {"code": "CPIC" + store_id, "name": f"太平洋{store_id}",
                                        "short_name": f"太保{store_id}"}, 201)
    stored = head(client)
    _refused(client, "POST", f"/insurers/CPIC{store_id}/aliases", manager,
             {"add": [f"人保{store_id}"], "reason": "typed on claims"}, 409)
    for bad in ({"code": "平安", "name": "x", "short_name": "x"},
                {"code": "OK1", "name": " ", "short_name": "x"},
                {"code": "OK1", "name": "x"},
                {"code": "OK1", "name": "x", "short_name": "x", "aliases": ["y", "  "]},
                {"code": "OK1", "name": "x", "short_name": "x", "extra": 1}):
        _refused(client, "POST", "/insurers", manager, bad, 422)
    _refused(client, "PATCH", f"/insurers/PICC{store_id}", manager, {"short_name": "x"}, 422)
    _refused(client, "POST", f"/insurers/PICC{store_id}/deactivation", manager,
             {"reason": " "}, 422)
    assert head(client) == stored  # nothing stored by any refusal
    get(client, "/insurers/NOSUCH" + store_id, manager, 404)
    # Only a manager changes the master.
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    _refused(client, "POST", f"/insurers/PICC{store_id}/deactivation", cashier,
             {"reason": "contract ended"}, 403)
    post(client, f"/insurers/PICC{store_id}/deactivation", manager, {"reason": "contract ended"})
    assert get(client, f"/insurers/PICC{store_id}", cashier,
               wait_for=head(client))["active"] is False
