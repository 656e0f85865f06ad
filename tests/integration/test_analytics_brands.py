"""The KPI filters `brand` and `model` count a brand's or model's work orders however it was
typed on them: "Volkswagen", "VOLKSWAGEN", " volkswagen " and full-width "ＶＯＬＫＳＷＡＧＥＮ"
are one brand (`fact_work_orders.brand_key`), "Lavida", "LAVIDA" and "ＬＡＶＩＤＡ" one model
(`model_key`); a brand or model that differs in a letter is another. `dim_vehicle` carries the
same keys, for grouping vehicles. The tables stay equal to a load from event 0."""

from __future__ import annotations

from pathlib import Path

import duckdb

from analytics.dashboard_data import figures
from analytics.kpis import Filters, run
from analytics.loader import REVISION, AnalyticsLoader
from analytics.verify import files_to_verify, verify_files
from domain.payer_name import payer_name_key
from servicecore.container import Container
from servicecore.demo import make_vin
from tests.integration.analytics_support import Shop, at, load_and_publish
from tests.scratch_systems import module_container

DAY = "2026-03-10"
TYPED = ("Volkswagen", "VOLKSWAGEN", " volkswagen ", "ＶＯＬＫＳＷＡＧＥＮ", "Ｖｏｌｋｓｗａｇｅｎ")
MODELS = ("Lavida", "LAVIDA", " lavida ", "ＬＡＶＩＤＡ", "Ｌａｖｉｄａ")



# A log of this module's own: each test loads the whole log in small batches, which on the
# session's log (every earlier test's events) takes minutes.
container = module_container("sc_brands")


def _opened(container: Container, store_id: str, cars: list[tuple[str, str | None]],
            path: Path) -> None:
    """One work order per (brand, model) typed so, loaded and published into `path`."""
    shop = Shop(container, store_id)
    for brand, model in cars:
        container.work_orders.open(
            shop.r("advisor", at(DAY, "03:00")), store_id=store_id,
            customer={"name": "王伟", "phone": f"138{shop.rng.randint(10**7, 10**8 - 1)}"},
            vehicle={"vin": make_vin(shop.rng), "brand": brand,
                     **({"model": model} if model is not None else {})},
            mileage=30_000, complaints=["noise"], kind="repair")
    load_and_publish(container, path)


def _counted(path: Path, filters: Filters) -> int:
    """The work orders the filters count, by a KPI of the catalogue and by the dashboard."""
    with duckdb.connect(str(path), read_only=True) as conn:
        found = int(run(conn, "comeback_rate", filters)["rows"][0]["work_orders"])
        assert figures(conn, filters)["work_orders"] == found
    return found


def _same_as_from_event_0(container: Container, path: Path) -> None:
    check = verify_files(container.app, files_to_verify(path), zone="Asia/Shanghai",
                         batch_size=5000)
    assert check.ok, check.as_dict()


def test_the_brand_filter_counts_every_typing_of_the_brand(container: Container, store_id: str,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "analytics.duckdb"
    _opened(container, store_id, [(b, "Lavida") for b in (*TYPED, "Volks Wagen", "Audi")], path)

    def opened(brand: str | None) -> int:
        return _counted(path, Filters(store_id=store_id, brand=brand))

    assert opened(None) == 7
    # Asked for as any of its typings, the brand is the five work orders typed so.
    assert [opened(brand) for brand in (*TYPED, "volkswagen")] == [5] * 6
    assert (opened("Volks Wagen"), opened("AUDI"), opened("Lavida")) == (1, 1, 0)
    with duckdb.connect(str(path), read_only=True) as conn:
        keys = conn.execute("SELECT DISTINCT brand_key FROM fact_work_orders WHERE store_id = ? "
                            "ORDER BY 1", [store_id]).fetchall()
    assert keys == [("audi",), ("volks wagen",), ("volkswagen",)]
    _same_as_from_event_0(container, path)


def test_the_model_filter_counts_every_typing_of_the_model(container: Container, store_id: str,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "analytics.duckdb"
    cars: list[tuple[str, str | None]] = [
        *zip(TYPED, MODELS, strict=True), ("Volkswagen", "Lavida Plus"),
        ("Volkswagen", "Sagitar"), ("Skoda", "LAVIDA"), ("Volkswagen", None)]
    _opened(container, store_id, cars, path)

    def opened(model: str | None, brand: str | None = None) -> int:
        return _counted(path, Filters(store_id=store_id, brand=brand, model=model))

    assert opened(None) == 9
    # Asked for as any of its typings, the model is the six work orders typed so.
    assert [opened(model) for model in (*MODELS, "lavida")] == [6] * 6
    assert (opened("LAVIDA PLUS"), opened("ｓａｇｉｔａｒ"), opened("Volkswagen")) == (1, 1, 0)
    # With the brand, however either was typed: the Skoda is not a Volkswagen Lavida.
    assert (opened("ＬＡＶＩＤＡ", "volkswagen"), opened("lavida", "SKODA")) == (5, 1)
    with duckdb.connect(str(path), read_only=True) as conn:
        keys = conn.execute("SELECT model_key, count(*) FROM fact_work_orders "
                            "WHERE store_id = ? GROUP BY 1 ORDER BY 1", [store_id]).fetchall()
    assert keys == [("lavida", 6), ("lavida plus", 1), ("sagitar", 1), (None, 1)]
    _same_as_from_event_0(container, path)


def test_vehicles_carry_the_keys_of_their_brand_and_model(container: Container, store_id: str,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "analytics.duckdb"
    _opened(container, store_id, [*zip(TYPED, MODELS, strict=True), ("Audi", "A4L")], path)
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT v.brand, v.model, v.brand_key, v.model_key FROM dim_vehicle v "
            "JOIN fact_work_orders w USING (vehicle_id) WHERE w.store_id = ?",
            [store_id]).fetchall()
        # An analyst groups the vehicles by brand and model however they were typed.
        groups = conn.execute(
            "SELECT v.brand_key, v.model_key, count(*) FROM dim_vehicle v "
            "JOIN fact_work_orders w USING (vehicle_id) WHERE w.store_id = ? "
            "GROUP BY ALL ORDER BY ALL", [store_id]).fetchall()
    assert len(rows) == 6
    assert all((brand_key, model_key) == (payer_name_key(brand), payer_name_key(model))
               for brand, model, brand_key, model_key in rows)
    assert groups == [("audi", "a4l", 1), ("volkswagen", "lavida", 5)]
    _same_as_from_event_0(container, path)


def test_a_file_of_the_fold_before_the_model_keys_gets_them_on_start(
        container: Container, store_id: str, tmp_path: Path) -> None:
    path = tmp_path / "analytics.duckdb"
    _opened(container, store_id, [("Volkswagen", "ＬＡＶＩＤＡ")], path)
    with duckdb.connect(str(path)) as conn:  # as the fold before the model keys left it
        conn.execute("UPDATE fact_work_orders SET model_key = NULL")
        conn.execute("UPDATE dim_vehicle SET brand_key = NULL, model_key = NULL")
        conn.execute("UPDATE analytics_position SET revision = ?", [REVISION - 1])
    loader = AnalyticsLoader(container.app, path)
    try:
        assert loader.reload_if_revised() and loader.written_by() == REVISION
        keys = loader.conn.execute(
            "SELECT w.model_key, v.brand_key, v.model_key FROM fact_work_orders w "
            "JOIN dim_vehicle v USING (vehicle_id) WHERE w.store_id = ?", [store_id]).fetchall()
    finally:
        loader.close()
    assert keys == [("lavida", "volkswagen", "lavida")]
