"""Towing, a loaner car and travel paid for the customer on a 三包 repair visit, over HTTP:
recorded on the work order, shown on the visit's warranty claim."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import Auth, ready_for_settlement
from tests.e2e.test_parts_api import get, post


def test_compensations_are_recorded_checked_and_claimed(client: TestClient, auth: Auth,
                                                        store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    tech = auth("technician", "tech-" + store_id, [store_id])
    wo, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor=True)
    # The car came in on a tow truck; the customer had a loaner for 3 days.
    post(client, f"{wo}/compensations", advisor, {"kind": "towing", "amount": "350.00",
                                                  "reference": "TOW-5521"})
    post(client, f"{wo}/compensations", advisor, {"kind": "loaner", "amount": "600.00",
                                                  "days": 3, "reference": "RENT-118",
                                                  "note": "Lavida"})
    # Days go with a loaner only; an unknown kind or no amount is 422; a technician is 403.
    for body in ({"kind": "towing", "amount": "10.00", "days": 2},
                 {"kind": "taxi", "amount": "10.00"}, {"kind": "travel", "amount": "0"}):
        refused = client.post(f"{wo}/compensations", headers=advisor, json=body)
        assert refused.status_code == 422, refused.text
    assert client.post(f"{wo}/compensations", headers=tech, json={
        "kind": "travel", "amount": "50.00"}).status_code == 403
    claim = get(client, f"/work-orders/{wo_id}/warranty-claim", auditor)
    assert [(c["kind"], c["amount"], c["days"], c["reference"], c["note"])
            for c in claim["compensations"]] == [
        ("towing", "350.00", None, "TOW-5521", None), ("loaner", "600.00", 3, "RENT-118", "Lavida")]
    assert {e["event_type"] for e in claim["evidence"]} >= {"WorkOrder.CompensationRecorded"}
    page = client.get(f"/work-orders/{wo_id}/warranty-claim", headers=auditor,
                      params={"format": "html"}).text
    assert "Towing, loaner and travel" in page and "RENT-118" in page and "TOW-5521" in page


def test_a_cancelled_visit_takes_no_compensation(client: TestClient, auth: Auth,
                                                  store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000002"},
        "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪B12345"},
        "mileage": 100, "complaints": ["noise"]}, 201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/cancel", advisor, {"reason": "customer went elsewhere"})
    refused = client.post(f"{wo}/compensations", headers=advisor,
                          json={"kind": "travel", "amount": "50.00"})
    assert refused.status_code == 409, refused.text
