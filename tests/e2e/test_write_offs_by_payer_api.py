"""The accountant's month-end view of what was written off, by who was to pay it: customer,
insurer, OEM and internal, each listed (0.00 when nothing) under the name the receivables give
the payer (`customer`, `insurance`, `warranty`, `internal`), each insurer and OEM within, adding
up to what `GET /write-offs` sums for the month; JSON or CSV for Excel."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.e2e.test_insurance_bill_api import PICC, body_shop_visit
from tests.e2e.test_oem_claim_outcome_api import _confirmed_warranty_visit
from tests.e2e.test_parts_api import Auth, get, post
from tests.integration.audit_support import new_vin

URL = "/write-offs/by-payer"


def test_a_months_write_offs_summed_by_payer_add_up_to_the_months_list(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("advisor", "warranty-clerk", [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    finance = auth("finance", "fin-" + store_id, [store_id])
    # Two warranty claims the OEM rejected for good, 40.00 and 41.00; the first taken back.
    booked = []
    for n in range(2):
        wo_id, sid = _confirmed_warranty_visit(client, auth, store_id)
        claim = f"/work-orders/{wo_id}/warranty-claim"
        post(client, f"{claim}/submission", clerk, {"oem_claim_number": f"VW-BP-{n}"}, 201)
        post(client, f"{claim}/rejection", clerk, {"reason_code": "R-40", "reason": "no record"})
        booked.append((sid, post(client, f"/settlements/{sid}/write-off", manager, {
            "kind": "oem_rejected", "amount": f"{40 + n}.00", "reason": f"final R-40 #{n}"})))
    sid0, first = booked[0]
    post(client, f"/settlements/{sid0}/write-offs/{first['written_off']['write_off_id']}"
                 "/reversal", manager, {"reason": "the OEM reopened R-40"})
    # The insurer cut 50.00 off a body-shop bill.
    wo_id = body_shop_visit(client, auth, store_id, vin=new_vin())
    sid = post(client, "/settlements", cashier, {"work_order_id": wo_id, "insurance": PICC},
               201)["id"]
    confirmed = post(client, f"/settlements/{sid}/confirmation", cashier)
    post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
         "amount": confirmed["bills"]["customer"]["outstanding"]}, 201)
    cut = post(client, f"/settlements/{sid}/write-off", manager, {
        "kind": "insurer_short_paid", "amount": "50.00", "reason": "insurer cut the part"})

    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    found = get(client, URL, finance, month=month, store_id=store_id,
                wait_for=cut["notification_id"])
    assert [(g["payer"], g["bill"], g["count"], g["amount"], g["reversed_amount"],
             g["net_amount"]) for g in found["payers"]] == [
        ("customer", "customer", 0, "0.00", "0.00", "0.00"),
        ("insurance", "insurance", 1, "50.00", "0.00", "50.00"),
        ("warranty", "warranty", 2, "81.00", "40.00", "41.00"),
        ("internal", "internal", 0, "0.00", "0.00", "0.00")]
    [insurer] = found["payers"][1]["payers"]
    assert (insurer["payer"], insurer["amount"]) == (PICC["insurer"], "50.00")
    [oem] = found["payers"][2]["payers"]
    assert (oem["count"], oem["amount"], oem["net_amount"]) == (2, "81.00", "41.00")
    # The OEM and the insurer are the payers the receivables name, by the same word and key.
    owed = get(client, "/receivables", finance, store_id=store_id, wait_for=cut["notification_id"])
    kinds = {(g["kind"], g["payer_key"]) for g in owed["items"]}
    assert ("warranty", oem["payer_key"]) in kinds
    assert ("insurance", insurer["payer_key"]) in kinds
    # The same rows as the month's list, summed the same.
    listed = get(client, "/write-offs", finance, store_id=store_id,
                 date_from=f"{month}-01", date_to=found["date_to"])
    assert (found["amount"], found["reversed_amount"], found["net_amount"]) == (
        listed["amount"], listed["reversed_amount"], listed["net_amount"]) == (
        "131.00", "40.00", "91.00")
    # A month before: every payer listed, nothing written off.
    before = get(client, URL, finance, month="2020-01", store_id=store_id)
    assert [(g["payer"], g["amount"]) for g in before["payers"]] == [
        ("customer", "0.00"), ("insurance", "0.00"), ("warranty", "0.00"), ("internal", "0.00")]
    # The CSV for Excel: a row per payer, each insurer or OEM after its payer, the totals last.
    answer = client.get(URL, headers=finance, params={"month": month, "store_id": store_id,
                                                      "format": "csv", "bom": "true"})
    assert answer.status_code == 200, answer.text
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [(r["payer"], r["payer_name"], r["amount"]) for r in rows] == [
        ("customer", "", "0.00"), ("insurance", "", "50.00"),
        ("insurance", PICC["insurer"], "50.00"), ("warranty", "", "81.00"),
        ("warranty", oem["payer"], "81.00"), ("internal", "", "0.00"), ("total", "", "131.00")]
    # Another store's token sees none of it; a month that is no month is 422 naming it.
    other = auth("finance", "fin-other", [store_id + "X"])
    assert get(client, URL, other, month=month, store_id=store_id)["amount"] == "0.00"
    for bad in ({"month": "2026-13"}, {}):
        refused = client.get(URL, headers=finance, params=bad)
        assert refused.status_code == 422, refused.text
        assert "month" in str(refused.json().get("field")) + str(refused.json().get("errors"))
    assert client.get(URL, headers=auth("advisor", "x", [store_id]),
                      params={"month": month}).status_code == 403
