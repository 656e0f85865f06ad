"""A stock command answers its quantities as the stock reads show them: litres of oil received
in halves and issued across two lots are "5" and "2", not "5.0" and "2.0", in the answer and
in `GET /stock/{store}/{pn}` alike, so a client comparing the two finds them equal."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, get, head, new_part, post, ready_visit


def test_a_litre_part_s_answers_show_quantities_as_the_reads_do(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    oil = new_part(client, clerk, name="engine oil 5W-30", unit="L", category="fluid",
                   min_stock=0, reorder_qty=0)
    receipt = f"/stock/{store_id}/{oil}/receipts"
    post(client, receipt, clerk, {"qty": "2.5", "unit_cost": "30.00", "supplier": "S",
                                  "supplier_doc": "DN-1"}, 201)
    second = post(client, receipt, clerk, {"qty": "2.5", "unit_cost": "32.40", "supplier": "S",
                                           "supplier_doc": "DN-2"}, 201)
    assert (second["on_hand"], second["available"]) == ("5", "5")
    # A job takes 3 litres across the two drums: 2 left, answered as the read shows it.
    wo, line = ready_visit(client, auth, store_id, oil, qty="3")
    issued = post(client, f"{wo}/lines/{line}/issue", clerk, {})
    assert (issued["cost"], issued["available"]) == ("91.20", "2")
    item = get(client, f"/stock/{store_id}/{oil}", clerk, wait_for=head(client))
    assert (item["on_hand"], item["available"]) == ("2", "2")
    scrapped = post(client, f"/stock/{store_id}/{oil}/scrap", clerk,
                    {"qty": "0.5", "reason": "spilt while pouring"})
    assert (scrapped["on_hand"], scrapped["available"]) == ("1.5", "1.5")
