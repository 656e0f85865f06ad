"""A job that needs no repair is closed (no fault found, or declined) with a reason; a job left
with no estimate lines holds the visit back from settlement; a visit whose jobs were all closed
is settled (a zero bill) and delivered."""

from __future__ import annotations

from uuid import UUID

import pytest

from domain.aftercare import Aftercare
from domain.application import ServiceCore
from domain.common import DomainError, InvalidInput, NotFound
from domain.settlements import Settlements
from domain.work_order_state import WorkOrderError
from domain.work_orders import WorkOrders
from tests.unit.support import (
    T0,
    approved_job,
    checked_in,
    events_stored,
    labor,
    load,
    open_order,
    request,
)

WHY = "no rattle on a 20 km test drive with the customer"


@pytest.fixture
def wos() -> WorkOrders:
    return WorkOrders(ServiceCore())


def repaired(wos: WorkOrders, wo_id: UUID, job_no: int = 1) -> None:
    """Job `job_no` estimated, approved, dispatched, repaired and passed QC."""
    approved_job(wos, wo_id, job_no)
    wos.clock_on(request("technician", "tech-zhao"), wo_id, job_no)
    wos.clock_off(request("technician", "tech-zhao"), wo_id, job_no)
    wos.complete_job(request("technician", "tech-zhao"), wo_id, job_no)
    wos.quality_check(request("manager", "qc-1"), wo_id, job_no, passed=True)


def test_a_job_left_without_lines_holds_the_visit_until_it_is_closed(wos: WorkOrders) -> None:
    wo_id = checked_in(wos)
    wos.add_job(request(), wo_id, complaint="rattle from the dashboard")
    repaired(wos, wo_id)
    held = load(wos.app, wo_id)
    assert held.status == "in_progress"
    assert any("job 2" in reason and "no estimate lines" in reason for reason in held.blockers())
    with pytest.raises(DomainError):
        Settlements(wos.app).draft(request(), wo_id)
    wos.close_job(request(), wo_id, 2, outcome="no_fault_found", reason=WHY)
    done = load(wos.app, wo_id)
    assert done.status == "ready_for_settlement"
    assert done.jobs[2]["status"] == "closed"
    assert done.jobs[2]["closure"] == {"outcome": "no_fault_found", "reason": WHY,
                                       "by": "advisor-1", "at": T0.isoformat()}


def test_a_visit_whose_only_job_found_no_fault_is_settled_at_zero_and_delivered(
        wos: WorkOrders) -> None:
    wo_id = checked_in(wos)
    assert load(wos.app, wo_id).blockers()[0].startswith("job 1 is reported with no estimate")
    wos.close_job(request("manager"), wo_id, 1, outcome="no_fault_found", reason=WHY)
    assert load(wos.app, wo_id).status == "ready_for_settlement"
    money = Settlements(wos.app)
    drafted = money.draft(request("cashier"), wo_id)
    confirmed = money.confirm(request(), UUID(drafted.body["id"]))
    assert confirmed.body["settled"] is True
    Aftercare(wos.app).deliver(request(), wo_id, mileage_out=42_020, acknowledged_by="陈静")
    assert load(wos.app, wo_id).status == "delivered"


def test_a_job_whose_lines_were_all_declined_closes_as_declined(wos: WorkOrders) -> None:
    wo_id = checked_in(wos)
    line = wos.add_labor_line(request(), wo_id, 1, labor()).body["line_id"]
    with pytest.raises(WorkOrderError) as pending:  # still waiting for the customer
        wos.close_job(request(), wo_id, 1, outcome="declined", reason="too dear today")
    assert pending.value.extra["lines"] == [line]
    wos.authorize_line(request(), wo_id, line, decision="declined", channel="phone")
    wos.close_job(request(), wo_id, 1, outcome="declined", reason="too dear today")
    assert load(wos.app, wo_id).jobs[1]["closure"]["outcome"] == "declined"


@pytest.mark.parametrize(("outcome", "reason", "error", "field"), [
    ("fixed", WHY, InvalidInput, "outcome"),
    ("no_fault_found", "  ", InvalidInput, "reason"),
    ("no_fault_found", None, InvalidInput, "reason"),
])
def test_bad_input_is_refused_naming_the_field(wos: WorkOrders, outcome: str,
                                               reason: str | None, error: type,
                                               field: str) -> None:
    wo_id = checked_in(wos)
    before = events_stored(wos.app)
    with pytest.raises(error) as refused:
        wos.close_job(request(), wo_id, 1, outcome=outcome, reason=reason)
    assert refused.value.extra["field"] == field
    assert events_stored(wos.app) == before


def test_illegal_closes_are_refused_and_store_nothing(wos: WorkOrders) -> None:
    wo_id = checked_in(wos)
    wos.add_job(request(), wo_id, complaint="rattle")
    approved_job(wos, wo_id, 1)  # approved work: it is repaired, not closed
    not_in = open_order(wos)
    before = events_stored(wos.app)
    with pytest.raises(WorkOrderError, match="approved or awaiting"):
        wos.close_job(request(), wo_id, 1, outcome="no_fault_found", reason=WHY)
    with pytest.raises(NotFound):
        wos.close_job(request(), wo_id, 3, outcome="no_fault_found", reason=WHY)
    with pytest.raises(WorkOrderError, match="check the vehicle in"):
        wos.close_job(request(), not_in, 1, outcome="no_fault_found", reason=WHY)
    assert events_stored(wos.app) == before
    wos.close_job(request(), wo_id, 2, outcome="no_fault_found", reason=WHY)
    closed = events_stored(wos.app)
    with pytest.raises(WorkOrderError, match="job 2 is closed"):
        wos.close_job(request(), wo_id, 2, outcome="declined", reason=WHY)
    with pytest.raises(WorkOrderError, match="job 2 is closed"):  # no new work on it
        wos.add_labor_line(request(), wo_id, 2, labor())
    assert events_stored(wos.app) == closed
