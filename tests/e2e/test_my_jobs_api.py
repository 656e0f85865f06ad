"""A technician's own open jobs: the work-order list takes `technician=me` (the caller) and
several statuses at once (`status=checked_in,in_progress`, comma-separated as
`/audit/log?event_type=` takes several), so a technician no longer reads the whole store's
board, nor their finished visits."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from servicecore.demo import make_vin
from tests.e2e.test_change_of_mind_api import PADS, PHONE
from tests.e2e.test_parts_api import get, head, on_roster, post

Auth = Callable[..., dict[str, str]]


def _dispatched(client: TestClient, advisor: dict[str, str], store_id: str, plate: str,
                technician: str) -> str:
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "赵磊", "phone": "13700001111"},
        "vehicle": {"vin": make_vin(random.Random(plate + store_id)), "plate": plate},
        "mileage": 30000, "complaints": ["brake noise"]}, 201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 30010, "fuel_level": 50})
    line_id = post(client, f"{wo}/jobs/1/labor-lines", advisor, PADS)["line_id"]
    post(client, f"{wo}/lines/{line_id}/authorization", advisor, PHONE)
    post(client, f"{wo}/jobs/1/dispatch", advisor, {"technician_id": technician})
    return str(opened["id"])


def _listed(client: TestClient, headers: dict[str, str], **params: Any) -> Any:
    """`GET /work-orders` with these filters (`status` among them)."""
    response = client.get("/work-orders", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_technician_lists_their_own_open_jobs(client: TestClient, auth: Auth,
                                               store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    mine, theirs = "tech-a-" + store_id, "tech-b-" + store_id
    for tech in (mine, theirs):
        on_roster(client, manager, store_id, tech)
    me = auth("technician", mine, [store_id])
    # The first job of the day: repaired and through QC, the visit waits for the cashier.
    finished = _dispatched(client, advisor, store_id, "沪A10004", mine)
    for step in ("clock-on", "clock-off", "complete"):
        post(client, f"/work-orders/{finished}/jobs/1/{step}", me)
    post(client, f"/work-orders/{finished}/jobs/1/quality-check", manager, {"passed": True})
    working = _dispatched(client, advisor, store_id, "沪A10001", mine)
    post(client, f"/work-orders/{working}/jobs/1/clock-on", me)
    waiting = _dispatched(client, advisor, store_id, "沪A10002", mine)
    _dispatched(client, advisor, store_id, "沪A10003", theirs)

    listed = _listed(client, me, technician="me", status="checked_in,in_progress",
                     wait_for=head(client))
    assert {(w["id"], w["status"]) for w in listed["items"]} == {
        (working, "in_progress"), (waiting, "in_progress")}
    assert listed["total"] == 2
    # `me` is whoever asks; every visit of mine, the finished one too, without a status.
    everything = get(client, "/work-orders", me, technician="me")["items"]
    assert {w["id"] for w in everything} == {working, waiting, finished}
    assert get(client, "/work-orders", manager, technician="me")["items"] == []
    # One status still works; an unknown one among several is a 422 naming `status`.
    assert [w["id"] for w in _listed(client, me, technician=mine,
                                      status="ready_for_settlement")["items"]] == [finished]
    refused = client.get("/work-orders", headers=me,
                         params={"status": "in_progress,on_hold"})
    assert refused.status_code == 422, refused.text
    assert [e["loc"] for e in refused.json()["errors"]] == [["query", "status"]]
