"""The back office's month end over HTTP: the lists each role works through are filtered by
store, carry the totals people would otherwise add up by hand, and the finance pack's ledger
and trial balance come as CSV files."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.e2e.test_money_api import confirmed_settlement
from tests.e2e.test_parts_api import Auth, get, head, new_part, post, received_part
from tests.integration.analytics_support import publish_analytics


def _month() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


def _received(client: TestClient, clerk: dict[str, str], store_id: str, number: str,
              qty: int, unit_cost: str = "100.00") -> str:
    return str(post(client, f"/stock/{store_id}/{number}/receipts", clerk, {
        "qty": qty, "unit_cost": unit_cost, "supplier": "S", "supplier_doc": "DN-1"},
        201)["lot_id"])


def test_a_stocktake_s_variances_are_listed_by_its_reference_with_their_net_value(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    pads, discs = new_part(client, clerk, min_stock=0), new_part(client, clerk, min_stock=0)
    pads_lot = _received(client, clerk, store_id, pads, 10)
    discs_lot = _received(client, clerk, store_id, discs, 10)
    ref = "ST-" + uuid.uuid4().hex[:8].upper()
    post(client, f"/stock/{store_id}/{pads}/stocktakes", clerk, {
        "counted": {pads_lot: "9"}, "reason": "one set missing", "count_ref": ref})
    post(client, f"/stock/{store_id}/{discs}/stocktakes", clerk, {
        "counted": {discs_lot: "12"}, "reason": "two found behind the shelf",
        "count_ref": ref})
    # another count, not of this stocktake
    last = post(client, f"/stock/{store_id}/{pads}/stocktakes", clerk, {
        "counted": {pads_lot: "8"}, "reason": "one more missing"})
    journal = get(client, "/stock/movements", clerk, reference=ref,
                  wait_for=last["notification_id"])
    assert sorted((m["part_number"], m["qty"], m["value"], m["reason"])
                  for m in journal["items"]) == sorted([
        (pads, "-1", "-100.00", "one set missing"),
        (discs, "2", "200.00", "two found behind the shelf")])
    assert (journal["total"], journal["value"]) == (2, "100.00")
    # the value sums every movement listed, not only the page's
    assert get(client, "/stock/movements", clerk, reference=ref, limit=1)["value"] == "100.00"
    assert get(client, "/stock/movements", clerk, reference="ST-NONE-" + store_id) == {
        "total": 0, "limit": 100, "offset": 0, "items": [], "value": "0.00"}


def test_a_transfer_is_found_by_its_number_in_the_movement_journal(
        client: TestClient, auth: Auth, store_id: str) -> None:
    here, there = store_id, store_id + "B"
    clerk = auth("parts_clerk", stores=[here, there])
    number = received_part(client, clerk, here, 5)
    sent = post(client, "/stock/transfers", clerk, {
        "from_store": here, "to_store": there, "part_number": number, "qty": 2,
        "reason": "a car waits at the other store"}, 201)
    journal = get(client, "/stock/movements", clerk, reference=sent["number"],
                  wait_for=head(client))
    assert [(m["type"], m["reference"], m["transfer_id"]) for m in journal["items"]] == [
        ("transfer_out", sent["number"], sent["id"])]


def test_transfers_are_listed_by_store_with_days_in_transit_and_the_value_they_carry(
        client: TestClient, auth: Auth, store_id: str) -> None:
    here, there, third = store_id, store_id + "B", store_id + "C"
    clerk = auth("parts_clerk", stores=[here, there, third])
    number = received_part(client, clerk, here, 5)  # 5 at 200.00
    to_there = post(client, "/stock/transfers", clerk, {
        "from_store": here, "to_store": there, "part_number": number, "qty": 3,
        "reason": "a car waits there"}, 201)
    post(client, f"/stock/transfers/{to_there['id']}/receipt", clerk, {})
    to_third = post(client, "/stock/transfers", clerk, {
        "from_store": here, "to_store": third, "part_number": number, "qty": 1,
        "reason": "a car waits at the third store"}, 201)
    every = get(client, "/stock/transfers", clerk, wait_for=head(client))
    assert (every["total"], every["cost"]) == (2, "800.00")
    received = get(client, "/stock/transfers", clerk, store_id=there)
    assert [(t["number"], t["status"], t["days_in_transit"]) for t in received["items"]] == [
        (to_there["number"], "received", 0)]
    assert received["cost"] == "600.00"
    on_its_way = client.get("/stock/transfers", headers=clerk,
                            params={"store_id": here, "status": "in_transit"}).json()
    assert [(t["number"], t["days_in_transit"]) for t in on_its_way["items"]] == [
        (to_third["number"], 0)]
    assert (on_its_way["total"], on_its_way["cost"]) == (1, "200.00")
    # a store the token does not cover lists none
    assert get(client, "/stock/transfers", clerk, store_id="ELSEWHERE")["total"] == 0


def test_approvals_waiting_are_listed_for_one_store(client: TestClient, auth: Auth,
                                                    store_id: str) -> None:
    here, there = store_id, store_id + "B"
    clerk = auth("parts_clerk", stores=[here, there])
    manager = auth("manager", user="mgr-month-end", stores=[here, there])
    for store in (here, there):
        number = new_part(client, clerk, min_stock=0)
        lot = _received(client, clerk, store, number, 10)
        waits = post(client, f"/stock/{store}/{number}/stocktakes", clerk, {
            "counted": {lot: "2"}, "reason": "eight missing"})
        assert waits["status"] == "awaiting_approval"
    both = get(client, "/stock/approvals", manager, wait_for=head(client))
    assert sorted(a["store_id"] for a in both["items"]) == [here, there]
    only = get(client, "/stock/approvals", manager, store_id=there)
    assert [a["store_id"] for a in only["items"]] == [there] and only["total"] == 1


def test_the_payments_journal_of_one_store_sums_what_was_taken_by_method(
        client: TestClient, auth: Auth, store_id: str) -> None:
    here, there = store_id, store_id + "B"
    finance = auth("finance", stores=[here, there])
    for store, payments in ((here, (("cash", "100.00"), ("wechat_pay", "50.50"))),
                            (there, (("cash", "30.00"),))):
        advisor = auth("advisor", stores=[store])
        cashier = auth("cashier", user="cash-" + store, stores=[store])
        opened = post(client, "/work-orders", advisor, {
            "store_id": store, "customer": {"name": "王伟", "phone": "13800000001"},
            "vehicle": {"vin": "LSVAU218XN2183294", "plate": "沪A12345"},
            "mileage": 30000, "complaints": ["brake noise"]}, 201)
        for i, (method, amount) in enumerate(payments):
            extra = {"tendered": amount} if method == "cash" else {
                "provider_ref": f"WX-{store}-{i}"}
            post(client, "/payments", cashier, {"work_order_id": opened["id"],
                                                "method": method, "amount": amount,
                                                **extra}, 201)
    journal = get(client, "/payments", finance, store_id=here, limit=1, wait_for=head(client))
    assert (journal["total"], len(journal["items"])) == (2, 1)
    assert journal["amount"] == "150.50"
    assert journal["by_method"] == {"cash": "100.00", "wechat_pay": "50.50"}
    both = get(client, "/payments", finance, method="cash")
    assert (both["total"], both["amount"], both["by_method"]) == (2, "130.00",
                                                                 {"cash": "130.00"})


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_ledger_and_trial_balance_of_one_store_come_as_csv(client: TestClient, auth: Auth,
                                                                store_id: str) -> None:
    here, there = store_id, store_id + "B"
    clerk = auth("parts_clerk", stores=[here, there])
    finance = auth("finance", stores=[here, there])
    month = _month()
    _received(client, clerk, here, new_part(client, clerk, min_stock=0), 5, "200.00")
    _received(client, clerk, there, new_part(client, clerk, min_stock=0), 2, "200.00")
    balance = get(client, "/ledger/trial-balance", finance, month=month, store_id=there,
                  wait_for=head(client))
    assert {a["store_id"] for a in balance["accounts"]} == {there}
    assert (balance["debit"], balance["credit"], balance["balanced"]) == (
        "400.00", "400.00", True)
    both = get(client, "/ledger/trial-balance", finance, month=month)
    assert {a["store_id"] for a in both["accounts"]} == {here, there}
    assert both["debit"] == "1400.00"
    answer = client.get("/ledger/trial-balance", headers=finance,
                        params={"month": month, "store_id": there, "format": "csv"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert f'filename="trial-balance-{there}-{month}.csv"' in answer.headers[
        "content-disposition"]
    rows = _csv_rows(answer.text)
    assert list(rows[0]) == ["store_id", "account", "name", "debit", "credit", "balance",
                             "opening_debit", "opening_credit", "closing_debit",
                             "closing_credit"]
    assert [(r["store_id"], r["account"], r["balance"]) for r in rows[:-1]] == [
        (a["store_id"], a["account"], a["balance"]) for a in balance["accounts"]]
    assert rows[-1] == {"store_id": "total", "account": "", "name": "", "debit": "400.00",
                        "credit": "400.00", "balance": "0.00", "opening_debit": "0.00",
                        "opening_credit": "0.00", "closing_debit": "400.00",
                        "closing_credit": "400.00"}
    # the ledger: one store's lines, their sums, and the same page as CSV
    ledger = get(client, "/ledger", finance, month=month, store_id=there, limit=1)
    assert (ledger["debit"], ledger["credit"]) == ("400.00", "400.00")
    assert ledger["total"] == 2 and len(ledger["items"]) == 1
    assert get(client, "/ledger", finance, month=month)["debit"] == "1400.00"
    lines = client.get("/ledger", headers=finance,
                       params={"month": month, "store_id": there, "format": "csv"})
    assert lines.status_code == 200, lines.text
    rows = _csv_rows(lines.text)
    assert [(r["store_id"], r["account"], r["debit"], r["credit"]) for r in rows] == [
        (i["store_id"], i["account"], i["debit"], i["credit"]) for i in get(
            client, "/ledger", finance, month=month, store_id=there)["items"]]
    assert len(rows) == 2


def test_receivables_of_one_store_and_the_link_to_its_next_bills(
        client: TestClient, auth: Auth, store_id: str) -> None:
    here, there = store_id, store_id + "B"
    finance = auth("finance", stores=[here, there])
    for store in (here, there):
        cashier = auth("cashier", user="cash-" + store, stores=[store])
        wo_id, sid = confirmed_settlement(client, auth, store, warranty_labor=True)
        owed = get(client, f"/settlements/{sid}", cashier,
                   wait_for=head(client))["bills"]["customer"]["total"]
        post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                            "amount": owed, "tendered": owed}, 201)
    both = get(client, "/receivables", finance, wait_for=head(client))
    assert [(g["kind"], g["open_bills_count"], g["outstanding"]) for g in both["items"]] == [
        ("warranty", 2, "300.00")]
    one = get(client, "/receivables", finance, store_id=there, bills_limit=1)
    [group] = one["items"]
    assert (group["open_bills_count"], group["outstanding"], one["outstanding"]) == (
        1, "150.00", "150.00")
    assert get(client, "/receivables", finance, store_id="ELSEWHERE")["items"] == []
    paged = get(client, "/receivables", finance, bills_limit=1)["items"][0]
    assert paged["open_bills_next"].startswith("/receivables?kind=warranty")
    assert "store_id" not in paged["open_bills_next"]


def test_a_kpi_of_one_month_is_asked_for_by_the_month(
        container: Container, client: TestClient, auth: Auth, store_id: str) -> None:
    manager = auth("manager", stores=[store_id])
    publish_analytics(container)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    body = get(client, "/analytics/kpis/csi", manager, month=_month())
    assert body["filters"] == {"date_from": today.replace(day=1).isoformat(),
                               "date_to": today.isoformat(), "store_id": store_id}
    # a month gone by: its first day to its last
    february = get(client, "/analytics/kpis/csi", manager, month="2026-02")
    assert (february["filters"]["date_from"], february["filters"]["date_to"]) == (
        "2026-02-01", "2026-02-28")
    both = client.get("/analytics/kpis/csi", headers=manager,
                      params={"month": _month(), "date_from": "2026-02-01"})
    assert both.status_code == 422 and both.json()["field"] == "month"
    for wrong in ("2026-13", "2026-2", f"{today.year + 1}-01"):
        refused = client.get("/analytics/kpis/csi", headers=manager, params={"month": wrong})
        assert refused.status_code == 422 and refused.json()["field"] == "month", wrong


def test_the_lost_sales_of_a_month_are_listed_by_the_days_they_were_recorded(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("parts_clerk", stores=[store_id])
    url = f"/stores/{store_id}/lost-sales"
    number = new_part(client, clerk, min_stock=0)
    for qty in ("2", "1"):
        post(client, url, clerk, {"part_number": number, "qty": qty,
                                  "reason": "out_of_stock"}, 201)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    first = today.replace(day=1).isoformat()
    month = get(client, url, clerk, date_from=first, date_to=today.isoformat(),
                wait_for=head(client))
    assert month["total"] == 2
    assert month["by_part"] == [{"part_number": number, "lines": 2, "qty": "3"}]
    before = get(client, url, clerk, date_to=(today - timedelta(days=1)).isoformat())
    assert (before["total"], before["by_part"], before["parts"]) == (0, [], 0)
    assert get(client, url, clerk, date_from=today.isoformat())["total"] == 2
    backwards = client.get(url, headers=clerk, params={
        "date_from": today.isoformat(), "date_to": (today - timedelta(days=1)).isoformat()})
    assert backwards.status_code == 422 and backwards.json()["field"] == "date_to"


def test_low_stock_alerts_are_listed_for_one_store(client: TestClient, auth: Auth,
                                                   store_id: str) -> None:
    here, there = store_id, store_id + "B"
    clerk = auth("parts_clerk", stores=[here, there])
    for store in (here, there):
        number = new_part(client, clerk, min_stock=5, reorder_qty=10)
        _received(client, clerk, store, number, 1)
    both = get(client, "/alerts", clerk, wait_for=head(client))
    assert sorted(a["store_id"] for a in both["items"]) == [here, there]
    only = get(client, "/alerts", clerk, store_id=there)
    assert [a["store_id"] for a in only["items"]] == [there] and only["total"] == 1
    assert get(client, "/alerts", clerk, store_id="ELSEWHERE")["total"] == 0
