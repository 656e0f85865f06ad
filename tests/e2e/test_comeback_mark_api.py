"""The advisor's comeback mark (返修) over HTTP on PostgreSQL: a car back with the complaint
retyped is marked a comeback of its earlier visit, with a reason; what is refused is
problem+json naming the field and stores nothing; a retried POST answers the first; the work
order and its history show the mark and its withdrawal."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_completion_certificate_api import refused
from tests.e2e.test_money_api import worked_and_passed
from tests.e2e.test_parts_api import Auth, get, head, post, received_part, store_staff
from tests.integration.audit_support import new_vin
from tests.scratch_systems import served_module

served, container, client = served_module("sc_comeback_mark", projections=True)


def opened(client: TestClient, advisor: dict[str, str], store_id: str, vin: str,
           complaint: str) -> tuple[str, str]:
    """A visit of `vin`, checked in: (work-order URL, id)."""
    body = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王芳", "phone": "13800000088"},
        "vehicle": {"vin": vin, "plate": "沪E88001", "brand": "Volkswagen"},
        "mileage": 30000, "complaints": [complaint]}, 201)
    wo = f"/work-orders/{body['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 30010, "fuel_level": 40})
    return wo, body["id"]


def completed(client: TestClient, auth: Auth, store_id: str, vin: str) -> tuple[str, str]:
    """A visit of `vin` with one job worked and QC passed (ready for settlement)."""
    clerk, advisor, manager, tech = store_staff(auth, store_id)
    number = received_part(client, clerk, store_id, 5)
    wo, wo_id = opened(client, advisor, store_id, vin, "engine light on")
    lines = [post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "ENG-DIAG", "description": "read codes, replace coil", "hours": "1.0",
        "hourly_rate": "300.00"})["line_id"],
        post(client, f"{wo}/jobs/1/part-lines", advisor, {"part_number": number,
                                                         "qty": 1})["line_id"]]
    for line in lines:
        post(client, f"{wo}/lines/{line}/authorization", advisor,
             {"decision": "approved", "channel": "in_person"})
    worked_and_passed(client, wo, store_id, clerk, manager, tech, issued=lines[1])
    return wo, wo_id


def test_the_desk_marks_a_comeback_and_withdraws_a_wrong_mark(
        client: TestClient, auth: Auth, store_id: str) -> None:
    _, advisor, _, tech = store_staff(auth, store_id)
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    vin = new_vin()
    _, first_id = completed(client, auth, store_id, vin)
    # The car is back; the complaint is retyped, so the advisor says it is a comeback.
    back, back_id = opened(client, advisor, store_id, vin, "engine light came back on again")
    url = f"{back}/comeback"
    mark: dict[str, Any] = {"earlier_work_order_id": first_id,
                            "reason": "same misfire as the last visit"}
    refused(client, url, tech, mark, 403)
    assert refused(client, url, advisor, {**mark, "reason": "x"}, 422)["field"] == "reason"
    unknown = refused(client, url, advisor, {**mark, "earlier_work_order_id":
                                             "00000000-0000-4000-8000-000000000000"}, 404)
    assert unknown["field"] == "earlier_work_order_id"
    # Another car's visit, and a visit not completed, are not the earlier repair.
    _, other_id = opened(client, advisor, store_id, new_vin(), "engine light on")
    assert refused(client, url, advisor, {**mark, "earlier_work_order_id": other_id},
                   422)["field"] == "earlier_work_order_id"
    assert refused(client, url, advisor, {**mark, "earlier_work_order_id": back_id},
                   422)["field"] == "earlier_work_order_id"
    version = get(client, back, advisor, wait_for=head(client))["version"]
    assert refused(client, url, {**advisor, "If-Match": f'"{version + 5}"'}, mark, 412)
    keyed = {**advisor, "Idempotency-Key": "comeback-" + back_id}
    answer = client.post(url, headers=keyed, json=mark)
    assert answer.status_code == 200, answer.text
    marked = answer.json()
    assert marked["comeback_of"]["earlier_work_order_id"] == first_id
    before = head(client)
    assert client.post(url, headers=keyed, json=mark).json() == marked  # stored once
    assert head(client) == before
    assert refused(client, url, advisor, mark, 409)["comeback_of"] == (
        marked["comeback_of"]["earlier_number"])
    # The work order shows the mark with who and why.
    shown = get(client, back, auditor, wait_for=head(client))["comeback_of"]
    assert (shown["earlier_work_order_id"], shown["reason"], shown["by"]) == (
        first_id, "same misfire as the last visit", "adv-" + store_id)
    # A wrong mark is withdrawn with a reason; its record stays.
    withdrawal = f"{back}/comeback/withdrawal"
    assert refused(client, withdrawal, advisor, {"reason": " "}, 422)["field"] == "reason"
    post(client, withdrawal, advisor, {"reason": "the coil was fine: a new fault"})
    refused(client, withdrawal, advisor, {"reason": "again"}, 409)
    doc = get(client, back, auditor, wait_for=head(client))
    assert doc["comeback_of"] is None
    assert doc["comeback_marks_withdrawn"][0]["withdrawn"]["reason"] == (
        "the coil was fine: a new fault")
    history = get(client, f"{back}/history", auditor)["items"]
    assert [(e["event"], e["actor"]["user_id"], e["reason"]) for e in history
            if e["event"].startswith("WorkOrder.Comeback")] == [
        ("WorkOrder.ComebackMarked", "adv-" + store_id, "same misfire as the last visit"),
        ("WorkOrder.ComebackMarkWithdrawn", "adv-" + store_id,
         "the coil was fine: a new fault")]


def test_another_stores_visit_counts_only_where_the_token_reaches(
        client: TestClient, auth: Auth, store_id: str) -> None:
    sister = store_id + "B"
    vin = new_vin()
    _, earlier_id = completed(client, auth, sister, vin)
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    back, _ = opened(client, advisor, store_id, vin, "engine light again")
    mark = {"earlier_work_order_id": earlier_id, "reason": "same fault as at the sister store"}
    assert refused(client, f"{back}/comeback", advisor, mark, 404)[
        "field"] == "earlier_work_order_id"
    both = auth("advisor", "adv-" + store_id, [store_id, sister])
    marked = post(client, f"{back}/comeback", both, mark)
    assert marked["comeback_of"]["earlier_store_id"] == sister


def test_the_desk_says_it_at_check_in(client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    vin = new_vin()
    _, earlier_id = completed(client, auth, store_id, vin)
    body = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王芳", "phone": "13800000088"},
        "vehicle": {"vin": vin, "plate": "沪E88001", "brand": "Volkswagen"},
        "mileage": 30500, "complaints": ["check engine lamp lit"]}, 201)
    wo = f"/work-orders/{body['id']}"
    arrival = {"mileage_in": 30510, "fuel_level": 40, "comeback_of": earlier_id}
    # Without a reason nothing is stored, not the check-in either.
    assert refused(client, f"{wo}/check-in", advisor, arrival, 422)["field"] == (
        "comeback_reason")
    post(client, f"{wo}/check-in", advisor, {**arrival, "comeback_reason": "same coil again"})
    doc = get(client, wo, advisor, wait_for=head(client))
    assert doc["status"] == "checked_in"
    assert (doc["comeback_of"]["earlier_work_order_id"], doc["comeback_of"]["reason"]) == (
        earlier_id, "same coil again")
