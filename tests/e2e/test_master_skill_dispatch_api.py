"""Dispatch requires the skill and level the labor-operation master gives an operation, over
HTTP on PostgreSQL: a master entry saying an `ELE` operation needs electrical 3 (its prefix
names 2) keeps a level-2 technician off the job — the board proposes nobody, auto-dispatch is a
409 naming the line, op code and the master's level, nothing stored — and a level-3 technician
gets it."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.e2e.test_labor_operations_api import RATES, line_of, refused, visit
from tests.e2e.test_parts_api import Auth, get, head, post


def technician(client: TestClient, manager: dict[str, str], store_id: str, user: str,
               level: int) -> str:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    post(client, f"/technicians/{user}/profile", manager,
         {"store_id": store_id, "skills": {"electrical": level}, "hourly_cost": "85.00"})
    post(client, f"/technicians/{user}/shifts", manager, {"shifts": [
        {"day": today, "start": "00:00", "end": "23:59", "break_minutes": 0}]})
    return user


def test_the_masters_level_keeps_a_lower_technician_off_the_job(
        client: TestClient, auth: Auth, store_id: str, container: Container) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    post(client, "/labor-operations", manager, {
        "store_id": store_id, "op_code": "ELE-HARNESS", "description": "replace wiring harness",
        "flat_rate_hours": "2.0", "rates": dict(RATES), "skill": "electrical", "level": 3}, 201)
    two = technician(client, manager, store_id, f"te2-{store_id}", 2)
    wo = visit(client, advisor, store_id)
    line = post(client, f"{wo}/jobs/1/labor-lines", advisor, {"op_code": "ele-harness"})
    assert line_of(client, wo, advisor, line["line_id"])["labor_operation"]["level"] == 3
    post(client, f"{wo}/lines/{line['line_id']}/authorization", advisor,
         {"decision": "approved", "channel": "in_person"})
    wo_id = wo.rsplit("/", 1)[1]

    board = get(client, "/dispatch/board", advisor, store_id=store_id, wait_for=head(client))
    waiting = next(j for j in board["waiting"] if j["work_order_id"] == wo_id)
    assert waiting["need"] == {"electrical": 3} and waiting["proposed"] is None
    assert "lacks electrical 3 (has 2)" in waiting["excluded"][two]

    problem = refused(client, container, "POST", "/dispatch/auto", advisor,
                      {"work_order_id": wo_id, "job_no": 1}, 409)
    assert problem["need"] == {"electrical": 3}
    assert problem["required_by"] == {"electrical": {
        "level": 3, "op_code": "ELE-HARNESS", "line_id": line["line_id"],
        "source": "labor-operation master"}}
    assert "electrical 3 for ELE-HARNESS" in problem["detail"]
    assert "lacks electrical 3 (has 2)" in problem["excluded"][two]
    assert get(client, wo, advisor, wait_for=head(client))["jobs"][0]["technician_id"] is None

    three = technician(client, manager, store_id, f"te3-{store_id}", 3)
    board = get(client, "/dispatch/board", advisor, store_id=store_id, wait_for=head(client))
    assert next(j for j in board["waiting"] if j["work_order_id"] == wo_id)["proposed"] == three
    dispatched = post(client, "/dispatch/auto", advisor, {"work_order_id": wo_id, "job_no": 1})
    assert dispatched["technician_id"] == three and dispatched["need"] == {"electrical": 3}
