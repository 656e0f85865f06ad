"""The OEM's base warranty over HTTP (3 years / 60,000 km from the car's sale): a warranty line
for a car beyond it is refused with 422 and nothing stored, unless it carries the OEM's goodwill
or prior-authorisation reference; a line recorded before the sale date was on file stays, and
the claim package names it so that the warranty administrator sees it before sending."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from servicecore.demo import make_vin
from tests.e2e.test_money_api import Auth
from tests.e2e.test_parts_api import get, head, post

COVERAGE = "https://servicecore.dev/problems/out-of-warranty-coverage"


def three_years_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 3)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 3, day=28)


def warranty_labor(op_code: str, **details: Any) -> dict[str, Any]:
    return {"op_code": op_code, "description": "replace injector", "hours": "1.0",
            "hourly_rate": "300.00", "pay_type": "warranty",
            "warranty": {"coverage_code": "BASIC-3Y", **details}}


def test_a_car_out_of_coverage_takes_a_warranty_line_only_with_goodwill(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    vin = make_vin(random.Random(store_id + "coverage"))
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    sold = three_years_before(today) - timedelta(days=1)  # the coverage ended yesterday
    # The car comes in before the desk has its sale date: a warranty line is taken.
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000002"},
        "vehicle": {"vin": vin, "plate": "沪C" + store_id[-5:], "brand": "Volkswagen"},
        "mileage": 41_000, "kind": "warranty", "complaints": ["rough idle"]}, 201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 41_020, "fuel_level": 50})
    post(client, f"{wo}/jobs/1/diagnosis", advisor, {
        "cause": "injector 2 leaks", "correction": "replace injector 2",
        "fault_codes": ["P0202"]})
    first = post(client, f"{wo}/jobs/1/labor-lines", advisor, warranty_labor("ENG-INJ"))
    post(client, f"{wo}/lines/{first['line_id']}/authorization", advisor,
         {"decision": "approved", "channel": "in_person"})
    # Without a sale date the claim cannot be checked for coverage: a warning, not an error.
    claim = get(client, f"{wo}/warranty-claim", auditor)
    [unknown] = [p for p in claim["problems"] if p["kind"] == "coverage"]
    assert (unknown["level"], unknown["missing"], unknown["sale_date"]) == (
        "warning", ["sale_date"], None)
    assert "sale date is not on file" in unknown["detail"]
    assert claim["complete"] is True  # a warning alone leaves the claim complete

    # The sale date is put on file: the car is three years and a day old.
    post(client, "/vehicles", advisor, {"store_id": store_id, "vin": vin,
                                        "sale_date": sold.isoformat()}, 201)
    before = head(client)
    for kind, body in (("labor-lines", warranty_labor("ENG-INJ2")),
                       ("part-lines", {"part_number": "04E906036AC", "description": "injector",
                                       "qty": 1, "unit_price": "820.00",
                                       "pay_type": "warranty",
                                       "warranty": {"coverage_code": "BASIC-3Y",
                                                    "authorization_ref": "  "}})):
        refused = client.post(f"{wo}/jobs/1/{kind}", headers=advisor, json=body)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert (problem["type"], problem["title"], problem["code"]) == (
            COVERAGE, "Out of the OEM's warranty coverage", "OutOfCoverage")
        assert (problem["sale_date"], problem["day_in"], problem["mileage_in"]) == (
            sold.isoformat(), today.isoformat(), 41_020)
        assert (problem["age"]["years"], problem["age"]["days"]) == (3, 1)
        assert problem["limits"] == {"years": 3, "km": 60_000}
        assert (problem["beyond"], problem["field"]) == (["years"], "warranty.authorization_ref")
    assert head(client) == before  # nothing stored
    detail = get(client, wo, advisor, wait_for=head(client))
    assert [ln["line_id"] for ln in detail["lines"]] == [first["line_id"]]
    # The customer's own line is no warranty line; goodwill from the OEM lets one through.
    post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "ENG-CLN", "description": "throttle body cleaning", "hours": "0.5",
        "hourly_rate": "300.00"})
    goodwill = post(client, f"{wo}/jobs/1/labor-lines", advisor,
                    warranty_labor("ENG-INJ2", authorization_ref="GW-2026-0042"))
    post(client, f"{wo}/lines/{goodwill['line_id']}/authorization", advisor,
         {"decision": "approved", "channel": "in_person"})

    # The line taken before stays as it was recorded; the claim package names it, not the
    # goodwill line, and the claim is not complete until it is dealt with.
    claim = get(client, f"{wo}/warranty-claim", auditor)
    assert claim["vehicle"]["sale_date"] == sold.isoformat()
    [out] = [p for p in claim["problems"] if p["kind"] == "coverage"]
    assert (out["level"], out["line_id"], out["job_no"], out["missing"]) == (
        "error", first["line_id"], 1, ["authorization_ref"])
    assert (out["sale_date"], out["mileage_in"], out["limits"], out["beyond"]) == (
        sold.isoformat(), 41_020, {"years": 3, "km": 60_000}, ["years"])
    assert claim["complete"] is False
    page = client.get(f"{wo}/warranty-claim", headers=auditor, params={"format": "html"}).text
    assert "Incomplete — fix before sending" in page
    assert f"line {first['line_id']} is claimed for a car out of the base warranty" in page


def test_a_warranty_line_beyond_60000_km_is_refused(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    vin = make_vin(random.Random(store_id + "km"))
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    post(client, "/vehicles", advisor, {"store_id": store_id, "vin": vin,
                                        "sale_date": (today - timedelta(days=400)).isoformat()},
         201)
    for km, status in ((60_000, 200), (60_001, 422)):
        opened = post(client, "/work-orders", advisor, {
            "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000002"},
            "vehicle": {"vin": vin}, "mileage": km, "complaints": ["rough idle"]}, 201)
        wo = f"/work-orders/{opened['id']}"
        post(client, f"{wo}/check-in", advisor, {"mileage_in": km, "fuel_level": 50})
        answer = client.post(f"{wo}/jobs/1/labor-lines", headers=advisor,
                             json=warranty_labor("ENG-INJ"))
        assert answer.status_code == status, answer.text
    assert (answer.json()["beyond"], answer.json()["mileage_in"]) == (["km"], 60_001)
