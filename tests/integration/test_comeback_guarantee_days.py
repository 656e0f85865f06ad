"""The repair quality-guarantee period runs in calendar days of the store (Asia/Shanghai) from
the day the car left the shop (机动车维修管理规定: 从维修竣工出厂之日起计算), not in 24-hour
blocks from the minute it left.

Every earlier visit is a minor repair (10 days / 2,000 km) delivered on 1 May at 13:00 Shanghai.

| VIN | return (Shanghai) | days after the delivery day | comeback? |
|---|---|---|---|
| F | 11 May 17:00 (10.2 × 24 h after the delivery) | 10 | yes: the last day of the guarantee |
| G | 12 May 00:30 (still 11 May in UTC) | 11 | no: the guarantee ended with 11 May |
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from analytics.kpis import Filters, run
from analytics.loader import AnalyticsLoader
from analytics.reader import use_zone
from servicecore.container import Container
from servicecore.demo import make_vin
from tests.integration.analytics_support import Shop

SHANGHAI = "+08:00"


def _at(day: str, hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}:00{SHANGHAI}")


def _delivered_minor_repair(shop: Shop, vin: str) -> str:
    """Brake noise repaired (BRK-PAD: minor) on 1 May, delivered at 13:00 Shanghai."""
    c, opened = shop.c, _at("2025-05-01", "09:00")
    wo, _ = shop.open(vin, "brake noise", "repair", opened)
    c.work_orders.check_in(shop.r("advisor", opened + timedelta(minutes=5)), wo,
                           mileage_in=30_000, fuel_level=50)
    line = shop.labor(wo, "1.0", "300.00", opened + timedelta(minutes=10), op_code="BRK-PAD")
    shop.approve(wo, [line], opened + timedelta(minutes=15))
    shop.workshop(wo, shop.t1, opened + timedelta(minutes=40), opened + timedelta(hours=2))
    shop.settle(wo, opened + timedelta(hours=3), [("wechat_pay", "300.00")])
    c.aftercare.deliver(shop.r("advisor", _at("2025-05-01", "13:00")), wo, mileage_out=30_005,
                        acknowledged_by="customer")
    return str(c.work_orders.app.repository.get(wo).number)


def _back(shop: Shop, vin: str, when: datetime) -> str:
    wo, _ = shop.open(vin, "brake noise", "repair", when)
    shop.c.work_orders.check_in(shop.r("advisor", when + timedelta(minutes=5)), wo,
                                mileage_in=30_400, fuel_level=50)
    return str(shop.c.work_orders.app.repository.get(wo).number)


def test_the_guarantee_holds_its_last_calendar_day_in_the_stores_time_zone(
        container: Container, tmp_path_factory: pytest.TempPathFactory) -> None:
    store = "CG" + uuid.uuid4().hex[:6].upper()
    shop = Shop(container, store)
    f, g = make_vin(shop.rng), make_vin(shop.rng)
    f1, g1 = _delivered_minor_repair(shop, f), _delivered_minor_repair(shop, g)
    f2 = _back(shop, f, _at("2025-05-11", "17:00"))
    g2 = _back(shop, g, _at("2025-05-12", "00:30"))
    loader = AnalyticsLoader(container.app, tmp_path_factory.mktemp("cg") / "a.duckdb")
    try:
        loader.catch_up()
        use_zone(loader.conn, "Asia/Shanghai")  # as the API's snapshot connection runs
        period = Filters(store_id=store, date_from=date(2025, 5, 2), date_to=date(2025, 5, 31))
        rows = run(loader.conn, "comebacks", period)["rows"]
        assert [(r["work_order"], r["earlier_work_order"], r["repair_class"],
                 r["guarantee_days"]) for r in rows] == [(f2, f1, "minor", 10)]
        assert rows[0]["days_between"] == Decimal("10.2")
        assert (g1, g2) not in {(r["earlier_work_order"], r["work_order"]) for r in rows}
        (rate,) = run(loader.conn, "comeback_rate", period)["rows"]
        assert (rate["work_orders"], rate["comebacks"]) == (2, 1)
    finally:
        loader.close()
