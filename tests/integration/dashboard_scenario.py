"""A small store for the dashboard tests: four visits around the end of March 2025, one of them
opened at 23:30 UTC on 31 March (07:30 on 1 April in Shanghai), with the figures worked out.

Period April 2025 (30 days) against the previous 30 days, 2-31 March, in Shanghai:

| figure | April | previous |
|---|---|---|
| work orders opened | 3 (V2, V3, V4) | 1 (V1) |
| revenue without VAT | 530.97 + 132.74 = 663.71 | 265.49 |
| effective labor rate | 663.71 / 2.5 h = 265.48 | 265.49 / 1.0 h = 265.49 |
| labor gross margin | (663.71 − 2.0 h × 80.00 − 0.5 h × 85.00) / 663.71 = 461.21 / 663.71 = 69.49 % | (265.49 − 2.0 h × 80.00) / 265.49 = 39.73 % |
| technician efficiency | 2.5 h sold / 2.5 h clocked = 100 % | 1.0 / 2.0 = 50 % |
| comeback rate | V3 (VIN A, brake noise 23 days after V1's assembly repair) = 1 / 3 | 0 / 1 |
| CSI | V2 scored 4: 1 / 1 | V1 scored 2: 0 / 1 |

In UTC, V2 would be a March visit: the previous period would have 2 work orders, April 2.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from analytics.periods import Period
from servicecore.container import Container
from servicecore.demo import make_vin
from tests.integration.analytics_support import Shop, at, req

APRIL = Period(date(2025, 4, 1), date(2025, 4, 30))
MASTER_NAME = "王师傅"


def _paid_visit(shop: Shop, vin: str, complaint: str, opened: datetime, tech: str,
                hours: str, clocked_minutes: int, csi: int | None, op_code: str = "OP") -> None:
    c = shop.c
    wo, _ = shop.open(vin, complaint, "repair", opened)
    c.work_orders.check_in(shop.r("advisor", opened + timedelta(minutes=10)), wo,
                           mileage_in=30_010, fuel_level=50)
    line = shop.labor(wo, hours, "300.00", opened + timedelta(minutes=15), op_code=op_code)
    shop.approve(wo, [line], opened + timedelta(minutes=20))
    on = opened + timedelta(minutes=40)
    shop.workshop(wo, tech, on, on + timedelta(minutes=clocked_minutes))
    settle = on + timedelta(minutes=clocked_minutes + 30)
    gross = f"{300 * float(hours):.2f}"
    shop.settle(wo, settle, [("wechat_pay", gross)])
    follow_up = shop.deliver(wo, settle + timedelta(minutes=30))
    if csi is not None:
        shop.follow_up(follow_up, csi, settle + timedelta(hours=2))


def dashboard_store(c: Container, store: str) -> dict[str, Any]:
    shop = Shop(c, store)
    vin_a, vin_b, vin_c = (make_vin(shop.rng) for _ in range(3))
    # The first technician has a name in his profile; the second is known by user id only.
    c.technicians.set_profile(req(shop.mgr, "manager", store, at("2025-03-01", "02:00")),
                              shop.t1, store_id=store, skills={"chassis": 3},
                              hourly_cost="80.00", name=MASTER_NAME)
    # V1, 10 March: VIN A, brake noise, 1.0 h sold (ASSY-BRK, an assembly repair guaranteed
    # 100 days), T1 clocks 2.0 h, CSI 2.
    _paid_visit(shop, vin_a, "brake noise", at("2025-03-10", "02:00"), shop.t1, "1.0", 120, 2,
                op_code="ASSY-BRK")
    # V2, 31 March 23:30 UTC = 1 April 07:30 in Shanghai: VIN B, 2.0 h, T1 clocks 2.0 h, CSI 4.
    _paid_visit(shop, vin_b, "engine warning light", at("2025-03-31", "23:30"), shop.t1, "2.0",
                120, 4)
    # V3, 2 April: VIN A again with brake noise (a comeback), 0.5 h, T2 clocks 0.5 h.
    _paid_visit(shop, vin_a, "brake noise", at("2025-04-02", "02:00"), shop.t2, "0.5", 30, None)
    # V4, 15 April: VIN C, opened only.
    shop.open(vin_c, "rattle", "repair", at("2025-04-15", "03:00"))
    return {"shop": shop}
