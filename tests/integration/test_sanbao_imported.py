"""三包 monitor and the service history brought over from the previous system: the OEM-paid
visits imported for a car count toward its repair counts beside its work orders, and each flag
names the imported ones it counts."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from domain.application import Request
from projections.evidence import one_snapshot
from projections.sanbao import SanbaoRules, sanbao
from servicecore.container import Container
from tests.integration.audit_support import Desk, at, new_vin
from tests.integration.test_money_support import wait_for_projection
from tests.integration.test_sanbao import register

ZONE = ZoneInfo("Asia/Shanghai")
AS_OF = date(2026, 3, 31)


def imported(desk: Desk, vin: str, ref: str, day: str, *, mileage: int,
             pay_type: str = "warranty", request: Request | None = None) -> None:
    desk.c.vehicles.import_prior_visit(
        request or desk.r("manager", at("2026-01-05", "10:00")), vin, store_id=desk.store,
        record={"source_ref": ref, "date_in": day, "date_out": day, "mileage_in": mileage,
                "kind": "repair", "pay_type": pay_type, "complaints": ["brake judder"],
                "work": [{"op_code": "BRK-DISC", "description": "replace front discs"}],
                "parts": [{"part_number": "5Q0615301", "name": "brake disc", "qty": "2"}]})


def flagged(container: Container, desk: Desk) -> dict[str, Any]:
    wait_for_projection(container, "work_orders")
    with container.pool.connection() as conn, one_snapshot(conn):
        answer = sanbao(container.app, conn, [desk.store], ZONE, SanbaoRules(), AS_OF)
    return {v["vin"]: v for v in answer["vehicles"]}


def test_imported_warranty_repairs_count_toward_the_same_problem(container: Container) -> None:
    desk = Desk(container)
    car, paid_by_owner = new_vin(), new_vin()
    for vin in (car, paid_by_owner):
        register(desk, vin, "2025-01-10")
    # The previous system repaired the brakes three times under warranty in 2025 (one car),
    # three times at the owner's cost (the other): imported at go-live.
    for n, day in enumerate(("2025-03-03", "2025-05-05", "2025-07-07")):
        imported(desk, car, f"OLD-{n}", day, mileage=5_000 + n * 2_000)
        imported(desk, paid_by_owner, f"OWN-{n}", day, mileage=5_000 + n * 2_000,
                 pay_type="customer")
    # In 2026 each comes back for a brake repair under warranty on the new system.
    native = desk.warranty_visit(car, "brake judder", "BRK-DISC", at("2026-02-02", "09:00"),
                                 at("2026-02-02", "15:00"), mileage=13_000)
    desk.warranty_visit(paid_by_owner, "brake judder", "BRK-DISC", at("2026-02-02", "10:00"),
                        at("2026-02-02", "16:00"), mileage=13_000)
    found = flagged(container, desk)
    # Four 三包 repairs of the brakes: a warning (from 3); the fault remained after 2: a breach.
    v = found[car]
    number = next(n["number"] for n in v["visits"] if n["work_order_id"] == str(native))
    names = ["imported OLD-0", "imported OLD-1", "imported OLD-2", number]
    refs = ["OLD-0", "OLD-1", "OLD-2"]
    same, remains, part = v["flags"]
    assert same == {"rule": "same_problem", "level": "warning", "problem": "brakes",
                    "repairs": 4, "work_orders": names, "warn_from": 3, "limit": 4,
                    "imported": refs}
    assert remains == {"rule": "serious_fault_remains", "level": "breach", "system": "brakes",
                       "repairs": 4, "work_orders": names, "warn_from": 2, "limit": 2,
                       "imported": refs}
    # The brake disc the previous system replaced three times: the same main part, replaced
    # more than once.
    assert (part["rule"], part["level"], part["part_number"], part["work_orders"],
            part["imported"]) == ("main_part_replaced", "breach", "5Q0615301", names[:3], refs)
    shown = [(x["number"], x.get("imported"), x.get("source_ref"), x["repair_days"])
             for x in v["visits"]]
    assert shown == [("imported OLD-0", True, "OLD-0", 1), ("imported OLD-1", True, "OLD-1", 1),
                     ("imported OLD-2", True, "OLD-2", 1), (number, None, None, 1)]
    assert {"Vehicle.PriorVisitImported"} <= {e["event_type"] for e in v["evidence"]}
    # Visits the owner paid for are not 三包 repairs: one warranty repair flags nothing.
    assert paid_by_owner not in found


def test_a_car_whose_only_warranty_visits_are_imported_is_examined(
        container: Container) -> None:
    desk = Desk(container)
    car = new_vin()
    register(desk, car, "2025-01-10")
    # The previous system repaired the brakes three times under warranty in 2025; the car has
    # not been back since go-live: no work order of it on the new system.
    for n, day in enumerate(("2025-03-03", "2025-05-05", "2025-07-07")):
        imported(desk, car, f"ONLY-{n}", day, mileage=5_000 + n * 2_000)
    wait_for_projection(container, "customers")
    found = flagged(container, desk)
    # Three 三包 repairs of the brakes: a warning from 3, found through the imported visits.
    v = found[car]
    names = ["imported ONLY-0", "imported ONLY-1", "imported ONLY-2"]
    same = next(f for f in v["flags"] if f["rule"] == "same_problem")
    assert (same["level"], same["repairs"], same["work_orders"], same["imported"]) == (
        "warning", 3, names, ["ONLY-0", "ONLY-1", "ONLY-2"])
    # Whole days: each imported visit counts from midnight of its date in, one repair day.
    assert [(x["checked_in"][:19], x["repair_days"]) for x in v["visits"]] == [
        ("2025-03-03T00:00:00", 1), ("2025-05-05T00:00:00", 1), ("2025-07-07T00:00:00", 1)]
    assert (v["plate"], v["brand"], v["repair_days"]) == ("沪C10086", "Volkswagen", 3)
