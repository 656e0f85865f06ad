"""A service plan finds the cars of its brand however the brand was typed: "VOLKSWAGEN",
full-width "ＶＯＬＫＳＷＡＧＥＮ", "LAND  ROVER" with a doubled space; a plan set before
full-width letters were folded keeps its id and is found again."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from psycopg.rows import dict_row

from domain.common import Audit, stable_id
from domain.vehicle import ServicePlan
from domain.work_orders import vehicle_id
from projections.customers import CustomersView
from servicecore.container import Container
from servicecore.demo import make_vin
from tests.integration.support import request
from tests.integration.test_customer_projection import _fresh, _tables
from tests.scratch_systems import module_container
from workers.projection_runner import ProjectionRunner

SOLD = "2025-03-01"

# A log of this module's own: the customers' view is caught up and folded twice from event 0
# (once event by event), which on the session's log (every earlier test's events) takes minutes.
container = module_container("sc_plans")


def _register(container: Container, store_id: str, cars: list[tuple[str, str]]) -> list[str]:
    rng = random.Random()
    vins = []
    for brand, model in cars:
        vin = make_vin(rng)
        container.vehicles.register(request(store_id), store_id=store_id, vin=vin, brand=brand,
                                    model=model, sale_date=SOLD)
        vins.append(vin)
    return vins


def _plans_of(container: Container, vins: list[str]) -> dict[str, Any]:
    """Each car's service plan as its next service due names it (months, km, source)."""
    view = next(v for v in container.views if isinstance(v, CustomersView))
    ProjectionRunner(container.app, container.pool, view).catch_up()
    ids = {vehicle_id(vin): vin for vin in vins}
    with container.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT vehicle_id, plan FROM service_due WHERE vehicle_id = ANY(%s)",
                           (list(ids),)).fetchall()
    return {ids[r["vehicle_id"]]: r["plan"] for r in rows}


def test_a_brand_plan_set_after_the_cars_picks_up_every_typing_of_the_brand(
        container: Container, store_id: str) -> None:
    # Cars first, the plan after: the plan's own write finds them (not a later recompute).
    typed = [("Volkswagen", "Golf"), ("VOLKSWAGEN", "Tiguan"), ("volkswagen", "Golf"),
             ("ＶＯＬＫＳＷＡＧＥＮ", "Ｇｏｌｆ"), ("Ｖｏｌｋｓｗａｇｅｎ", "Polo"),
             ("LAND  ROVER", "Defender"), ("Ｌａｎｄ Ｒｏｖｅｒ", "ＤＥＦＥＮＤＥＲ")]
    vins = _register(container, store_id, typed)
    other = _register(container, store_id, [("Volks Wagen", "Golf")])  # other letters
    manager = request(store_id, "manager")
    container.vehicles.set_plan(manager, brand="Volkswagen", model="*", months=5, km=5_500)
    container.vehicles.set_plan(manager, brand="Land Rover", model="Defender", months=9,
                                km=9_500)
    plans = _plans_of(container, vins + other)
    assert [plans[vin] for vin in vins] == (
        [{"months": 5, "km": 5_500, "source": "brand"}] * 5
        + [{"months": 9, "km": 9_500, "source": "model"}] * 2)
    assert plans[other[0]]["source"] == "default"

    # Folded one car at a time or all at once, the tables are the same.
    view = CustomersView(container.app.personal_data)
    for suffix, size in (("_pb1", 1), ("_pb500", 500)):
        _fresh(container, view, suffix)
        ProjectionRunner(container.app, container.pool, view, batch_size=size,
                         suffix=suffix).catch_up()
    try:
        assert _tables(container, view, "_pb1") == _tables(container, view, "_pb500")
    finally:
        with container.pool.connection() as conn, conn.transaction():
            for statement in view.drop("_pb1") + view.drop("_pb500"):
                conn.execute(statement)


def test_a_plan_set_before_keeps_its_id_and_now_matches_the_brand_however_typed(
        container: Container, store_id: str) -> None:
    # Plans typed in ASCII keep the id they always had.
    assert ServicePlan.create_id(ServicePlan.key(" Volkswagen "), ServicePlan.key("Lavida")) \
        == stable_id("service-plan", "volkswagen", "lavida")
    # A plan set in full-width before the letters were folded: its keys, and so its id, are
    # the full-width ones.
    audit = Audit("manager-1", "manager", store_id, datetime.now(UTC), "legacy-plan")
    legacy = ServicePlan(audit=audit, brand_key="ｖｏｌｋｓｗａｇｅｎ", model_key="ｐａｓｓａｔ",
                         brand="ＶＯＬＫＳＷＡＧＥＮ", model="Ｐａｓｓａｔ", months=4, km=4_500)
    container.app.save(legacy)
    vins = _register(container, store_id, [("ＶＯＬＫＳＷＡＧＥＮ", "Ｐａｓｓａｔ"),
                                           ("Volkswagen", "Passat"), ("VOLKSWAGEN", "PASSAT")])
    plans = _plans_of(container, vins)
    assert [plans[vin] for vin in vins] == [{"months": 4, "km": 4_500, "source": "model"}] * 3

    # Typed as before, the plan is found and changed, not set a second time.
    changed = container.vehicles.set_plan(request(store_id, "manager"),
                                          brand="ＶＯＬＫＳＷＡＧＥＮ", model="Ｐａｓｓａｔ",
                                          months=3, km=4_500)
    assert changed.body["brand"] == "ＶＯＬＫＳＷＡＧＥＮ"
    assert container.app.repository.get(legacy.id).months == 3
    plans = _plans_of(container, vins)
    assert [plans[vin] for vin in vins] == [{"months": 3, "km": 4_500, "source": "model"}] * 3
