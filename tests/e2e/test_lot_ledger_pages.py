"""A lot's ledger comes a page at a time: a drum of oil or a box of 5,000 clips is issued a
little on each visit, and `/stock/lots/{lot}` listed every movement of it in one answer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from projections.stock_queries import LOT_MOVEMENTS, get_lot
from servicecore.container import Container

Auth = Callable[..., dict[str, str]]


def test_a_lot_issued_a_little_at_a_time_lists_its_movements_in_pages(
        container: Container, store_id: str) -> None:
    """Rows written straight into the read model in one transaction, rolled back after."""
    lot_id, count, now = "LOT-" + uuid.uuid4().hex[:8], LOT_MOVEMENTS + 20, datetime.now(UTC)
    first = -(uuid.uuid4().int % 10**12) - count  # below every real position
    with container.pool.connection() as conn, conn.transaction(force_rollback=True):
        conn.execute("""INSERT INTO lots (lot_id, store_id, part_number, supplier, received_at,
            unit_cost, received_qty, on_hand) VALUES (%s, %s, 'OIL-5W30', 'Castrol', %s, '40',
            %s, 0)""", (lot_id, store_id, now, count))
        for n in range(count):
            conn.execute("""INSERT INTO stock_movements (notification_id, seq, at, store_id,
                part_number, type, qty, lot_id, user_id, role) VALUES (%s, 0, %s, %s,
                'OIL-5W30', %s, %s, %s, 'clerk-1', 'parts_clerk')""",
                         (first + n, now, store_id, "receipt" if n == 0 else "issue",
                          count if n == 0 else -1, lot_id))
        lot = get_lot(conn, [store_id], lot_id)
        last = get_lot(conn, [store_id], lot_id, limit=1000, offset=count - 3)
        other = get_lot(conn, ["S-OTHER"], lot_id)
    assert lot is not None and last is not None and other is None
    assert lot["movements_count"] == last["movements_count"] == count
    assert len(lot["movements"]) == LOT_MOVEMENTS
    assert lot["movements"][0]["type"] == "receipt"  # in booking order
    assert [m["type"] for m in last["movements"]] == ["issue"] * 3


def test_a_lot_page_is_bounded(client: TestClient, auth: Auth) -> None:
    clerk = auth("parts_clerk", "clerk-1")
    response = client.get("/stock/lots/NO-SUCH-LOT", headers=clerk, params={"movements_limit": 1001})
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["errors"]] == [["query", "movements_limit"]]
    assert client.get("/stock/lots/NO-SUCH-LOT", headers=clerk,
                      params={"movements_limit": 10, "movements_offset": 5}).status_code == 404
