"""Half a set on an estimate or a purchase order over HTTP: 422 problem+json naming the field
and the unit when the line is written (not at the issue or the receipt), nothing stored; and
the quantities of work-order part lines and purchase-order lines read in the one written form
of every stock read ("2.5", "20"), now and as of a moment."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, get, new_part, post, ready_visit


def _refused(client: TestClient, url: str, headers: dict[str, str], body: dict[str, Any],
             field: str) -> None:
    refused = client.post(url, headers=headers, json=body)
    assert refused.status_code == 422, (url, refused.text)
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (refused.json()["field"], refused.json()["unit"]) == (field, "set")


def test_half_a_set_is_refused_on_a_part_line_and_an_order_line(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk, advisor = auth("parts_clerk", stores=[store_id]), auth("advisor", stores=[store_id])
    pads, oil = new_part(client, clerk, min_stock=0), new_part(client, clerk, min_stock=0,
                                                               unit="L", name="engine oil")
    post(client, f"/stock/{store_id}/{oil}/receipts", clerk, {
        "qty": "10", "unit_cost": "36.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    wo, _ = ready_visit(client, auth, store_id, oil, qty="1.5")  # litres: a fraction
    for pay in ({}, {"pay_type": "warranty", "warranty": {"coverage_code": "BASIC-3Y"}},
                {"pay_type": "insurance"}):
        _refused(client, f"{wo}/jobs/1/part-lines", advisor,
                 {"part_number": pads, "qty": "1.5", **pay}, "qty")
    order = {"store_id": store_id, "supplier": "FAW-VW Parts",
             "lines": [{"part_number": oil, "qty": "20.5", "unit_cost": "36.00"},
                       {"part_number": pads, "qty": "2.5", "unit_cost": "300.00"}]}
    _refused(client, "/purchase-orders", clerk, order, "lines[1].qty")
    drafted = post(client, "/purchase-orders", clerk, {**order, "lines": order["lines"][:1]},
                   201)
    _refused(client, f"/purchase-orders/{drafted['id']}/lines", clerk,
             order["lines"][1], "qty")
    # nothing stored: the visit has its two lines, the order its one
    doc = get(client, wo, advisor, wait_for=drafted["notification_id"])
    assert [line["part_number"] for line in doc["lines"] if line["kind"] == "part"] == [oil]
    placed = get(client, f"/purchase-orders/{drafted['id']}", clerk)
    assert [line["part_number"] for line in placed["lines"]] == [oil]


def test_part_and_order_line_quantities_read_in_one_written_form(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk, advisor = auth("parts_clerk", stores=[store_id]), auth("advisor", stores=[store_id])
    oil = new_part(client, clerk, min_stock=0, unit="L", name="engine oil")
    post(client, f"/stock/{store_id}/{oil}/receipts", clerk, {
        "qty": "10", "unit_cost": "36.00", "supplier": "S", "supplier_doc": "DN-1"}, 201)
    # 4.50 litres on the estimate, 1.50 issued: read as 4.5 and 1.5, 3 still held
    wo, line_id = ready_visit(client, auth, store_id, oil, qty="4.50")
    issued = post(client, f"{wo}/lines/{line_id}/issue", clerk, {"qty": "1.50"})
    now = get(client, wo, advisor, wait_for=issued["notification_id"])
    then = get(client, wo, advisor, as_of=now["updated_at"])
    for doc in (now, then):
        [line] = [ln for ln in doc["lines"] if ln["line_id"] == line_id]
        assert (line["qty"], line["issued_qty"], line["reserved_qty"]) == ("4.5", "1.5", "3")
        assert [(i["qty"], [p["qty"] for p in i["picks"]]) for i in line["issues"]] == [
            ("1.5", ["1.5"])]
    # 20.0 litres ordered, 5.50 received: 20, 5.5 and 14.5 owed
    order = post(client, "/purchase-orders", clerk, {
        "store_id": store_id, "supplier": "Castrol",
        "lines": [{"part_number": oil, "qty": "20.0", "unit_cost": "36.00"}]}, 201)
    url = f"/purchase-orders/{order['id']}"
    post(client, f"{url}/send", clerk)
    received = post(client, f"{url}/receipts", clerk, {"line_no": 1, "qty": "5.50",
                                                       "supplier_doc": "DN-2"}, 201)
    now = get(client, url, clerk, wait_for=received["notification_id"])
    then = get(client, url, clerk, as_of=now["updated_at"])
    for doc in (now, then):
        [line] = doc["lines"]
        assert (line["qty"], line["received_qty"], line["outstanding_qty"]) == (
            "20", "5.5", "14.5")
        assert [r["qty"] for r in line["receipts"]] == ["5.5"]
