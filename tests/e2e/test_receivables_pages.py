"""A payer's open bills come a page at a time: an insurer or the OEM owed for years of claims
has thousands, and `/receivables` listed every one of them in its group (50,000 open bills
made one answer of tens of MB). A group lists its oldest open bills, counts them all, and
links the next ones; its totals and aging still cover every bill."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from api.routes.finance import OPEN_BILLS_MAX
from projections.receivables import OPEN_BILLS_DEFAULT, receivables
from servicecore.container import Container
from tests.e2e.test_parts_api import get, head
from tests.e2e.test_receivables_api import owing_customer

Auth = Callable[..., dict[str, str]]


def test_a_groups_open_bills_are_paged_and_linked(client: TestClient, auth: Auth,
                                                  store_id: str) -> None:
    visits = [owing_customer(client, auth, store_id) for _ in range(3)]
    finance = auth("finance", "fin-" + store_id, [store_id])
    owed = get(client, "/receivables", finance, kind="warranty", bills_limit=2,
               wait_for=head(client))
    [oem] = owed["items"]
    # Totals and aging over the three bills, two of them listed, the oldest first.
    assert (oem["outstanding"], oem["aging"]["days_0_30"]) == ("450.00", "450.00")
    assert oem["open_bills_count"] == 3
    assert [b["settlement_number"] for b in oem["open_bills"]] == [
        v["settlement_number"] for v in visits[:2]]
    assert oem["open_bills_next"] == (f"/receivables?kind=warranty&payer_key="
                                      f"{oem['payer_key']}&bills_limit=2&bills_offset=2")
    rest = client.get(oem["open_bills_next"], headers=finance).json()
    [same] = rest["items"]
    assert (same["payer_key"], same["outstanding"], same["open_bills_count"]) == (
        oem["payer_key"], "450.00", 3)
    assert [b["settlement_number"] for b in same["open_bills"]] == [visits[2]["settlement_number"]]
    assert same["open_bills_next"] is None
    # One payer's group alone; the default lists every bill of a small group, as before.
    customer = get(client, "/receivables", finance, kind="customer",
                   payer_key=visits[1]["customer_id"])
    assert [g["payer"] for g in customer["items"]] == [{"customer_id": visits[1]["customer_id"]}]
    assert customer["total"] == 1 and customer["outstanding"] == "100.00"
    whole = get(client, "/receivables", finance)
    assert all(g["open_bills_count"] == len(g["open_bills"]) and g["open_bills_next"] is None
               for g in whole["items"])
    for name, value in (("bills_limit", OPEN_BILLS_MAX + 1), ("bills_limit", 0),
                        ("payer_key", "k" * 201)):
        refused = client.get("/receivables", headers=finance, params={name: value})
        assert refused.status_code == 422, refused.text
        assert [e["loc"] for e in refused.json()["errors"]] == [["query", name]]


def test_an_insurer_with_many_open_bills_lists_the_oldest_first(container: Container,
                                                               store_id: str) -> None:
    """Rows written straight into the read model in one transaction, rolled back after: the
    view's query, not the commands, is what this bounds."""
    insurer = "PICC " + uuid.uuid4().hex[:6]
    count = OPEN_BILLS_DEFAULT + 50
    now = datetime.now(UTC)
    with container.pool.connection() as conn, conn.transaction(force_rollback=True):
        for n in range(count):
            settlement_id = uuid.uuid4()
            # Numbered against their age: the oldest bill has the highest number.
            conn.execute("""INSERT INTO settlements (id, work_order_id, work_order_number,
                store_id, customer_id, status, number, bills, settled_at, updated_at, version)
                VALUES (%s, %s, %s, %s, %s, 'settled', %s, '{}', %s, %s, 1)""",
                         (settlement_id, uuid.uuid4(), f"WO-{n}", store_id, uuid.uuid4(),
                          f"SET-{count - n:05d}", now - timedelta(days=n), now))
            conn.execute("""INSERT INTO settlement_bills (settlement_id, kind, store_id,
                payer_key, payer, total, paid, status) VALUES (%s, 'insurance', %s, %s, %s,
                '100.00', %s, 'settled')""",
                         (settlement_id, store_id, insurer,
                          Jsonb({"insurer": insurer, "claim_number": f"C{n}"}),
                          "100.00" if n % 10 == 9 else "0"))
        on = now.date()
        page: dict[str, Any] = receivables(conn, [store_id], aged_on=on, zone="UTC")
        last = receivables(conn, [store_id], aged_on=on, zone="UTC", payer_key=insurer,
                           bills_offset=count - 20, bills_limit=50)
    [group] = page["items"]
    open_ages = [n for n in range(count) if n % 10 != 9]
    assert group["open_bills_count"] == len(open_ages) == 135
    assert len(group["open_bills"]) == OPEN_BILLS_DEFAULT
    assert [b["age_days"] for b in group["open_bills"]] == sorted(open_ages, reverse=True)[
        :OPEN_BILLS_DEFAULT]
    assert group["outstanding"] == page["outstanding"] == Decimal(100 * len(open_ages))
    assert group["oldest_age_days"] == max(open_ages)
    assert sum(group["aging"].values()) == group["outstanding"]
    assert group["aging"]["days_over_90"] == Decimal(100 * len([n for n in open_ages if n > 90]))
    assert [b["age_days"] for b in last["items"][0]["open_bills"]] == sorted(open_ages)[:5][::-1]
