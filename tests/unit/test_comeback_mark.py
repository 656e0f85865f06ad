"""The advisor's comeback mark (返修) on a work order, in memory: the earlier visit named is
the same vehicle's, opened before and completed, in a store the caller may use; a refused mark
stores nothing; one mark at a time, withdrawn only with a reason; the record stays."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from domain.application import ServiceCore
from domain.comeback_marks import ComebackMarks
from domain.common import InvalidInput, NotFound
from domain.work_order import WorkOrder
from domain.work_order_state import WorkOrderError
from domain.work_orders import WorkOrders
from tests.unit.support import (
    CUSTOMER,
    T0,
    VEHICLE,
    approved_job,
    checked_in,
    events_stored,
    load,
    open_order,
    request,
)

OTHER_VIN = "LFV2A21K3D4012345"


def completed(wos: WorkOrders, store_id: str = "S01") -> UUID:
    """A visit whose one job has passed QC: ready for settlement."""
    wo_id = checked_in(wos, store_id)
    approved_job(wos, wo_id)
    tech = request("technician", "tech-zhao", at=T0 + timedelta(minutes=30))
    wos.clock_on(tech, wo_id, 1)
    wos.clock_off(request("technician", "tech-zhao", at=T0 + timedelta(minutes=90)), wo_id, 1)
    wos.complete_job(request("technician", "tech-zhao", at=T0 + timedelta(minutes=91)),
                     wo_id, 1)
    wos.quality_check(request("manager"), wo_id, 1, passed=True)
    assert load(wos.app, wo_id).status == "ready_for_settlement"
    return wo_id


def back(wos: WorkOrders, days: int = 5, store_id: str = "S01") -> UUID:
    return open_order(wos, store_id=store_id, at=T0 + timedelta(days=days),
                      complaints=("brake noise came back again",))


@pytest.fixture
def app() -> ServiceCore:
    return ServiceCore()


def test_a_visit_is_marked_a_comeback_of_the_earlier_one_and_withdrawn_with_a_reason(
        app: ServiceCore, wos: WorkOrders) -> None:
    marks = ComebackMarks(app)
    earlier, again = completed(wos), back(wos)
    answer = marks.mark(request(), again, earlier_work_order_id=earlier,
                        reason=" pads squeal as before ").body
    number = load(app, earlier).number
    assert answer["comeback_of"] == {"earlier_work_order_id": str(earlier),
                                     "earlier_number": number, "earlier_store_id": "S01"}
    # One mark at a time: naming another visit means withdrawing this one first.
    before = events_stored(app)
    with pytest.raises(WorkOrderError) as held:
        marks.mark(request(), again, earlier_work_order_id=earlier, reason="again")
    assert held.value.extra["comeback_of"] == number and events_stored(app) == before
    # A withdrawal needs a reason; then the visit is unmarked, and nothing is left to withdraw.
    with pytest.raises(InvalidInput) as no_reason:
        marks.withdraw(request(), again, reason=" ")
    assert no_reason.value.extra["field"] == "reason" and events_stored(app) == before
    assert marks.withdraw(request(), again, reason="another fault").body["comeback_of"] is None
    assert load(app, again).comeback_of is None
    with pytest.raises(WorkOrderError, match="not marked"):
        marks.withdraw(request(), again, reason="another fault")
    # The record keeps both, with who and why.
    stored = [e for e in app.repository.event_store.get(again)
              if isinstance(e, WorkOrder.ComebackMarked | WorkOrder.ComebackMarkWithdrawn)]
    assert [(type(e).__name__, e.reason, e.audit.user_id) for e in stored] == [
        ("ComebackMarked", "pads squeal as before", "advisor-1"),
        ("ComebackMarkWithdrawn", "another fault", "advisor-1")]


def test_the_earlier_visit_must_exist_and_be_one_the_caller_may_use(
        app: ServiceCore, wos: WorkOrders) -> None:
    marks = ComebackMarks(app)
    elsewhere, again = completed(wos, "S02"), back(wos)
    before = events_stored(app)
    for earlier, stores in ((uuid4(), ("S01", "S02")), (elsewhere, ("S01",))):
        with pytest.raises(NotFound) as unknown:
            marks.mark(request(stores=stores), again, earlier_work_order_id=earlier,
                       reason="same fault")
        assert unknown.value.extra["field"] == "earlier_work_order_id"
    assert events_stored(app) == before
    # Another store of the group, in the caller's token: the group's visits count.
    marks.mark(request(), again, earlier_work_order_id=elsewhere, reason="same fault")
    assert load(app, again).comeback_of["earlier_store_id"] == "S02"  # type: ignore[index]


def test_the_earlier_visit_is_the_same_vehicle_before_this_one_and_completed(
        app: ServiceCore, wos: WorkOrders) -> None:
    marks = ComebackMarks(app)
    earlier = completed(wos)
    other_vehicle = UUID(wos.open(
        request(at=T0 + timedelta(days=1)), store_id="S01", customer=dict(CUSTOMER),
        vehicle={**VEHICLE, "vin": OTHER_VIN}, mileage=10_000,
        complaints=["brake noise"]).body["id"])
    again, not_done = back(wos), back(wos, days=6)
    before = events_stored(app)
    refusals = [(other_vehicle, earlier, InvalidInput, "VIN"),
                (again, again, InvalidInput, "itself"),
                (earlier, again, InvalidInput, "after"),  # the earlier visit is the later one
                (not_done, again, WorkOrderError, "opened")]  # not completed
    for wo_id, named, error, said in refusals:
        with pytest.raises(error, match=said) as refused:
            marks.mark(request(), wo_id, earlier_work_order_id=named, reason="same fault")
        assert refused.value.extra["field"] == "earlier_work_order_id"
    with pytest.raises(InvalidInput) as short:
        marks.mark(request(), again, earlier_work_order_id=earlier, reason="x")
    assert short.value.extra["field"] == "reason"
    assert events_stored(app) == before
    assert load(app, again).comeback_of is None


def test_a_replayed_mark_answers_the_first_and_stores_nothing_twice(
        app: ServiceCore, wos: WorkOrders) -> None:
    marks = ComebackMarks(app)
    earlier, again = completed(wos), back(wos)
    keyed = request(key="mark-1", request_hash="h")
    first = marks.mark(keyed, again, earlier_work_order_id=earlier, reason="same fault")
    stored = events_stored(app)
    assert marks.mark(keyed, again, earlier_work_order_id=earlier,
                      reason="same fault").body == first.body
    assert events_stored(app) == stored


def test_the_desk_marks_the_comeback_at_check_in_or_checks_in_nothing(
        app: ServiceCore, wos: WorkOrders) -> None:
    earlier = completed(wos)
    again, other = back(wos), back(wos, days=6)
    before = events_stored(app)
    with pytest.raises(InvalidInput) as no_reason:
        wos.check_in(request(), again, mileage_in=43_000, fuel_level=30, comeback_of=earlier)
    assert no_reason.value.extra["field"] == "comeback_reason"
    with pytest.raises(NotFound) as unknown:
        wos.check_in(request(), again, mileage_in=43_000, fuel_level=30, comeback_of=uuid4(),
                     comeback_reason="same fault")
    assert unknown.value.extra["field"] == "comeback_of"
    assert events_stored(app) == before and load(app, again).status == "opened"
    wos.check_in(request(), again, mileage_in=43_000, fuel_level=30, comeback_of=earlier,
                 comeback_reason="pads squeal as before")
    checked = load(app, again)
    assert checked.status == "checked_in"
    assert checked.comeback_of["earlier_work_order_id"] == earlier  # type: ignore[index]
    # Without the field the check-in marks nothing.
    wos.check_in(request(), other, mileage_in=43_100, fuel_level=30)
    assert load(app, other).comeback_of is None
