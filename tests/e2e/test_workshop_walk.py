"""A service department's day over HTTP, where the workshop's answers were once wrong: each
refusal is problem+json that names what is wrong and what to do, and stores nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, head, post
from tests.integration.support import http_open


def refused(client: TestClient, url: str, headers: dict[str, str], body: Any,
            status: int) -> dict[str, Any]:
    """The refusal's problem+json, after checking that nothing was stored."""
    before = head(client)
    answer = client.post(url, headers=headers, json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert head(client) == before
    return answer.json()  # type: ignore[no-any-return]


def test_diagnosis_waits_for_the_car_to_be_checked_in(client: TestClient, auth: Auth,
                                                      store_id: str) -> None:
    advisor = auth("advisor", "adv-li", [store_id])
    tech = auth("technician", "tech-zhao", [store_id])
    diagnosis = {"cause": "front pads worn to 2 mm", "correction": "replace front pads",
                 "fault_codes": []}
    # The work order is open, but the car has not been received: nothing to diagnose yet.
    wo = f"/work-orders/{http_open(client, auth, store_id)['id']}"
    problem = refused(client, f"{wo}/jobs/1/diagnosis", tech, diagnosis, 409)
    assert "opened" in problem["detail"] and "check the vehicle in" in problem["detail"]

    # Once checked in, the technician's diagnosis is taken.
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 42_010, "fuel_level": 40})
    post(client, f"{wo}/jobs/1/diagnosis", tech, diagnosis)
