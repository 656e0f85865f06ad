"""Before the customer answers, the advisor quotes what the estimate's waiting lines add: the
work order's `pending_totals`, per payer as `totals` are shaped (a warranty line's deductible
on the customer's), `{}` once every line is answered — in the live read and `as_of` alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from tests.e2e.test_change_of_mind_api import CLEAN, PADS, PHONE
from tests.e2e.test_parts_api import get, head, post

Auth = Callable[..., dict[str, str]]


def test_the_estimate_totals_the_lines_waiting_for_the_customer(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "李娜", "phone": "13811112222"},
        "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪C24680"}, "mileage": 51000,
        "complaints": ["brake noise"]}, 201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 51010, "fuel_level": 60})
    # Nothing estimated yet: nothing waits.
    assert get(client, wo, advisor, wait_for=head(client))["pending_totals"] == {}

    # The pads are approved at once; the caliper clean (150.00) and a warranty repair with a
    # 100.00 deductible (600.00) wait for the customer's call back.
    pads = post(client, f"{wo}/jobs/1/labor-lines", advisor, PADS)["line_id"]
    post(client, f"{wo}/lines/{pads}/authorization", advisor, PHONE)
    clean = post(client, f"{wo}/jobs/1/labor-lines", advisor, CLEAN)["line_id"]
    warranty = post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "TRN-SOL", "description": "replace shift solenoid", "hours": "2.0",
        "hourly_rate": "300.00", "pay_type": "warranty",
        "warranty": {"coverage_code": "EXT-5Y", "deductible": "100.00"}})["line_id"]
    doc = get(client, wo, advisor, wait_for=head(client))
    assert {p: f["total"] for p, f in doc["totals"].items()} == {"customer": "450.00"}
    pending = doc["pending_totals"]
    assert {p: f["total"] for p, f in pending.items()} == {
        "customer": "250.00", "warranty": "500.00"}
    assert (pending["customer"]["labor"], pending["customer"]["parts"],
            pending["warranty"]["deductible"]) == ("250.00", "0.00", "100.00")
    replayed = get(client, wo, advisor, as_of=datetime.now(UTC).isoformat())
    assert replayed["pending_totals"] == pending

    # The customer takes the clean and declines the warranty repair: nothing waits any more.
    post(client, f"{wo}/lines/{clean}/authorization", advisor, PHONE)
    post(client, f"{wo}/lines/{warranty}/authorization", advisor,
         {"decision": "declined", "channel": "phone"})
    doc = get(client, wo, advisor, wait_for=head(client))
    assert doc["pending_totals"] == {}
    assert doc["totals"]["customer"]["total"] == "600.00"
