"""The completion certificate (竣工出厂合格证) of a major repair, over HTTP on PostgreSQL: an
engine overhaul is not delivered without it (409 saying what is missing, nothing stored); the
QC inspector records it once QC has passed (not before, not twice, not by the desk); the work
order and the repair record show it. A minor service is delivered without one."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import worked_and_passed
from tests.e2e.test_parts_api import Auth, get, head, post, received_part, store_staff
from tests.integration.audit_support import new_vin
from tests.scratch_systems import served_module

served, container, client = served_module("sc_completion_cert", projections=True)


def visit(client: TestClient, auth: Auth, store_id: str, op_code: str, *,
          passed: bool = True) -> tuple[str, str]:
    """A visit with one labor line of `op_code` and a part, approved; worked and QC passed
    when `passed`: (work-order URL, id)."""
    clerk, advisor, manager, tech = store_staff(auth, store_id)
    number = received_part(client, clerk, store_id, 5)
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "赵磊", "phone": "13800000077"},
        "vehicle": {"vin": new_vin(), "plate": "沪D77001", "brand": "Volkswagen"},
        "mileage": 90000, "complaints": ["engine knock"]}, 201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 90010, "fuel_level": 40})
    lines = [post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": op_code, "description": "the job", "hours": "2.0",
        "hourly_rate": "300.00"})["line_id"],
        post(client, f"{wo}/jobs/1/part-lines", advisor, {"part_number": number,
                                                         "qty": 1})["line_id"]]
    for line in lines:
        post(client, f"{wo}/lines/{line}/authorization", advisor,
             {"decision": "approved", "channel": "in_person"})
    if passed:
        worked_and_passed(client, wo, store_id, clerk, manager, tech, issued=lines[1])
    return wo, opened["id"]


def settle(client: TestClient, auth: Auth, store_id: str, wo_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    confirmed = post(client, f"/settlements/{sid}/confirmation", cashier)
    paid = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "method": "cash",
        "amount": confirmed["bills"]["customer"]["outstanding"]}, 201)
    assert paid["status"] == "settled"


def refused(client: TestClient, url: str, headers: dict[str, str], body: Any,
            status: int) -> dict[str, Any]:
    before = head(client)
    answer = client.post(url, headers=headers, json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert head(client) == before  # nothing stored
    return answer.json()  # type: ignore[no-any-return]


DELIVERY = {"mileage_out": 90020, "acknowledged_by": "赵磊"}


def test_an_engine_overhaul_is_delivered_only_with_its_completion_certificate(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    inspector = auth("qc_inspector", "qc-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    # Before QC has passed there is nothing to certify.
    early, _ = visit(client, auth, store_id, "ENG-OH-1", passed=False)
    assert refused(client, f"{early}/completion-certificate", inspector,
                   {"cert_no": "JG-0"}, 409)["work_order_status"] == "checked_in"
    wo, wo_id = visit(client, auth, store_id, "ENG-OH-1")
    settle(client, auth, store_id, wo_id)
    # Settled, but an engine overhaul leaves only with its certificate.
    missing = refused(client, f"{wo}/delivery", advisor, DELIVERY, 409)
    assert (missing["repair_class"], missing["certificate_required"]) == ("assembly", True)
    assert "completion certificate" in missing["detail"]
    # The desk does not sign it; a blank number is bad input.
    refused(client, f"{wo}/completion-certificate", advisor, {"cert_no": "JG-1"}, 403)
    assert refused(client, f"{wo}/completion-certificate", inspector, {"cert_no": " "},
                   422)["field"] == "cert_no"
    issued = post(client, f"{wo}/completion-certificate", inspector,
                  {"cert_no": "JG-310000-2026-0001"})
    assert issued["completion_certificate"] == {
        "cert_no": "JG-310000-2026-0001", "inspector": "qc-" + store_id,
        "repair_class": "assembly"}
    again = refused(client, f"{wo}/completion-certificate", inspector,
                    {"cert_no": "JG-310000-2026-0002"}, 409)
    assert again["cert_no"] == "JG-310000-2026-0001"
    post(client, f"{wo}/delivery", advisor, DELIVERY)
    shown = get(client, wo, auditor, wait_for=head(client))["completion_certificate"]
    assert (shown["cert_no"], shown["inspector"], shown["repair_class"], shown["by"]) == (
        "JG-310000-2026-0001", "qc-" + store_id, "assembly", "qc-" + store_id)
    record = get(client, f"{wo}/repair-record", auditor)
    assert record["repair_class"] == "assembly"
    assert record["completion_certificate"]["cert_no"] == "JG-310000-2026-0001"
    assert record["completion_certificate"]["inspector"] == "qc-" + store_id


def test_a_minor_service_is_delivered_without_a_certificate(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    wo, wo_id = visit(client, auth, store_id, "BRK01")
    settle(client, auth, store_id, wo_id)
    post(client, f"{wo}/delivery", advisor, DELIVERY)
    assert "completion_certificate" not in get(client, wo, auditor, wait_for=head(client))
    record = get(client, f"{wo}/repair-record", auditor)
    assert (record["repair_class"], record["completion_certificate"]) == ("minor", None)
