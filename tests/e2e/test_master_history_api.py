"""What an OEM's warranty auditor asks of the workshop's masters: which skills and levels a
technician held, and the labor operation's flat-rate hours and rates, with every change, who
made it, when and why (`GET /technicians/{user}/history`,
`GET /labor-operations/{op_code}/history?store_id=`); another store's or an unknown one is 404,
a role without the audit right 403. A change of the skills a technician holds wants a reason
(422 naming `reason`, nothing stored)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.e2e.scope_dataset import event_count
from tests.e2e.test_labor_operations_api import register
from tests.e2e.test_parts_api import Auth, get, post


def problem(client: TestClient, url: str, headers: dict[str, str], status: int,
            **params: Any) -> dict[str, Any]:
    response = client.get(url, headers=headers, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()  # type: ignore[no-any-return]


def test_a_technicians_history_shows_each_change_of_skills_with_who_when_and_why(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    user = f"tech-{store_id}"
    post(client, f"/technicians/{user}/profile", manager,
         {"store_id": store_id, "skills": {"chassis": 2}, "hourly_cost": "80.00"})
    post(client, f"/technicians/{user}/profile", manager,
         {"store_id": store_id, "skills": {"chassis": 2, "electrical": 4},
          "hourly_cost": "80.00", "reason": "OEM high-voltage course passed"})

    auditor = auth("auditor", "aud-" + store_id, [store_id])
    page = get(client, f"/technicians/{user}/history", auditor)
    events = [item["event"] for item in page["items"]]
    assert events[0] == "Technician.Registered"
    skills = [item for item in page["items"] if item["event"] == "Technician.SkillsSet"]
    assert [s["changes"]["skills"] for s in skills] == [
        {"chassis": 2}, {"chassis": 2, "electrical": 4}]
    assert skills[1]["reason"] == "OEM high-voltage course passed"
    assert skills[1]["actor"]["user_id"] == "mgr-" + store_id
    assert skills[1]["actor"]["role"] == "manager"
    assert skills[1]["actor"]["store_id"] == store_id
    assert page["total"] == len(events) and page["offset"] == 0

    one = get(client, f"/technicians/{user}/history", auditor, limit=1, offset=1)
    assert [i["event"] for i in one["items"]] == [events[1]] and one["total"] == page["total"]

    other = auth("auditor", "aud-other", ["O" + store_id[1:]])
    problem(client, f"/technicians/{user}/history", other, 404)
    problem(client, f"/technicians/nobody-{store_id}/history", auditor, 404)
    problem(client, f"/technicians/{user}/history",
            auth("technician", user, [store_id]), 403)


def test_a_labor_operations_history_shows_each_change_of_hours_and_rates_with_its_reason(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    register(client, manager, store_id)
    changed = client.patch("/labor-operations/brk-pad", headers=manager, json={
        "store_id": store_id, "rates": {"warranty": "200.00"},
        "reason": "OEM warranty rate 2027"})
    assert changed.status_code == 200, changed.text

    for role in ("auditor", "finance", "manager"):
        reader = auth(role, f"{role}-{store_id}", [store_id])
        page = get(client, "/labor-operations/brk-pad/history", reader, store_id=store_id)
        assert page["total"] == 2
        first, second = page["items"]
        assert first["event"].startswith("LaborOperation.")
        assert first["changes"]["rates"]["warranty"] == "180.00"
        assert first["actor"]["user_id"] == "mgr-" + store_id
        assert second["reason"] == "OEM warranty rate 2027"
        assert second["actor"]["store_id"] == store_id
        assert "200.00" in str(second["changes"])

    auditor = auth("auditor", "aud-" + store_id, [store_id])
    problem(client, "/labor-operations/NOPE/history", auditor, 404, store_id=store_id)
    other = "O" + store_id[1:]
    problem(client, "/labor-operations/BRK-PAD/history", auth("auditor", "aud-o", [other]),
            404, store_id=store_id)
    problem(client, "/labor-operations/BRK-PAD/history", auditor, 404, store_id=other)
    problem(client, "/labor-operations/BRK-PAD/history",
            auth("advisor", "adv-" + store_id, [store_id]), 403, store_id=store_id)


def test_changing_a_technicians_skills_wants_a_reason_and_stores_nothing_without_one(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    user = f"lvl-{store_id}"
    url = f"/technicians/{user}/profile"
    post(client, url, manager, {"store_id": store_id, "skills": {}, "hourly_cost": "80.00"})
    # The first skills given are the profile's, as at registration: no reason asked.
    post(client, url, manager,
         {"store_id": store_id, "skills": {"chassis": 2}, "hourly_cost": "80.00"})
    for body in ({}, {"reason": "  "}, {"reason": "ok"}):
        before = event_count(container)
        refused = client.post(url, headers=manager, json={
            "store_id": store_id, "skills": {"chassis": 5}, "hourly_cost": "80.00", **body})
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["field"] == "reason"
        assert event_count(container) == before
    # The same skills again is no change of qualification (the cost changed has its own
    # reason: tests/e2e/test_correction_reasons_api.py).
    post(client, url, manager, {"store_id": store_id, "skills": {"chassis": 2},
                                "hourly_cost": "90.00", "reason": "annual pay review"})
    post(client, url, manager, {"store_id": store_id, "skills": {"chassis": 5},
                                "hourly_cost": "90.00", "reason": "OEM master certificate"})
    page = get(client, f"/technicians/{user}/history", auth("auditor", "a", [store_id]))
    raised = [i for i in page["items"] if i["event"] == "Technician.SkillsSet"][-1]
    assert (raised["changes"]["skills"], raised["reason"]) == (
        {"chassis": 5}, "OEM master certificate")
