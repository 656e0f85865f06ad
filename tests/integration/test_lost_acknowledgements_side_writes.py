"""A lost answer for the commands whose route does more than the command's one save: the
day-end close, which also records the chain head as an anchor (a table of its own and the
witness file) after its save, and the purchase order drafted from the reorder suggestions,
whose parts the route asks the read model for before the command runs.

The save reaches the server and commits; its answer is cut off by the proxy (the recorder finds
it stored and answers); the client, which never heard, sends the same request again with the
same Idempotency-Key after the log moved on, on the same API process and on another. Each
retry must answer what the first did and store nothing twice, in the event log or beside it;
the same key with another body is refused and stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx
import psycopg
from fastapi.testclient import TestClient

from api.main import create_app
from projections.chain_witness import day_end_note
from projections.hash_chain import ANCHORS_TABLE
from servicecore.container import Container
from tests.e2e.test_parts_api import get, new_part, post
from tests.integration.faults import FaultyProxy
from tests.integration.support import open_order
from tests.integration.test_lost_acknowledgements import (  # noqa: F401  (fixtures)
    arm,
    assert_replayed,
    behind,
    proxy,
)
from tests.integration.test_lost_acknowledgements_families import count

Auth = Callable[..., dict[str, str]]


def lost_then_retried_later(behind: Container, proxy: FaultyProxy,  # noqa: F811
                            client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str],
                            meanwhile: Callable[[httpx.Response], None]
                            ) -> tuple[httpx.Response, httpx.Response, httpx.Response]:
    """POST with its commit answer lost (one cut), then, after `meanwhile` (given the first
    answer), the same request again on the same process and on another one."""
    with TestClient(create_app(behind.api_context())) as api:
        arm(behind.app, proxy)
        first = api.post(path, json=body, headers=headers)
        assert proxy.cuts == 1
        meanwhile(first)
        again = api.post(path, json=body, headers=headers)
    elsewhere = client.post(path, json=body, headers=headers)
    return first, again, elsewhere


def anchors_noted(database_url: str, note: str) -> list[str]:
    """The anchors (`N:HEX`) recorded with that note."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            f"SELECT notification_id, hash FROM {ANCHORS_TABLE} WHERE note = %s "
            "ORDER BY anchor_id", (note,)).fetchall()
    return [f"{number}:{bytes(digest).hex()}" for number, digest in rows]


def test_a_day_end_retried_after_its_answer_was_lost_answers_its_anchor_and_records_one(
        behind: Container, proxy: FaultyProxy, client: TestClient,  # noqa: F811
        container: Container, database_url: str, store_id: str, auth: Auth) -> None:
    cashier_id = f"cash-{uuid4().hex[:8]}"
    key = {"Idempotency-Key": f"close-{cashier_id}"}
    cashier = auth("cashier", cashier_id, [store_id], **key)
    body = {"store_id": store_id, "counted_cash": "0.00"}

    def log_moves_on(first: httpx.Response) -> None:
        open_order(container.work_orders, store_id)

    first, again, elsewhere = lost_then_retried_later(
        behind, proxy, client, "/day-end", body, cashier, log_moves_on)
    assert_replayed(first, again, elsewhere)
    closed = first.json()
    note = day_end_note(store_id, closed["business_date"], cashier_id)
    # One close, one anchor: the one the first answer named, in the table and in the report.
    assert count(database_url, "CashierDay.Closed", closed["id"]) == 1
    assert anchors_noted(database_url, note) == [closed["anchor"]]
    report = get(client, f"/day-end/{closed['business_date']}",
                 auth("cashier", cashier_id, [store_id]))
    assert [a["anchor"] for a in report["chain_anchors"]
            if a["cashier_id"] == cashier_id] == [closed["anchor"]]
    # The same key with another body is refused, and records nothing either.
    reused = client.post("/day-end", json={**body, "counted_cash": "5.00"}, headers=cashier)
    assert reused.status_code == 422, reused.text
    assert reused.headers["content-type"] == "application/problem+json"
    assert anchors_noted(database_url, note) == [closed["anchor"]]


def test_a_draft_from_suggestions_retried_after_its_answer_was_lost_replays_its_order(
        behind: Container, proxy: FaultyProxy, client: TestClient,  # noqa: F811
        database_url: str, store_id: str, auth: Auth) -> None:
    clerk = auth("parts_clerk", f"clerk-{uuid4().hex[:8]}", [store_id])
    number = new_part(client, clerk, min_stock=5, reorder_qty=10)
    received = post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": 1, "unit_cost": "80.00", "supplier": "FAW-VW Parts", "supplier_doc": "DN-1"}, 201)
    proposed = get(client, "/purchase-orders/suggestions", clerk, store_id=store_id,
                   wait_for=received["notification_id"])
    assert [s["part_number"] for s in proposed["items"]] == [number]
    keyed = {**clerk, "Idempotency-Key": f"reorder-{number}"}
    body = {"store_id": store_id, "supplier": "FAW-VW Parts"}

    def suggestions_catch_up(first: httpx.Response) -> None:
        # The draft is on order now: the read model proposes nothing any more.
        assert get(client, "/purchase-orders/suggestions", clerk, store_id=store_id,
                   wait_for=first.json()["notification_id"])["items"] == []

    first, again, elsewhere = lost_then_retried_later(
        behind, proxy, client, "/purchase-orders/from-suggestions", body, keyed,
        suggestions_catch_up)
    assert first.status_code == 201, first.text
    assert_replayed(first, again, elsewhere)
    drafted = first.json()
    # One order, one number, ordered once on the stock item.
    assert count(database_url, "PurchaseOrder.Drafted", drafted["id"]) == 1
    assert count(database_url, "PurchaseOrder.Drafted", drafted["number"]) == 1
    item = get(client, f"/stock/{store_id}/{number}", clerk,
               wait_for=elsewhere.json()["notification_id"])
    assert item["on_order"] == "10"
    # The same key with another body is refused, not answered with the order, nor drafted.
    reused = client.post("/purchase-orders/from-suggestions", headers=keyed,
                         json={**body, "part_numbers": [number]})
    assert reused.status_code == 422, reused.text
    assert reused.headers["content-type"] == "application/problem+json"
    assert "Idempotency-Key" in reused.json()["detail"]
