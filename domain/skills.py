"""Workshop skills and levels, the skill a labor operation needs, and how a technician is chosen.

Levels run 1 (apprentice) to 5 (master). A job needs, per skill, the highest level any of its
approved labor lines needs: a line priced from the store's labor-operation master needs the
skill and level the master gave it (recorded on the line, `labor_operation`), any other line what
its op code's prefix names (`OP_CODE_SKILLS`). The choice among qualified technicians on shift is deterministic:
least open load, then the smallest level surplus (masters stay free for hard jobs), then fewest
open jobs, then user id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from domain.common import InvalidInput

SKILLS = ("maintenance", "engine", "transmission", "chassis", "electrical", "ev_high_voltage",
          "body", "paint")
LEVELS = range(1, 6)
ALL_ROUND = dict.fromkeys(SKILLS, LEVELS[-1])  # a master of every skill: qualified for any job
# op-code prefix -> (skill, level); the longest matching prefix wins
OP_CODE_SKILLS: dict[str, tuple[str, int]] = {
    "MNT": ("maintenance", 1), "OIL": ("maintenance", 1), "INSP": ("maintenance", 1),
    "BRK": ("chassis", 1), "TIRE": ("chassis", 1), "ALIGN": ("chassis", 2),
    "SUS": ("chassis", 2), "STEER": ("chassis", 2),
    "ENG": ("engine", 2), "ENGOH": ("engine", 4),
    "TRN": ("transmission", 3), "GBX": ("transmission", 3),
    "AC": ("electrical", 1), "ELE": ("electrical", 2), "DIAG": ("electrical", 2),
    "ECU": ("electrical", 3),
    "EV": ("ev_high_voltage", 3), "HV": ("ev_high_voltage", 3), "BAT": ("ev_high_voltage", 3),
    "BODY": ("body", 2), "BDY": ("body", 2), "PNT": ("paint", 2), "PAINT": ("paint", 2),
}


def check_skill(skill: str, level: int) -> None:
    if skill not in SKILLS:
        raise InvalidInput(f"skill must be one of {', '.join(SKILLS)}", skill=skill)
    if level not in LEVELS:
        raise InvalidInput(f"level must be {LEVELS.start}-{LEVELS.stop - 1}", level=level)


def skills_of(raw: Mapping[str, int]) -> dict[str, int]:
    for skill, level in raw.items():
        check_skill(skill, level)
    return dict(sorted(raw.items()))


def skill_for_op_code(op_code: str) -> tuple[str, int] | None:
    code = re.sub(r"[^A-Z0-9]", "", op_code.upper())
    matches = [prefix for prefix in OP_CODE_SKILLS if code.startswith(prefix)]
    return OP_CODE_SKILLS[max(matches, key=len)] if matches else None


MASTER, PREFIX = "labor-operation master", "op-code prefix"


def line_need(line: Mapping[str, Any]) -> tuple[str, int, str]:
    """The skill and level one labor line needs and where they come from: the master's, as the
    line recorded them when it was priced from it, else its op code's prefix."""
    recorded = line.get("labor_operation") or {}
    if recorded.get("skill") is not None and recorded.get("level") is not None:
        return str(recorded["skill"]), int(recorded["level"]), MASTER
    found = skill_for_op_code(line["op_code"])
    if found is None:
        raise InvalidInput(f"op code {line['op_code']} names no skill: give the skill and level",
                           op_code=line["op_code"])
    return found[0], found[1], PREFIX


def required_by(lines: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per skill, the labor line that needs the highest level of it (the first such line):
    `level`, `op_code`, `line_id` and `source` (the master or the op code's prefix)."""
    need: dict[str, dict[str, Any]] = {}
    for line in lines:
        skill, level, source = line_need(line)
        if level > need.get(skill, {}).get("level", 0):
            need[skill] = {"level": level, "op_code": line["op_code"],
                           "line_id": line.get("line_id"), "source": source}
    return need


def lines_requirement(lines: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """What a job's approved labor lines need: per skill the highest level (`line_need`)."""
    return {skill: by["level"] for skill, by in required_by(lines).items()}


def requirement(op_codes: Iterable[str]) -> dict[str, int]:
    """What labor operations need by their op codes alone: per skill the highest level."""
    return lines_requirement({"op_code": op_code} for op_code in op_codes)


def described(by: Mapping[str, Mapping[str, Any]]) -> str:
    """`required_by` as text: "electrical 3 for ECU-FLASH (line 2, labor-operation master)"."""
    return "; ".join(
        f"{skill} {r['level']} for {r['op_code']} "
        f"({'line ' + str(r['line_id']) + ', ' if r.get('line_id') else ''}{r['source']})"
        for skill, r in by.items())


def qualifies(skills: Mapping[str, int], need: Mapping[str, int]) -> bool:
    return all(skills.get(skill, 0) >= level for skill, level in need.items())


def missing(skills: Mapping[str, int], need: Mapping[str, int]) -> list[str]:
    return [f"{skill} {level} (has {skills.get(skill, 0)})" for skill, level in need.items()
            if skills.get(skill, 0) < level]


@dataclass(frozen=True)
class Candidate:
    """One technician as the choice sees them."""

    user_id: str
    skills: Mapping[str, int]
    on_shift: bool
    shift: str | None  # "08:30-17:30" when on shift
    load: Decimal  # flat-rate hours dispatched and not yet through QC
    open_jobs: int
    why_not: list[str] = field(default_factory=list)

    def surplus(self, need: Mapping[str, int]) -> int:
        return sum(self.skills.get(skill, 0) - level for skill, level in need.items())


def ranked(candidates: Sequence[Candidate], need: Mapping[str, int]) -> list[Candidate]:
    """Qualified technicians on shift, best first (the tie-breaks are in the module docstring)."""
    eligible = [c for c in candidates if c.on_shift and qualifies(c.skills, need)]
    return sorted(eligible, key=lambda c: (c.load, c.surplus(need), c.open_jobs, c.user_id))


def exclusions(candidates: Sequence[Candidate], need: Mapping[str, int]) -> dict[str, str]:
    """Why each technician who was not eligible was left out."""
    out: dict[str, str] = {}
    for c in candidates:
        reasons = [*c.why_not]
        if not c.on_shift and not reasons:
            reasons.append("not on shift")
        lacks = missing(c.skills, need)
        if lacks:
            reasons.append("lacks " + ", ".join(lacks))
        if reasons:
            out[c.user_id] = "; ".join(reasons)
    return out


def explain(chosen: Candidate, ranking: Sequence[Candidate], need: Mapping[str, int]) -> str:
    """The dispatch event's reason: skill, level, shift, open load and the tie-break used."""
    needs = ", ".join(f"{s} {lv}" for s, lv in need.items())
    has = ", ".join(f"{s} {chosen.skills.get(s, 0)}" for s in need)
    text = (f"auto-dispatch: needs {needs}; {chosen.user_id} has {has}; on shift {chosen.shift}; "
            f"open load {chosen.load} h over {chosen.open_jobs} jobs")
    rivals = [c for c in ranking if c is not chosen]
    if not rivals:
        return text + "; the only qualified technician on shift"
    runner_up = rivals[0]
    if runner_up.load != chosen.load:
        tie = f"least open load of {len(ranking)} qualified (next {runner_up.load} h)"
    elif runner_up.surplus(need) != chosen.surplus(need):
        tie = "equal load; closest level to the job (masters kept free)"
    elif runner_up.open_jobs != chosen.open_jobs:
        tie = "equal load and level; fewest open jobs"
    else:
        tie = "equal load, level and jobs; first by user id"
    return f"{text}; {tie}"
