"""Helpers shared by the test_analytics_* integration tests (this module holds no tests itself).

A store of a test's own (`Shop`) whose visits are driven through the real command path at chosen
business times, a whole visit in one call, and the ways a test reads the analytic tables: one
loader event by event beside one in batches, a rebuild from the whole log, a table's rows.

All times are UTC between 03:00 and 10:00 (11:00-18:00 in Shanghai), far from any day boundary.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb

from analytics.loader import AnalyticsLoader
from analytics.rebuild import rebuild
from analytics.schema import TABLES
from domain.application import Request
from domain.common import Caller
from domain.completion_certificates import CompletionCertificates
from servicecore.container import Container
from servicecore.demo import make_vin
from tests.integration.support import with_profile


def at(day: str, hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}:00+00:00")


def req(user: str, role: str, store: str, when: datetime) -> Request:
    return Request(Caller(user, role, (store,), when, str(uuid.uuid4())))


@dataclass
class Shop:
    """One store of the test's own, with its staff and helpers for a visit's steps."""

    c: Container
    store: str
    rng: random.Random = field(default_factory=lambda: random.Random(uuid.uuid4().int))

    def __post_init__(self) -> None:
        s = self.store.lower()
        self.adv, self.mgr, self.clerk, self.cashier = (f"adv-{s}", f"mgr-{s}", f"clerk-{s}",
                                                        f"cash-{s}")
        self.t1, self.t2 = f"t1-{s}", f"t2-{s}"
        self.p1, self.p2, self.p3 = (f"{self.store}-OF", f"{self.store}-BP", f"{self.store}-OLD")

    def r(self, role: str, when: datetime, user: str | None = None) -> Request:
        users = {"advisor": self.adv, "manager": self.mgr, "parts_clerk": self.clerk,
                 "cashier": self.cashier}
        return req(user or users[role], role, self.store, when)

    def register(self, part: str, name: str, price: str, when: datetime) -> None:
        self.c.inventory.register_part(self.r("parts_clerk", when), part_number=part, details={
            "name": name, "unit": "pc", "category": "other", "min_stock": 0, "reorder_qty": 1},
            list_price=price)

    def receive(self, part: str, qty: int, cost: str, when: datetime) -> str:
        done = self.c.inventory.receive(self.r("parts_clerk", when), self.store, part, qty=qty,
                                        unit_cost=cost, supplier="SUP", supplier_doc="DN-1")
        return str(done.body["lot_id"])

    def open(self, vin: str, complaint: str, kind: str, when: datetime,
             customer_id: UUID | None = None) -> tuple[UUID, UUID]:
        opened = self.c.work_orders.open(
            self.r("advisor", when), store_id=self.store,
            customer={"name": "王伟", "phone": f"138{self.rng.randint(10**7, 10**8 - 1)}"},
            vehicle={"vin": vin, "brand": "Volkswagen", "model": "Lavida", "year": 2020},
            mileage=30_000, complaints=[complaint], kind=kind, customer_id=customer_id)
        return UUID(opened.body["id"]), UUID(opened.body["customer_id"])

    def labor(self, wo: UUID, hours: str, rate: str, when: datetime,
              pay_type: str = "customer", op_code: str = "OP") -> str:
        line: dict[str, Any] = {"op_code": op_code, "description": "labor", "hours": hours,
                                "hourly_rate": rate, "pay_type": pay_type}
        if pay_type == "warranty":
            line["warranty"] = {"coverage_code": "C-1"}
        return str(self.c.work_orders.add_labor_line(self.r("advisor", when), wo, 1,
                                                     line).body["line_id"])

    def part(self, wo: UUID, part: str, qty: int, when: datetime) -> str:
        return str(self.c.work_orders.add_part_line(self.r("advisor", when), wo, 1, {
            "part_number": part, "qty": qty}).body["line_id"])

    def approve(self, wo: UUID, lines: list[str], when: datetime) -> None:
        for line in lines:
            self.c.work_orders.authorize_line(self.r("advisor", when), wo, line,
                                              decision="approved", channel="in_person")

    def workshop(self, wo: UUID, tech: str, on: datetime, off: datetime,
                 issue: tuple[str, ...] = (),
                 before_complete: Callable[[], None] | None = None) -> None:
        w = self.c.work_orders
        with_profile(self.c.technicians, self.r("manager", on - timedelta(minutes=30)), tech,
                     self.store)  # the desk dispatches to the store's roster only
        w.dispatch(self.r("manager", on - timedelta(minutes=20)), wo, 1, technician_id=tech)
        for line in issue:
            w.issue_part(self.r("parts_clerk", on - timedelta(minutes=10)), wo, line)
        w.clock_on(req(tech, "technician", self.store, on), wo, 1)
        w.clock_off(req(tech, "technician", self.store, off), wo, 1)
        if before_complete:
            before_complete()
        w.complete_job(req(tech, "technician", self.store, off + timedelta(minutes=5)), wo, 1)
        done = w.quality_check(self.r("manager", off + timedelta(minutes=10)), wo, 1,
                               passed=True)
        assert done.body["status"] == "ready_for_settlement"
        CompletionCertificates(w.app).certify_if_major(  # a major repair's, before delivery
            self.r("manager", off + timedelta(minutes=11)), wo)

    def settle(self, wo: UUID, when: datetime, payments: list[tuple[str, str]],
               discount: str | None = None) -> UUID:
        s = self.c.settlements
        sid = UUID(s.draft(self.r("cashier", when), wo).body["id"])
        if discount:
            s.discount(self.r("cashier", when + timedelta(minutes=1)), sid, bill="customer",
                       amount=discount, reason="member's discount")
        s.confirm(self.r("cashier", when + timedelta(minutes=2)), sid)
        settled = False
        for i, (method, amount) in enumerate(payments):
            settled = s.pay(self.r("cashier", when + timedelta(minutes=3 + i)), work_order_id=wo,
                            method=method, amount=amount,
                            provider_ref=None if method == "cash" else f"REF-{uuid.uuid4().hex[:8]}"
                            ).body["settled"]
        assert settled
        return sid

    def deliver(self, wo: UUID, when: datetime) -> UUID:
        done = self.c.aftercare.deliver(self.r("advisor", when), wo, mileage_out=31_000,
                                        acknowledged_by="customer")
        return UUID(done.body["follow_up"]["id"])

    def follow_up(self, fid: UUID, csi: int, when: datetime, complaint: bool = False) -> None:
        self.c.aftercare.complete(self.r("advisor", when), fid, csi=csi, comment=None,
                                  complaint={"description": "still noisy"} if complaint else None)


def publish_analytics(container: Container) -> None:
    """The log loaded into the container's analytic file and published as the snapshot the
    API reads (asserted: a publish that wrote nothing fails the test)."""
    loader = AnalyticsLoader(container.app, container.settings.analytics_path)
    try:
        loader.catch_up()
        assert loader.publish(force=True)
    finally:
        loader.close()


def load_and_publish(container: Container, path: Path) -> None:
    """The log loaded in small batches (as a loader following it) and published. 997, not
    fewer: a batch costs some milliseconds whatever its size, and the whole log is read each
    time; so a module using this has a log of its own (`tests.scratch_systems.module_container`),
    not the session's, which holds every earlier test's events."""
    loader = AnalyticsLoader(container.app, path, batch_size=997)
    try:
        loader.catch_up()
        loader.publish(force=True)
    finally:
        loader.close()


def table_rows(conn: duckdb.DuckDBPyConnection, name: str) -> list[tuple[Any, ...]]:
    return conn.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()


def visit(c: Container, store: str, day: str, n: int) -> None:
    """One more visit through the whole path (a smaller version of the scenario's)."""
    shop = Shop(c, store)
    if n == 0:
        shop.register(shop.p1, "oil filter", "100.00", at(day, "03:00"))
        shop.receive(shop.p1, 20, "40.00", at(day, "03:00"))
    wo, _ = shop.open(make_vin(shop.rng), "noise", "repair", at(day, "03:00"))
    c.work_orders.check_in(shop.r("advisor", at(day, "03:10")), wo, mileage_in=30_010,
                           fuel_level=50)
    lines = [shop.labor(wo, "1.0", "300.00", at(day, "03:15")),
             shop.part(wo, shop.p1, 1, at(day, "03:16"))]
    shop.approve(wo, lines, at(day, "03:20"))
    shop.workshop(wo, shop.t1, at(day, "04:00"), at(day, "05:00"), issue=(lines[1],))
    shop.settle(wo, at(day, "06:00"), [("cash", "400.00")])
    shop.follow_up(shop.deliver(wo, at(day, "07:00")), 4, at(day, "09:00"))


def worked_visit(container: Container, shop: Shop, day: str,
                  warranty_hours: str | None = None) -> UUID:
    """A repair opened at 03:00, checked in, one hour of customer labor at 300.00 (and
    `warranty_hours` at 250.00 on warranty) approved, worked 04:00-05:00: ready to settle."""
    wo, _ = shop.open(make_vin(shop.rng), "noise", "repair", at(day, "03:00"))
    container.work_orders.check_in(shop.r("advisor", at(day, "03:10")), wo, mileage_in=30_010,
                                   fuel_level=50)
    lines = [shop.labor(wo, "1.0", "300.00", at(day, "03:15"))]
    if warranty_hours is not None:
        lines.append(shop.labor(wo, warranty_hours, "250.00", at(day, "03:15"),
                                pay_type="warranty"))
    shop.approve(wo, lines, at(day, "03:20"))
    shop.workshop(wo, shop.t1, at(day, "04:00"), at(day, "05:00"))
    return wo


def one_by_one_and_batched(container: Container,
                           tmp_path: Path) -> tuple[AnalyticsLoader, AnalyticsLoader]:
    """Two loaders caught up to the log's head now, in large batches; from here on the first
    reads event by event, the second in batches of 100,000. Made before a test stores its own
    events, so the one-by-one loader reads those, not the whole session's log again."""
    one, batched = (AnalyticsLoader(container.app, tmp_path / f"{name}.duckdb",
                                    batch_size=100_000) for name in ("one", "batched"))
    for loader in (one, batched):
        loader.catch_up()
    one.batch_size = 1
    return one, batched


@contextmanager
def rebuilt_tables(container: Container, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The analytic tables rebuilt from the whole log into a file of their own, read-only."""
    path = tmp_path / "rebuilt.duckdb"
    rebuild(container.app, path)
    conn = duckdb.connect(str(path), read_only=True)
    try:
        yield conn
    finally:
        conn.close()


def assert_same_tables(one: duckdb.DuckDBPyConnection, batched: duckdb.DuckDBPyConnection,
                       rebuilt: duckdb.DuckDBPyConnection) -> None:
    """Every analytic table loaded event by event equals the batched load's and the rebuild's
    (the table's name said where one differs)."""
    for table in TABLES:
        assert table_rows(one, table.name) == table_rows(batched, table.name), table.name
        assert table_rows(one, table.name) == table_rows(rebuilt, table.name), table.name


def python_and_set_based(container: Container, tmp_path: Path, sizes: tuple[int, ...]
                         ) -> None:
    """Every table of the log loaded event by event in Python equals the set-based fold's in
    batches of each of `sizes`."""
    python = AnalyticsLoader(container.app, tmp_path / "python.duckdb", batch_size=100_000)
    python.source.set_based = frozenset()  # every event through its Python handler
    try:
        python.catch_up()
        expected = {t.name: table_rows(python.conn, t.name) for t in TABLES}
    finally:
        python.close()
    for size in sizes:
        loader = AnalyticsLoader(container.app, tmp_path / f"sql{size}.duckdb",
                                 batch_size=size)
        try:
            assert loader.source.read(0, 1_000_000).raw, "the log read set-based"
            loader.catch_up()
            for table in TABLES:
                assert table_rows(loader.conn, table.name) == expected[table.name], (
                    size, table.name)
        finally:
            loader.close()
