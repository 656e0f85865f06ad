"""The front desk's registrations, the cashier's day-end, the bank statements, the labor-operation
master and the lost sales name only the group's stores (`SERVICECORE_STORES`): a mistyped store
is refused with 422 problem+json that names it and the stores there are, whatever the token
covers, and nothing is stored."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.test_parts_api import Auth, head, post
from tests.e2e.test_workshop_walk import refused

VIN = "LSVAU218XN2183294"


def names_the_store(problem: dict[str, Any], unknown: str, known: tuple[str, str]) -> None:
    assert unknown in problem["detail"], problem
    assert problem["store_id"] == unknown and problem["known_stores"] == sorted(known)


def test_customers_vehicles_and_reminders_name_only_the_group_s_stores(
        group_client: TestClient, auth: Auth, group_stores: tuple[str, str]) -> None:
    here, _ = group_stores
    unknown = here + "X"  # a mistyped store
    advisor = auth("advisor", stores=["*"])  # a token for every store of the group
    customer = {"name": "郑凯", "phones": ["13600002222"]}
    vehicle = {"vin": VIN, "plate": "沪A12345", "brand": "Volkswagen"}
    reminder = {"vin": VIN, "due_on": "2026-06-01", "outcome": "reminded",
                "channel": "phone"}
    commands = (("/customers", customer, 201), ("/vehicles", vehicle, 201),
                ("/reminders", reminder, 201))
    # The advisor types the store wrong: each registration is refused, nothing stored.
    for url, body, _ in commands:
        names_the_store(refused(group_client, url, advisor, {"store_id": unknown, **body}, 422),
                        unknown, group_stores)
    # The group's own store takes each of them.
    for url, body, status in commands:
        post(group_client, url, advisor, {"store_id": here, **body}, status)


def test_a_day_end_names_only_the_group_s_stores(
        group_client: TestClient, auth: Auth, group_stores: tuple[str, str]) -> None:
    here, _ = group_stores
    unknown = here + "X"
    cashier = auth("cashier", stores=["*"])
    # The cashier closes the day of a store that is not the group's: refused, nothing stored.
    close = {"counted_cash": "0.00"}
    names_the_store(refused(group_client, "/day-end", cashier, {"store_id": unknown, **close},
                            422), unknown, group_stores)
    # Their own store's day closes (no takings: zero totals).
    closed = post(group_client, "/day-end", cashier, {"store_id": here, **close})
    assert closed["variance"] == "0.00", closed


def test_bank_statements_name_only_the_group_s_stores(
        group_client: TestClient, auth: Auth, group_stores: tuple[str, str]) -> None:
    here, _ = group_stores
    unknown = here + "X"
    finance = auth("finance", stores=["*"])
    csv = "date,amount,reference,counterparty\n2026-05-01,1010.00,4200001234,陈静\n"
    statement = {"source": "bank", "account": "工行1001", "csv": csv}
    # A statement imported as JSON for a store that is not the group's: refused.
    names_the_store(refused(group_client, "/reconciliation/statements", finance,
                            {"store_id": unknown, **statement}, 422), unknown, group_stores)
    # The same statement as a file, for that store: refused too, nothing stored.
    before = head(group_client)
    answer = group_client.post(
        "/reconciliation/statements/file", content=csv.encode(),
        params={"store_id": unknown, "source": "bank"},
        headers={**finance, "Content-Type": "text/csv"})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    names_the_store(answer.json(), unknown, group_stores)
    assert head(group_client) == before
    # The group's own store takes it.
    imported = post(group_client, "/reconciliation/statements", finance,
                    {"store_id": here, **statement}, 201)
    assert imported["lines"] == 1, imported


def test_transfers_from_suggestions_name_only_the_group_s_stores(
        group_client: TestClient, auth: Auth, group_stores: tuple[str, str]) -> None:
    here, there = group_stores
    unknown = here + "X"
    clerk = auth("parts_clerk", stores=["*"])
    line = {"part_number": "5Q0698151", "from_store": there, "qty": "1"}
    # Sent to a store that is not the group's, or from one: refused, nothing stored.
    names_the_store(refused(group_client, "/transfers/from-suggestions", clerk,
                            {"to_store": unknown, "lines": [line]}, 422), unknown, group_stores)
    names_the_store(refused(group_client, "/transfers/from-suggestions", clerk,
                            {"to_store": here, "lines": [{**line, "from_store": unknown}]},
                            422), unknown, group_stores)


def test_labor_operations_and_lost_sales_name_only_the_group_s_stores(
        group_client: TestClient, auth: Auth, group_stores: tuple[str, str]) -> None:
    here, _ = group_stores
    unknown = here + "X"
    manager = auth("manager", stores=["*"])
    operation = {"op_code": "BRK-GS", "description": "brake pads", "flat_rate_hours": "1.5",
                 "rates": {"customer": "300.00", "warranty": "180.00", "insurance": "260.00",
                           "internal": "150.00"}}
    # The store's labor-operation master and the parts desk's lost sales: a store that is
    # not the group's is refused, nothing stored.
    names_the_store(refused(group_client, "/labor-operations", manager,
                            {"store_id": unknown, **operation}, 422), unknown, group_stores)
    names_the_store(refused(group_client, f"/stores/{unknown}/lost-sales", manager,
                            {"part_number": "5Q0698151", "qty": 1, "reason": "price"}, 422),
                    unknown, group_stores)
    post(group_client, "/labor-operations", manager, {"store_id": here, **operation}, 201)
