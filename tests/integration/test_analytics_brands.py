"""The KPI filter `brand` counts a brand's work orders however the brand was typed on them:
"Volkswagen", "VOLKSWAGEN", " volkswagen " and full-width "ＶＯＬＫＳＷＡＧＥＮ" are one brand
(`fact_work_orders.brand_key`); a brand that differs in a letter is another. The tables stay
equal to a load from event 0."""

from __future__ import annotations

from pathlib import Path

import duckdb

from analytics.kpis import Filters, run
from analytics.verify import files_to_verify, verify_files
from servicecore.container import Container
from servicecore.demo import make_vin
from tests.integration.analytics_support import Shop, at, load_and_publish

DAY = "2026-03-10"
TYPED = ("Volkswagen", "VOLKSWAGEN", " volkswagen ", "ＶＯＬＫＳＷＡＧＥＮ", "Ｖｏｌｋｓｗａｇｅｎ")


def test_the_brand_filter_counts_every_typing_of_the_brand(container: Container, store_id: str,
                                                           tmp_path: Path) -> None:
    shop = Shop(container, store_id)
    for brand in (*TYPED, "Volks Wagen", "Audi"):
        container.work_orders.open(
            shop.r("advisor", at(DAY, "03:00")), store_id=store_id,
            customer={"name": "王伟", "phone": f"138{shop.rng.randint(10**7, 10**8 - 1)}"},
            vehicle={"vin": make_vin(shop.rng), "brand": brand, "model": "Lavida"},
            mileage=30_000, complaints=["noise"], kind="repair")
    path = tmp_path / "analytics.duckdb"
    load_and_publish(container, path)

    def opened(brand: str | None) -> int:
        with duckdb.connect(str(path), read_only=True) as conn:
            found = run(conn, "comeback_rate", Filters(store_id=store_id, brand=brand))
        return int(found["rows"][0]["work_orders"])

    assert opened(None) == 7
    # Asked for as any of its typings, the brand is the five work orders typed so.
    assert [opened(brand) for brand in (*TYPED, "volkswagen")] == [5] * 6
    assert (opened("Volks Wagen"), opened("AUDI"), opened("Lavida")) == (1, 1, 0)
    with duckdb.connect(str(path), read_only=True) as conn:
        keys = conn.execute("SELECT DISTINCT brand_key FROM fact_work_orders WHERE store_id = ? "
                            "ORDER BY 1", [store_id]).fetchall()
    assert keys == [("audi",), ("volks wagen",), ("volkswagen",)]

    check = verify_files(container.app, files_to_verify(path), zone="Asia/Shanghai",
                         batch_size=5000)
    assert check.ok, check.as_dict()
