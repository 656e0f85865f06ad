"""The skills a job needs, per labor line: a line priced from the labor-operation master needs
the skill and level it recorded, any other line what its op code's prefix names; the job needs
per skill the highest level of its lines, and the refusal names the line that set it."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from domain.skills import (
    MASTER,
    OP_CODE_SKILLS,
    PREFIX,
    SKILLS,
    lines_requirement,
    required_by,
    requirement,
    skill_for_op_code,
)

OP_CODES = ("MNT10K", "BRK01", "ALIGN", "ENG-TIMING", "ENGOH1", "TRN-FLUSH", "EV-BMS",
            "AC-RECH", "ECU-FLASH", "DIAG")
masters = st.one_of(st.none(), st.fixed_dictionaries({
    "skill": st.sampled_from(SKILLS), "level": st.integers(1, 5)}))
lines = st.lists(st.tuples(st.sampled_from(OP_CODES), masters), max_size=8).map(
    lambda found: [{"line_id": f"L{n}", "op_code": code,
                    **({"labor_operation": {"flat_rate_hours": "1.00", "version": 1, **m}}
                       if m else {})} for n, (code, m) in enumerate(found, 1)])


def expected(line: dict[str, Any]) -> tuple[str, int]:
    recorded = line.get("labor_operation")
    if recorded:
        return recorded["skill"], recorded["level"]
    found = skill_for_op_code(line["op_code"])
    assert found is not None
    return found


@given(lines)
def test_the_need_is_per_skill_the_highest_level_of_any_line(job: list[dict[str, Any]]) -> None:
    need = lines_requirement(job)
    assert set(need) == {expected(line)[0] for line in job}
    for skill, level in need.items():
        assert level == max(lv for s, lv in map(expected, job) if s == skill)
    for skill, by in required_by(job).items():
        line = next(ln for ln in job if ln["line_id"] == by["line_id"])
        assert expected(line) == (skill, by["level"]) and by["op_code"] == line["op_code"]
        assert by["source"] == (MASTER if line.get("labor_operation") else PREFIX)


@given(st.lists(st.sampled_from(OP_CODES), max_size=8))
def test_lines_without_master_data_need_what_their_op_code_prefix_names(
        op_codes: list[str]) -> None:
    job = [{"line_id": f"L{n}", "op_code": code} for n, code in enumerate(op_codes, 1)]
    need: dict[str, int] = {}
    for code in op_codes:
        skill, level = OP_CODE_SKILLS[max((p for p in OP_CODE_SKILLS
                                           if code.replace("-", "").startswith(p)), key=len)]
        need[skill] = max(level, need.get(skill, 0))
    assert lines_requirement(job) == requirement(op_codes) == need


def test_the_master_raises_a_line_above_its_prefix_and_the_refusal_names_it() -> None:
    job = [{"line_id": "L1", "op_code": "AC-RECH"},
           {"line_id": "L2", "op_code": "WIRING-FIX",
            "labor_operation": {"skill": "electrical", "level": 3}},
           {"line_id": "L3", "op_code": "ELE01",
            "labor_operation": {"skill": None, "level": None}}]
    assert lines_requirement(job) == {"electrical": 3}
    assert required_by(job) == {"electrical": {
        "level": 3, "op_code": "WIRING-FIX", "line_id": "L2", "source": MASTER}}
