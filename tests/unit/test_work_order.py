"""A service visit told as commands on the WorkOrders service, in memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.application import Request, ServiceCore
from domain.common import (
    Audit,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    NotPermitted,
    StaleVersion,
)
from domain.customers import Customers
from domain.pii import ERASED
from domain.technician import Technician, TechnicianError
from domain.work_order_state import WorkOrderError
from domain.work_orders import WorkOrders
from tests.unit.support import (
    CUSTOMER,
    PADS,
    T0,
    VEHICLE,
    approved_job,
    checked_in,
    events_stored,
    issue_parts,
    labor,
    load,
    load_stock,
    open_order,
    part,
    request,
    stock_part,
)


def test_visit_from_opening_to_ready_for_settlement(app: ServiceCore, wos: WorkOrders) -> None:
    advisor, manager = request("advisor", "adv-li"), request("manager", "mgr-wang")

    def tech(minutes: int) -> Request:
        return request("technician", "tech-zhao", at=T0 + timedelta(minutes=minutes))

    # The store keeps the front brake pads: four sets came in from FAW-VW this morning.
    stock_part(app, PADS, "4", supplier_doc="DN-0417")

    # The customer reports a brake noise and asks for an oil service; the advisor opens the order.
    opened = wos.open(advisor, store_id="S01", customer=dict(CUSTOMER), vehicle=dict(VEHICLE),
                      mileage=42_000, complaints=["brake noise", "oil service"])
    wo_id = UUID(opened.body["id"])
    assert load(app, wo_id).status == "opened"
    assert sorted(load(app, wo_id).jobs) == [1, 2]

    # Check-in below the recorded mileage is refused; the real reading is taken.
    with pytest.raises(InvalidInput, match="mileage"):
        wos.check_in(advisor, wo_id, mileage_in=41_000, fuel_level=40)
    wos.check_in(advisor, wo_id, mileage_in=42_010, fuel_level=40, damage_notes="scratch RR")
    assert load(app, wo_id).status == "checked_in"
    assert load(app, wo_id).mileage == 42_010

    # The technician finds worn pads on job 1.
    wos.diagnose(advisor, wo_id, 1, cause="pads worn to 2 mm", correction="replace front pads",
                 fault_codes=[" c1234 "])
    assert load(app, wo_id).jobs[1]["status"] == "diagnosed"
    assert load(app, wo_id).jobs[1]["diagnosis"]["fault_codes"] == ["C1234"]

    # The estimate: pads labor and parts for job 1, an oil service for job 2.
    assert wos.add_labor_line(advisor, wo_id, 1, labor()).body["line_id"] == "L1"
    assert wos.add_part_line(advisor, wo_id, 1, part()).body["line_id"] == "L2"
    assert wos.add_labor_line(advisor, wo_id, 2, labor(op_code="OIL", hours="0.5")
                              ).body["line_id"] == "L3"

    # Nothing is dispatched before the customer decides.
    with pytest.raises(WorkOrderError, match="approved"):
        wos.dispatch(manager, wo_id, 1, technician_id="tech-zhao")

    # On the phone the customer approves the brakes and declines the oil service.
    wos.authorize_line(advisor, wo_id, "L1", decision="approved", channel="phone")
    wos.authorize_line(advisor, wo_id, "L2", decision="approved", channel="phone")
    wos.authorize_line(advisor, wo_id, "L3", decision="declined", channel="phone")
    with pytest.raises(WorkOrderError, match="already approved"):
        wos.authorize_line(advisor, wo_id, "L1", decision="approved", channel="phone")
    # A change of mind is recorded only with why.
    with pytest.raises(InvalidInput, match="needs a reason"):
        wos.authorize_line(advisor, wo_id, "L1", decision="declined", channel="phone")
    assert load(app, wo_id).totals() == {"customer": {
        "labor": Decimal("450.00"), "parts": Decimal("450.00"), "vat": Decimal("103.54"),
        "total": Decimal("900.00")}}
    # The approved pads are set aside for the job: one set reserved, three still available.
    assert load(app, wo_id).lines["L2"]["supply"] == "reserved"
    assert load_stock(app).figures()["available"] == Decimal(3)

    # The foreman dispatches job 1 to Zhao; the order is now in progress.
    wos.dispatch(manager, wo_id, 1, technician_id="tech-zhao")
    assert load(app, wo_id).status == "in_progress"
    assert load(app, wo_id).jobs[1]["status"] == "dispatched"

    # Zhao clocks on at 10:00 and off at 11:30.
    wos.clock_on(tech(60), wo_id, 1)
    assert load(app, wo_id).jobs[1]["status"] == "in_repair"
    with pytest.raises(WorkOrderError, match="clock off"):
        wos.complete_job(tech(70), wo_id, 1)
    assert wos.clock_off(tech(150), wo_id, 1).body["clocked_seconds"] == 5400

    # He cannot report the job complete while the pads were never issued to it...
    with pytest.raises(WorkOrderError, match="issue the parts first"):
        wos.complete_job(tech(150), wo_id, 1)

    # ... so the parts clerk books the reserved set out to the job, at lot cost.
    issued = issue_parts(wos, wo_id, "L2", at=T0 + timedelta(minutes=150))
    assert issued["issued_qty"] == "1" and issued["cost"] == "210.00"
    assert load(app, wo_id).lines["L2"]["issued_qty"] == Decimal(1)
    assert load_stock(app).figures() == {"on_hand": Decimal(3), "reserved": Decimal(0),
                                         "available": Decimal(3), "on_order": Decimal(0)}

    # Now he reports the job complete.
    wos.complete_job(tech(151), wo_id, 1)
    assert load(app, wo_id).jobs[1]["status"] == "awaiting_qc"

    # QC fails it: a failure needs a reason.
    with pytest.raises(InvalidInput, match="reason"):
        wos.quality_check(manager, wo_id, 1, passed=False)
    failed = wos.quality_check(manager, wo_id, 1, passed=False, reason="pedal still soft")
    assert failed.body["status"] == "in_progress"
    assert load(app, wo_id).jobs[1]["status"] == "in_repair"
    assert load(app, wo_id).jobs[1]["qc_failures"] == 1

    # Zhao bleeds the brakes: 20 more minutes on the clock, then complete again.
    wos.clock_on(tech(180), wo_id, 1)
    wos.clock_off(tech(200), wo_id, 1)
    wos.complete_job(tech(201), wo_id, 1)
    assert load(app, wo_id).jobs[1]["clocked_seconds"] == 5400 + 1200

    # QC passes; the declined oil service does not hold the order back.
    passed = wos.quality_check(manager, wo_id, 1, passed=True)
    assert passed.body["status"] == "ready_for_settlement"
    work_order = load(app, wo_id)
    assert work_order.status == "ready_for_settlement"
    assert work_order.blockers() == []
    assert work_order.totals()["customer"]["total"] == Decimal("900.00")

    # Once ready for settlement the estimate is frozen.
    with pytest.raises(WorkOrderError, match="ready_for_settlement"):
        wos.add_labor_line(advisor, wo_id, 1, labor())


def test_work_order_numbers_are_gap_free_per_store(wos: WorkOrders) -> None:
    numbers = [wos.open(request(), store_id="S01", customer=dict(CUSTOMER), vehicle=dict(VEHICLE),
                        mileage=1, complaints=["noise"]).body["number"] for _ in range(3)]
    other_store = wos.open(request(), store_id="S02", customer=dict(CUSTOMER),
                           vehicle=dict(VEHICLE), mileage=1, complaints=["noise"])
    assert numbers == ["WO-S01-2026-000001", "WO-S01-2026-000002", "WO-S01-2026-000003"]
    assert other_store.body["number"] == "WO-S02-2026-000001"


def test_a_refused_opening_takes_no_number(app: ServiceCore, wos: WorkOrders) -> None:
    open_order(wos)
    before = events_stored(app)
    with pytest.raises(InvalidInput, match="check digit"):
        wos.open(request(), store_id="S01", customer=dict(CUSTOMER),
                 vehicle={"vin": "LSVAU2180N2183294"}, mileage=1, complaints=["noise"])
    with pytest.raises(NotPermitted):
        wos.open(request(stores=("S09",)), store_id="S01", customer=dict(CUSTOMER),
                 vehicle=dict(VEHICLE), mileage=1, complaints=["noise"])
    assert events_stored(app) == before
    assert load(wos.app, open_order(wos)).number == "WO-S01-2026-000002"


def test_the_year_series_follows_shanghai_time(app: ServiceCore, wos: WorkOrders) -> None:
    late_on_new_years_eve = datetime(2026, 12, 31, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai
    new_year_in_shanghai = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)  # 01:00 on 1 January

    assert load(app, open_order(wos)).number == "WO-S01-2026-000001"
    assert load(app, open_order(wos, at=late_on_new_years_eve)).number == "WO-S01-2026-000002"
    assert load(app, open_order(wos, at=new_year_in_shanghai)).number == "WO-S01-2027-000001"
    assert load(app, open_order(wos, at=new_year_in_shanghai)).number == "WO-S01-2027-000002"
    assert load(app, open_order(wos, store_id="S02", at=new_year_in_shanghai)
                ).number == "WO-S02-2027-000001"


def test_a_repeated_request_is_answered_from_memory(app: ServiceCore, wos: WorkOrders) -> None:
    def open_with(key: str, request_hash: str) -> dict[str, Any]:
        return wos.open(request(key=key, request_hash=request_hash), store_id="S01",
                        customer=dict(CUSTOMER), vehicle=dict(VEHICLE), mileage=1,
                        complaints=["noise"]).body

    first = open_with("key-1", "hash-a")
    stored = events_stored(app)
    again = wos.open(request(key="key-1", request_hash="hash-a"), store_id="S01",
                     customer=dict(CUSTOMER), vehicle=dict(VEHICLE), mileage=1,
                     complaints=["noise"])
    assert again.replayed is True
    assert again.body == first
    assert events_stored(app) == stored

    # The same key with another body is a client error and stores nothing.
    with pytest.raises(IdempotencyKeyReused):
        open_with("key-1", "hash-b")
    assert events_stored(app) == stored

    # A fresh key is a fresh work order, numbered without a gap.
    assert open_with("key-2", "hash-a")["number"] == "WO-S01-2026-000002"


def test_a_replayed_clock_on_does_not_clock_twice(app: ServiceCore, wos: WorkOrders) -> None:
    wo_id = checked_in(wos)
    approved_job(wos, wo_id)
    clock_on = request("technician", "tech-zhao", key="clock-1", request_hash="h")
    first = wos.clock_on(clock_on, wo_id, 1)
    stored = events_stored(app)
    assert wos.clock_on(clock_on, wo_id, 1).body == first.body
    assert events_stored(app) == stored
    assert load(app, wo_id).version == first.body["version"]


def test_if_match_with_an_old_version_is_refused(app: ServiceCore, wos: WorkOrders) -> None:
    wo_id = open_order(wos)
    version = load(app, wo_id).version
    wos.add_job(request(expected_version=version), wo_id, complaint="wipers smear")
    stored = events_stored(app)
    with pytest.raises(StaleVersion):
        wos.add_job(request(expected_version=version), wo_id, complaint="horn weak")
    assert events_stored(app) == stored
    assert len(load(app, wo_id).jobs) == 2


def test_other_stores_cannot_see_the_work_order(wos: WorkOrders) -> None:
    wo_id = open_order(wos)
    with pytest.raises(NotFound):
        wos.add_job(request(stores=("S02",)), wo_id, complaint="wipers")


def test_a_technician_holds_one_clock_across_work_orders(app: ServiceCore,
                                                         wos: WorkOrders) -> None:
    first, second = checked_in(wos), checked_in(wos)
    approved_job(wos, first)
    approved_job(wos, second)
    zhao = request("technician", "tech-zhao")

    # Zhao clocks on the first car, then tries the second while still on the first.
    wos.clock_on(zhao, first, 1)
    stored = events_stored(app)
    with pytest.raises(TechnicianError, match="already clocked on"):
        wos.clock_on(zhao, second, 1)
    assert events_stored(app) == stored
    assert load(app, second).jobs[1]["clock"] is None

    # After clocking off the first car he may start the second.
    wos.clock_off(zhao, first, 1)
    wos.clock_on(zhao, second, 1)
    assert load(app, second).jobs[1]["clock"]["technician_id"] == "tech-zhao"


def test_technicians_clock_only_for_themselves(app: ServiceCore, wos: WorkOrders) -> None:
    wo_id = checked_in(wos)
    approved_job(wos, wo_id, technician="tech-zhao")
    stored = events_stored(app)
    with pytest.raises(NotPermitted):
        wos.clock_on(request("technician", "tech-liu"), wo_id, 1, technician_id="tech-zhao")
    with pytest.raises(WorkOrderError, match="not dispatched to tech-liu"):
        wos.clock_on(request("technician", "tech-liu"), wo_id, 1)
    with pytest.raises(InvalidInput, match="technician_id"):
        wos.clock_on(request("manager"), wo_id, 1)
    assert events_stored(app) == stored

    # The foreman may clock on for Zhao, naming him.
    wos.clock_on(request("manager"), wo_id, 1, technician_id="tech-zhao")
    assert load(app, wo_id).jobs[1]["clock"]["technician_id"] == "tech-zhao"


def test_an_approved_price_changes_only_by_a_manager_with_a_reason(app: ServiceCore,
                                                                   wos: WorkOrders) -> None:
    wo_id = checked_in(wos)
    wos.add_part_line(request(), wo_id, 1, part())

    # Before the customer decides, the advisor corrects the price freely.
    wos.reprice_line(request(), wo_id, "L1", unit_price="400.00", reason=None)
    assert load(app, wo_id).lines["L1"]["gross"] == Decimal("400.00")

    # Once approved, only a manager with a reason may change it.
    wos.authorize_line(request(), wo_id, "L1", decision="approved", channel="in_person")
    with pytest.raises(NotPermitted):
        wos.reprice_line(request("advisor"), wo_id, "L1", unit_price="380.00", reason="goodwill")
    with pytest.raises(InvalidInput, match="reason"):
        wos.reprice_line(request("manager"), wo_id, "L1", unit_price="380.00", reason=" ")
    wos.reprice_line(request("manager"), wo_id, "L1", unit_price="380.00", reason="goodwill")
    assert load(app, wo_id).totals()["customer"] == {
        "labor": Decimal("0.00"), "parts": Decimal("380.00"), "vat": Decimal("43.72"),
        "total": Decimal("380.00")}


def test_a_declined_line_is_never_repriced_nor_counted(app: ServiceCore, wos: WorkOrders) -> None:
    wo_id = checked_in(wos)
    wos.add_labor_line(request(), wo_id, 1, labor())
    wos.add_part_line(request(), wo_id, 1, part(unit_price="99.99"))
    wos.add_part_line(request(), wo_id, 1, part(qty="2", unit_price="10.00"))
    assert load(app, wo_id).totals() == {}  # pending lines do not count either

    wos.authorize_line(request(), wo_id, "L1", decision="approved", channel="link")
    wos.authorize_line(request(), wo_id, "L2", decision="declined", channel="link")
    with pytest.raises(WorkOrderError, match="declined"):
        wos.reprice_line(request("manager"), wo_id, "L2", unit_price="1.00", reason="retry")
    totals = load(app, wo_id).totals()
    assert totals == {"customer": {"labor": Decimal("450.00"), "parts": Decimal("0.00"),
                                   "vat": Decimal("51.77"), "total": Decimal("450.00")}}


def test_cancelling_needs_a_reason_and_no_open_clock(app: ServiceCore, wos: WorkOrders) -> None:
    wo_id = checked_in(wos)
    approved_job(wos, wo_id)
    zhao = request("technician", "tech-zhao")
    wos.clock_on(zhao, wo_id, 1)

    with pytest.raises(InvalidInput, match="reason"):
        wos.cancel(request(), wo_id, reason="")
    with pytest.raises(WorkOrderError, match="clock off"):
        wos.cancel(request(), wo_id, reason="customer takes the car elsewhere")

    wos.clock_off(zhao, wo_id, 1)
    wos.cancel(request(), wo_id, reason="customer takes the car elsewhere")
    assert load(app, wo_id).status == "cancelled"
    with pytest.raises(WorkOrderError, match="cancelled"):
        wos.add_job(request(), wo_id, complaint="anything")


def test_warranty_lines_need_a_coverage_code(app: ServiceCore, wos: WorkOrders) -> None:
    wo_id = checked_in(wos)
    with pytest.raises(InvalidInput, match="coverage code"):
        wos.add_labor_line(request(), wo_id, 1, labor(pay_type="warranty"))
    with pytest.raises(InvalidInput, match="warranty lines only"):
        wos.add_labor_line(request(), wo_id, 1, labor(warranty={"coverage_code": "PT-5Y"}))
    with pytest.raises(InvalidInput, match="pay type"):
        wos.add_labor_line(request(), wo_id, 1, labor(pay_type="goodwill"))

    line_id = wos.add_labor_line(request(), wo_id, 1, labor(
        pay_type="warranty", warranty={"coverage_code": "PT-5Y", "campaign_no": "23V-001"}
    )).body["line_id"]
    assert line_id == "L1"  # refused lines do not use up line ids
    wos.authorize_line(request(), wo_id, "L1", decision="approved", channel="in_person")
    work_order = load(app, wo_id)
    assert work_order.lines["L1"]["warranty"]["coverage_code"] == "PT-5Y"
    assert set(work_order.totals()) == {"warranty"}


def test_a_line_added_while_awaiting_qc_cannot_strand_the_order(app: ServiceCore,
                                                                wos: WorkOrders) -> None:
    wo_id = checked_in(wos)
    approved_job(wos, wo_id)
    zhao = request("technician", "tech-zhao")
    wos.clock_on(zhao, wo_id, 1)
    wos.clock_off(zhao, wo_id, 1)
    wos.complete_job(zhao, wo_id, 1)

    # While the car waits for QC, the advisor adds a wiper blade: the job is back in repair.
    wos.add_part_line(request(), wo_id, 1, part(part_number="wb-600", unit_price="80.00"))
    assert load(app, wo_id).jobs[1]["status"] == "in_repair"
    with pytest.raises(WorkOrderError):
        wos.quality_check(request("manager"), wo_id, 1, passed=True)

    # The customer declines the blade; Zhao reports the job complete again and QC passes it.
    wos.authorize_line(request(), wo_id, "L2", decision="declined", channel="phone")
    wos.complete_job(zhao, wo_id, 1)
    wos.quality_check(request("manager"), wo_id, 1, passed=True)
    assert load(app, wo_id).status == "ready_for_settlement"


def test_erasing_the_customer_erases_the_name_on_the_work_order(app: ServiceCore,
                                                                wos: WorkOrders) -> None:
    opened = wos.open(request(), store_id="S01", customer=dict(CUSTOMER), vehicle=dict(VEHICLE),
                      mileage=1, complaints=["noise"])
    work_order = load(app, UUID(opened.body["id"]))
    customer_id = UUID(opened.body["customer_id"])
    assert work_order.customer_id == customer_id
    assert app.personal_data.open(customer_id, work_order.customer["name"]) == "陈静"
    assert "陈静" not in str(work_order.customer)

    Customers(app).erase(request("manager"), customer_id, reason="PIPL request")

    assert app.personal_data.open(customer_id, work_order.customer["name"]) == ERASED
    assert app.personal_data.open(customer_id, work_order.customer["phone"]) == ERASED


def test_a_returning_customer_is_found_by_the_id_of_the_first_visit(app: ServiceCore,
                                                                    wos: WorkOrders) -> None:
    first = wos.open(request(), store_id="S01", customer=dict(CUSTOMER), vehicle=dict(VEHICLE),
                     mileage=1, complaints=["noise"])
    customer_id = UUID(first.body["customer_id"])
    second = wos.open(request(), store_id="S01", customer={}, vehicle=dict(VEHICLE),
                      mileage=5_000, complaints=["oil service"], customer_id=customer_id)
    work_order = load(app, UUID(second.body["id"]))
    assert work_order.customer_id == customer_id
    assert app.personal_data.open(customer_id, work_order.customer["name"]) == "陈静"


def test_an_erased_customer_cannot_come_back_and_gets_no_new_key(app: ServiceCore,
                                                                 wos: WorkOrders) -> None:
    opened = wos.open(request(), store_id="S01", customer=dict(CUSTOMER), vehicle=dict(VEHICLE),
                      mileage=1, complaints=["noise"])
    customer_id = UUID(opened.body["customer_id"])
    work_order = load(app, UUID(opened.body["id"]))
    Customers(app).erase(request("manager"), customer_id, reason="PIPL request")

    # The desk tries to open a visit for the erased customer, with a name and phone given.
    before = events_stored(app)
    with pytest.raises(InvalidInput) as refused:
        wos.open(request(), store_id="S01", customer=dict(CUSTOMER), customer_id=customer_id,
                 vehicle=dict(VEHICLE), mileage=2, complaints=["again"])
    assert refused.value.extra["field"] == "customer_id"

    # Nothing stored, no key made again: the old tokens still read as erased.
    assert events_stored(app) == before
    assert app.personal_data.keys.get_key(customer_id) is None
    assert app.personal_data.open(customer_id, work_order.customer["name"]) == ERASED


def test_an_open_clock_is_held_by_job_number_even_from_an_older_snapshot() -> None:
    audit = Audit("tech-zhao", "technician", "S01", T0, "corr")
    first, second = uuid4(), uuid4()
    tech = Technician(user_id="tech-zhao", store_id="S01", audit=audit)
    tech.clock_on(audit, first, 1)
    assert tech.open_clock == {"work_order_id": str(first), "job_no": 1}
    # A snapshot taken before kept the job number as text; it reads the same.
    tech.open_clock = {"work_order_id": str(first), "job_no": "1"}
    with pytest.raises(TechnicianError) as refused:
        tech.clock_on(audit, second, 1)
    assert refused.value.extra["open_clock"] == {"work_order_id": str(first), "job_no": 1}
    tech.clock_off(audit, first, 1)
    assert tech.open_clock is None
