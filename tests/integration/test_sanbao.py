"""三包 monitor: repair days, repeated repairs of the same problem and serious-system repairs
soon after the sale, per vehicle within the validity, with the evidence behind each flag."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from domain.common import NotPermitted
from domain.work_orders import vehicle_id
from projections.evidence import one_snapshot
from projections.sanbao import SanbaoRules, problem_of, sanbao, system_of
from servicecore.container import Container
from tests.integration.audit_support import Desk, at, new_vin
from tests.integration.test_money_support import wait_for_projection

ZONE = ZoneInfo("Asia/Shanghai")
AS_OF = date(2026, 3, 31)


def register(desk: Desk, vin: str, sold: str, year: int = 2024) -> None:
    desk.c.vehicles.register(desk.r("advisor", at(sold, "10:00")), store_id=desk.store, vin=vin,
                             plate="沪C10086", brand="Volkswagen", model="Tiguan L", year=year,
                             sale_date=sold)


def brake_visits(desk: Desk, vin: str, days: list[str], mileage: int = 12_000,
                 warranty: bool = True) -> list[UUID]:
    """One-day brake repairs (09:00-15:00), under warranty or paid by the customer."""
    done = []
    for n, day in enumerate(days):
        if warranty:
            done.append(desk.warranty_visit(vin, "brake judder", "BRK-DISC", at(day, "09:00"),
                                            at(day, "15:00"), mileage=mileage + n * 1000))
            continue
        wo = desk.open(vin, ["brake judder"], at(day, "08:50"), mileage=mileage)
        desk.check_in(wo, mileage, at(day, "09:00"))
        desk.approve(wo, [desk.labor(wo, 1, "BRK-DISC", "1.0", at(day, "09:05"))], at(day, "09:06"))
        desk.repair(wo, 1, desk.t1, at(day, "13:00"), at(day, "14:50"))
        done.append(wo)
    return done


@pytest.fixture(scope="module")
def fleet(container: Container) -> dict[str, Any]:
    desk = Desk(container)
    head = desk.part("cylinder head gasket", "900.00", at("2025-01-01", "09:00"))
    desk.receive(head, 3, "500.00", at("2025-01-01", "09:10"), supplier="Elring", doc="DN-H1")
    cars: dict[str, Any] = {k: new_vin() for k in ("v1", "v2", "v3", "v4", "v5", "v6", "v7")}
    # V1: 10 + 8 + 2 = 20 repair days over three visits (a warning from 20).
    register(desk, cars["v1"], "2025-03-01")
    v1 = [desk.warranty_visit(cars["v1"], "engine misfire", "ENG-COIL", at("2025-04-01", "09:00"),
                              at("2025-04-11", "09:00"), mileage=8_000),
          desk.warranty_visit(cars["v1"], "brake judder", "BRK-DISC", at("2025-06-01", "09:00"),
                              at("2025-06-08", "10:00"), mileage=14_000),  # 7 days 1 h: 8
          desk.warranty_visit(cars["v1"], "window stuck", "ELE-WIN", at("2025-09-01", "09:00"),
                              at("2025-09-03", "08:00"), mileage=20_000)]  # 47 h: 2
    # The misfiring car came in on a tow truck; the customer drove a loaner for the 10 days.
    for kind, amount, days, ref in (("towing", "350.00", None, "TOW-5521"),
                                    ("loaner", "1800.00", 10, "RENT-0401")):
        container.work_orders.record_compensation(
            desk.r("advisor", at("2025-04-11", "10:00")), v1[0], kind=kind, amount=amount,
            days=days, reference=ref)
    # V2: the same problem (brakes) repaired five times: more than 4, a breach.
    register(desk, cars["v2"], "2025-04-01")
    v2 = brake_visits(desk, cars["v2"], ["2025-05-05", "2025-07-05", "2025-09-05", "2025-11-05",
                                         "2026-01-05"])
    # V3: the engine repaired with a part 4 days after the sale (7-day rule, a breach); the
    # brakes 19 days after it at 900 km without a part (60-day rule, a warning).
    register(desk, cars["v3"], "2026-03-01")
    v3 = [desk.warranty_visit(cars["v3"], "oil in coolant", "ENG-HEAD", at("2026-03-05", "09:00"),
                              at("2026-03-06", "17:00"), mileage=150, part=head),
          desk.warranty_visit(cars["v3"], "brake pedal soft", "BRK-CAL", at("2026-03-20", "09:00"),
                              at("2026-03-20", "16:00"), mileage=900)]
    # V4: no sale date recorded; in the shop since 5 March, not repaired by 31 March: 27 days.
    v4 = desk.open(cars["v4"], ["gearbox slipping"], at("2026-03-05", "08:50"), mileage=30_000)
    desk.check_in(v4, 30_000, at("2026-03-05", "09:00"))
    desk.approve(v4, [desk.labor(v4, 1, "TRN-CLU", "6.0", at("2026-03-05", "09:30"),
                                 warranty={"coverage_code": "W-3Y"})], at("2026-03-05", "09:40"))
    # V5: sold more than two years ago; V6: past 50,000 km; V7: brakes paid by the customer.
    register(desk, cars["v5"], "2023-01-01", year=2022)
    brake_visits(desk, cars["v5"], ["2025-06-01", "2025-07-01", "2025-08-01", "2025-09-01",
                                    "2025-10-01"])
    register(desk, cars["v6"], "2025-01-01")
    brake_visits(desk, cars["v6"], ["2025-06-01", "2025-07-01", "2025-08-01", "2025-09-01",
                                    "2025-10-01"], mileage=51_000)
    register(desk, cars["v7"], "2025-01-01")
    brake_visits(desk, cars["v7"], ["2025-06-01", "2025-07-01", "2025-08-01", "2025-09-01",
                                    "2025-10-01"], warranty=False)
    wait_for_projection(container, "work_orders")
    return {"desk": desk, "cars": cars, "v1": v1, "v2": v2, "v3": v3, "v4": v4, "head": head}


def monitor(c: Container, fleet: dict[str, Any], as_of: date = AS_OF,
            rules: SanbaoRules | None = None) -> dict[str, Any]:
    with c.pool.connection() as conn, one_snapshot(conn):
        return sanbao(c.app, conn, [fleet["desk"].store], ZONE, rules or SanbaoRules(), as_of)


def by_vin(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["vin"]: v for v in answer["vehicles"]}


def test_flagged_vehicles_breaches_first(container: Container, fleet: dict[str, Any]) -> None:
    cars = fleet["cars"]
    answer = monitor(container, fleet)
    breaches = sorted([cars["v2"], cars["v3"]])
    warnings = sorted([cars["v1"], cars["v4"]])
    assert [v["vin"] for v in answer["vehicles"]] == breaches + warnings
    assert [v["status"] for v in answer["vehicles"]] == ["breach"] * 2 + ["warning"] * 2
    assert (answer["as_of"], answer["count"], answer["rules"]) == ("2026-03-31", 4, {
        "repair_days_warn": 20, "repair_days_limit": 30, "same_problem_warn": 3,
        "same_problem_limit": 4, "serious_fault_warn": 2, "serious_fault_limit": 2,
        "assembly_replaced_warn": 2, "assembly_replaced_limit": 2, "main_part_warn": 1,
        "main_part_limit": 1})


def test_cumulative_repair_days_across_visits(container: Container,
                                              fleet: dict[str, Any]) -> None:
    v1 = by_vin(monitor(container, fleet))[fleet["cars"]["v1"]]
    assert (v1["sale_date"], v1["valid_until"], v1["mileage_latest"]) == (
        "2025-03-01", "2027-03-01", 20_000)
    assert v1["flags"] == [{"rule": "repair_days", "level": "warning", "days": 20,
                            "warn_from": 20, "limit": 30}]
    assert [(v["work_order_id"], v["checked_in"], v["completed"], v["repair_days"],
             [j["problem"] for j in v["jobs"]]) for v in v1["visits"]] == [
        (str(fleet["v1"][0]), "2025-04-01T09:00:00+08:00", "2025-04-11T09:00:00+08:00", 10,
         ["engine"]),
        (str(fleet["v1"][1]), "2025-06-01T09:00:00+08:00", "2025-06-08T10:00:00+08:00", 8,
         ["brakes"]),
        (str(fleet["v1"][2]), "2025-09-01T09:00:00+08:00", "2025-09-03T08:00:00+08:00", 2,
         ["electrical"])]
    # What the first visit cost the customer and the shop paid: towing and a loaner car.
    desk = fleet["desk"]
    assert [(c["kind"], c["amount"], c["days"], c["reference"], c["by"])
            for c in v1["visits"][0]["compensations"]] == [
        ("towing", "350.00", None, "TOW-5521", desk.adv),
        ("loaner", "1800.00", 10, "RENT-0401", desk.adv)]
    assert v1["visits"][1]["compensations"] == []
    # The evidence: the car's registration and every event of the three visits.
    streams = {e["stream_id"] for e in v1["evidence"]}
    assert streams == {str(vehicle_id(fleet["cars"]["v1"])), *map(str, fleet["v1"])}
    counts = {s: len(container.app.recorder.select_events(UUID(s))) for s in streams}
    assert len(v1["evidence"]) == sum(counts.values())
    # On 30 June 2025 only 10 + 8 = 18 days were spent: not flagged yet, unless warned from 10.
    assert fleet["cars"]["v1"] not in by_vin(monitor(container, fleet, date(2025, 6, 30)))
    early = by_vin(monitor(container, fleet, date(2025, 6, 30), SanbaoRules(repair_days_warn=10)))
    assert early[fleet["cars"]["v1"]]["flags"][0]["days"] == 18


def test_the_same_problem_repaired_more_than_four_times(container: Container,
                                                        fleet: dict[str, Any]) -> None:
    desk, cars = fleet["desk"], fleet["cars"]
    v2 = by_vin(monitor(container, fleet))[cars["v2"]]
    numbers = [f"WO-{desk.store}-{n}" for n in ("2025-000004", "2025-000005", "2025-000006",
                                                "2025-000007", "2026-000001")]
    # Brakes are a serious safety system: repaired after 2 repairs, the fault remained.
    assert v2["flags"] == [{"rule": "same_problem", "level": "breach", "problem": "brakes",
                            "repairs": 5, "work_orders": numbers, "warn_from": 3, "limit": 4},
                           {"rule": "serious_fault_remains", "level": "breach",
                            "system": "brakes", "repairs": 5, "work_orders": numbers,
                            "warn_from": 2, "limit": 2}]
    assert [v["number"] for v in v2["visits"]] == numbers
    assert [v["repair_days"] for v in v2["visits"]] == [1] * 5
    # Four repairs by the end of 2025: a warning (from 3), not yet a breach.
    before = by_vin(monitor(container, fleet, date(2025, 12, 31)))[cars["v2"]]
    assert [(f["rule"], f["level"], f["repairs"]) for f in before["flags"]] == [
        ("same_problem", "warning", 4), ("serious_fault_remains", "breach", 4)]


def test_serious_systems_soon_after_the_sale(container: Container,
                                             fleet: dict[str, Any]) -> None:
    cars = fleet["cars"]
    v3 = by_vin(monitor(container, fleet))[cars["v3"]]
    engine, brakes = (v["number"] for v in v3["visits"])
    assert v3["flags"] == [
        {"rule": "serious_7_days", "level": "breach", "systems": ["engine"], "work_order": engine,
         "job_no": 1, "days_after_sale": 4, "mileage_in": 150},
        {"rule": "serious_60_days", "level": "warning", "systems": ["brakes"],
         "work_order": brakes, "job_no": 1, "days_after_sale": 19, "mileage_in": 900},
        # a main part (of the engine) replaced once: the next time is a breach
        {"rule": "main_part_replaced", "level": "warning", "part_number": fleet["head"],
         "description": "cylinder head gasket", "systems": ["engine"], "replacements": 1,
         "work_orders": [engine], "warn_from": 1, "limit": 1}]
    assert v3["visits"][0]["jobs"][0]["parts_replaced"] == [
        {"part_number": fleet["head"], "description": "cylinder head gasket", "qty": "1"}]


def test_unknown_sale_date_and_a_visit_still_in_the_shop(container: Container,
                                                          fleet: dict[str, Any]) -> None:
    v4 = by_vin(monitor(container, fleet))[fleet["cars"]["v4"]]
    assert (v4["sale_date"], v4["valid_until"], v4["status"]) == (None, None, "warning")
    # Checked in on 5 March 09:00, still open at the end of 31 March: 26 days 15 h -> 27.
    assert v4["flags"] == [{"rule": "repair_days", "level": "warning", "days": 27,
                            "warn_from": 20, "limit": 30}]
    [visit] = v4["visits"]
    assert (visit["ongoing"], visit["completed"], visit["jobs"][0]["problem"]) == (
        True, None, "transmission")
    assert {e["stream_id"] for e in v4["evidence"]} == {str(fleet["v4"])}


def test_problem_keys() -> None:
    assert system_of("brk-disc") == "brakes" and system_of("ENGOH-01") == "engine"
    assert system_of("OIL-CHG") is None
    job = {"complaint": "  Rattle  from DASH ", "diagnosis": {"fault_codes": ["B1234"]}}
    assert problem_of(job, ["OIL-CHG", "STEER-RACK"]) == "steering"
    assert problem_of(job, ["OIL-CHG"]) == "dtc-body"
    assert problem_of({**job, "diagnosis": None}, []) == "complaint: rattle from dash"


def test_other_stores_are_refused(container: Container, fleet: dict[str, Any]) -> None:
    with container.pool.connection() as conn, pytest.raises(NotPermitted):
        sanbao(container.app, conn, [fleet["desk"].store], ZONE, SanbaoRules(), AS_OF,
               store_id="ELSEWHERE")


def test_the_vehicles_are_examined_a_page_at_a_time(container: Container,
                                                    fleet: dict[str, Any]) -> None:
    """Every vehicle with a warranty visit in two years was read from its events in one
    request (a group's thousands): each answer now reads `limit` of them, by VIN."""
    full = monitor(container, fleet)
    cars = fleet["cars"]
    with_warranty = sorted(cars[k] for k in ("v1", "v2", "v3", "v4", "v5", "v6"))
    assert (full["candidates"], full["examined"]) == (6, 6)
    flagged: list[str] = []
    with container.pool.connection() as conn, one_snapshot(conn):
        for offset in (0, 2, 4, 6):
            page = sanbao(container.app, conn, [fleet["desk"].store], ZONE, SanbaoRules(),
                          AS_OF, limit=2, offset=offset)
            assert (page["candidates"], page["examined"]) == (6, 2 if offset < 6 else 0)
            assert all(with_warranty[offset] <= v["vin"] <= with_warranty[offset + 1]
                       for v in page["vehicles"])
            flagged += [v["vin"] for v in page["vehicles"]]
    assert sorted(flagged) == sorted(v["vin"] for v in full["vehicles"])
