"""The 三包 triggers that rest on repeated repairs, over HTTP on work orders driven through the
domain services at chosen business times: an engine whose part was replaced on two visits and
which came back a third time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.integration.audit_support import Desk, at, new_vin
from tests.integration.test_money_support import wait_for_projection

Auth = Callable[..., dict[str, str]]


def test_an_engine_replaced_twice_and_still_failing(client: TestClient, auth: Auth,
                                                    container: Container) -> None:
    desk = Desk(container)
    head = desk.part("cylinder head gasket", "900.00", at("2025-02-01", "09:00"))
    desk.receive(head, 2, "500.00", at("2025-02-01", "09:10"), supplier="Elring", doc="DN-G1")
    vin = new_vin()
    container.vehicles.register(desk.r("advisor", at("2025-02-01", "10:00")), store_id=desk.store,
                                vin=vin, plate="沪C20861", brand="Volkswagen",
                                model="Tiguan L", year=2025, sale_date="2025-02-01")
    # The head gasket replaced in April and in June; in August the engine is repaired again.
    visits = [desk.warranty_visit(vin, "oil in coolant", "ENG-HEAD", at(f"2025-{m}-10", "09:00"),
                                  at(f"2025-{m}-10", "16:00"), mileage=km, part=part)
              for m, km, part in (("04", 4_000, head), ("06", 8_000, head),
                                  ("08", 12_000, None))]
    wait_for_projection(container, "work_orders")
    auditor = auth("auditor", stores=[desk.store])

    def car(as_of: str) -> dict[str, Any]:
        response = client.get("/audit/sanbao", headers=auditor,
                              params={"store_id": desk.store, "as_of": as_of})
        assert response.status_code == 200, response.text
        [found] = [v for v in response.json()["vehicles"] if v["vin"] == vin]
        return found

    after = car("2025-08-31")
    numbers = [v["number"] for v in after["visits"]]
    assert [v["work_order_id"] for v in after["visits"]] == [str(v) for v in visits]
    by_rule = {f["rule"]: f for f in after["flags"]}
    assert after["status"] == "breach"
    assert by_rule["assembly_replaced"] == {
        "rule": "assembly_replaced", "level": "breach", "system": "engine", "replacements": 2,
        "replaced_on": numbers[:2], "failed_again_on": numbers[2:], "work_orders": numbers,
        "warn_from": 2, "limit": 2}
    assert by_rule["main_part_replaced"] == {
        "rule": "main_part_replaced", "level": "breach", "part_number": head,
        "description": "cylinder head gasket", "systems": ["engine"], "replacements": 2,
        "work_orders": numbers[:2], "warn_from": 1, "limit": 1}
    assert (by_rule["same_problem"]["level"], by_rule["same_problem"]["repairs"]) == (
        "warning", 3)
    # Before the third visit: replaced twice, not yet failing again, a warning.
    before = car("2025-07-31")
    assert [(f["rule"], f["level"]) for f in before["flags"]
            if f["rule"] == "assembly_replaced"] == [("assembly_replaced", "warning")]
