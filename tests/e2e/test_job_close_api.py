"""A job that needs no repair is closed over HTTP (`POST /work-orders/{id}/jobs/{n}/close`):
a complaint left with no estimate lines holds the visit back from settlement until it is
closed; a visit whose only job found no fault is settled at zero and delivered."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.e2e.test_labor_operations_api import refused, visit
from tests.e2e.test_parts_api import Auth, get, head, post, store_staff
from tests.e2e.workshop_steps import worked_and_passed_qc
from tests.integration.support import on_roster

NFF = {"outcome": "no_fault_found", "reason": "no rattle on a 20 km test drive"}


def repaired(client: TestClient, wo: str, store_id: str, auth: Auth) -> None:
    """Job 1: a labor line approved, dispatched, worked and passed QC."""
    _, advisor, manager, tech = store_staff(auth, store_id)
    line = post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "BRK01", "description": "replace pads", "hours": "1.5",
        "hourly_rate": "300.00"})
    post(client, f"{wo}/lines/{line['line_id']}/authorization", advisor,
         {"decision": "approved", "channel": "in_person"})
    on_roster(client, manager, store_id, "tech-" + store_id)
    worked_and_passed_qc(client, wo, manager, tech, "tech-" + store_id)


def test_a_complaint_left_unestimated_holds_settlement_until_it_is_closed(
        client: TestClient, auth: Auth, store_id: str, container: Container) -> None:
    _, advisor, _, tech = store_staff(auth, store_id)
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo = visit(client, advisor, store_id)
    wo_id = wo.rsplit("/", 1)[1]
    post(client, f"{wo}/jobs", advisor, {"complaint": "rattle from the dashboard"})
    repaired(client, wo, store_id, auth)
    # Job 2 was never estimated: the visit is not ready, and the cashier is told why.
    assert get(client, wo, advisor, wait_for=head(client))["status"] == "in_progress"
    held = refused(client, container, "POST", "/settlements", cashier,
                   {"work_order_id": wo_id}, 409)
    assert any("job 2" in reason for reason in held["blockers"])
    # Bad input names the field; a technician may not close; nothing is stored.
    assert refused(client, container, "POST", f"{wo}/jobs/2/close", advisor,
                   {"outcome": "fixed", "reason": "x y z"}, 422)["field"] == "outcome"
    assert refused(client, container, "POST", f"{wo}/jobs/2/close", advisor,
                   {"outcome": "no_fault_found"}, 422)["field"] == "reason"
    refused(client, container, "POST", f"{wo}/jobs/2/close", tech, NFF, 403)
    # Job 1 was repaired: it is not closed.
    assert "passed QC" in refused(client, container, "POST", f"{wo}/jobs/1/close", advisor,
                                  NFF, 409)["detail"]
    # The advisor closes job 2 (a retry with the same key answers the first answer).
    keyed = {**advisor, "Idempotency-Key": f"close-{wo_id}"}
    closed = post(client, f"{wo}/jobs/2/close", keyed, NFF)
    assert closed["status"] == "ready_for_settlement"
    assert post(client, f"{wo}/jobs/2/close", keyed, NFF) == closed
    doc = get(client, wo, advisor, wait_for=head(client))
    assert doc["status"] == "ready_for_settlement"
    job = doc["jobs"][1]
    assert job["status"] == "closed"
    closure = job["closure"]
    assert (closure["outcome"], closure["reason"], closure["by"], closure["role"]) == (
        "no_fault_found", NFF["reason"], "adv-" + store_id, "advisor")
    assert closure["at"]
    then = get(client, wo, advisor, as_of=datetime.now(UTC).isoformat())
    assert then["jobs"][1]["closure"] == closure
    refused(client, container, "POST", f"{wo}/jobs/2/close", advisor, NFF, 409)  # once
    post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)


def test_a_visit_whose_only_job_found_no_fault_settles_at_zero_and_is_delivered(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo = visit(client, advisor, store_id)
    wo_id = wo.rsplit("/", 1)[1]
    post(client, f"{wo}/jobs/1/diagnosis", advisor, {
        "cause": "no fault: the noise is the tyres' tread", "correction": "none needed",
        "fault_codes": []})
    assert post(client, f"{wo}/jobs/1/close", advisor, NFF)["status"] == "ready_for_settlement"
    drafted = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)
    assert drafted["bills"]["customer"]["total"] == "0.00"
    confirmed = post(client, f"/settlements/{drafted['id']}/confirmation", cashier)
    assert confirmed["settled"] is True
    delivered = post(client, f"{wo}/delivery", advisor, {"mileage_out": 30012,
                                                         "acknowledged_by": "王伟"})
    assert get(client, wo, advisor, wait_for=delivered["notification_id"])["status"] == \
        "delivered"
