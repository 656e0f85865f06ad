"""The warranty-claim package over HTTP against the OEM's bill: the amounts the OEM is asked for
(list price, discount, billed), and the jobs an OEM would reject for a missing diagnosis."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from servicecore.demo import make_vin
from tests.e2e.test_money_api import Auth, confirmed_settlement, ready_for_settlement
from tests.e2e.test_parts_api import get, head, post


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
    # (The car's sale date is not on file: its coverage could not be checked, a warning.)
    # (Nor is the test's technician an electrical 3: a qualification warning, apart.)
    [unknown, undiagnosed] = [p for p in claim["problems"] if p["kind"] != "qualification"]
    assert (unknown["kind"], unknown["level"], unknown["missing"]) == (
        "coverage", "warning", ["sale_date"])
    assert undiagnosed == {
        "kind": "3c", "job_no": 1, "missing": ["cause", "correction"], "level": "error",
        "detail": "job 1 has no cause, no correction: an OEM rejects a claim without its 3C"}
    page = client.get(f"/work-orders/{wo_id}/warranty-claim", headers=auditor,
                      params={"format": "html"}).text
    assert "970.00" in page and "Billed to the OEM" in page
    assert "job 1 has no cause, no correction" in page
    # The printed page dates the visit as the JSON does: the settlement confirmed (with its
    # number) though not yet paid, and a row for the close an OEM asks for, still empty.
    number = claim["settlement"]["number"]
    confirmed_at = datetime.fromisoformat(claim["dates"]["settlement_confirmed"]).astimezone(
        ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    assert f"<th>Settlement confirmed</th><td>{confirmed_at} ({number})</td>" in page
    assert "<th>Settled</th><td>—</td>" in page and "<th>Closed</th><td>—</td>" in page
    # Drafted and confirmed, not invoiced, delivered or closed: what the OEM will still ask
    # for is listed apart from the problems, on the page too.
    assert [i["item"] for i in claim["still_to_come"]] == [
        "warranty_invoice", "mileage_out", "closed"]
    assert "Still to come before filing" in page and "the mileage out is recorded" in page


def test_a_claim_before_the_bill_shows_list_prices_and_no_billed_total(
        client: TestClient, auth: Auth, store_id: str) -> None:
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor=True)
    claim = get(client, f"/work-orders/{wo_id}/warranty-claim", auditor)
    # Not settled yet: nothing is billed, so no discount and no billed total are claimed.
    assert (claim["totals"]["list_price"], claim["totals"]["discount"],
            claim["totals"]["billed"]) == ("150.00", None, None)
    assert claim["jobs"][0]["labor"][0]["billed_amount"] is None
    assert [p["missing"] for p in claim["problems"] if p["kind"] != "qualification"] == [
        ["sale_date"], ["cause", "correction"]]
    # What the OEM will still ask for once the visit gets there: not problems, listed apart.
    assert [i["item"] for i in claim["still_to_come"]] == [
        "warranty_bill", "mileage_out", "closed"]


def test_the_claims_of_a_period_export_at_once(client: TestClient, auth: Auth,
                                               store_id: str) -> None:
    """An OEM audits the claims of a period, not one work order it already knows: every visit
    with a warranty bill settled in the period, each as its claim package."""
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    settled = []
    for warranty in (True, False, True):  # two claims, and a visit the customer pays alone
        wo_id, sid = confirmed_settlement(client, auth, store_id, warranty_labor=warranty)
        due = get(client, f"/settlements/{sid}", cashier, wait_for=head(client))[
            "bill_status"]
        owed = next(b["outstanding"] for b in due if b["kind"] == "customer")
        post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                            "amount": owed, "tendered": owed}, 201)
        settled.append((wo_id, warranty))
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    found = get(client, "/audit/warranty-claims", auditor, wait_for=head(client),
                **{"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()})
    assert found["count"] == 2
    assert [c["work_order"]["id"] for c in found["claims"]] == [
        wo for wo, warranty in settled if warranty]
    assert all(c["evidence"] and c["customer"]["name"] == "王伟" for c in found["claims"])
    lines = client.get("/audit/warranty-claims", headers=auditor, params={
        "from": today.isoformat(), "to": today.isoformat(), "format": "jsonl"})
    assert lines.headers["content-type"].startswith("application/jsonl")
    assert [json.loads(line)["work_order"]["id"] for line in lines.text.splitlines()] == [
        c["work_order"]["id"] for c in found["claims"]]
    # A busy period comes `visits_limit` visits at a time; `next` asks for the rest.
    period = {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}
    assert (found["visits"], found["visits_offset"], found["next"]) == (2, 0, None)
    first = get(client, "/audit/warranty-claims", auditor, visits_limit=1, **period)
    assert (first["visits"], first["count"]) == (2, 1)
    assert first["claims"] == found["claims"][:1]
    rest = client.get(first["next"], headers=auditor).json()
    assert (rest["visits_offset"], rest["next"], rest["claims"]) == (1, None, found["claims"][1:])
    paged = client.get("/audit/warranty-claims", headers=auditor,
                       params={**period, "format": "jsonl", "visits_limit": 1})
    assert paged.headers["link"] == f'<{first["next"].replace("json", "jsonl")}>; rel="next"'
    refused = client.get("/audit/warranty-claims", headers=auditor,
                         params={**period, "visits_limit": 1001})
    assert [e["loc"] for e in refused.json()["errors"]] == [["query", "visits_limit"]]
    # The names the auditor was shown are recorded as reads.
    reads = get(client, "/audit/personal-data-reads", auditor, wait_for=head(client),
                customer_id=found["claims"][0]["customer"]["id"])
    assert "warranty claims" in {r["purpose"] for r in reads["items"]}
    # Nothing before; another store is 403; a period longer than 92 days or backwards is 422.
    before = (today - timedelta(days=3)).isoformat()
    assert get(client, "/audit/warranty-claims", auditor,
               **{"from": before, "to": before})["count"] == 0
    assert client.get("/audit/warranty-claims", headers=auditor, params={
        "from": today.isoformat(), "to": today.isoformat(),
        "store_id": "ELSEWHERE"}).status_code == 403
    for first, last in ((today - timedelta(days=93), today), (today, today - timedelta(days=1))):
        refused = client.get("/audit/warranty-claims", headers=auditor, params={
            "from": first.isoformat(), "to": last.isoformat()})
        assert refused.status_code == 422, refused.text


def test_the_claim_names_the_car_from_its_file_where_the_work_order_did_not(
        client: TestClient, auth: Auth, store_id: str) -> None:
    """The work order recorded the plate and brand the desk gave, no model or year; the car
    was put on file afterwards. The claim takes what the work order lacks from the vehicle
    file (the model was null, and an OEM asks which model it pays for); what the work order
    recorded stays."""
    advisor = auth("advisor", "adv-" + store_id, [store_id])
    auditor = auth("auditor", "aud-" + store_id, [store_id])
    vin = make_vin(random.Random(store_id))
    _, wo_id = ready_for_settlement(client, auth, store_id, warranty_labor=True, vin=vin)
    post(client, "/vehicles", advisor, {
        "store_id": store_id, "vin": vin, "plate": "沪B99999", "brand": "Volkswagen",
        "model": "Sagitar", "year": 2024, "sale_date": "2024-05-01"}, 201)
    claim = get(client, f"/work-orders/{wo_id}/warranty-claim", auditor)
    assert claim["vehicle"] == {"vin": vin, "plate": "沪B12345", "brand": "Volkswagen",
                                "model": "Sagitar", "year": 2024, "sale_date": "2024-05-01"}
