"""A refusal of one input names it in `field` (the 422's member a client maps to the form field):
the front desk's and the workshop's commands, the delivery, the follow-up call and the complaint
it may open, each refused with nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from uuid import uuid4

import pytest

from domain.aftercare import Aftercare
from domain.application import ServiceCore
from domain.common import InvalidInput
from domain.follow_up import Complaint, FollowUp
from domain.work_orders import WorkOrders
from tests.unit.support import checked_in, events_stored, open_order, request


def field_of(run: Callable[[], object], app: ServiceCore | None = None) -> object:
    """The `field` of the InvalidInput `run` raises; nothing stored."""
    before = events_stored(app) if app is not None else None
    with pytest.raises(InvalidInput) as refused:
        run()
    if app is not None:
        assert events_stored(app) == before
    return refused.value.extra.get("field")


def test_the_work_order_s_refusals_name_their_field() -> None:
    app = ServiceCore()
    wos = WorkOrders(app)
    opened = open_order(wos)
    assert field_of(lambda: wos.check_in(request(), opened, mileage_in=42_010,
                                         fuel_level=101), app) == "fuel_level"
    wo = checked_in(wos)
    assert field_of(lambda: wos.add_job(request(), wo, complaint="  "), app) == "complaint"
    for cause, correction, field in (("  ", "replaced pads", "cause"),
                                     ("worn pads", " ", "correction")):
        assert field_of(partial(wos.diagnose, request("technician"), wo, 1, cause=cause,
                                correction=correction, fault_codes=[]), app) == field
    assert field_of(lambda: wos.clock_on(request("manager"), wo, 1), app) == "technician_id"
    for kind, days, field in (("boat", None, "kind"), ("towing", 2, "days"),
                              ("loaner", 0, "days")):
        assert field_of(partial(wos.record_compensation, request(), wo, kind=kind,
                                amount="100.00", days=days), app) == field


def test_the_delivery_and_the_follow_up_name_their_field() -> None:
    app = ServiceCore()
    aftercare = Aftercare(app)
    wo = uuid4()  # each refusal comes before the work order is read
    for given, field in (({"mileage_out": -1}, "mileage_out"),
                         ({"acknowledged_by": " "}, "acknowledged_by"),
                         ({"method": "fax"}, "method")):
        assert field_of(partial(aftercare.deliver, request(), wo, **{
            "mileage_out": 42_020, "acknowledged_by": "陈静", **given}), app) == field
    audit = request().caller.audit("S01")
    call = FollowUp(audit=audit, work_order_id=wo, work_order_number="WO-S01-2026-000001",
                    customer_id=uuid4(), due_on="2026-05-04")
    assert field_of(lambda: call.attempt(audit, "hung up", None)) == "outcome"
    assert field_of(lambda: call.complete(audit, 6, None, None)) == "csi"
    complaint = Complaint(audit=audit, work_order_id=wo, work_order_number="WO-S01-2026-000001",
                          customer_id=uuid4(), description="still squeals", source="follow_up")
    assert field_of(lambda: complaint.assign(audit, "  ", None)) == "assignee"
