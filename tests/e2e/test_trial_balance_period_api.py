"""The accountant's trial balance of a period (科目余额表): per store and account, the balance
brought forward from before `date_from`, the period's movements and the closing balance, each
pair totalling as much on the debit side as on the credit side; a month as before, or any run
of days; JSON or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.e2e.test_parts_api import get, head
from tests.integration.audit_support import Desk, at

Auth = Callable[..., dict[str, str]]
TB = "/ledger/trial-balance"


def test_a_period_opens_with_what_came_before_it_and_closes_balanced(
        container: Container, client: TestClient, auth: Auth) -> None:
    desk = Desk(container)
    store = desk.store
    finance = auth("finance", stores=[store])
    # Pads delivered in October (4 × 200.00) and in November (2 × 150.00).
    pads = desk.part("前刹车片", "450.00", at("2025-10-01", "09:00"))
    desk.receive(pads, 4, "200.00", at("2025-10-20", "10:00"), supplier="博世", doc="DN-10")
    desk.receive(pads, 2, "150.00", at("2025-11-05", "10:00"), supplier="博世", doc="DN-11")
    november = get(client, TB, finance, date_from="2025-11-01", date_to="2025-11-30",
                   store_id=store, wait_for=head(client))
    accounts = {a["account"]: a for a in november["accounts"]}
    # Parts inventory (1405): 800.00 brought forward, 300.00 in, 1100.00 carried.
    assert [accounts["1405"][k] for k in ("opening_debit", "opening_credit", "debit", "credit",
                                          "closing_debit", "closing_credit", "balance")] == [
        "800.00", "0.00", "300.00", "0.00", "1100.00", "0.00", "300.00"]
    # Owed to the supplier (2202): the same on the credit side.
    assert [accounts["2202"][k] for k in ("opening_credit", "credit", "closing_credit")] == [
        "800.00", "300.00", "1100.00"]
    assert (november["opening_debit"], november["opening_credit"], november["debit"],
            november["credit"], november["closing_debit"], november["closing_credit"],
            november["balanced"]) == ("800.00", "800.00", "300.00", "300.00", "1100.00",
                                      "1100.00", True)
    assert (november["date_from"], november["date_to"], november["month"]) == (
        "2025-11-01", "2025-11-30", None)
    # The month form reads the same days; December has no movement, only what was carried.
    assert get(client, TB, finance, month="2025-11", store_id=store)["accounts"] == \
        november["accounts"]
    december = get(client, TB, finance, month="2025-12", store_id=store)
    assert [(a["account"], a["opening_debit"], a["opening_credit"], a["debit"], a["credit"])
            for a in december["accounts"]] == [("1405", "1100.00", "0.00", "0.00", "0.00"),
                                               ("2202", "0.00", "1100.00", "0.00", "0.00")]
    # Before anything was booked: no account.
    assert get(client, TB, finance, month="2025-09", store_id=store)["accounts"] == []
    # The CSV for the month-end pack: the totals its last row.
    answer = client.get(TB, headers=finance, params={
        "date_from": "2025-11-01", "date_to": "2025-11-30", "store_id": store,
        "format": "csv"})
    assert answer.status_code == 200, answer.text
    assert f'filename="trial-balance-{store}-2025-11-01_2025-11-30.csv"' in answer.headers[
        "content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["account"], r["opening_debit"], r["closing_debit"]) for r in rows[:-1]] == [
        ("1405", "800.00", "1100.00"), ("2202", "0.00", "0.00")]
    assert rows[-1] == {"store_id": "total", "account": "", "name": "", "debit": "300.00",
                        "credit": "300.00", "balance": "0.00", "opening_debit": "800.00",
                        "opening_credit": "800.00", "closing_debit": "1100.00",
                        "closing_credit": "1100.00"}


def test_the_period_is_a_month_or_two_days_in_order(client: TestClient, auth: Auth) -> None:
    finance = auth("finance", stores=["S01"])
    for params, field in (({}, "month"),
                          ({"month": "2025-11", "date_from": "2025-11-01"}, "month"),
                          ({"date_from": "2025-11-01"}, "date_to"),
                          ({"date_to": "2025-11-30"}, "date_from"),
                          ({"date_from": "2025-11-30", "date_to": "2025-11-01"}, "date_to"),
                          ({"month": "2025-13"}, "month")):
        refused = client.get(TB, headers=finance, params=params)
        assert refused.status_code == 422, (params, refused.text)
        problem = refused.json()
        assert problem.get("field") == field or field in str(problem.get("errors")), (
            params, problem)
