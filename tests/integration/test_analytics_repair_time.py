"""The average repair and waiting time (`repair_time`) and the dashboard's average repair time,
against figures worked out by hand: each mean is the summed time divided once and rounded half
up — a mean of exactly 5.005 h is 5.01, and the dashboard's figure over two stores is divided
from their summed time, not made from the stores' rounded means.

All times are UTC between 03:00 and 10:00 (11:00-18:00 in Shanghai), far from any day boundary.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal as D

import duckdb
import pytest

from analytics.dashboard_data import figures
from analytics.kpis import Filters, run
from analytics.reader import snapshot
from servicecore.container import Container
from servicecore.demo import make_vin
from tests.integration.analytics_support import Shop, at, publish_analytics

DAY = "2025-06-03"
JUNE = {"date_from": date(2025, 6, 1), "date_to": date(2025, 6, 30)}


def delivered(shop: Shop, checked_in: datetime, clock_on: datetime, repair: timedelta) -> None:
    """A visit checked in at `checked_in`, clocked on at `clock_on` for an hour, settled, and
    delivered `repair` after its check-in."""
    c = shop.c
    wo, _ = shop.open(make_vin(shop.rng), "noise", "repair", checked_in - timedelta(minutes=10))
    c.work_orders.check_in(shop.r("advisor", checked_in), wo, mileage_in=30_010, fuel_level=50)
    lines = [shop.labor(wo, "1.0", "300.00", checked_in + timedelta(minutes=1))]
    shop.approve(wo, lines, checked_in + timedelta(minutes=2))
    shop.workshop(wo, shop.t1, clock_on, clock_on + timedelta(hours=1))
    shop.settle(wo, clock_on + timedelta(hours=1, minutes=20), [("cash", "300.00")])
    c.aftercare.deliver(shop.r("advisor", checked_in + repair), wo, mileage_out=31_000,
                        acknowledged_by="customer")


@pytest.fixture(scope="module")
def stores(container: Container) -> Iterator[tuple[str, str, str, duckdb.DuckDBPyConnection]]:
    """Store H: one visit in the shop 5 h 0 min 18 s (5.005 h), waiting 30 min 18 s (0.505 h)
    for its first clock-on; store B: one visit of 5 h 0 min 5 s; store C: three visits of
    5 h 0 min 20 s each."""
    h, b, c = ("RT" + uuid.uuid4().hex[:6].upper() for _ in range(3))
    checked_in = at(DAY, "03:10")
    delivered(Shop(container, h), checked_in, checked_in + timedelta(minutes=30, seconds=18),
              timedelta(hours=5, seconds=18))
    delivered(Shop(container, b), checked_in, checked_in + timedelta(minutes=40),
              timedelta(hours=5, seconds=5))
    shop_c = Shop(container, c)
    for n in range(3):
        start = checked_in + timedelta(minutes=n)
        delivered(shop_c, start, start + timedelta(minutes=40), timedelta(hours=5, seconds=20))
    publish_analytics(container)
    with snapshot(container.settings.analytics_path, "Asia/Shanghai") as (conn, _info):
        yield h, b, c, conn


Stores = tuple[str, str, str, duckdb.DuckDBPyConnection]


def test_a_mean_repair_and_waiting_time_at_a_half_rounds_up(stores: Stores) -> None:
    h, _b, _c, conn = stores
    (row,) = run(conn, "repair_time", Filters(store_id=h, **JUNE))["rows"]
    # 18,018 s ÷ 3,600 = 5.005 h and 1,818 s = 0.505 h: half up, as every quotient of the API
    # (DuckDB's avg of DOUBLE seconds made them 5.00 and 0.50)
    assert (row["delivered"], row["avg_repair_hours"], row["avg_waiting_hours"]) == (
        1, D("5.01"), D("0.51"))


def test_the_dashboards_repair_time_over_stores_is_divided_once(stores: Stores) -> None:
    _h, b, c, conn = stores
    both = Filters(stores=(b, c), **JUNE)
    per_store = {r["store_id"]: (r["delivered"], r["avg_repair_hours"])
                 for r in run(conn, "repair_time", both)["rows"]}
    assert per_store == {b: (1, D("5.00")), c: (3, D("5.01"))}  # 5.0014 h; 5.0056 h
    # (18,005 + 3 × 18,020) s ÷ (4 × 3,600) = 5.0045 h: 5.00; made from the stores' rounded
    # means, (5.00 + 3 × 5.01) ÷ 4 = 5.0075, it came out 5.01
    assert figures(conn, both)["repair_hours"] == 5.00
