"""Auto-dispatch never picks an unqualified or off-shift technician, always picks one with the
least open load among those who qualify, and refuses (storing nothing) when nobody does.

Each example builds a roster (skills, shifts, absences), then dispatches approved jobs and
sometimes finishes one (clock, complete, QC pass), checking every choice against a reference.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import ServiceCore
from domain.dispatch import Dispatch, NoTechnicianAvailable
from domain.skills import OP_CODE_SKILLS
from domain.technicians import Technicians
from domain.work_orders import WorkOrders
from tests.unit.support import T0, checked_in, events_stored, request

DAY = "2026-05-01"  # T0 is 09:00 on this day in Shanghai
NOW = T0 + timedelta(hours=2)  # 11:00
OP_CODES = ("MNT10K", "BRK01", "ALIGN", "ENG-TIMING", "TRN-FLUSH", "EV-BMS", "AC-RECH")

technicians = st.lists(st.fixed_dictionaries({
    "skills": st.dictionaries(st.sampled_from(["maintenance", "chassis", "engine",
                                               "transmission", "electrical",
                                               "ev_high_voltage"]),
                              st.integers(1, 5), max_size=4),
    "shift": st.sampled_from([None, ("08:00", "17:00"), ("08:00", "10:30"),
                              ("12:00", "20:00")]),
    "absent": st.booleans(),
}), min_size=1, max_size=5)
jobs = st.lists(st.tuples(st.lists(st.sampled_from(OP_CODES), min_size=1, max_size=2),
                          st.sampled_from(["1.0", "1.5", "2.5"]), st.booleans()),
                min_size=1, max_size=6)


def need_of(op_codes: list[str]) -> dict[str, int]:
    need: dict[str, int] = {}
    for code in op_codes:
        prefix = max((p for p in OP_CODE_SKILLS if code.replace("-", "").startswith(p)), key=len)
        skill, level = OP_CODE_SKILLS[prefix]
        need[skill] = max(level, need.get(skill, 0))
    return need


def eligible(tech: dict[str, Any], need: dict[str, int]) -> bool:
    """Reference: on shift at 11:00 (a shift today that has not ended, not absent), qualified."""
    on_shift = tech["shift"] is not None and not tech["absent"] and tech["shift"][1] > "11:00"
    return on_shift and all(tech["skills"].get(s, 0) >= lv for s, lv in need.items())


@settings(max_examples=40)
@given(roster=technicians, work=jobs)
def test_auto_dispatch_picks_only_qualified_technicians_on_shift_with_least_load(
        roster: list[dict[str, Any]], work: list[tuple[list[str], str, bool]]) -> None:
    app = ServiceCore()
    wos, dispatch, people = WorkOrders(app), Dispatch(app), Technicians(app)
    names = [f"t{i}" for i in range(len(roster))]
    for name, tech in zip(names, roster, strict=True):
        people.set_profile(request("manager"), name, store_id="S01", skills=tech["skills"],
                           hourly_cost="80.00")
        if tech["shift"]:
            start, end = tech["shift"]
            people.plan_shifts(request("manager"), name, [{"day": DAY, "start": start,
                                                           "end": end}])
            if tech["absent"]:
                people.record_attendance(request("manager"), name, day=DAY, status="absent")
    load = {name: Decimal(0) for name in names}
    for op_codes, hours, finish in work:
        wo_id = checked_in(wos)
        for code in op_codes:
            line = wos.add_labor_line(request(), wo_id, 1, {
                "op_code": code, "description": code, "hours": hours, "hourly_rate": "300.00"})
            wos.authorize_line(request(), wo_id, line.body["line_id"], decision="approved",
                               channel="phone")
        need = need_of(op_codes)
        fit = [n for n, t in zip(names, roster, strict=True) if eligible(t, need)]
        before = events_stored(app)
        try:
            chosen = dispatch.auto(request(at=NOW), wo_id, 1).body["technician_id"]
        except NoTechnicianAvailable:
            assert fit == [], f"refused although {fit} qualify for {need}"
            assert events_stored(app) == before
            continue
        assert chosen in fit, f"{chosen} is unqualified or off shift for {need}"
        assert load[chosen] == min(load[n] for n in fit), "not the least open load"
        if finish:
            finish_job(wos, wo_id, chosen)
        else:
            load[chosen] += Decimal(hours) * len(op_codes)


def finish_job(wos: WorkOrders, wo_id: UUID, technician: str) -> None:
    """The technician does the job and it passes QC: it no longer counts as open load."""
    wos.clock_on(request("technician", technician, at=NOW), wo_id, 1)
    wos.clock_off(request("technician", technician, at=NOW + timedelta(minutes=50)), wo_id, 1)
    wos.complete_job(request("technician", technician, at=NOW), wo_id, 1)
    wos.quality_check(request("manager", at=NOW), wo_id, 1, passed=True)
