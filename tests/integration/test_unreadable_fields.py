"""A stored event that decodes and that its aggregate takes, but that lacks a field the claim
package or the repair record reads of it as stored (an older shape, a hand-edited row): the
answer is the 500 problem naming the record (stream, version, topic), as for an event that
cannot be decoded, not a generic error. The tests append broken rows behind the
application's back, so they run on a database of their own."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg
from fastapi.testclient import TestClient

from servicecore.schema import EVENTS_TABLE
from tests.e2e.test_parts_api import post
from tests.e2e.test_warranty_evidence_api import injector_visit
from tests.integration.audit_support import new_vin
from tests.integration.test_unreadable_events import _named
from tests.scratch_systems import ServedScratch, served_module

served, container, client = served_module("sc_unreadable_fields")

Auth = Callable[..., dict[str, str]]
RECEIVED = "domain.stock:StockItem.Received"
SERIALS = "domain.work_order:WorkOrder.SerialsRecorded"
LACKING = ("AttributeError", "KeyError")


def _append_without(url: str, topic: str, stream_id: UUID | None,
                    drop: Callable[[dict[str, Any]], None]) -> tuple[UUID, int]:
    """The stream's (or, without one, the log's) last event of `topic` appended again as
    the stream's next version, with `drop` taking a field out of its state: the stream and
    the new version."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT originator_id, state FROM {EVENTS_TABLE} WHERE topic = %s "
            "AND (%s::uuid IS NULL OR originator_id = %s) ORDER BY notification_id DESC "
            "LIMIT 1", (topic, stream_id, stream_id)).fetchone()
        assert row is not None
        stream, state = UUID(str(row[0])), json.loads(bytes(row[1]))
        drop(state)
        version = conn.execute(f"SELECT max(originator_version) + 1 FROM {EVENTS_TABLE} "
                               "WHERE originator_id = %s", (stream,)).fetchone()
        assert version is not None
        conn.execute(f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, "
                     "state) VALUES (%s, %s, %s, %s)",
                     (stream, int(version[0]), topic, json.dumps(state).encode()))
    return stream, int(version[0])


def test_the_claim_package_names_a_stock_receipt_without_its_supplier_document(
        served: ServedScratch, client: TestClient, auth: Auth) -> None:
    """The lots of a claimed part are read from the stock item's events, which the package
    does not fold: a receipt of that part without `supplier_doc` is the named problem."""
    store = "SFIELD"
    _, visit, _ = injector_visit(client, auth, store, vin=new_vin())
    auditor = auth("auditor", "aud-" + store, [store])
    package = f"/work-orders/{visit}/warranty-claim"
    assert client.get(package, headers=auditor).status_code == 200
    stock, version = _append_without(served.owner_url, RECEIVED, None,
                                     lambda state: state.pop("supplier_doc"))
    _named(client.get(package, headers=auditor), stock, version, RECEIVED, LACKING)


def test_the_claim_package_and_repair_record_name_a_removed_part_without_its_serial(
        served: ServedScratch, client: TestClient, auth: Auth) -> None:
    """The serials of a settled warranty visit's part, recorded again by a row whose
    removed part has no `serial` (the work order takes it: it keeps the list as given): the
    package (which looks the serials up on other visits) and the repair record (which lists
    them) answer the problem naming that row, not a 500 of their own or a record without it."""
    store = "SSERIAL"
    wo, visit, line = injector_visit(client, auth, store, vin=new_vin())
    tech = auth("technician", "tech-" + store, [store])
    manager = auth("manager", "mgr-" + store, [store])
    cashier = auth("cashier", "cash-" + store, [store])
    auditor = auth("auditor", "aud-" + store, [store])
    post(client, f"{wo}/lines/{line}/serials", tech, {
        "fitted": ["INJ-NEW-1", "INJ-NEW-2"],
        "removed": [{"serial": "INJ-OLD-1", "disposition": "scrapped"}]})
    for step in ("clock-on", "clock-off", "complete"):
        post(client, f"{wo}/jobs/1/{step}", tech)
    post(client, f"{wo}/jobs/1/quality-check", manager, {"passed": True})
    settlement = post(client, "/settlements", cashier, {"work_order_id": visit}, 201)["id"]
    post(client, f"/settlements/{settlement}/confirmation", cashier)
    reads = (f"/work-orders/{visit}/warranty-claim", f"/work-orders/{visit}/repair-record")
    for read in reads:
        assert client.get(read, headers=auditor).status_code == 200, read
    stream, version = _append_without(served.owner_url, SERIALS, UUID(visit),
                                      lambda state: state["removed"][0].pop("serial"))
    for read in reads:
        _named(client.get(read, headers=auditor), stream, version, SERIALS, LACKING)
