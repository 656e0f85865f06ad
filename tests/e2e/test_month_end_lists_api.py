"""The lists finance looks over at month end: the imported bank statements with their lines
counted matched, explained and unmatched (no payer shown); the write-offs of a period across
settlements, with their sums; the cashier days of a month, open or closed. Each reads the
caller's stores (a `store_id` outside the token lists nothing), refuses the roles its
neighbours refuse, and names the field of bad input in a 422."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import ready_for_settlement
from tests.e2e.test_oem_claim_outcome_api import _confirmed_warranty_visit
from tests.e2e.test_parts_api import Auth, get, post
from tests.scratch_systems import served_module

served, container, client = served_module("sc_month_end_lists", projections=True)


def _today() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


def _problem_field(client: TestClient, url: str, headers: dict[str, str],
                   **params: str) -> str:
    answer = client.get(url, headers=headers, params=params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    found = answer.json()  # a rule's refusal names `field`; a parameter's, each error's `loc`
    return str(found["field"] if "field" in found else found["errors"][0]["loc"][-1])


def _by_status(client: TestClient, headers: dict[str, str], **params: object) -> list[tuple[str, str, int]]:
    """The ids listed with `status=` (a name `get`'s own `status` argument takes)."""
    answer = client.get("/reconciliation/statements", headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    return [(s["id"], s["status"], s["unmatched"]) for s in answer.json()["items"]]


def test_statements_are_listed_newest_first_with_their_lines_counted(
        client: TestClient, auth: Auth, store_id: str) -> None:
    finance = auth("finance", "fin-" + store_id, [store_id])
    ref = "R" + uuid.uuid4().hex[:8]
    first = post(client, "/reconciliation/statements", finance, {
        "store_id": store_id, "source": "bank", "account": "工行 1001",
        "csv": "date,amount,reference,counterparty\n"
               f"2026-05-01,1010.00,{ref},赵敏\n2026-05-03,-2.00,FEE-{ref},\n"}, 201)
    second = post(client, "/reconciliation/statements", finance, {
        "store_id": store_id, "source": "alipay", "account": "支付宝 88",
        "csv": "date,amount,reference,counterparty\n"
               f"2026-05-04,20.00,A-{ref},钱多多\n"}, 201)
    fee = post(client, f"/reconciliation/statements/{first['id']}/lines/2/explanation",
               finance, {"kind": "bank_fee", "reason": "transfer fee, May"})
    listed = get(client, "/reconciliation/statements", finance, store_id=store_id,
                 wait_for=fee["notification_id"])
    assert (listed["total"], listed["limit"], listed["offset"]) == (2, 50, 0)
    assert [s["id"] for s in listed["items"]] == [second["id"], first["id"]]
    older = listed["items"][1]
    assert {k: older[k] for k in ("store_id", "source", "account", "date_from", "date_to",
                                  "imported_by", "lines", "matched", "explained", "unmatched",
                                  "status")} == {
        "store_id": store_id, "source": "bank", "account": "工行 1001",
        "date_from": "2026-05-01", "date_to": "2026-05-03", "imported_by": "fin-" + store_id,
        "lines": 2, "matched": 0, "explained": 1, "unmatched": 1, "status": "open"}
    assert older["imported_at"]
    assert "赵敏" not in str(listed) and "counterparty" not in str(listed)
    # The alipay statement's one line explained too: it is reconciled, the bank's still open.
    done = post(client, f"/reconciliation/statements/{second['id']}/lines/1/explanation",
                finance, {"kind": "other", "reason": "test transfer by the provider"})
    url = "/reconciliation/statements"
    assert _by_status(client, finance, store_id=store_id, status="reconciled",
                      wait_for=done["notification_id"]) == [(second["id"], "reconciled", 0)]
    assert _by_status(client, finance, store_id=store_id, status="open") == [
        (first["id"], "open", 1)]
    assert get(client, url, finance, store_id=store_id, limit=1, offset=1)["items"][0][
        "id"] == first["id"]
    # The roles that read a statement read the list; others are refused.
    for role in ("cashier", "manager", "auditor"):
        assert get(client, url, auth(role, "r", [store_id]), store_id=store_id)["total"] == 2
    for role in ("advisor", "parts_clerk", "technician"):
        assert client.get(url, headers=auth(role, "x", [store_id])).status_code == 403
    # Another store's statements are not listed, whether named or not.
    other = auth("finance", "fin-other", [store_id + "X"])
    assert get(client, url, other, store_id=store_id)["total"] == 0
    assert store_id not in str(get(client, url, other))
    assert _problem_field(client, url, finance, status="closed") == "status"


def test_write_offs_of_a_period_are_listed_across_settlements_with_their_sums(
        client: TestClient, auth: Auth, store_id: str) -> None:
    clerk = auth("advisor", "warranty-clerk", [store_id])
    manager = auth("manager", "mgr-" + store_id, [store_id])
    finance = auth("finance", "fin-" + store_id, [store_id])
    booked = []
    for n in range(2):
        wo_id, sid = _confirmed_warranty_visit(client, auth, store_id)
        claim_url = f"/work-orders/{wo_id}/warranty-claim"
        post(client, f"{claim_url}/submission", clerk, {"oem_claim_number": f"VW-26-{n}"}, 201)
        post(client, f"{claim_url}/rejection", clerk,
             {"reason_code": "R-40", "reason": "repair record missing"})
        booked.append((sid, post(client, f"/settlements/{sid}/write-off", manager, {
            "kind": "oem_rejected", "amount": f"{40 + n}.00", "reason": f"final R-40 #{n}"})))
    (sid0, first), (sid1, second) = booked
    back = post(client, f"/settlements/{sid0}/write-offs/"
                        f"{first['written_off']['write_off_id']}/reversal", manager,
                {"reason": "the OEM reopened R-40"})
    today = _today()
    listed = get(client, "/write-offs", finance, store_id=store_id, date_from=today,
                 date_to=today, wait_for=back["notification_id"])
    assert (listed["total"], listed["amount"], listed["reversed_amount"],
            listed["net_amount"]) == (2, "81.00", "40.00", "41.00")
    assert [(r["settlement_id"], r["settlement_number"], r["bill"], r["kind"], r["amount"],
             r["reason"], r["written_off_by"], r["reversed"]) for r in listed["items"]] == [
        (sid1, second["number"], "warranty", "oem_rejected", "41.00", "final R-40 #1",
         "mgr-" + store_id, False),
        (sid0, first["number"], "warranty", "oem_rejected", "40.00", "final R-40 #0",
         "mgr-" + store_id, True)]
    assert all(r["written_off_at"] and r["store_id"] == store_id for r in listed["items"])
    # The sums cover every listed row, not only the page's.
    one = get(client, "/write-offs", finance, store_id=store_id, limit=1)
    assert (one["total"], len(one["items"]), one["amount"]) == (2, 1, "81.00")
    assert get(client, "/write-offs", finance, store_id=store_id,
               kind="insurer_short_paid") == {
        "total": 0, "limit": 200, "offset": 0, "items": [], "amount": "0.00",
        "reversed_amount": "0.00", "net_amount": "0.00"}
    assert get(client, "/write-offs", finance, store_id=store_id,
               date_to="2020-01-01")["total"] == 0
    for role in ("manager", "auditor"):
        assert get(client, "/write-offs", auth(role, "r", [store_id]),
                   store_id=store_id)["total"] == 2
    for role in ("cashier", "advisor"):
        assert client.get("/write-offs", headers=auth(role, "x", [store_id])).status_code == 403
    other = auth("finance", "fin-other", [store_id + "X"])
    assert get(client, "/write-offs", other, store_id=store_id)["total"] == 0
    assert _problem_field(client, "/write-offs", finance, kind="lost") == "kind"
    assert _problem_field(client, "/write-offs", finance, date_from="2026-13-01") == "date_from"
    assert _problem_field(client, "/write-offs", finance, date_from="2026-05-02",
                          date_to="2026-05-01") == "date_to"


def test_a_months_cashier_days_are_listed_open_or_closed(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    late = auth("cashier", "late-" + store_id, [store_id])
    closed = post(client, "/day-end", cashier, {"store_id": store_id, "counted_cash": "3.00",
                                                "reason": "3 CNY over, found in the till"})
    closed_too = post(client, "/day-end", late, {"store_id": store_id, "counted_cash": "0.00"})
    # A third cashier takes a deposit and has not closed: the day is open.
    _, wo_id = ready_for_settlement(client, auth, store_id)
    opened = post(client, "/payments", auth("cashier", "open-" + store_id, [store_id]), {
        "work_order_id": wo_id, "method": "cash", "amount": "100.00", "tendered": "100.00"}, 201)
    day = date.fromisoformat(closed["business_date"])
    month = day.strftime("%Y-%m")
    listed = get(client, "/day-end", cashier, month=month, store_id=store_id,
                 wait_for=max(closed_too["notification_id"], opened["notification_id"]))
    assert listed["total"] == 3
    rows = {r["cashier_id"]: r for r in listed["items"]}
    still = rows["open-" + store_id]
    assert (still["status"], still["totals"], still["closed_at"], still["variance"]) == (
        "open", {"cash": "100.00"}, None, None)
    assert rows["late-" + store_id]["status"] == "closed"
    mine = rows["cash-" + store_id]
    assert {k: mine[k] for k in ("business_date", "store_id", "status", "expected_cash",
                                 "counted_cash", "variance", "reason", "closed_by")} == {
        "business_date": day.isoformat(), "store_id": store_id, "status": "closed",
        "expected_cash": "0.00", "counted_cash": "3.00", "variance": "3.00",
        "reason": "3 CNY over, found in the till", "closed_by": "cash-" + store_id}
    assert mine["closed_at"]
    same = get(client, "/day-end", cashier, date_from=day.isoformat(), date_to=day.isoformat(),
               store_id=store_id)
    assert same["total"] == 3
    assert get(client, "/day-end", cashier, month="2020-01", store_id=store_id)["total"] == 0
    for role in ("manager", "finance", "auditor"):
        assert get(client, "/day-end", auth(role, "r", [store_id]), month=month,
                   store_id=store_id)["total"] == 3
    assert client.get("/day-end", headers=auth("advisor", "x", [store_id]),
                      params={"month": month}).status_code == 403
    other = auth("finance", "fin-other", [store_id + "X"])
    assert get(client, "/day-end", other, month=month, store_id=store_id)["total"] == 0
    assert _problem_field(client, "/day-end", cashier, month="2026-13") == "month"
    assert _problem_field(client, "/day-end", cashier) == "month"
    assert _problem_field(client, "/day-end", cashier, date_from=day.isoformat()) == "date_to"
    assert _problem_field(client, "/day-end", cashier, month=month,
                          date_from=day.isoformat()) == "month"
