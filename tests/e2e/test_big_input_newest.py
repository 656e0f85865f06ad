"""The newest commands at the largest input they take, and one past it (as tests/e2e/
test_big_input.py does for the older ones): transfers sent from the suggestions of more parts
than one command sends, and of exactly as many, each donor's line in it; a chunk of a
recall's VINs one longer than an import holds. Past the limit: problem+json, nothing stored;
at it: served, each line once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.routes import transfer_suggestions as routes
from domain.application import Request
from domain.campaign import MAX_VINS_PER_IMPORT
from domain.common import Caller
from domain.transfer_suggesting import MAX_SUGGESTED_PARTS
from projections.transfer_suggestions import transfer_suggestions
from servicecore.container import Container
from tests.e2e.test_api_contract import log_head, problem
from tests.e2e.test_campaigns_api import campaign
from tests.integration.audit_support import new_vin

Auth = Callable[..., dict[str, str]]


def _short_here_spare_there(container: Container, here: str, donors: tuple[str, ...],
                            parts: int) -> int:
    """`parts` parts each below its minimum `here` (needs 8) and 4 spare in each donor: the
    log's head after."""
    stores = (here, *donors)
    manager = Request(Caller("mgr-big", "manager", stores, datetime.now(UTC), "big-input", None))
    inventory = container.inventory
    done = None
    for n in range(parts):
        number = f"TRF{here}{n:04d}"
        inventory.register_part(manager, part_number=number, list_price="10.00", details={
            "name": "clip", "unit": "pc", "category": "body"})
        inventory.set_levels(manager, here, number, min_stock="4", reorder_qty="8")
        for donor in donors:
            done = inventory.receive(manager, donor, number, qty="4", unit_cost="1.00",
                                     supplier="FAW-VW Parts", supplier_doc="DN-1")
    assert done is not None and done.notification_id is not None
    return done.notification_id


def test_transfers_from_every_suggestion_take_at_most_max_suggested_parts(
        client: TestClient, container: Container, auth: Auth, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    donors = (store_id + "B", store_id + "C")
    last = _short_here_spare_there(container, store_id, donors, MAX_SUGGESTED_PARTS + 1)
    clerk = auth("parts_clerk", "clerk-big", [store_id, *donors])
    proposed = client.get("/transfers/suggestions", headers=clerk, params={
        "to_store": store_id, "limit": 1, "wait_for": last}).json()
    assert proposed["total"] == MAX_SUGGESTED_PARTS + 1
    before = log_head(client)
    read: list[int] = []

    def planned(*args: Any, **kwargs: Any) -> Any:
        found = transfer_suggestions(*args, **kwargs)
        read.append(len(found["items"]))
        return found

    with monkeypatch.context() as spied:
        spied.setattr(routes, "transfer_suggestions", planned)
        refused = client.post("/transfers/from-suggestions", headers=clerk,
                              json={"to_store": store_id})
    body = problem(refused, 422, "invalid-input")
    assert (body["limit"], body["count"]) == (MAX_SUGGESTED_PARTS, MAX_SUGGESTED_PARTS + 1)
    # Refused on the list's count: no more of it was planned (each part's donors read) than
    # one command sends, however many parts the store is short of.
    assert read == [MAX_SUGGESTED_PARTS]
    # Named line by line: one part too many is refused the same way.
    lines = [{"part_number": f"TRF{store_id}{n:04d}", "from_store": donor, "qty": "4"}
             for n in range(MAX_SUGGESTED_PARTS + 1) for donor in donors]
    refused = client.post("/transfers/from-suggestions", headers=clerk,
                          json={"to_store": store_id, "lines": lines[::2]})
    assert problem(refused, 422, "invalid-input")["count"] == MAX_SUGGESTED_PARTS + 1
    assert log_head(client) == before
    # At the limit (the most lines a body holds: two donors a part): every line sent once.
    sent = client.post("/transfers/from-suggestions", headers=clerk,
                       json={"to_store": store_id, "lines": lines[:-2]})
    assert sent.status_code == 201, sent.text[:500]
    transfers = sent.json()["transfers"]
    assert len(transfers) == 2 * MAX_SUGGESTED_PARTS
    assert len({t["number"] for t in transfers}) == len(transfers)
    rest = client.get("/transfers/suggestions", headers=clerk, params={
        "to_store": store_id, "wait_for": sent.json()["notification_id"]}).json()
    assert [row["part_number"] for row in rest["items"]] == [
        f"TRF{store_id}{MAX_SUGGESTED_PARTS:04d}"]


def test_a_chunk_of_vins_one_past_the_import_size_is_422_and_stores_nothing(
        client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", "mgr-" + store_id, [store_id])
    number = campaign(client, manager)
    vins = [new_vin() for _ in range(MAX_VINS_PER_IMPORT + 1)]
    before = log_head(client)
    refused = client.post(f"/campaigns/{number}/vins", headers=manager, json={"vins": vins})
    assert problem(refused, 422, "invalid-input")["field"] == "vins"
    assert log_head(client) == before
