"""The warranty-claim package over HTTP against the OEM's bill: the amounts the OEM is asked for
(list price, discount, billed), and the jobs an OEM would reject for a missing diagnosis."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import Auth, ready_for_settlement
from tests.e2e.test_parts_api import get, post


def test_the_claim_carries_what_the_oem_is_billed_and_names_a_job_without_diagnosis(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    # A campaign update of 0.5 h at 1,960.00 an hour: 980.00 at list price, on a job nobody
    # diagnosed (no cause, no correction).
    _, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor=True,
                                    warranty_rate="1960.00")
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id}, 201)["id"]
    # The manager gives the OEM 10.00 off: the warranty bill asks 970.00.
    post(client, f"/settlements/{sid}/discounts", manager,
         {"bill": "warranty", "amount": "10.00", "reason": "campaign rate agreed with the OEM"})
    post(client, f"/settlements/{sid}/confirmation", cashier)
    claim = get(client, f"/work-orders/{wo_id}/warranty-claim", auditor)
    bill = claim["settlement"]["warranty_bill"]
    assert (bill["gross"], bill["discount"], bill["total"]) == ("980.00", "10.00", "970.00")
    # The claim's totals reconcile with that bill: list price, discount, billed.
    totals = claim["totals"]
    assert (totals["list_price"], totals["discount"], totals["billed"]) == (
        "980.00", "10.00", "970.00")
    assert (totals["labor"], totals["parts"]) == ("980.00", "0.00")
    [labor] = claim["jobs"][0]["labor"]
    assert (labor["amount"], labor["discount"], labor["billed_amount"]) == (
        "980.00", "10.00", "970.00")
    # The job has no diagnosis: the claim says so instead of passing it on silently.
    assert claim["complete"] is False
    assert claim["problems"] == [{
        "kind": "3c", "job_no": 1, "missing": ["cause", "correction"],
        "detail": "job 1 has no cause, no correction: an OEM rejects a claim without its 3C"}]
    page = client.get(f"/work-orders/{wo_id}/warranty-claim", headers=auditor,
                      params={"format": "html"}).text
    assert "970.00" in page and "Billed to the OEM" in page
    assert "job 1 has no cause, no correction" in page


def test_a_claim_before_the_bill_shows_list_prices_and_no_billed_total(
        client: TestClient, auth: Auth, store_id: str) -> None:
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor=True)
    claim = get(client, f"/work-orders/{wo_id}/warranty-claim", auditor)
    # Not settled yet: nothing is billed, so no discount and no billed total are claimed.
    assert (claim["totals"]["list_price"], claim["totals"]["discount"],
            claim["totals"]["billed"]) == ("150.00", None, None)
    assert claim["jobs"][0]["labor"][0]["billed_amount"] is None
    assert [p["missing"] for p in claim["problems"]] == [["cause", "correction"]]
