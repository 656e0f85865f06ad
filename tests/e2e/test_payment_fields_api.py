"""A payment, a deposit or a day-end the cashier cannot make names the body field at fault
(`field` of the 422), as a refund's refusal does: an amount with more than two decimals and
one not above zero alike, and nothing is stored."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.e2e.test_money_api import confirmed_settlement, ready_for_settlement
from tests.e2e.test_parts_api import head

Auth = Callable[..., dict[str, str]]
AMOUNTS = ("10.001", "0", "0.00", "-1", 10.001, 0)


def _refused(client: TestClient, url: str, headers: dict[str, str], body: dict[str, object],
             field: str) -> None:
    refused = client.post(url, headers=headers, json=body)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["field"] == field, refused.text


def test_a_payment_names_the_amount_or_tendered_it_refuses(
        client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    wo_id, _ = confirmed_settlement(client, auth, store_id)
    cash = {"work_order_id": wo_id, "method": "cash", "amount": "10.00"}
    before = head(client)
    for amount in AMOUNTS:
        _refused(client, "/payments", cashier, {**cash, "amount": amount}, "amount")
    for tendered in ("20.001", "0", "-5", "5.00"):  # the last: less than the amount
        _refused(client, "/payments", cashier, {**cash, "tendered": tendered}, "tendered")
    _refused(client, "/payments", cashier, {**cash, "method": "bank_card", "provider_ref": "P1",
                                           "tendered": "20.00"}, "tendered")
    assert head(client) == before  # nothing stored


def test_a_deposit_names_its_amount(client: TestClient, auth: Auth, store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    _, wo_id = ready_for_settlement(client, auth, store_id)
    deposit = {"work_order_id": wo_id, "method": "cash"}
    before = head(client)
    for amount in (*AMOUNTS, "99999.00"):  # the last: above the approved estimate
        _refused(client, "/payments", cashier, {**deposit, "amount": amount}, "amount")
    assert head(client) == before


def test_a_day_end_names_the_counted_cash_it_refuses(client: TestClient, auth: Auth,
                                                     store_id: str) -> None:
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    before = head(client)
    for counted in ("10.001", "-1", -0.5, 0.001):
        _refused(client, "/day-end", cashier, {"store_id": store_id, "counted_cash": counted},
                 "counted_cash")
    assert head(client) == before
