"""A refund paid out on a later day than its payment was taken is that later day's money: the
payments journal (`GET /payments` over a day or a range of days), the day report and the
analytic `fact_payments` all count the payment on its day and the refund on the refund's."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from analytics.loader import AnalyticsLoader
from domain.application import Request
from domain.common import Caller
from servicecore.container import Container
from tests.e2e.test_analytics_refunds_api import (  # noqa: F401 - `loaders` is a fixture
    _loaded,
    _text,
    loaders,
)
from tests.e2e.test_bank_refunds_api import Auth, _staff
from tests.e2e.test_money_api import confirmed_settlement
from tests.e2e.test_parts_api import get, post

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _figures(journal: dict[str, Any]) -> tuple[str, ...]:
    return tuple(journal[k] for k in ("taken", "refunded", "net", "bank_refunded"))


def test_a_refund_on_a_later_day_counts_on_its_own_day_everywhere(
        client: TestClient, auth: Auth, store_id: str, container: Container,
        loaders: tuple[AnalyticsLoader, ...]) -> None:  # noqa: F811
    cashier, _, finance = _staff(auth, store_id)
    wo_id, sid = confirmed_settlement(client, auth, store_id)
    # Day one: the customer pays 300.00 in cash and asks for 50.00 of it back.
    paid = post(client, "/payments", cashier, {"work_order_id": wo_id, "method": "cash",
                                               "amount": "300.00"}, 201)
    asked = post(client, "/refunds", cashier, {"work_order_id": wo_id, "amount": "50.00",
                                               "payment_id": paid["payment_id"],
                                               "reason": "overcharged"}, 201)
    # Day two: the manager approves; the 50.00 leaves the cashier's drawer that day.
    tomorrow = Request(Caller(f"mgr-{store_id}", "manager", (store_id,),
                              datetime.now(SHANGHAI) + timedelta(days=1), "corr-later-day"))
    last = container.settlements.decide_refund(tomorrow, UUID(sid), asked["refund_id"],
                                               approve=True).notification_id
    visit = get(client, f"/settlements/{sid}", finance, wait_for=last)
    [payment], [refund] = visit["payments"], visit["refunds"]
    day_one, day_two = payment["business_date"], refund["business_date"]
    assert day_two > day_one and refund["status"] == "approved"

    def journal(**days: str) -> dict[str, Any]:
        return get(client, "/payments", finance, store_id=store_id, **days)

    first, second = journal(date_from=day_one, date_to=day_one), journal(date_from=day_two,
                                                                         date_to=day_two)
    assert (_figures(first), first["refunded_by_method"], first["total"]) == (
        ("300.00", "0.00", "300.00", "0.00"), {"cash": "0.00"}, 1)
    assert (_figures(second), second["net_by_method"], second["total"]) == (
        ("0.00", "50.00", "-50.00", "0.00"), {"cash": "-50.00"}, 0)
    both = journal(date_from=day_one, date_to=day_two)
    assert _figures(both) == _figures(journal()) == ("300.00", "50.00", "250.00", "0.00")
    assert [i["refunded"] for i in both["items"]] == ["50.00"]  # what went back of it since
    # the refund is the cashier's who paid it out, on day two
    mine = get(client, "/payments", finance, store_id=store_id, date_from=day_two,
               date_to=day_two, cashier=f"cash-{store_id}")
    assert _figures(mine) == ("0.00", "50.00", "-50.00", "0.00")

    # The day report of each day: the same money.
    reports = {day: get(client, f"/day-end/{day}", finance, store_id=store_id)
               for day in (day_one, day_two)}
    assert [(r["method"], r["taken"], r["refunded"], r["net"])
            for r in reports[day_one]["net"]] == [("cash", "300.00", "0.00", "300.00")]
    assert [(r["method"], r["taken"], r["refunded"], r["net"])
            for r in reports[day_two]["net"]] == [("cash", "0.00", "50.00", "-50.00")]
    for day, page in ((day_one, first), (day_two, second)):
        assert [r["net"] for r in reports[day]["net"]] == [page["net"]], day

    # The analytic table: each movement on its business day.
    conn = _loaded(loaders)
    by_day = conn.execute("""SELECT business_date::VARCHAR, kind, method, sum(amount)
        FROM fact_payments WHERE store_id = ? GROUP BY ALL ORDER BY ALL""",
                          [store_id]).fetchall()
    assert [(d, k, m, _text(a)) for d, k, m, a in by_day] == [
        (day_one, "payment", "cash", first["taken"]),
        (day_two, "refund", "cash", f"-{second['refunded']}")]
