"""How a comeback is found: the same complaint (as before), a repeat of the same labor
operation with the complaint retyped, or the advisor's mark (counted even outside the
guarantee); a withdrawn mark counts for nothing. Both the comeback_rate KPI and the
comebacks list say which (`matched_by`).

Every earlier visit is delivered at 05:00 UTC on 1 May 2025 (minor class: 10 days /
2,000 km); every return opens at 03:00 UTC.

| VIN | earlier visit (op code) | return | found as |
|---|---|---|---|
| F | engine light on (ENG-DIAG) | 6 May, "engine light came back on again", ENG DIAG | op_code |
| G | brake noise (BRK-PAD) | 30 Jun (past 10 days), "squeal front left", marked | advisor |
| H | rattle (BODY-RTL) | 5 May, "door squeak", marked, the mark withdrawn | not a comeback |
| I | brake noise (BRK-PAD) | 8 May, " Brake Noise " | complaint |
| K | brake noise (BRK-PAD) | 5 May, "air conditioning not cold", AC-GAS | not a comeback |
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

import duckdb
import pytest

from analytics.kpis import Filters, run
from analytics.loader import AnalyticsLoader
from domain.comeback_marks import ComebackMarks
from servicecore.container import Container
from servicecore.demo import make_vin
from tests.integration.analytics_support import Shop, at

Loaded = tuple[duckdb.DuckDBPyConnection, str, dict[str, str]]


def _visit(shop: Shop, vin: str, complaint: str, op_code: str, mileage: int) -> UUID:
    """One paid visit on 1 May, delivered at 05:00."""
    c, opened = shop.c, at("2025-05-01", "01:00")
    wo, _ = shop.open(vin, complaint, "repair", opened)
    c.work_orders.check_in(shop.r("advisor", opened + timedelta(minutes=5)), wo,
                           mileage_in=mileage, fuel_level=50)
    line = shop.labor(wo, "1.0", "300.00", opened + timedelta(minutes=10), op_code=op_code)
    shop.approve(wo, [line], opened + timedelta(minutes=15))
    shop.workshop(wo, shop.t1, opened + timedelta(minutes=40), opened + timedelta(hours=2))
    shop.settle(wo, opened + timedelta(hours=3), [("wechat_pay", "300.00")])
    c.aftercare.deliver(shop.r("advisor", at("2025-05-01", "05:00")), wo,
                        mileage_out=mileage + 5, acknowledged_by="customer")
    return wo


def _return(shop: Shop, vin: str, complaint: str, day: str, mileage: int,
            op_code: str | None = None) -> UUID:
    wo, _ = shop.open(vin, complaint, "repair", at(day, "03:00"))
    shop.c.work_orders.check_in(shop.r("advisor", at(day, "03:05")), wo, mileage_in=mileage,
                                fuel_level=50)
    if op_code is not None:
        line = shop.labor(wo, "1.0", "300.00", at(day, "03:10"), op_code=op_code)
        shop.approve(wo, [line], at(day, "03:15"))
    return wo


def _number(shop: Shop, wo: UUID) -> str:
    return str(shop.c.work_orders.app.repository.get(wo).number)


@pytest.fixture(scope="module")
def loaded(container: Container, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    store = "CM" + uuid.uuid4().hex[:6].upper()
    shop = Shop(container, store)
    marks = ComebackMarks(container.app)
    f, g, h, i, k = (make_vin(shop.rng) for _ in range(5))
    earlier = {"f1": _visit(shop, f, "engine light on", "ENG-DIAG", 40_000),
               "g1": _visit(shop, g, "brake noise", "BRK-PAD", 41_000),
               "h1": _visit(shop, h, "rattle", "BODY-RTL", 42_000),
               "i1": _visit(shop, i, "brake noise", "BRK-PAD", 43_000),
               "k1": _visit(shop, k, "brake noise", "BRK-PAD", 44_000)}
    back = {"f2": _return(shop, f, "engine light came back on again", "2025-05-06", 40_300,
                          op_code="eng diag"),
            "g2": _return(shop, g, "squeal front left", "2025-06-30", 45_000),
            "h2": _return(shop, h, "door squeak", "2025-05-05", 42_100),
            "i2": _return(shop, i, " Brake Noise ", "2025-05-08", 43_400),
            "k2": _return(shop, k, "air conditioning not cold", "2025-05-05", 44_100,
                          op_code="AC-GAS")}
    marks.mark(shop.r("advisor", at("2025-06-30", "03:20")), back["g2"],
               earlier_work_order_id=earlier["g1"], reason="same brake pads squeal again")
    marks.mark(shop.r("advisor", at("2025-05-05", "03:20")), back["h2"],
               earlier_work_order_id=earlier["h1"], reason="rattle from the same door")
    marks.withdraw(shop.r("advisor", at("2025-05-05", "04:00")), back["h2"],
                   reason="a different door: not the earlier repair")
    loader = AnalyticsLoader(container.app, tmp_path_factory.mktemp("cbm") / "a.duckdb")
    loader.catch_up()
    loader.conn.execute("SET TimeZone = 'UTC'")
    yield loader.conn, store, {k: _number(shop, wo) for k, wo in {**earlier, **back}.items()}
    loader.close()


def period(store: str) -> Filters:
    return Filters(store_id=store, date_from=date(2025, 5, 2), date_to=date(2025, 6, 30))


def test_the_rate_counts_a_repeated_op_code_and_an_advisors_mark(loaded: Loaded) -> None:
    conn, store, _ = loaded
    (row,) = run(conn, "comeback_rate", period(store))["rows"]
    # five returns: F (op code), G (marked), I (complaint); not H (withdrawn), K (other work)
    assert (row["work_orders"], row["comebacks"]) == (5, 3)
    assert row["comeback_rate"] == Decimal("0.6000")
    assert (row["matched_by_complaint"], row["matched_by_op_code"],
            row["matched_by_advisor"]) == (1, 1, 1)


def test_the_list_says_how_each_comeback_was_found(loaded: Loaded) -> None:
    conn, store, n = loaded
    rows = run(conn, "comebacks", period(store))["rows"]
    assert [(r["work_order"], r["earlier_work_order"], r["matched_by"]) for r in rows] == [
        (n["g2"], n["g1"], "advisor"),  # 30 June: outside the 10 days, the advisor's word
        (n["i2"], n["i1"], "complaint"),
        (n["f2"], n["f1"], "op_code")]
    marked = rows[0]
    assert (marked["repair_class"], marked["days_between"], marked["km_between"]) == (
        "minor", Decimal("59.9"), 4_000)
