"""The customers and workshop read models: batch size does not change the result, and spend
and mileage out arrive from settlement and delivery events matched by class name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from psycopg.rows import dict_row

from domain.common import Audit
from domain.work_orders import vehicle_id
from projections.base import ReadModel
from projections.customer_queries import TagRules, customer_360, vehicle_detail
from projections.customers import CustomersView
from projections.workshop import WorkshopView
from servicecore.container import Container
from tests.integration.support import VIN, request
from tests.scratch_systems import module_container
from workers.projection_runner import ProjectionRunner

# A log of its own for the test that folds the whole log twice from event 0 (once in batches of
# 7): on the session's log (every earlier test's events) that takes the longer the more ran before.
own_log = module_container("sc_customers", name="own_log")


def _fresh(container: Container, view: ReadModel, suffix: str) -> None:
    with container.pool.connection() as conn, conn.transaction():
        for statement in view.drop(suffix):
            conn.execute(statement)
        view.create(conn, suffix)
        conn.execute("DELETE FROM projection_positions WHERE name = %s", (view.name + suffix,))


def _tables(container: Container, view: ReadModel, suffix: str) -> dict[str, list[Any]]:
    with container.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        return {table: sorted(str(sorted(row.items())) for row in cur.execute(
            f"SELECT * FROM {table}{suffix}").fetchall()) for table in view.tables}


def test_small_batches_and_one_big_batch_build_the_same_tables(own_log: Container,
                                                               store_id: str) -> None:
    # Some of everything in the log: a booked visit that arrived and was dispatched.
    services = own_log
    customer = UUID(services.customers.register(request(store_id), store_id=store_id,
                                                name="刘洋", phones=["13700000000"]).body["id"])
    day = (datetime.now(UTC) + timedelta(hours=8)).date().isoformat()
    services.appointments.plan_capacity(request(store_id, "manager"), store_id=store_id,
                                        from_day=day, to_day=day, opens="08:00",
                                        closes="18:00", bays=2, skill_hours={"chassis": 8})
    # booked in the morning (the command's own clock: a slot already past is refused)
    morning = datetime.fromisoformat(f"{day}T08:00:00+08:00")
    booked = services.appointments.book(
        request(store_id, at=morning), store_id=store_id, customer_id=customer, vehicle={"vin": VIN},
        day=day, arrival="09:00", services=[{"description": "pads", "op_code": "BRK",
                                             "hours": 2}])
    services.appointments.arrive(request(store_id), UUID(booked.body["id"]), mileage=50_000)
    app = own_log.app
    for view in (CustomersView(app.personal_data), WorkshopView()):
        _fresh(own_log, view, "_b7")
        _fresh(own_log, view, "_b500")
        ProjectionRunner(app, own_log.pool, view, batch_size=7, suffix="_b7").catch_up()
        ProjectionRunner(app, own_log.pool, view, batch_size=500, suffix="_b500").catch_up()
        assert _tables(own_log, view, "_b7") == _tables(own_log, view, "_b500")
        with own_log.pool.connection() as conn, conn.transaction():
            for statement in view.drop("_b7") + view.drop("_b500"):
                conn.execute(statement)


@dataclass
class Settled:
    """Stand-ins with the qualified names the settlement and delivery events have."""

    originator_id: UUID
    originator_version: int
    audit: Audit
    customer_total: Decimal


@dataclass
class Delivered:
    originator_id: UUID
    originator_version: int
    audit: Audit
    mileage_out: int


Settled.__qualname__ = "WorkOrder.Settled"
Delivered.__qualname__ = "WorkOrder.Delivered"


def test_spend_and_mileage_out_come_from_settlement_and_delivery(container: Container,
                                                                 store_id: str) -> None:
    opened = container.work_orders.open(
        request(store_id), store_id=store_id, customer={"name": "赵敏", "phone": "13600000000"},
        vehicle={"vin": VIN, "plate": "沪A12345"}, mileage=61_000, complaints=["service"],
        kind="maintenance")
    wo_id, customer_id = UUID(opened.body["id"]), UUID(opened.body["customer_id"])
    view = next(v for v in container.views if isinstance(v, CustomersView))
    runner = ProjectionRunner(container.app, container.pool, view)
    assert runner.catch_up() >= 0
    audit = Audit("cash-1", "cashier", store_id, datetime.now(UTC), str(uuid4()))
    with container.pool.connection() as conn, conn.transaction():
        view.apply(conn, [(10**12, Settled(wo_id, 9, audit, Decimal("1234.50"))),
                          (10**12 + 1, Delivered(wo_id, 10, audit, 61_020))])
    with container.pool.connection() as conn:
        seen = customer_360(conn, customer_id, [store_id], today=audit.at.date(),
                            rules=TagRules(vip_spend=Decimal(1000)))
        car = vehicle_detail(conn, vehicle_id(VIN), ["*"])
    assert seen is not None and seen["spend"]["total"] == "1234.50"
    assert "vip" in seen["derived_tags"] and seen["open_work_orders"] == []
    assert car is not None and car["mileage_readings"][0]["km"] == 61_020  # newest first
    assert car["mileage_readings"][0]["source"] == "delivery"


def test_the_customer_file_lists_every_complaint_of_a_visit(container: Container,
                                                            store_id: str) -> None:
    # The customer comes in with a brake noise; at check-in she also mentions the wipers, and
    # the technician finds a leaking shock absorber: two jobs added after opening.
    opened = container.work_orders.open(
        request(store_id), store_id=store_id, customer={"name": "孙丽", "phone": "13500000000"},
        vehicle={"vin": VIN, "plate": "沪A12345"}, mileage=48_000, complaints=["brake noise"])
    wo_id, customer_id = UUID(opened.body["id"]), UUID(opened.body["customer_id"])
    container.work_orders.check_in(request(store_id), wo_id, mileage_in=48_010, fuel_level=30)
    container.work_orders.add_job(request(store_id), wo_id, complaint="wipers smear")
    container.work_orders.add_job(request(store_id, "technician", "tech-1"), wo_id,
                                  complaint="rear shock absorber leaking")
    view = next(v for v in container.views if isinstance(v, CustomersView))
    ProjectionRunner(container.app, container.pool, view).catch_up()

    # Both the customer's file and the car's list the three complaints, in the order taken.
    wanted = ["brake noise", "wipers smear", "rear shock absorber leaking"]
    with container.pool.connection() as conn:
        seen = customer_360(conn, customer_id, [store_id], today=datetime.now(UTC).date(),
                            rules=TagRules(vip_spend=Decimal(1000)))
        car = vehicle_detail(conn, vehicle_id(VIN), ["*"])
    assert seen is not None and car is not None
    assert [v["complaints"] for v in seen["visits"]["items"]] == [wanted]
    assert next(v["complaints"] for v in car["visits"] if v["work_order_id"] == wo_id) == wanted
