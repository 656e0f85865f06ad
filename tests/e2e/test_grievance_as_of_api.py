"""`GET /grievances/{id}?as_of=`: a complaint case as it stood at a moment, replayed from its
events — whom it was assigned to, whether it had been contacted, resolved or closed, late or
not at that moment — and at the latest moment the same as the live case; before its
registration, or in a store the token does not name, 404; a future moment 422."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_as_of_future_api import future
from tests.e2e.test_parts_api import Auth, get, head, post

WORDS = "刹车又响了，上周刚修过"
SAME = ("id", "store_id", "customer_id", "kind", "channel", "category", "severity",
        "oem_case_no", "status", "owner", "resolution", "accepted", "actions", "reopened",
        "registered_by", "changed_by", "changed_role", "version", "words", "contact_late",
        "closed_on_time", "close_late")
MOMENTS = ("registered_at", "changed_at", "contact_due", "close_due", "contacted_at",
           "resolved_at", "closed_at")


def _moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def test_a_complaint_case_as_of_each_step_and_now(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    customer = post(client, "/customers", advisor, {
        "store_id": store_id, "name": "周婷", "phones": ["13900004444"]}, 201)["id"]
    case = post(client, f"/stores/{store_id}/grievances", advisor, {
        "customer_id": customer, "kind": "complaint", "channel": "oem_hotline",
        "oem_case_no": "VW-CR-0099", "category": "repair_quality", "severity": "serious",
        "words": WORDS}, 201)
    url = f"/grievances/{case['id']}"
    post(client, f"{url}/assignment", manager, {"owner": "csr-li", "note": "call today"})
    post(client, f"{url}/first-contact", advisor, {"note": "apologised"})
    post(client, f"{url}/resolution", advisor, {"resolution": "pads replaced free of charge",
                                                "accepted": True})
    post(client, f"{url}/closure", manager, {})
    steps = get(client, f"{url}/history", manager)["items"]
    at = [step["actor"]["at"] for step in steps]

    # Each step's moment answers the case as that step left it.
    expected: list[tuple[str, str | None, bool, bool]] = [
        ("registered", None, False, False), ("assigned", "csr-li", False, False),
        ("in_progress", "csr-li", True, False), ("resolved", "csr-li", True, True),
        ("closed", "csr-li", True, True)]
    for moment, (status, owner, contacted, resolved) in zip(at, expected, strict=True):
        then = get(client, url, advisor, as_of=moment)
        assert (then["status"], then["owner"]) == (status, owner), moment
        assert (then["contacted_at"] is not None, then["resolution"] is not None) == (
            contacted, resolved)
        assert then["words"] == WORDS and then["as_of"] == moment
    # Before its registration it did not exist; another store's token does not see it.
    before = (datetime.fromisoformat(at[0]) - timedelta(seconds=1)).isoformat()
    assert client.get(url, headers=advisor, params={"as_of": before}).status_code == 404
    other = auth("advisor", "adv-other", ["O" + store_id[1:]])
    assert client.get(url, headers=other, params={"as_of": at[-1]}).status_code == 404
    future(client, url, advisor, (datetime.now().astimezone() + timedelta(hours=1)).isoformat())

    # At the latest moment, the replay is the live case.
    live = get(client, url, advisor, wait_for=head(client))
    replayed: dict[str, Any] = get(client, url, advisor, as_of=at[-1])
    assert replayed.keys() - {"as_of"} == live.keys()
    assert {k: replayed[k] for k in SAME} == {k: live[k] for k in SAME}
    assert {k: _moment(replayed[k]) for k in MOMENTS} == {k: _moment(live[k]) for k in MOMENTS}
    assert replayed["moved_from"] == live["moved_from"]
