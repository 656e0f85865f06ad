"""A technician's open jobs are the jobs of visits still in the workshop. A job whose part
the customer no longer wants (withdrawn) or whose lines went to a follow-on work order never
passes QC: once its visit was settled it stayed among the technician's assignments for good,
and every later dispatch to them loaded its work order again to count it (one more each week,
for years)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient

from domain.technician import Technician
from servicecore.container import Container
from tests.e2e.test_parts_api import new_part, post
from tests.e2e.workshop_steps import worked_and_passed_qc
from tests.integration.audit_support import new_vin
from tests.integration.support import on_roster

Auth = Callable[..., dict[str, str]]
LABOR = {"op_code": "BRK01", "description": "replace pads", "hours": "1.5",
         "hourly_rate": "300.00"}


def test_a_declined_job_is_released_once_its_visit_is_settled(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    technician = "tech-" + store_id
    tech = auth("technician", technician, [store_id])
    on_roster(client, manager, store_id, technician)

    def visit() -> str:
        opened = post(client, "/work-orders", advisor, {
            "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000002"},
            "vehicle": {"vin": new_vin(), "plate": "沪B12345"}, "mileage": 30000,
            "complaints": ["brake noise"]}, 201)
        post(client, f"/work-orders/{opened['id']}/check-in", advisor,
             {"mileage_in": 30010, "fuel_level": 50})
        return f"/work-orders/{opened['id']}"

    wo = visit()
    brakes = post(client, f"{wo}/jobs/1/labor-lines", advisor, LABOR)["line_id"]
    post(client, f"{wo}/lines/{brakes}/authorization", advisor,
         {"decision": "approved", "channel": "in_person"})
    # The rattle's clip is approved and the job dispatched; the customer then does not want it.
    clerk = auth("parts_clerk", "clerk-" + store_id, [store_id])
    post(client, f"{wo}/jobs", advisor, {"complaint": "rattle from the dash"})
    clip = post(client, f"{wo}/jobs/2/part-lines", advisor,
                {"part_number": new_part(client, clerk, min_stock=0), "qty": 1})["line_id"]
    post(client, f"{wo}/lines/{clip}/authorization", advisor,
         {"decision": "approved", "channel": "in_person"})
    post(client, f"{wo}/jobs/2/dispatch", manager, {"technician_id": technician})
    post(client, f"{wo}/lines/{clip}/withdrawal", clerk, {"reason": "customer changed mind"})
    done = worked_and_passed_qc(client, wo, manager, tech, technician)
    assert done["status"] == "ready_for_settlement"
    wo_id = wo.rsplit("/", 1)[1]
    settlement = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    confirmed = post(client, f"/settlements/{settlement}/confirmation", cashier)
    paid = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "method": "alipay", "provider_ref": "ALI-" + uuid.uuid4().hex[:8],
        "amount": confirmed["bills"]["customer"]["outstanding"]}, 201)
    assert paid["settled"] is True

    # The next dispatch to the technician releases both jobs of the settled visit.
    later = visit()
    line = post(client, f"{later}/jobs/1/labor-lines", advisor, LABOR)["line_id"]
    post(client, f"{later}/lines/{line}/authorization", advisor,
         {"decision": "approved", "channel": "in_person"})
    post(client, f"{later}/jobs/1/dispatch", manager, {"technician_id": technician})
    held = container.app.repository.get(Technician.create_id(technician))
    assert [(a["work_order_id"], a["job_no"]) for a in held.assignments.values()] == [
        (later.rsplit("/", 1)[1], 1)]
