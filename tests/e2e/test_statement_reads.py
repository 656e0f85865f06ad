"""Who read a bank statement's payers: `GET /audit/personal-data-reads?statement_id=` lists the
recorded reads of one statement (which lines' payer was shown, through which endpoint, for what
and in which request), newest first, in the asking auditor's stores, as `customer_id=` lists a
customer's; exactly one of the two is named."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.e2e.test_parts_api import get, head
from tests.e2e.test_personal_data_read_targets import _visit
from tests.e2e.test_statement_payers import _import
from tests.integration.support import Auth

ROUTE = "/audit/personal-data-reads"


def _reads(client: TestClient, headers: dict[str, str], **key: str) -> dict[str, Any]:
    return get(client, ROUTE, headers, wait_for=head(client),  # type: ignore[no-any-return]
               **key)


def test_the_reads_of_a_statements_payers_are_listed_by_the_statement(
        client: TestClient, auth: Auth, container: Container, store_id: str) -> None:
    imported = _import(client, auth, container, store_id)
    statement_id = imported["id"]
    auditor = auth("auditor", "aud-li", [store_id])

    # The auditor opens the statement twice: each time its payer (line 1) is shown to her.
    answers = [client.get(f"/reconciliation/statements/{statement_id}",
                          params={"wait_for": imported["notification_id"]}, headers=auditor)
               for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]

    # A customer's data is read too: that read is the customer's, not the statement's.
    customer_id = _visit(client, auth, store_id)
    get(client, f"/customers/{customer_id}", auditor)
    assert _reads(client, auditor, customer_id=customer_id)["total"] == 1

    # The statement's reads, newest first: who, which lines, where and in which request.
    found = _reads(client, auditor, statement_id=statement_id)
    assert found["total"] == 2
    assert [item["correlation_id"] for item in found["items"]] == [
        a.headers["X-Correlation-ID"] for a in reversed(answers)]
    for item in found["items"]:
        assert (item["statement_id"], item["statement_lines"], item["customer_id"]) == (
            statement_id, [1], None)
        assert (item["user_id"], item["role"], item["store_id"]) == ("aud-li", "auditor",
                                                                    store_id)
        assert item["endpoint"].startswith(f"GET /reconciliation/statements/{statement_id}")
        assert item["purpose"] == "bank statement"

    # A customer's read names no statement.
    (customers,) = _reads(client, auditor, customer_id=customer_id)["items"]
    assert (customers["customer_id"], customers["statement_id"],
            customers["statement_lines"]) == (customer_id, None, [])

    # Another store's auditor is shown none of them.
    stranger = auth("auditor", "aud-zhou", ["X" + store_id])
    assert _reads(client, stranger, statement_id=statement_id) == {
        "total": 0, "limit": 100, "offset": 0, "items": []}


@pytest.mark.parametrize(("query", "field"), [
    ({}, "customer_id"),
    ({"customer_id": "7f1e2b3c-0000-4000-8000-000000000001",
      "statement_id": "7f1e2b3c-0000-4000-8000-000000000002"}, "statement_id")])
def test_the_reads_are_asked_for_by_a_customer_or_a_statement_exactly(
        client: TestClient, auth: Auth, store_id: str, query: dict[str, str],
        field: str) -> None:
    refused = client.get(ROUTE, params=query, headers=auth("auditor", "aud-li", [store_id]))
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["field"] == field
