"""A customer's change of mind on a decided estimate line needs a reason (the `note` of the
new decision, 422 naming `note` without one), and that reason is the event's `reason` in the
work order's history, the visit's timeline and the audit log, as every other correction's: an
auditor sampling `WorkOrder.LineAuthorized` sees why a decision changed, and who changed it."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.e2e.test_api_contract import problem
from tests.e2e.test_parts_api import get, post
from tests.scratch_systems import served_module

Auth = Callable[..., dict[str, str]]
served, container, client = served_module("sc_change_of_mind", projections=True)


def test_the_reason_for_a_changed_decision_is_in_the_trail(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    wo_id = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "王伟", "phone": "13800000001"},
        "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪A12345"}, "mileage": 30000,
        "complaints": ["brake noise"]}, 201)["id"]
    wo = f"/work-orders/{wo_id}"
    line = post(client, f"{wo}/jobs/1/labor-lines", advisor, {
        "op_code": "BRK01", "description": "replace pads", "hours": "1.0",
        "hourly_rate": "300.00"})["line_id"]
    post(client, f"{wo}/lines/{line}/authorization", advisor,
         {"decision": "approved", "channel": "phone"})
    for note in (None, "  "):
        body = {"decision": "declined", "channel": "phone",
                **({} if note is None else {"note": note})}
        refused = problem(client.post(f"{wo}/lines/{line}/authorization", headers=advisor,
                                      json=body), 422, "invalid-input")
        assert refused["field"] == "note"
    why = "customer will have it done at home"
    done = post(client, f"{wo}/lines/{line}/authorization", advisor,
                {"decision": "declined", "channel": "phone", "note": f" {why} "})

    history = get(client, f"{wo}/history", auditor)["items"]
    decisions = [(e["changes"]["decision"], e["reason"]) for e in history
                 if e["event"] == "WorkOrder.LineAuthorized"]
    assert decisions == [("approved", None), ("declined", why)]
    timeline = get(client, f"/audit/work-orders/{wo_id}/timeline", auditor,
                   wait_for=done["notification_id"])["items"]
    assert [e["reason"] for e in timeline if e["event"] == "WorkOrder.LineAuthorized"] == [
        None, why]
    logged = get(client, "/audit/log", auditor, event_type="WorkOrder.LineAuthorized",
                 store_id=store_id, wait_for=done["notification_id"])["items"]
    assert [(e["reason"], e["actor"]["user_id"], e["actor"]["role"]) for e in logged] == [
        (None, "adv-" + store_id, "advisor"), (why, "adv-" + store_id, "advisor")]
