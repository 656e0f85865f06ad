"""三包 triggers within the validity that rest on repeated repairs of one system or one part.

Read from the 三包 repairs the monitor has already bounded to the validity (2 years / 50,000 km,
see `projections/sanbao.py`), in check-in order; a repair "of a system" is a visit with a
counted job (an approved warranty line) whose labor op codes name that system:
- serious safety fault remains after 2 repairs (`serious_fault_remains`): the serious safety
  systems are steering, brakes, body and fuel (the 60-day rule's, but for the traction
  battery, whose repairs are mostly not safety faults); per system, the visits
  repairing it: a warning from `serious_fault_warn` (2), a breach above `serious_fault_limit`
  (2), i.e. the system repaired again on a later visit after 2 repairs (the fault remained);
- engine / transmission / traction battery or drive motor replaced twice and still failing
  (`assembly_replaced`): the systems of the 7-day rule; per system, the visits on which parts
  were replaced on a job of that system: a warning from `assembly_replaced_warn` (2), a breach
  once `assembly_replaced_limit` (2) such visits are followed by a later visit repairing it;
- the same main part replaced twice (`main_part_replaced`): a main part is a part issued on a
  job of a main system (engine, transmission, traction battery / drive motor, steering, brakes,
  suspension, body); per part number, the visits it was issued on for such a job: a warning
  from `main_part_warn` (1), a breach above `main_part_limit` (1), i.e. on a second visit.
Each flag names the work orders it rests on. Every rule only grows with the visits: a further
visit never takes a breach away.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from projections.sanbao import SanbaoRules

SEVEN_DAY = frozenset({"engine", "transmission", "traction_battery"})
SAFETY = frozenset({"steering", "brakes", "body", "fuel"})
# the 60-day rule also names a traction battery fire, known here as a traction battery repair
SIXTY_DAY, SIXTY_DAY_KM = SAFETY | {"traction_battery"}, 3_000
ASSEMBLIES = SEVEN_DAY
MAIN_PART_SYSTEMS = SEVEN_DAY | {"steering", "brakes", "suspension", "body"}


def _in_order(visits: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(visits, key=lambda v: (v["checked_in"], v["number"]))


def _systems(visit: dict[str, Any]) -> set[str]:
    return {s for job in visit["jobs"] for s in job["systems"]}


def flag_level(value: int, warn: int, limit: int) -> str | None:
    """A count's flag: a breach past `limit`, a warning from `warn` on."""
    return "breach" if value > limit else "warning" if value >= warn else None


def serious_fault_remains(visits: list[dict[str, Any]],
                          rules: SanbaoRules) -> list[dict[str, Any]]:
    flags = []
    for system in sorted(SAFETY):
        numbers = [v["number"] for v in _in_order(visits) if system in _systems(v)]
        if level := flag_level(len(numbers), rules.serious_fault_warn, rules.serious_fault_limit):
            flags.append({"rule": "serious_fault_remains", "level": level, "system": system,
                          "repairs": len(numbers), "work_orders": numbers,
                          "warn_from": rules.serious_fault_warn,
                          "limit": rules.serious_fault_limit})
    return flags


def assembly_replaced(visits: list[dict[str, Any]], rules: SanbaoRules) -> list[dict[str, Any]]:
    flags = []
    ordered = _in_order(visits)
    for system in sorted(ASSEMBLIES):
        replaced = [n for n, v in enumerate(ordered) if any(
            system in job["systems"] and job["parts_replaced"] for job in v["jobs"])]
        limit = rules.assembly_replaced_limit
        after = [v["number"] for v in ordered[replaced[limit - 1] + 1:]
                 if system in _systems(v)] if len(replaced) >= limit else []
        if not after and len(replaced) < rules.assembly_replaced_warn:
            continue
        level = "breach" if after else "warning"
        numbers = [ordered[n]["number"] for n in replaced]
        flags.append({"rule": "assembly_replaced", "level": level, "system": system,
                      "replacements": len(replaced), "replaced_on": numbers,
                      "failed_again_on": after,
                      "work_orders": list(dict.fromkeys([*numbers, *after])),
                      "warn_from": rules.assembly_replaced_warn, "limit": limit})
    return flags


def main_part_replaced(visits: list[dict[str, Any]], rules: SanbaoRules) -> list[dict[str, Any]]:
    issued: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    systems: dict[str, set[str]] = {}
    for v in _in_order(visits):
        for job in v["jobs"]:
            main = MAIN_PART_SYSTEMS.intersection(job["systems"])
            if not main:
                continue
            for part in job["parts_replaced"]:
                number = part["part_number"]
                names.setdefault(number, part["description"])
                systems.setdefault(number, set()).update(main)
                if v["number"] not in issued.setdefault(number, []):
                    issued[number].append(v["number"])
    flags = []
    for number, on in sorted(issued.items()):
        if level := flag_level(len(on), rules.main_part_warn, rules.main_part_limit):
            flags.append({"rule": "main_part_replaced", "level": level, "part_number": number,
                          "description": names[number], "systems": sorted(systems[number]),
                          "replacements": len(on), "work_orders": on,
                          "warn_from": rules.main_part_warn, "limit": rules.main_part_limit})
    return flags


def trigger_flags(visits: list[dict[str, Any]], rules: SanbaoRules) -> list[dict[str, Any]]:
    """The flags of the three triggers above, in that order."""
    return [*serious_fault_remains(visits, rules), *assembly_replaced(visits, rules),
            *main_part_replaced(visits, rules)]
