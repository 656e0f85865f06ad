"""A lost COMMIT answer for the warranty records, the red-letter credit, a stocktake of a lot
used up long ago and a supplier's over-delivery, over HTTP.

Part serials recorded on a line and corrected with a reason, an evidence reference added and
withdrawn, a credit with its red-letter invoice number (the refund and the number's reservation
in one save) and its approval, a count that books found units into a lot the item no longer
keeps (read from the event that took it in) and a manager's approval of one above the
threshold, and a receipt above a purchase-order line's outstanding quantity. Each
save reaches the server and commits; its answer is cut off by the proxy; the client retries with
the same Idempotency-Key, on the same API process and on another: one effect, the same answer,
and no event more than the same command without the fault stores.
(The other families: tests/integration/test_lost_acknowledgements_families.py.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient

from domain.common import Audit
from domain.stock import StockItem
from domain.stock_lots import EXHAUSTED_KEPT
from servicecore.container import Container
from tests.integration.faults import FaultyProxy
from tests.integration.support import open_order
from tests.integration.test_lost_acknowledgements import (  # noqa: F401  (fixtures)
    assert_replayed,
    behind,
    lost_and_retried,
    proxy,
)
from tests.integration.test_lost_acknowledgements_families import count
from tests.integration.test_money_support import req, stocked_part
from tests.integration.test_red_invoice_numbers import invoiced, unique

Auth = Callable[..., dict[str, str]]
Setup = Callable[[Container, str], tuple[str, str, dict[str, Any], str]]
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def issued_line(container: Container, store_id: str) -> tuple[UUID, str]:
    """A work order with a part line of two units issued from stock: (work order, line)."""
    number = stocked_part(container, store_id, qty=2)
    wos = container.work_orders
    work_order_id = UUID(open_order(wos, store_id)["id"])
    wos.check_in(req(store_id, "advisor"), work_order_id, mileage_in=42_010, fuel_level=40)
    line = wos.add_part_line(req(store_id, "advisor"), work_order_id, 1,
                             {"part_number": number, "qty": "2"}).body["line_id"]
    wos.authorize_line(req(store_id, "advisor"), work_order_id, line, decision="approved",
                       channel="in_person")
    wos.issue_part(req(store_id, "parts_clerk"), work_order_id, line)
    return work_order_id, line


def serials(container: Container, store_id: str) -> tuple[str, str, dict[str, Any], str]:
    work_order_id, line = issued_line(container, store_id)
    serial = f"SN{uuid4().hex[:10].upper()}"
    return ("technician", f"/work-orders/{work_order_id}/lines/{line}/serials",
            {"fitted": [serial], "removed": [{"serial": f"{serial}-OLD",
                                              "disposition": "kept_for_return",
                                              "tag": f"WT-{serial}"}]},
            f"WorkOrder.SerialsRecorded|{serial}")


def serials_correction(container: Container, store_id: str
                       ) -> tuple[str, str, dict[str, Any], str]:
    work_order_id, line = issued_line(container, store_id)
    container.api_context().warranty_evidence.record_serials(req(store_id, "technician"), work_order_id,
                                               line, fitted=["SN-FIRST-1"], removed=[])
    reason = f"misread label {uuid4().hex[:8]}"
    return ("technician", f"/work-orders/{work_order_id}/lines/{line}/serials",
            {"fitted": ["SN-FIRST-1", "SN-SECOND-2"], "removed": [], "reason": reason},
            f"WorkOrder.SerialsRecorded|{reason}")


def evidence(container: Container, store_id: str) -> tuple[str, str, dict[str, Any], str]:
    work_order_id, line = issued_line(container, store_id)
    uri = f"s3://evidence/{store_id}/{uuid4().hex}.jpg"
    return ("technician", f"/work-orders/{work_order_id}/evidence",
            {"line_id": line, "kind": "photo", "sha256": SHA, "media_type": "image/jpeg",
             "size": 2_481_152, "uri": uri, "caption": "cracked injector nozzle"},
            f"WorkOrder.EvidenceAdded|{uri}")


def evidence_withdrawal(container: Container, store_id: str
                        ) -> tuple[str, str, dict[str, Any], str]:
    work_order_id, line = issued_line(container, store_id)
    added = container.api_context().warranty_evidence.add_evidence(
        req(store_id, "technician"), work_order_id, line_id=line, kind="photo", sha256=SHA,
        media_type="image/jpeg", size=1000, uri="s3://evidence/x.jpg")
    reason = f"photo of another car {uuid4().hex[:8]}"
    return ("advisor",
            f"/work-orders/{work_order_id}/evidence/{added.body['evidence_id']}/withdrawal",
            {"reason": reason}, f"WorkOrder.EvidenceWithdrawn|{reason}")


def red_letter_credit(container: Container, store_id: str
                      ) -> tuple[str, str, dict[str, Any], str]:
    settlement_id, payment_id = invoiced(container, store_id, unique())
    red = unique()
    return ("cashier", "/refunds",
            {"settlement_id": str(settlement_id), "payment_id": payment_id, "amount": "50.00",
             "reason": "goodwill: waiting time", "kind": "credit", "red_invoice_number": red},
            f"Settlement.RefundRequested|{red}")


def old_lot_count(container: Container, store_id: str) -> tuple[str, str, dict[str, Any], str]:
    number = stocked_part(container, store_id, qty=1, unit_cost="37.00")
    app = container.app
    item: Any = app.repository.get(StockItem.create_id(store_id, number))
    audit = Audit("clerk-1", "parts_clerk", store_id, datetime.now(UTC), "corr-old-lot")
    item.issue(audit, "wo-0:L1", 1)
    for n in range(EXHAUSTED_KEPT + 2):
        item.receive(audit, qty=1, unit_cost="45.00", supplier="Mann", supplier_doc=f"DN-{n}")
        item.issue(audit, f"wo-{n + 1}:L1", 1)
    app.save(item)
    first_lot = f"{number}-00001@{store_id}"  # the receipt of stocked_part, long used up
    ref = f"ST-{uuid4().hex[:8].upper()}"
    return ("parts_clerk", f"/stock/{store_id}/{number}/stocktakes",
            {"counted": {first_lot: "1"}, "reason": "returned unit found behind the shelf",
             "count_ref": ref}, f"StockItem.VariancePosted|{ref}")


def red_letter_credit_approved(container: Container, store_id: str
                               ) -> tuple[str, str, dict[str, Any], str]:
    settlement_id, payment_id = invoiced(container, store_id, unique())
    asked = container.settlements.request_refund(
        req(store_id), settlement_id, payment_id=payment_id, amount="50.00",
        reason="goodwill: waiting time", kind="credit", red_invoice_number=unique())
    refund_id = asked.body["refund_id"]
    return ("manager", f"/refunds/{refund_id}/decision", {"approve": True},
            f"Settlement.RefundApproved|{refund_id}")


def old_lot_count_approved(container: Container, store_id: str
                           ) -> tuple[str, str, dict[str, Any], str]:
    """The manager approves a count above the threshold that finds units of a lot used up long
    ago: the variance posts with the lot's record."""
    _, path, body, _ = old_lot_count(container, store_id)
    number = path.split("/")[3]
    body["counted"] = {lot: "20" for lot in body["counted"]}  # 20 x 37.00 above 500.00
    waits = container.inventory.count(req(store_id, "parts_clerk"), store_id, number,
                                      counted=body["counted"], reason=body["reason"],
                                      count_ref=body["count_ref"])
    assert waits.body["status"] == "awaiting_approval", waits.body
    return ("manager", f"{path}/{body['count_ref']}/decision", {"approve": True},
            f"StockItem.VariancePosted|{body['count_ref']}")


def over_delivery(container: Container, store_id: str) -> tuple[str, str, dict[str, Any], str]:
    number = stocked_part(container, store_id, qty=1)
    clerk = req(store_id, "parts_clerk")
    order = container.inventory.draft_order(clerk, store_id=store_id, supplier="FAW-VW Parts",
                                            lines=[{"part_number": number, "qty": 2,
                                                    "unit_cost": "210.00"}])
    order_id = UUID(order.body["id"])
    container.inventory.send_order(clerk, order_id)
    doc = f"DN-{uuid4().hex[:8]}"
    return ("parts_clerk", f"/purchase-orders/{order_id}/receipts",
            {"line_no": 1, "qty": "5", "supplier_doc": doc,
             "over_delivery_reason": "supplier sent a carton of five"},
            f"StockItem.Received|{doc}")


def events_after(database_url: str, notification_id: int | None) -> Counter[str]:
    """The types of the events stored after `notification_id`."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT topic FROM servicecore_events WHERE notification_id > %s",
                            (notification_id or 0,)).fetchall()
    return Counter(topic.rpartition(":")[2] for (topic,) in rows)


def fault_free(setup: Setup, container: Container, client: TestClient, database_url: str,
               auth: Auth) -> Counter[str]:
    """What the same command stores, sent once without a fault (at a store of its own)."""
    store_id = "T" + uuid4().hex[:6].upper()
    role, path, body, _ = setup(container, store_id)
    before = container.app.recorder.max_notification_id()
    done = client.post(path, json=body, headers=auth(role, f"{role}-clean", [store_id], **{
        "Idempotency-Key": str(uuid4())}))
    assert done.status_code in (200, 201), done.text
    return events_after(database_url, before)


@pytest.mark.parametrize("setup", [serials, serials_correction, evidence, evidence_withdrawal,
                                   red_letter_credit, red_letter_credit_approved,
                                   old_lot_count, old_lot_count_approved, over_delivery])
def test_a_lost_commit_answer_is_applied_once_and_every_retry_replays_it(
        setup: Setup, behind: Container, proxy: FaultyProxy,  # noqa: F811
        container: Container, client: TestClient, database_url: str, store_id: str,
        auth: Auth) -> None:
    expected = fault_free(setup, container, client, database_url, auth)
    role, path, body, effect = setup(container, store_id)
    topic, needle = effect.split("|")
    headers = auth(role, f"{role}-lost", [store_id], **{"Idempotency-Key": str(uuid4())})
    before = container.app.recorder.max_notification_id()
    first, again, elsewhere = lost_and_retried(behind, proxy, client, path, body, headers)

    assert_replayed(first, again, elsewhere)
    assert count(database_url, topic, needle) == 1
    # event for event what the command stores without the fault: nothing twice, none lost
    assert events_after(database_url, before) == expected
    assert expected[topic] == 1, expected
