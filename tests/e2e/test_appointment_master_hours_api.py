"""A booking's expected hours from the store's labor-operation master: a service named by an op
code of the master and no hours holds the master's flat-rate hours of the master's skill; hours
given still win; an op code not in the master (or withdrawn from it) and no hours is 422 naming
the service's hours, with nothing stored."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from servicecore.container import Container
from servicecore.demo import make_vin
from tests.e2e.test_labor_operations_api import RATES, refused
from tests.e2e.test_parts_api import Auth, post


def test_a_booking_by_op_code_holds_the_masters_hours(client: TestClient, auth: Auth,
                                                       container: Container,
                                                       store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    day = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)).isoformat()
    post(client, "/appointments/capacity", manager, {
        "store_id": store_id, "from_day": day, "to_day": day, "opens": "08:00",
        "closes": "18:00", "bays": 4, "skill_hours": {"chassis": 16, "engine": 8}})
    # Its prefix would name chassis; the master says engine, 2.5 hours.
    post(client, "/labor-operations", manager, {
        "store_id": store_id, "op_code": "BRK-ABS", "description": "ABS pump and module",
        "flat_rate_hours": "2.5", "rates": dict(RATES), "skill": "engine", "level": 2}, 201)
    post(client, "/labor-operations", manager, {
        "store_id": store_id, "op_code": "WASH-1", "description": "wash",
        "flat_rate_hours": "0.5", "rates": dict(RATES), "skill": "chassis",
        "level": 1}, 201)
    response = client.patch("/labor-operations/WASH-1", headers=manager, json={
        "store_id": store_id, "active": False, "reason": "no longer offered"})
    assert response.status_code == 200, response.text
    customer = post(client, "/customers", advisor, {"store_id": store_id, "name": "赵敏",
                                                    "phones": ["13900000004"]}, 201)["id"]
    booking = {"store_id": store_id, "customer_id": customer,
               "vehicle": {"vin": make_vin(random.Random(store_id))}, "day": day,
               "arrival": "09:00"}

    booked = post(client, "/appointments", advisor, {
        **booking, "services": [{"description": "ABS fault", "op_code": "brk-abs"}]}, 201)
    assert booked["free"] == {"chassis": "16.00", "engine": "5.50"}
    # Hours given win over the master's.
    booked = post(client, "/appointments", advisor, {
        **booking, "arrival": "10:00",
        "services": [{"description": "ABS check", "op_code": "BRK-ABS", "hours": "1"}]}, 201)
    assert booked["free"] == {"chassis": "16.00", "engine": "4.50"}

    for op_code in ("BRK-PAD", "WASH-1"):
        problem = refused(client, container, "POST", "/appointments", advisor, {
            **booking, "arrival": "11:00",
            "services": [{"description": "pads", "op_code": op_code, "skill": "chassis"}]},
            422)
        assert "how many hours" in problem["detail"], problem
        assert "services[0].hours" in str(problem), problem
