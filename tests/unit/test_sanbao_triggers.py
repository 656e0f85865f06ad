"""三包 triggers on fabricated visits: a serious safety fault remaining after 2 repairs, an
assembly replaced twice and still failing, the same main part replaced twice; their warning
levels, the validity that bounds the visits, and that a further visit never takes a breach away."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from projections.sanbao import SanbaoRules, flags_of, in_validity

RULES = SanbaoRules()
SALE = date(2025, 1, 10)


def visit(n: int, day: str | date, *jobs: tuple[list[str], list[str]],
          mileage: int = 10_000) -> dict[str, Any]:
    """Visit `n` checked in on `day` with jobs of (systems, part numbers issued)."""
    day = date.fromisoformat(day) if isinstance(day, str) else day
    return {"number": f"WO-{n:03d}", "checked_in": f"{day.isoformat()}T09:00:00+08:00",
            "day_in": day, "mileage_in": mileage, "repair_days": 1, "jobs": [
                {"job_no": no, "complaint": "x", "problem": systems[0] if systems else "x",
                 "systems": systems, "parts_replaced": [
                     {"part_number": p, "description": f"part {p}", "qty": 1} for p in parts]}
                for no, (systems, parts) in enumerate(jobs, start=1)]}


def of(rule: str, visits: list[dict[str, Any]], rules: SanbaoRules = RULES,
       sale: date | None = SALE) -> list[dict[str, Any]]:
    return [f for f in flags_of(visits, sale, rules) if f["rule"] == rule]


# serious safety fault remains after 2 repairs


def test_a_safety_system_repaired_twice_warns_and_a_third_time_breaches() -> None:
    brakes = [visit(n, f"2025-0{n + 3}-01", (["brakes"], [])) for n in range(1, 4)]
    assert of("serious_fault_remains", brakes[:1]) == []
    assert of("serious_fault_remains", brakes[:2]) == [{
        "rule": "serious_fault_remains", "level": "warning", "system": "brakes", "repairs": 2,
        "work_orders": ["WO-001", "WO-002"], "warn_from": 2, "limit": 2}]
    [flag] = of("serious_fault_remains", brakes)
    assert (flag["level"], flag["repairs"], flag["work_orders"]) == (
        "breach", 3, ["WO-001", "WO-002", "WO-003"])
    # Without a sale date the rule still holds (it does not count from the sale).
    assert of("serious_fault_remains", brakes, sale=None)[0]["level"] == "breach"


def test_safety_systems_are_not_counted_together_nor_other_systems() -> None:
    visits = [visit(1, "2025-04-01", (["brakes"], [])), visit(2, "2025-05-01", (["steering"], [])),
              visit(3, "2025-06-01", (["brakes"], [])), visit(4, "2025-07-01", (["engine"], [])),
              visit(5, "2025-08-01", (["engine"], [])), visit(6, "2025-09-01", (["engine"], [])),
              visit(7, "2025-10-01", (["suspension"], [])),
              visit(8, "2025-11-01", (["suspension"], [])),
              visit(9, "2025-12-01", (["suspension"], []))]
    assert [(f["system"], f["level"]) for f in of("serious_fault_remains", visits)] == [
        ("brakes", "warning")]


def test_two_safety_jobs_on_one_visit_are_one_repair_and_the_levels_are_settings() -> None:
    visits = [visit(1, "2025-04-01", (["brakes"], []), (["brakes"], [])),
              visit(2, "2025-05-01", (["brakes"], []))]
    assert of("serious_fault_remains", visits)[0]["repairs"] == 2
    eager = replace(RULES, serious_fault_warn=1, serious_fault_limit=1)
    assert [f["level"] for f in of("serious_fault_remains", visits[:1], eager)] == ["warning"]
    assert [f["level"] for f in of("serious_fault_remains", visits, eager)] == ["breach"]


# engine / transmission / traction battery / drive motor replaced twice and still failing


def test_an_assembly_replaced_twice_warns_and_breaches_when_repaired_again() -> None:
    once = [visit(1, "2025-03-01", (["engine"], ["E-1"]))]
    twice = [*once, visit(2, "2025-04-01", (["engine"], ["E-2"]))]
    assert of("assembly_replaced", once) == []
    assert of("assembly_replaced", twice) == [{
        "rule": "assembly_replaced", "level": "warning", "system": "engine", "replacements": 2,
        "replaced_on": ["WO-001", "WO-002"], "failed_again_on": [],
        "work_orders": ["WO-001", "WO-002"], "warn_from": 2, "limit": 2}]
    again = [*twice, visit(3, "2025-05-01", (["engine"], []))]
    [flag] = of("assembly_replaced", again)
    assert (flag["level"], flag["failed_again_on"], flag["work_orders"]) == (
        "breach", ["WO-003"], ["WO-001", "WO-002", "WO-003"])
    # A third replacement is a repair after the second as well.
    thrice = [*twice, visit(3, "2025-05-01", (["engine"], ["E-3"]))]
    assert of("assembly_replaced", thrice)[0]["level"] == "breach"


def test_the_failure_must_follow_the_second_replacement_of_the_same_assembly() -> None:
    # A labor-only engine repair between the two replacements is not "still failing" after them.
    between = [visit(1, "2025-03-01", (["engine"], ["E-1"])),
               visit(2, "2025-04-01", (["engine"], [])),
               visit(3, "2025-05-01", (["engine"], ["E-2"]))]
    assert [f["level"] for f in of("assembly_replaced", between)] == ["warning"]
    # Listed out of order, the visits are read by check-in.
    assert [f["level"] for f in of("assembly_replaced", between[::-1])] == ["warning"]
    # The engine and the transmission are not counted together, nor a later brake repair.
    mixed = [visit(1, "2025-03-01", (["engine"], ["E-1"])),
             visit(2, "2025-04-01", (["transmission"], ["T-1"])),
             visit(3, "2025-05-01", (["transmission"], [])),
             visit(4, "2025-06-01", (["engine"], ["E-2"])),
             visit(5, "2025-07-01", (["brakes"], []))]
    assert [(f["system"], f["level"]) for f in of("assembly_replaced", mixed)] == [
        ("engine", "warning")]
    # Parts issued on a brake job of a visit that also repaired the engine are not the engine's.
    brake_parts = [visit(1, "2025-03-01", (["engine"], []), (["brakes"], ["B-1"])),
                   visit(2, "2025-04-01", (["engine"], ["E-1"])),
                   visit(3, "2025-05-01", (["engine"], []))]
    assert of("assembly_replaced", brake_parts) == []


def test_assembly_levels_are_settings() -> None:
    visits = [visit(1, "2025-03-01", (["traction_battery"], ["HV-1"])),
              visit(2, "2025-04-01", (["traction_battery"], []))]
    eager = replace(RULES, assembly_replaced_warn=1, assembly_replaced_limit=1)
    assert [f["level"] for f in of("assembly_replaced", visits[:1], eager)] == ["warning"]
    assert [f["level"] for f in of("assembly_replaced", visits, eager)] == ["breach"]
    assert of("assembly_replaced", visits) == []


# the same main part replaced twice


def test_the_same_main_part_on_a_second_visit_breaches() -> None:
    first = [visit(1, "2025-03-01", (["brakes"], ["BRK-CAL-7"]))]
    assert of("main_part_replaced", first) == [{
        "rule": "main_part_replaced", "level": "warning", "part_number": "BRK-CAL-7",
        "description": "part BRK-CAL-7", "systems": ["brakes"], "replacements": 1,
        "work_orders": ["WO-001"], "warn_from": 1, "limit": 1}]
    second = [*first, visit(2, "2025-09-01", (["brakes"], ["BRK-CAL-7"]))]
    [flag] = of("main_part_replaced", second)
    assert (flag["level"], flag["replacements"], flag["work_orders"]) == (
        "breach", 2, ["WO-001", "WO-002"])


def test_main_parts_are_counted_per_part_number_per_visit_and_on_main_systems_only() -> None:
    visits = [visit(1, "2025-03-01", (["brakes"], ["PAD-1", "PAD-1"]), (["brakes"], ["PAD-1"])),
              visit(2, "2025-04-01", (["brakes"], ["PAD-2"])),
              visit(3, "2025-05-01", (["electrical"], ["FUSE-1"])),
              visit(4, "2025-06-01", (["electrical"], ["FUSE-1"]))]
    assert [(f["part_number"], f["level"], f["replacements"])
            for f in of("main_part_replaced", visits)] == [
        ("PAD-1", "warning", 1), ("PAD-2", "warning", 1)]
    quiet = replace(RULES, main_part_warn=2)
    assert of("main_part_replaced", visits, quiet) == []


# the 60-day / 3,000 km rule names a traction battery fire beside steering, brakes, body, fuel


def test_a_traction_battery_replaced_within_60_days_and_3000_km_breaches() -> None:
    """SALE 10 January: day 60 is 11 March, the last day of the rule; 3,000 km its last km."""
    on_day_60 = visit(1, "2025-03-11", (["traction_battery"], ["HV-PACK"]), mileage=3_000)
    assert [(f["level"], f["systems"], f["days_after_sale"]) for f in
            of("serious_60_days", [on_day_60])] == [("breach", ["traction_battery"], 60)]
    repaired = visit(1, "2025-02-20", (["traction_battery"], []), mileage=1_200)
    assert [f["level"] for f in of("serious_60_days", [repaired])] == ["warning"]
    assert of("serious_60_days", [visit(1, "2025-03-12", (["traction_battery"], ["HV-PACK"]),
                                        mileage=2_000)]) == []  # day 61
    assert of("serious_60_days", [visit(1, "2025-03-01", (["traction_battery"], ["HV-PACK"]),
                                        mileage=3_001)]) == []
    # not a safety system of the rule on faults remaining after 2 repairs
    thrice = [visit(n, f"2025-0{n + 3}-01", (["traction_battery"], [])) for n in (1, 2, 3)]
    assert of("serious_fault_remains", thrice) == []


# the validity bounds every trigger


def test_the_validity_bounds_the_visits_by_days_and_by_km() -> None:
    until = date(2027, 1, 10)
    assert in_validity(visit(1, until, (["brakes"], [])), SALE, until)
    assert not in_validity(visit(1, until + timedelta(days=1), (["brakes"], [])), SALE, until)
    assert not in_validity(visit(1, SALE - timedelta(days=1), (["brakes"], [])), SALE, until)
    assert in_validity(visit(1, "2026-01-01", (["brakes"], []), mileage=50_000), SALE, until)
    assert not in_validity(visit(1, "2026-01-01", (["brakes"], []), mileage=50_001), SALE, until)
    brakes = [visit(1, "2025-03-01", (["brakes"], ["CAL"])),
              visit(2, "2025-04-01", (["brakes"], ["CAL"]))]
    for late in (visit(3, until + timedelta(days=1), (["brakes"], ["CAL"])),
                 visit(3, "2026-06-01", (["brakes"], ["CAL"]), mileage=50_001)):
        counted = [v for v in [*brakes, late] if in_validity(v, SALE, until)]
        assert [f["level"] for f in of("serious_fault_remains", counted)] == ["warning"]
    inside = [*brakes, visit(3, until, (["brakes"], ["CAL"]), mileage=50_000)]
    counted = [v for v in inside if in_validity(v, SALE, until)]
    assert [f["level"] for f in of("serious_fault_remains", counted)] == ["breach"]


# a further visit never takes a breach away

SYSTEMS = ["engine", "transmission", "traction_battery", "brakes", "steering", "suspension",
           "electrical"]
jobs = st.lists(st.tuples(st.lists(st.sampled_from(SYSTEMS), min_size=1, max_size=2, unique=True),
                          st.lists(st.sampled_from(["P-1", "P-2", "P-3"]), max_size=2)),
                min_size=1, max_size=2)
visits_st = st.lists(st.tuples(st.integers(0, 700), st.integers(0, 40_000), jobs), max_size=7)


def _breaches(visits: list[dict[str, Any]]) -> set[tuple[str, Any]]:
    return {(f["rule"], f.get("system") or f.get("part_number") or f.get("problem")
             or f.get("work_order")) for f in flags_of(visits, SALE, RULES)
            if f["level"] == "breach"}


@given(visits_st, st.integers(0, 700), st.integers(0, 40_000), jobs)
def test_adding_a_visit_never_removes_a_breach(
        drawn: list[tuple[int, int, list[tuple[list[str], list[str]]]]], day: int, km: int,
        extra: list[tuple[list[str], list[str]]]) -> None:
    visits = [visit(n, SALE + timedelta(days=d), *js, mileage=m)
              for n, (d, m, js) in enumerate(drawn)]
    more = [*visits, visit(len(visits), SALE + timedelta(days=day), *extra, mileage=km)]
    assert _breaches(visits) <= _breaches(more)
