"""The desk's dispatch to a named technician checks the skill and level the job needs, over
HTTP on PostgreSQL: warranty work on a gearbox (transmission 3) handed to an apprentice
(transmission 1) is a 409 naming what is missing and the manager's override, nothing stored;
the manager's override hands it over with a reason and records what it set aside, on the job
of the work order and in its history."""

from __future__ import annotations

from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.e2e.test_labor_operations_api import refused, visit
from tests.e2e.test_parts_api import Auth, get, head, post
from tests.integration.support import on_roster


def gearbox_job(client: TestClient, advisor: dict[str, str], store_id: str) -> str:
    """A checked-in visit whose job 1 has an approved gearbox labor line (transmission 3):
    the work order's URL."""
    wo = visit(client, advisor, store_id)
    line = post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "TRN-FLUSH", "description": "gearbox oil flush", "hours": "1.0",
        "hourly_rate": "300.00"})
    post(client, f"{wo}/lines/{line['line_id']}/authorization", advisor,
         {"decision": "approved", "channel": "in_person"})
    return wo


def test_the_desk_refuses_an_apprentice_and_the_override_records_what_it_sets_aside(
        client: TestClient, auth: Auth, store_id: str, container: Container) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    apprentice = f"appr-{store_id}"
    on_roster(client, manager, store_id, apprentice, skills={"transmission": 1})
    wo = gearbox_job(client, advisor, store_id)

    # The desk names the apprentice: refused, naming what is missing and the way round it.
    problem = refused(client, container, "POST", f"{wo}/jobs/1/dispatch", advisor,
                      {"technician_id": apprentice}, 409)
    assert problem["code"] == "NotQualified"
    assert problem["missing"] == ["transmission 3 (has 1)"]
    assert problem["need"] == {"transmission": 3}
    assert problem["field"] == "technician_id"
    assert problem["override"] == "POST /dispatch/override"
    assert problem["required_by"]["transmission"]["op_code"] == "TRN-FLUSH"
    assert get(client, wo, advisor, wait_for=head(client))["jobs"][0]["technician_id"] is None

    # The manager's override sets the rule aside, with a reason, and says what it set aside.
    wo_id = wo.rsplit("/", 1)[1]
    done = post(client, "/dispatch/override", manager, {
        "work_order_id": wo_id, "job_no": 1, "technician_id": apprentice,
        "reason": "the master is on leave; the foreman supervises"})
    assert done["set_aside"][0] == "lacks transmission 3 (has 1)"
    job = get(client, wo, advisor, wait_for=head(client))["jobs"][0]
    assert job["technician_id"] == apprentice
    assert job["set_aside"] == done["set_aside"]
    history = get(client, f"{wo}/history", manager, limit=100)["items"]
    dispatched = next(e for e in history if e["event"] == "WorkOrder.JobDispatched")
    assert dispatched["changes"]["set_aside"] == done["set_aside"]


def test_a_qualified_technician_is_dispatched_at_the_desk_and_sets_nothing_aside(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    master = f"mstr-{store_id}"
    on_roster(client, manager, store_id, master, skills={"transmission": 4})
    wo = gearbox_job(client, advisor, store_id)
    post(client, f"{wo}/jobs/1/dispatch", advisor, {"technician_id": master})
    job = get(client, wo, advisor, wait_for=head(client))["jobs"][0]
    assert (job["technician_id"], job["set_aside"]) == (master, [])
