"""A search of the customers by a phone's last digits reads an index of the phones' endings,
not every customer's phones; it finds a customer by any of their phones, a whole phone by its
own index, and no one once the customer is erased."""

from __future__ import annotations

import json
import random
from datetime import date
from typing import Any
from uuid import UUID

from domain.customers import phone_search
from projections.customer_queries import TagRules, _lookup_clause, find_customers
from servicecore.container import Container
from tests.integration.kafka_support import wait_until
from tests.integration.support import request


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _plan_nodes(child))]


def _found(container: Container, store_id: str, q: str) -> list[UUID]:
    with container.pool.connection() as conn:
        found = find_customers(conn, [store_id], q=q, tag=None, rules=TagRules(),
                               today=date.today())
    return [item["id"] for item in found["items"]]


def test_a_search_by_last_digits_reads_the_index_of_phone_endings(
        container: Container, store_id: str) -> None:
    first = f"139{random.randrange(10**8):08d}"
    second = f"138{random.randrange(10**8):08d}"
    customer = UUID(container.customers.register(
        request(store_id), store_id=store_id, name="王磊", phones=[first, second]).body["id"])
    wait_until(lambda: _found(container, store_id, first) == [customer], 30,
               "the customer to reach the customers view")

    # by the last 4, 6 and 8 digits of either phone (and the whole phone, by its own index)
    for q in (first[-4:], second[-6:], first[-8:], second):
        assert customer in _found(container, store_id, q), q
    assert customer not in _found(container, store_id, first[-5:-1])  # not an ending

    clause, params = _lookup_clause(first[-4:])
    with container.pool.connection() as conn, conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")  # a small table: ask for the index
        row = conn.execute(f"EXPLAIN (FORMAT JSON) SELECT id FROM customers WHERE {clause}",
                           params).fetchone()
    assert row is not None
    document = row[0] if not isinstance(row[0], str) else json.loads(row[0])
    nodes = _plan_nodes(document[0]["Plan"])
    assert not any(n["Node Type"] == "Seq Scan" for n in nodes), nodes
    assert "customers_phone_tails_idx" in {n.get("Index Name") for n in nodes}, nodes
    assert phone_search(first[-4:]) == (first[-4:], False)

    container.customers.erase(request(store_id, "manager"), customer, reason="asked to forget")
    wait_until(lambda: customer not in _found(container, store_id, first[-4:]), 30,
               "the erasure to reach the customers view")
