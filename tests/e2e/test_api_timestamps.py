"""Every timestamp the API answers is RFC 3339 in UTC with `Z`: read models (documents stored
with `+00:00`), replays (`as_of`, in the zone it was asked in), histories, the timeline, the
audit reads and exports alike."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from servicecore.demo import make_vin
from tests.e2e.test_money_api import confirmed_settlement
from tests.e2e.test_parts_api import get, head, post


def just_now() -> str:
    """A moment just past, written in the store's zone (`+08:00`): replays answer it so."""
    return datetime.now(ZoneInfo("Asia/Shanghai")).isoformat()


Auth = Callable[..., dict[str, str]]
# anything that looks like a moment: a day, `T`, a time, and whatever follows it
MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
ONE_FORM = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


def moments(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from moments(item, f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from moments(item, f"{where}[]")
    elif isinstance(value, str) and MOMENT.match(value):
        yield where, value


def test_every_timestamp_of_a_visit_is_utc_with_z(client: TestClient, auth: Auth,
                                                  store_id: str) -> None:
    wo_id, sid = confirmed_settlement(client, auth, store_id)
    cashier = auth("cashier", "cash-" + store_id, [store_id])
    payment = post(client, "/payments", cashier, {
        "work_order_id": wo_id, "method": "wechat_pay", "amount": "200.00",
        "provider_ref": "4200000000" + store_id}, 201)
    auditor = auth("auditor", stores=[store_id])
    clerk = auth("parts_clerk", stores=[store_id])
    vin = make_vin(random.Random(store_id))
    post(client, "/vehicles", auth("advisor", stores=[store_id]), {
        "store_id": store_id, "vin": vin, "plate": "沪A" + store_id[-5:]}, 201)
    seen = head(client)
    doc = get(client, f"/work-orders/{wo_id}", auditor, wait_for=seen)
    part_number = doc["lines"][1]["part_number"]
    answers = {
        "work order": doc,
        "work order as of": get(client, f"/work-orders/{wo_id}", auditor,
                                as_of=just_now()),
        "work orders": get(client, "/work-orders", auditor, wait_for=seen),
        "history": get(client, f"/work-orders/{wo_id}/history", auditor),
        "timeline": get(client, f"/audit/work-orders/{wo_id}/timeline", auditor, wait_for=seen),
        "lookup": get(client, "/audit/lookup", auditor, number=doc["number"]),
        "request": get(client, "/audit/events", auditor, correlation_id=doc["number"]),
        "settlement": get(client, f"/settlements/{sid}", auditor, wait_for=seen),
        "settlement as of": get(client, f"/settlements/{sid}", auditor,
                                as_of=just_now()),
        "settlement history": get(client, f"/settlements/{sid}/history", auditor),
        "payments": get(client, "/payments", auditor, wait_for=seen),
        "stock": get(client, f"/stock/{store_id}/{part_number}", clerk, wait_for=seen),
        "stock as of": get(client, f"/stock/{store_id}/{part_number}", clerk,
                           as_of=just_now()),
        "movements": get(client, "/stock/movements", auditor, part_number=part_number),
        "customer": get(client, f"/customers/{doc['customer']['id']}", auditor, wait_for=seen),
        "vehicle": get(client, f"/vehicles/{vin}", auditor, wait_for=seen),
        "board": get(client, "/dispatch/board", auth("manager", stores=[store_id]),
                     store_id=store_id, wait_for=seen),
    }
    assert payment["payment_id"]
    found = [(name, where, value) for name, answer in answers.items()
             for where, value in moments(answer)]
    # the walk met timestamps of every kind: read models, replays, the log, the board's clock
    assert {name for name, _, _ in found} >= {
        "work order", "work order as of", "history", "timeline", "settlement",
        "settlement as of", "stock as of", "movements", "board"}
    assert [f for f in found if not ONE_FORM.match(f[2])] == []
