"""A decision URL naming an id that does not exist answers 404 problem+json naming it; one
naming a decision already taken answers 409; neither stores anything."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, head, new_part, post, ready_visit


def refused(client: TestClient, url: str, headers: dict[str, str], body: dict[str, Any],
            status: int) -> dict[str, Any]:
    response = client.post(url, headers=headers, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()  # type: ignore[no-any-return]


def test_unknown_scrap_requests_and_counts_are_not_found(client: TestClient, auth: Auth,
                                                         store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    manager = auth("manager", user="mgr-ids", stores=[store_id])
    number = new_part(client, clerk, min_stock=0)
    lot = post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 10, "unit_cost": "100.00", "supplier": "S", "supplier_doc": "DN-1"},
        201)["lot_id"]
    item = f"/stock/{store_id}/{number}"
    before = head(client)
    scrap = refused(client, f"{item}/scrap/SC-NOSUCH0001/decision", manager,
                    {"approve": True}, 404)
    assert scrap["type"].endswith("/not-found") and "SC-NOSUCH0001" in scrap["detail"]
    assert scrap["request_id"] == "SC-NOSUCH0001"
    count = refused(client, f"{item}/stocktakes/ST-NOSUCH/decision", manager,
                    {"approve": False, "reason": "no such count"}, 404)
    assert count["type"].endswith("/not-found") and count["count_id"] == "ST-NOSUCH"
    assert head(client) == before  # nothing was stored

    # Decided ones are 409: scrap that needed no approval, a count posted at once.
    small = post(client, f"{item}/scrap", clerk, {"qty": 1, "reason": "cracked"})
    again = refused(client, f"{item}/scrap/{small['request_id']}/decision", manager,
                    {"approve": True}, 409)
    assert again["status"] == 409 and "already scrapped" in again["detail"]
    posted = post(client, f"{item}/stocktakes", clerk, {"counted": {lot: "8"},
                                                         "reason": "one missing"})
    assert posted["status"] == "posted"
    refused(client, f"{item}/stocktakes/{posted['count_id']}/decision", manager,
            {"approve": True}, 409)


def test_a_managers_own_large_scrap_waits_for_another_manager(client: TestClient, auth: Auth,
                                                              store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    wang = auth("manager", user="mgr-wang", stores=[store_id])
    number = new_part(client, clerk, min_stock=0)
    post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 5, "unit_cost": "200.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    own = post(client, f"/stock/{store_id}/{number}/scrap", wang,
               {"qty": 3, "reason": "water damage in the store room"})
    assert (own["status"], own["on_hand"], own["available"]) == ("awaiting_approval", "5", "2")
    url = f"/stock/{store_id}/{number}/scrap/{own['request_id']}/decision"
    refused(client, url, wang, {"approve": True}, 403)
    done = post(client, url, auth("manager", user="mgr-liu", stores=[store_id]),
                {"approve": True})
    assert (done["status"], done["on_hand"]) == ("scrapped", "2")


def test_an_unknown_line_or_job_in_a_work_order_url_is_not_found(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    number = new_part(client, clerk, min_stock=0)
    post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 5, "unit_cost": "200.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    wo, _ = ready_visit(client, auth, store_id, number)
    advisor = auth("advisor", stores=[store_id])
    manager = auth("manager", stores=[store_id])
    before = head(client)
    line = refused(client, f"{wo}/lines/L99/authorization", advisor,
                   {"decision": "approved", "channel": "phone"}, 404)
    assert line["line_id"] == "L99" and "no line L99" in line["detail"]
    refused(client, f"{wo}/lines/L99/price", manager,
            {"unit_price": "1.00", "reason": "goodwill"}, 404)
    refused(client, f"{wo}/lines/L99/issue", clerk, {}, 404)
    job = refused(client, f"{wo}/jobs/9/quality-check", manager, {"passed": True}, 404)
    assert job["job_no"] == 9 and "no job 9" in job["detail"]
    assert head(client) == before
