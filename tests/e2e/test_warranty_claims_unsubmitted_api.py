"""The warranty administrator's list of visits still to claim, over HTTP: the visits whose
warranty bill is confirmed (the claim may be sent from then on) and whose claim is not
submitted yet, oldest first, with the VIN, the settlement, what the OEM is billed and the days
waited; a visit whose claim was sent, whose warranty bill is still a draft, or with nothing for
the OEM is not listed; paged, scoped to the caller's stores."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import confirmed_settlement, ready_for_settlement
from tests.e2e.test_oem_claim_outcome_api import _confirmed_warranty_visit
from tests.e2e.test_parts_api import Auth, head, post
from tests.integration.audit_support import new_vin

URL = "/warranty-claims/unsubmitted"


def _listed(client: TestClient, headers: dict[str, str], store_id: str,
            **query: Any) -> dict[str, Any]:
    asked = {"store_id": store_id, "wait_for": head(client), **query}  # read what was written
    answer = client.get(URL, headers=headers, params=asked)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_the_visits_still_to_claim_are_listed_oldest_first(
        client: TestClient, auth: Auth, store_id: str) -> None:
    admin = auth("advisor", "warranty-admin", [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    # Settled: the customer paid, the OEM's bill waits for the claim.
    settled, _ = _confirmed_warranty_visit(client, auth, store_id)
    # Confirmed, the customer not paid yet: the claim may be sent all the same.
    _, confirmed = ready_for_settlement(client, auth, store_id, warranty_labor=True,
                                        vin=new_vin())
    sid = post(client, "/settlements", cashier, {"work_order_id": confirmed}, 201)["id"]
    post(client, f"/settlements/{sid}/confirmation", cashier)
    # Not listed: a claim sent, a warranty bill still a draft, a visit with nothing for the OEM.
    sent, _ = _confirmed_warranty_visit(client, auth, store_id)
    post(client, f"/work-orders/{sent}/warranty-claim/submission", admin,
         {"oem_claim_number": "VW-SENT"}, 201)
    _, drafted = ready_for_settlement(client, auth, store_id, warranty_labor=True,
                                      vin=new_vin())
    post(client, "/settlements", cashier, {"work_order_id": drafted}, 201)
    confirmed_settlement(client, auth, store_id)

    found = _listed(client, admin, store_id)
    assert [row["work_order_id"] for row in found["items"]] == [settled, confirmed]
    assert found["total"] == 2
    first, second = found["items"]
    assert (first["settlement_status"], second["settlement_status"]) == ("settled", "confirmed")
    for row in found["items"]:
        assert (row["store_id"], row["billed"], row["age_days"]) == (store_id, "150.00", 0)
        assert row["vin"] and row["work_order_number"] and row["settlement_number"]
        assert row["confirmed_at"] and row["confirmed_on"]
    # Paged as every list; `older_than_days`: waiting at least that many days (none yet).
    assert [r["work_order_id"] for r in _listed(client, admin, store_id, limit=1,
                                                offset=1)["items"]] == [confirmed]
    assert _listed(client, admin, store_id, older_than_days=1)["total"] == 0
    # Once its claim is sent, a visit leaves the list.
    post(client, f"/work-orders/{settled}/warranty-claim/submission", admin,
         {"oem_claim_number": "VW-LATE"}, 201)
    assert [r["work_order_id"] for r in _listed(client, admin, store_id)["items"]] == [confirmed]


def test_only_the_callers_stores_and_the_claims_roles_see_it(
        client: TestClient, auth: Auth, store_id: str) -> None:
    _confirmed_warranty_visit(client, auth, store_id)
    assert _listed(client, auth("advisor", "adv", [store_id]), store_id)["total"] == 1
    assert _listed(client, auth("advisor", "elsewhere", [store_id + "X"]), store_id)["total"] == 0
    refused = client.get(URL, headers=auth("technician", "tech", [store_id]))
    assert refused.status_code == 403
    bad = client.get(URL, headers=auth("manager", "m", [store_id]),
                     params={"older_than_days": "-1"})
    assert (bad.status_code, bad.json()["field"]) == (422, "older_than_days")
