"""A lost COMMIT answer for each family of money and stock commands, over HTTP: a stock
receipt, a part issued to a work order (the work order and the stock in one save), the
confirmation that closes a visit's bill with a part issued from stock (its gap-free number
from a counter), a payment that settles a visit, a refund request, a settlement's reversal, the
follow-up call's result that closes that work order (a complaint opened in the same save), and
appointment bookings (one taking the last hours planned for the day: a retry that decided again
would be refused as full). The save
reaches the server and commits; its answer is cut off by the proxy; the client retries with the
same Idempotency-Key, on the same API process and on another: one effect, the same answer.
(The work-order family: tests/integration/test_lost_acknowledgements.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from servicecore.container import Container
from tests.integration.faults import FaultyProxy
from tests.integration.support import open_order, post
from tests.integration.test_lost_acknowledgements import (  # noqa: F401  (fixtures)
    assert_replayed,
    behind,
    lost_and_retried,
    proxy,
)
from tests.integration.test_money_support import draft, ready_visit, req, stocked_part

Auth = Callable[..., dict[str, str]]
Setup = Callable[[Container, TestClient, Auth, str], tuple[str, str, dict[str, Any], str]]
ZONE = ZoneInfo("Asia/Shanghai")


def count(database_url: str, topic: str, needle: str) -> int:
    """Stored events of that type of the stream `needle`, or whose stored bytes hold it."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM servicecore_events WHERE topic LIKE %s "
            "AND (originator_id::text = %s OR position(%s in convert_from(state, 'UTF8')) > 0)",
            (f"%{topic}", needle, needle)).fetchone()
    assert row is not None
    return int(row[0])


def stock_receipt(container: Container, client: TestClient, auth: Auth, store_id: str
                  ) -> tuple[str, str, dict[str, Any], str]:
    number = stocked_part(container, store_id, qty=1)
    doc = f"DN-{uuid4().hex[:8]}"
    return ("parts_clerk", f"/stock/{store_id}/{number}/receipts",
            {"qty": 5, "unit_cost": "100.00", "supplier": "FAW-VW Parts", "supplier_doc": doc},
            f"StockItem.Received|{doc}")


def settling_payment(container: Container, client: TestClient, auth: Auth, store_id: str
                     ) -> tuple[str, str, dict[str, Any], str]:
    work_order_id = ready_visit(container, store_id)
    container.settlements.confirm(req(store_id), draft(container, store_id, work_order_id))
    ref = f"POS-{uuid4().hex[:8]}"
    return ("cashier", "/payments", {"work_order_id": str(work_order_id), "method": "bank_card",
                                     "amount": "450.00", "provider_ref": ref},
            f"Settlement.PaymentTaken|{ref}")


def refund_request(container: Container, client: TestClient, auth: Auth, store_id: str
                   ) -> tuple[str, str, dict[str, Any], str]:
    work_order_id = ready_visit(container, store_id)
    container.settlements.confirm(req(store_id), draft(container, store_id, work_order_id))
    paid = container.settlements.pay(req(store_id), work_order_id=work_order_id,
                                     method="bank_card", amount=Decimal("450.00"),
                                     provider_ref=f"POS-{uuid4().hex[:8]}")
    reason = f"goodwill {uuid4().hex[:8]}"
    return ("cashier", "/refunds", {"work_order_id": str(work_order_id),
                                    "payment_id": paid.body["payment_id"], "amount": "20.00",
                                    "reason": reason, "kind": "payment_return"},
            f"Settlement.RefundRequested|{reason}")


def part_issue(container: Container, client: TestClient, auth: Auth, store_id: str
               ) -> tuple[str, str, dict[str, Any], str]:
    number = stocked_part(container, store_id, qty=1)
    wos = container.work_orders
    work_order_id = UUID(open_order(wos, store_id)["id"])
    wos.check_in(req(store_id, "advisor"), work_order_id, mileage_in=42_010, fuel_level=40)
    line = wos.add_part_line(req(store_id, "advisor"), work_order_id, 1,
                             {"part_number": number, "qty": "1"}).body["line_id"]
    wos.authorize_line(req(store_id, "advisor"), work_order_id, line, decision="approved",
                       channel="in_person")
    # one in stock: an issue decided again would be refused for want of stock
    return ("parts_clerk", f"/work-orders/{work_order_id}/lines/{line}/issue", {},
            f"StockItem.Issued|{work_order_id}")


def closing_confirmation(container: Container, client: TestClient, auth: Auth, store_id: str
                         ) -> tuple[str, str, dict[str, Any], str]:
    work_order_id = ready_visit(container, store_id,
                                part=stocked_part(container, store_id, qty=1))
    settlement_id = draft(container, store_id, work_order_id)
    return ("cashier", f"/settlements/{settlement_id}/confirmation", {},
            f"Settlement.Confirmed|{settlement_id}")


def reversal(container: Container, client: TestClient, auth: Auth, store_id: str
             ) -> tuple[str, str, dict[str, Any], str]:
    work_order_id = ready_visit(container, store_id,
                                part=stocked_part(container, store_id, qty=1))
    settlement_id = draft(container, store_id, work_order_id)
    container.settlements.confirm(req(store_id), settlement_id)
    container.settlements.pay(req(store_id), work_order_id=work_order_id, method="bank_card",
                              amount=Decimal("900.00"), provider_ref=f"POS-{uuid4().hex[:8]}")
    return ("manager", f"/settlements/{settlement_id}/reversal",
            {"reason": "wrong pay type on the labor line"}, f"Settlement.Reversed|{settlement_id}")


def closing_call(container: Container, client: TestClient, auth: Auth, store_id: str
                 ) -> tuple[str, str, dict[str, Any], str]:
    """The follow-up call's result, which closes the work order (a part issued on it, settled
    and delivered) in the same save, with a complaint opened beside them."""
    work_order_id = ready_visit(container, store_id,
                                part=stocked_part(container, store_id, qty=1))
    settlement_id = draft(container, store_id, work_order_id)
    container.settlements.confirm(req(store_id), settlement_id)
    container.settlements.pay(req(store_id), work_order_id=work_order_id, method="bank_card",
                              amount=Decimal("900.00"), provider_ref=f"POS-{uuid4().hex[:8]}")
    delivered = container.aftercare.deliver(req(store_id, "advisor"), work_order_id,
                                            mileage_out=42_020, acknowledged_by="陈静")
    comment = f"quick {uuid4().hex[:8]}"
    return ("advisor", f"/follow-ups/{delivered.body['follow_up']['id']}/result",
            {"csi": 4, "comment": comment,
             "complaint": {"description": "the car was not washed"}},
            f"WorkOrder.Closed|{work_order_id}")


def booking(container: Container, client: TestClient, auth: Auth, store_id: str,
            hours: int = 8) -> tuple[str, str, dict[str, Any], str]:
    manager = auth("manager", "mgr-lost", [store_id])
    advisor = auth("advisor", "adv-lost", [store_id])
    day = (datetime.now(ZONE).date() + timedelta(days=1)).isoformat()
    post(client, "/appointments/capacity", manager, {
        "store_id": store_id, "from_day": day, "to_day": day, "opens": "08:00",
        "closes": "18:00", "bays": 2, "skill_hours": {"maintenance": hours}})
    customer = post(client, "/customers", advisor, {
        "store_id": store_id, "name": "王芳", "phones": ["13900139000"]}, 201)
    note = f"booked by phone {uuid4().hex[:8]}"
    return ("advisor", "/appointments", {
        "store_id": store_id, "customer_id": customer["id"],
        "vehicle": {"vin": "LSVAU218XN2183294"}, "day": day, "arrival": "10:00",
        "kind": "maintenance", "note": note,
        "services": [{"description": "oil service", "op_code": "MNT01", "hours": "1"}]},
            f"Appointment.Booked|{note}")


def booking_the_last_hours(container: Container, client: TestClient, auth: Auth,
                           store_id: str) -> tuple[str, str, dict[str, Any], str]:
    return booking(container, client, auth, store_id, hours=1)


def applied_once(setup: Setup, behind: Container, proxy: FaultyProxy,  # noqa: F811
                 container: Container, client: TestClient, database_url: str, store_id: str,
                 auth: Auth, stores: list[str] | None = None) -> Any:
    """The command `setup` names, its commit answer lost and retried (on this process and
    another) with a token of `stores` (default: the store alone): answered the same each time
    and its effect stored once. The first answer."""
    role, path, body, effect = setup(container, client, auth, store_id)
    topic, needle = effect.split("|")
    headers = auth(role, f"{role}-lost", stores or [store_id],
                   **{"Idempotency-Key": str(uuid4())})
    first, again, elsewhere = lost_and_retried(behind, proxy, client, path, body, headers)
    assert_replayed(first, again, elsewhere)
    assert count(database_url, topic, needle) == 1
    return first


@pytest.mark.parametrize("setup", [stock_receipt, part_issue, closing_confirmation,
                                   settling_payment, refund_request, reversal, closing_call,
                                   booking, booking_the_last_hours])
def test_a_lost_commit_answer_is_applied_once_and_every_retry_replays_it(
        setup: Setup, behind: Container, proxy: FaultyProxy,  # noqa: F811
        container: Container, client: TestClient, database_url: str, store_id: str,
        auth: Auth) -> None:
    first = applied_once(setup, behind, proxy, container, client, database_url, store_id, auth)
    assert UUID(first.json()["id"])
