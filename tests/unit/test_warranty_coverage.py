"""The OEM's base warranty (3 years / 60,000 km from the sale by default): a warranty line for a
car beyond it is refused unless it carries the OEM's goodwill or prior-authorisation reference.
Counted on the store's calendar day the car came in, with its mileage in."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import pytest

from domain.application import ServiceCore
from domain.vehicles import Vehicles
from domain.warranty_coverage import OutOfCoverage, WarrantyTerms, coverage
from domain.work_orders import WorkOrders
from projections.claim_checks import coverage_problems, graded
from tests.unit.support import CUSTOMER, VEHICLE, VIN, events_stored, labor, part, request

TERMS = WarrantyTerms()
SOLD = "2023-03-15"
# 23:30 on 15 March 2026 in Shanghai (UTC+8) is still the third anniversary of the sale;
# 40 minutes later it is the 16th there, while UTC still says the 15th.
ANNIVERSARY_LATE = datetime(2026, 3, 15, 15, 30, tzinfo=UTC)
DAY_AFTER_EARLY = datetime(2026, 3, 15, 16, 10, tzinfo=UTC)


def test_the_anniversary_and_the_km_limit_themselves_are_still_covered() -> None:
    assert coverage(TERMS, SOLD, date(2026, 3, 15), 60_000).beyond == []
    assert coverage(TERMS, SOLD, date(2026, 3, 16), 60_000).beyond == ["years"]
    assert coverage(TERMS, SOLD, date(2026, 3, 15), 60_001).beyond == ["km"]
    assert coverage(TERMS, SOLD, date(2026, 3, 16), 60_001).beyond == ["years", "km"]
    assert coverage(TERMS, SOLD, date(2026, 3, 15), 0).covered_until == date(2026, 3, 15)


def test_a_car_sold_on_29_february_is_covered_through_28_february() -> None:
    assert coverage(TERMS, "2024-02-29", date(2027, 2, 28), 1).beyond == []
    assert coverage(TERMS, "2024-02-29", date(2027, 3, 1), 1).beyond == ["years"]


def test_the_age_is_whole_years_and_the_days_since_the_last_anniversary() -> None:
    assert coverage(TERMS, SOLD, date(2026, 3, 16), 1).age() == {
        "years": 3, "days": 1, "total_days": 1097}
    assert coverage(TERMS, SOLD, date(2026, 3, 14), 1).age() == {
        "years": 2, "days": 364, "total_days": 1095}
    assert coverage(TERMS, SOLD, date(2023, 3, 15), 1).age() == {
        "years": 0, "days": 0, "total_days": 0}


def test_without_a_sale_date_nothing_can_be_counted() -> None:
    unknown = coverage(TERMS, None, date(2030, 1, 1), 250_000)
    assert (unknown.beyond, unknown.age(), unknown.covered_until) == ([], None, None)


def test_the_terms_are_the_settings() -> None:
    short = WarrantyTerms(years=2, km=50_000)
    assert coverage(short, SOLD, date(2025, 3, 16), 50_001).beyond == ["years", "km"]
    assert coverage(short, SOLD, date(2025, 3, 15), 50_000).beyond == []


# -- through the work order's commands -----------------------------------------------------


def registered(app: ServiceCore, sale_date: str | None = SOLD) -> None:
    Vehicles(app).register(request(at=datetime(2026, 1, 5, 2, 0, tzinfo=UTC)), store_id="S01",
                           vin=VIN, brand="Volkswagen", model="Lavida", year=2022,
                           sale_date=sale_date)


def visit(wos: WorkOrders, came_in: datetime, mileage: int = 42_000) -> UUID:
    """A visit opened and checked in at `came_in`, with its mileage in."""
    result = wos.open(request(at=came_in), store_id="S01", customer=dict(CUSTOMER),
                      vehicle=dict(VEHICLE), mileage=mileage, complaints=["engine stalls"])
    work_order_id = UUID(result.body["id"])
    wos.check_in(request(at=came_in), work_order_id, mileage_in=mileage, fuel_level=40)
    return work_order_id


def warranty_labor(**details: Any) -> dict[str, Any]:
    return labor(pay_type="warranty", warranty={"coverage_code": "BASIC-3Y", **details})


def refused(wos: WorkOrders, work_order_id: UUID, line: dict[str, Any],
            at: datetime = DAY_AFTER_EARLY) -> OutOfCoverage:
    before = events_stored(wos.app)
    with pytest.raises(OutOfCoverage) as error:
        wos.add_labor_line(request(at=at), work_order_id, 1, line)
    assert events_stored(wos.app) == before  # nothing stored
    return error.value


def test_a_warranty_line_the_day_after_the_third_anniversary_in_the_store_is_refused() -> None:
    app = ServiceCore()
    registered(app)
    wos = WorkOrders(app)
    on_the_day = visit(wos, ANNIVERSARY_LATE)
    assert wos.add_labor_line(request(at=ANNIVERSARY_LATE), on_the_day, 1,
                              warranty_labor()).body["line_id"] == "L1"
    day_after = visit(wos, DAY_AFTER_EARLY)
    error = refused(wos, day_after, warranty_labor())
    assert error.extra["sale_date"] == SOLD and error.extra["day_in"] == "2026-03-16"
    assert error.extra["age"] == {"years": 3, "days": 1, "total_days": 1097}
    assert error.extra["limits"] == {"years": 3, "km": 60_000}
    assert (error.extra["beyond"], error.extra["covered_until"]) == (["years"], "2026-03-15")
    assert error.extra["field"] == "warranty.authorization_ref"
    assert "2023-03-15" in error.detail and "authorization_ref" in error.detail
    # A part line alike; the customer's own line is no warranty line.
    before = events_stored(app)
    with pytest.raises(OutOfCoverage):
        wos.add_part_line(request(at=DAY_AFTER_EARLY), day_after, 1,
                          part(pay_type="warranty", warranty={"coverage_code": "BASIC-3Y"}))
    assert events_stored(app) == before
    assert wos.add_labor_line(request(at=DAY_AFTER_EARLY), day_after, 1, labor()).body[
        "line_id"] == "L1"


def test_the_day_the_car_came_in_counts_not_the_day_the_line_is_written() -> None:
    app = ServiceCore()
    registered(app)
    wos = WorkOrders(app)
    work_order_id = visit(wos, ANNIVERSARY_LATE)
    later = datetime(2026, 3, 18, 2, 0, tzinfo=UTC)
    assert wos.add_labor_line(request(at=later), work_order_id, 1,
                              warranty_labor()).body["line_id"] == "L1"


def test_exactly_60000_km_in_is_covered_and_one_more_is_not() -> None:
    app = ServiceCore()
    registered(app)
    wos = WorkOrders(app)
    at_limit = visit(wos, datetime(2025, 6, 1, 2, 0, tzinfo=UTC), mileage=60_000)
    assert wos.add_labor_line(request(), at_limit, 1, warranty_labor()).body["line_id"] == "L1"
    over = visit(wos, datetime(2025, 6, 2, 2, 0, tzinfo=UTC), mileage=60_001)
    error = refused(wos, over, warranty_labor())
    assert (error.extra["beyond"], error.extra["mileage_in"]) == (["km"], 60_001)
    assert "60,001 km" in error.detail


def test_goodwill_or_prior_authorisation_lets_the_line_through() -> None:
    app = ServiceCore()
    registered(app)
    wos = WorkOrders(app)
    work_order_id = visit(wos, DAY_AFTER_EARLY, mileage=75_000)
    refused(wos, work_order_id, warranty_labor(authorization_ref="   "))  # blank is none
    added = wos.add_labor_line(request(at=DAY_AFTER_EARLY), work_order_id, 1,
                               warranty_labor(authorization_ref="GW-2026-0042"))
    line = app.repository.get(work_order_id).lines[added.body["line_id"]]
    assert line["warranty"]["authorization_ref"] == "GW-2026-0042"


def test_a_recall_campaign_line_is_done_on_any_car() -> None:
    app = ServiceCore()
    registered(app)
    wos = WorkOrders(app)
    work_order_id = visit(wos, DAY_AFTER_EARLY, mileage=75_000)
    refused(wos, work_order_id, warranty_labor(campaign_no="  "))  # blank is none
    added = wos.add_labor_line(request(at=DAY_AFTER_EARLY), work_order_id, 1,
                               warranty_labor(campaign_no="RC-2026-017"))
    line = app.repository.get(work_order_id).lines[added.body["line_id"]]
    assert line["warranty"]["campaign_no"] == "RC-2026-017"


def test_an_unknown_sale_date_refuses_nothing() -> None:
    app = ServiceCore()
    registered(app, sale_date=None)
    wos = WorkOrders(app)
    work_order_id = visit(wos, DAY_AFTER_EARLY, mileage=90_000)
    assert wos.add_labor_line(request(at=DAY_AFTER_EARLY), work_order_id, 1,
                              warranty_labor()).body["line_id"] == "L1"
    # Nor does a car never registered at all.
    other = WorkOrders(ServiceCore())
    assert other.add_labor_line(request(at=DAY_AFTER_EARLY), visit(other, DAY_AFTER_EARLY,
                                                                   90_000), 1,
                                warranty_labor()).body["line_id"] == "L1"


def test_the_store_sets_its_own_terms() -> None:
    app = ServiceCore()
    registered(app)
    wos = WorkOrders(app, warranty=WarrantyTerms(years=5, km=150_000))
    work_order_id = visit(wos, DAY_AFTER_EARLY, mileage=75_000)
    assert wos.add_labor_line(request(at=DAY_AFTER_EARLY), work_order_id, 1,
                              warranty_labor()).body["line_id"] == "L1"


# -- the claim package's check ---------------------------------------------------------------


def claimed(line_id: str, **details: Any) -> dict[str, Any]:
    return {"line_id": line_id, "job_no": 1, "pay_type": "warranty",
            "warranty": {"coverage_code": "BASIC-3Y", **details}}


def test_the_claim_names_each_line_out_of_coverage_without_goodwill() -> None:
    out = coverage(TERMS, SOLD, date(2026, 3, 16), 41_020)
    [problem] = graded(coverage_problems(out, [
        claimed("L1"), claimed("L2", authorization_ref="GW-2026-0042")]))
    assert (problem["kind"], problem["level"], problem["line_id"], problem["missing"]) == (
        "coverage", "error", "L1", ["authorization_ref"])
    assert (problem["sale_date"], problem["beyond"], problem["covered_until"]) == (
        SOLD, ["years"], "2026-03-15")
    assert "line L1 is claimed for a car out of the base warranty" in problem["detail"]
    within = coverage(TERMS, SOLD, date(2026, 3, 15), 60_000)
    assert coverage_problems(within, [claimed("L1")]) == []


def test_a_claim_without_the_sale_date_is_a_warning_that_says_what_the_km_show() -> None:
    [low] = coverage_problems(coverage(TERMS, None, date(2026, 3, 16), 41_020), [claimed("L1")])
    [high] = coverage_problems(coverage(TERMS, None, date(2026, 3, 16), 60_001),
                               [claimed("L1"), claimed("L2")])
    assert (low["level"], low["missing"], low["line_id"], low["sale_date"]) == (
        "warning", ["sale_date"], None, None)
    assert "km is beyond" not in low["detail"]
    assert "its mileage in, 60,001 km, is beyond the 60,000 km" in high["detail"]
    # Graded, every other problem is an error.
    assert [p["level"] for p in graded([low, {"kind": "3c"}])] == ["warning", "error"]
