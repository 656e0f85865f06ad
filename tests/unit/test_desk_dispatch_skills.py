"""The desk dispatches a job only to a technician with the skills and levels its approved labor
lines need; the manager's override sets that aside and records, as a field of the dispatch
event, what it set aside."""

from __future__ import annotations

from uuid import UUID

import pytest

from domain.application import ServiceCore
from domain.dispatch import Dispatch, NotQualified
from domain.technicians import Technicians
from domain.work_order import WorkOrder
from domain.work_orders import WorkOrders
from tests.unit.support import checked_in, events_stored, labor, load, request, stored_before


def approved(wos: WorkOrders, op_code: str) -> UUID:
    """A checked-in visit whose job 1 has one approved labor line of `op_code`."""
    wo_id = checked_in(wos)
    line = wos.add_labor_line(request(), wo_id, 1, labor(op_code=op_code, description=op_code))
    wos.authorize_line(request(), wo_id, line.body["line_id"], decision="approved",
                       channel="phone")
    return wo_id


def staff(app: ServiceCore, user: str, skills: dict[str, int]) -> None:
    Technicians(app).set_profile(request("manager"), user, store_id="S01", skills=skills,
                                 hourly_cost="80.00")


def test_the_desk_refuses_a_technician_who_lacks_the_skill_and_stores_nothing() -> None:
    app = ServiceCore()
    wos = WorkOrders(app)
    wo_id = approved(wos, "TRN-OVERHAUL")  # transmission 3
    staff(app, "apprentice", {"transmission": 1, "maintenance": 2})
    before = events_stored(app)
    with pytest.raises(NotQualified) as refused:
        wos.dispatch(request("manager"), wo_id, 1, technician_id="apprentice")
    assert events_stored(app) == before
    assert refused.value.extra["missing"] == ["transmission 3 (has 1)"]
    assert refused.value.extra["field"] == "technician_id"
    assert refused.value.extra["override"] == "POST /dispatch/override"
    assert "TRN-OVERHAUL" in str(refused.value.extra["required_by"])
    assert load(app, wo_id).jobs[1]["technician_id"] is None


def test_a_qualified_technician_or_a_job_naming_no_skill_is_dispatched_as_before() -> None:
    app = ServiceCore()
    wos = WorkOrders(app)
    staff(app, "master", {"transmission": 4})
    staff(app, "apprentice", {})
    skilled = approved(wos, "TRN-OVERHAUL")
    wos.dispatch(request(), skilled, 1, technician_id="master")
    unnamed = approved(wos, "PDI")  # an op code that names no skill: nothing to check
    wos.dispatch(request(), unnamed, 1, technician_id="apprentice")
    assert load(app, skilled).jobs[1]["technician_id"] == "master"
    assert load(app, unnamed).jobs[1]["technician_id"] == "apprentice"


def test_the_override_records_what_it_sets_aside_as_a_field() -> None:
    app = ServiceCore()
    wos = WorkOrders(app)
    wo_id = approved(wos, "TRN-OVERHAUL")
    staff(app, "apprentice", {"transmission": 1})
    Dispatch(app).override(request("manager"), wo_id, 1, technician_id="apprentice",
                           reason="the master is on leave; supervised by the foreman")
    event = next(e for e in app.events.get(wo_id) if isinstance(e, WorkOrder.JobDispatched))
    assert event.set_aside[0] == "lacks transmission 3 (has 1)"
    assert "sets aside: lacks transmission 3 (has 1)" in (event.reason or "")


def test_a_dispatch_stored_before_set_aside_reads_as_setting_nothing_aside() -> None:
    app = ServiceCore()
    wos = WorkOrders(app)
    staff(app, "master", {"transmission": 5})
    wo_id = approved(wos, "TRN-OVERHAUL")
    wos.dispatch(request(), wo_id, 1, technician_id="master")
    event = next(e for e in app.events.get(wo_id) if isinstance(e, WorkOrder.JobDispatched))
    old = stored_before(app, event, 1, "set_aside")
    assert old.set_aside == []
    assert old.technician_id == "master"
