"""A purchase order as it stood at a moment (`GET /purchase-orders/{id}?as_of=`): drafted,
sent, partly and then fully received, closed — lines, received quantities, receipts and
status as they were; now the same document the read model shows; the future refused; before
the draft, another kind of stream or another store's token 404."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_as_of_future_api import future
from tests.e2e.test_crm_as_of_api import moments
from tests.e2e.test_parts_api import Auth, get, head, new_part, post


def _lines(doc: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    return [(ln["qty"], ln["received_qty"], ln["outstanding_qty"], len(ln["receipts"]))
            for ln in doc["lines"]]


def test_a_purchase_order_is_seen_as_it_stood_at_each_step(client: TestClient, auth: Auth,
                                                           store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    pads, discs = new_part(client, clerk, min_stock=0), new_part(client, clerk, min_stock=0)
    order = post(client, "/purchase-orders", clerk, {"store_id": store_id, "supplier": "Bosch",
                 "lines": [{"part_number": pads, "qty": "10", "unit_cost": "300.00"}]}, 201)
    url = f"/purchase-orders/{order['id']}"
    post(client, f"{url}/lines", clerk, {"part_number": discs, "qty": "4",
                                         "unit_cost": "310.00"})
    post(client, f"{url}/send", clerk)
    post(client, f"{url}/receipts", clerk, {"line_no": 1, "qty": 4, "unit_cost": "320.00",
                                            "supplier_doc": "DN-1"}, 201)
    post(client, f"{url}/receipts", clerk, {"line_no": 1, "qty": 6, "supplier_doc": "DN-2"}, 201)
    post(client, f"{url}/receipts", clerk, {"line_no": 2, "qty": 4,
                                            "supplier_doc": "DN-3"}, 201)
    post(client, f"{url}/close", clerk)
    at = moments(client, auditor, url)
    assert len(at) == 7  # drafted, line added, sent, three receipts, closed

    def then(moment: datetime) -> dict[str, Any]:
        doc: dict[str, Any] = get(client, url, auditor, as_of=moment.isoformat())
        assert doc["id"] == order["id"] and doc["store_id"] == store_id
        return doc

    drafted = then(at[0])
    assert drafted["status"] == "draft" and _lines(drafted) == [("10", "0", "10", 0)]
    assert drafted["sent"] is None and drafted["version"] == 1
    sent = then(at[2])
    assert sent["status"] == "sent" and sent["sent"]["by"] == "parts_clerk-1"
    assert _lines(sent) == [("10", "0", "10", 0), ("4", "0", "4", 0)]
    # Between the first and the second delivery: partly received, 6 pads still owed, the
    # first receipt dearer than ordered.
    partly = then(at[3] + (at[4] - at[3]) / 2)
    assert partly["status"] == "partly_received"
    assert _lines(partly) == [("10", "4", "6", 1), ("4", "0", "4", 0)]
    assert partly["lines"][0]["receipts"][0]["cost_variance"] == "80.00"
    assert then(at[4])["status"] == "partly_received"
    received = then(at[5])
    assert received["status"] == "received" and received["closed"] is None
    assert _lines(received) == [("10", "10", "0", 2), ("4", "4", "0", 1)]
    # Now: the same document as the read model's (its fold is the replay's).
    now = then(datetime.now(UTC))
    assert now["status"] == "closed" and now["version"] == 7
    current = get(client, url, auditor, wait_for=head(client))
    assert {k: v for k, v in now.items() if k != "as_of"} == current

    before = client.get(url, headers=auditor,
                        params={"as_of": (at[0] - timedelta(seconds=1)).isoformat()})
    assert before.status_code == 404 and "did not exist at" in before.json()["detail"]
    future(client, url, auditor, (datetime.now(UTC) + timedelta(hours=1)).isoformat())
    stranger = auth("auditor", "aud-x", [store_id + "X"])
    assert client.get(url, headers=stranger,
                      params={"as_of": at[6].isoformat()}).status_code == 404
    # Another aggregate's id is no purchase order at any moment.
    customer = post(client, "/customers", auth("advisor", stores=[store_id]), {
        "store_id": store_id, "name": "王伟", "phones": ["13900000003"]}, 201)["id"]
    other = client.get(f"/purchase-orders/{customer}", headers=auditor,
                       params={"as_of": datetime.now(UTC).isoformat()})
    assert other.status_code == 404
    wrong = client.get(f"/customers/{order['id']}", headers=auditor,
                       params={"as_of": datetime.now(UTC).isoformat()})
    assert wrong.status_code == 404
