"""The dispatch board for the foreman and the QC inspector. A job with a line still waiting for
the customer's approval was on no list, so the foreman could not see it coming: it is now in
`awaiting_approval`, with no technician proposed (the work is not agreed). The QC inspector
scanned every queue for completed jobs: those are now in `awaiting_qc`, exactly those."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from servicecore.demo import make_vin
from tests.e2e.test_change_of_mind_api import CLEAN, PADS, PHONE
from tests.e2e.test_parts_api import get, head, on_roster, post

Auth = Callable[..., dict[str, str]]


def _estimated(client: TestClient, advisor: dict[str, str], store_id: str,
               plate: str) -> tuple[str, str]:
    """A checked-in visit with an approved pads line on job 1; its path and number."""
    opened = post(client, "/work-orders", advisor, {
        "store_id": store_id, "customer": {"name": "孙悦", "phone": "13622223333"},
        "vehicle": {"vin": make_vin(random.Random(plate + store_id)), "plate": plate},
        "mileage": 25000, "complaints": ["brake noise"]}, 201)
    wo = f"/work-orders/{opened['id']}"
    post(client, f"{wo}/check-in", advisor, {"mileage_in": 25010, "fuel_level": 70})
    line_id = post(client, f"{wo}/jobs/1/labor-lines", advisor, PADS)["line_id"]
    post(client, f"{wo}/lines/{line_id}/authorization", advisor, PHONE)
    return wo, str(opened["number"])


def _board(client: TestClient, headers: dict[str, str], store_id: str) -> Any:
    return get(client, "/dispatch/board", headers, store_id=store_id, wait_for=head(client))


def test_the_board_shows_jobs_waiting_for_approval_and_for_inspection(
        client: TestClient, auth: Auth, store_id: str) -> None:
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    tech_id = "tech-" + store_id
    tech = auth("technician", tech_id, [store_id])
    on_roster(client, manager, store_id, tech_id)

    # Agreed work: waits for a technician, with a proposal.
    _, agreed = _estimated(client, advisor, store_id, "沪D20001")
    # The caliper clean waits for the customer's call back: the foreman sees it coming.
    asking, asked = _estimated(client, advisor, store_id, "沪D20002")
    clean = post(client, f"{asking}/jobs/1/labor-lines", advisor, CLEAN)["line_id"]
    # Repaired and completed: waits for the QC inspector.
    done, completed = _estimated(client, advisor, store_id, "沪D20003")
    post(client, f"{done}/jobs/1/dispatch", advisor, {"technician_id": tech_id})
    for step in ("clock-on", "clock-off", "complete"):
        post(client, f"{done}/jobs/1/{step}", tech)
    # In repair: on the technician's queue only.
    busy, repairing = _estimated(client, advisor, store_id, "沪D20004")
    post(client, f"{busy}/jobs/1/dispatch", advisor, {"technician_id": tech_id})

    board = _board(client, auth("qc_inspector", "qc-" + store_id, [store_id]), store_id)
    waiting = board["waiting"]
    assert [j["number"] for j in waiting] == [agreed]
    assert "proposed" in waiting[0]  # who auto-dispatch would take (none on shift: null)
    [coming] = board["awaiting_approval"]
    assert (coming["number"], coming["plate"], coming["pending"]) == (asked, "沪D20002", 1)
    assert "proposed" not in coming and "need" not in coming
    [inspect] = board["awaiting_qc"]
    assert (inspect["number"], inspect["status"], inspect["technician_id"]) == (
        completed, "awaiting_qc", tech_id)
    assert repairing not in {j["number"] for j in [*board["awaiting_approval"],
                                                    *board["awaiting_qc"]]}

    # The customer agrees; QC passes the completed job: both leave their sections.
    post(client, f"{asking}/lines/{clean}/authorization", advisor, PHONE)
    post(client, f"{done}/jobs/1/quality-check", manager, {"passed": True})
    board = _board(client, manager, store_id)
    assert board["awaiting_approval"] == [] and board["awaiting_qc"] == []
    assert {j["number"] for j in board["waiting"]} == {agreed, asked}
