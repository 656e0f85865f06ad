"""Helpers shared by the test_money_* integration tests (this module holds no tests itself).

Visits driven to ready-for-settlement through the domain services, a second ServiceCore on the
same database (as a second API process would be), a fault injected into the events table,
waiting for the finance projection, and reading streams straight from the event store.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic
from psycopg import sql

from domain.application import Request
from domain.common import Caller
from domain.work_order import WorkOrder
from servicecore.container import Container, build
from servicecore.schema import EVENTS_TABLE
from tests.conftest import settings_for
from tests.integration.support import LABOR, head, load, open_order, with_profile

ZONE = ZoneInfo("Asia/Shanghai")
FINANCE_TABLES = ("settlements", "settlement_bills", "payments", "refunds", "journal",
                  "cashier_days", "statements", "statement_lines", "follow_ups", "complaints")


def req(store_id: str, role: str = "cashier", user: str | None = None, *,
        key: str | None = None, expected_version: int | None = None) -> Request:
    """A domain request as the API builds it, stamped now, for a caller of one store."""
    caller = Caller(user or f"{role}-{store_id}", role, (store_id,), datetime.now(UTC),
                    str(uuid4()), key)
    return Request(caller, request_hash=None, expected_version=expected_version)


def today() -> str:
    return datetime.now(ZONE).date().isoformat()


def this_year() -> int:
    return datetime.now(ZONE).year


def second_process(database_url: str, tmp: Path) -> Container:
    """Another ServiceCore on the same database (like a second API process), no projections,
    with a small pool (the test server is shared)."""
    return build(settings_for(database_url, tmp, create_tables=False, pool_size=4))


def stocked_part(container: Container, store_id: str, *, qty: int = 10,
                 unit_cost: str = "200.00", price: str = "450.00") -> str:
    """A part of its own in the part master, received into the store at `unit_cost`."""
    number = "M" + uuid.uuid4().hex[:12].upper()
    container.inventory.register_part(
        req(store_id, "manager"), part_number=number,
        details={"name": "brake pads", "unit": "set", "category": "brake", "min_stock": 0,
                 "reorder_qty": 0, "preferred_supplier": "FAW-VW Parts"},
        list_price=price)
    container.inventory.receive(req(store_id, "parts_clerk"), store_id, number, qty=qty,
                                unit_cost=unit_cost, supplier="FAW-VW Parts",
                                supplier_doc=f"DN-{uuid4().hex[:8]}")
    return number


def ready_visit(container: Container, store_id: str, *, part: str | None = None,
                warranty: bool = False, insurance: bool = False,
                tech: str | None = None, opened_at: datetime | None = None) -> UUID:
    """A visit driven to ready_for_settlement through the services (opened `opened_at`,
    default now).

    Customer labor 1.5 h x 300 = 450.00; with `part` one issued customer part (list price);
    `warranty` / `insurance` add a 0.5 h labor line (150.00) of that pay type.
    """
    wos = container.work_orders
    advisor = req(store_id, "advisor")
    work_order_id = UUID(open_order(wos, store_id, at=opened_at)["id"])
    wos.check_in(advisor, work_order_id, mileage_in=42_010, fuel_level=40)
    lines = [wos.add_labor_line(req(store_id, "advisor"), work_order_id, 1, LABOR).body["line_id"]]
    part_line = None
    if part is not None:
        part_line = wos.add_part_line(req(store_id, "advisor"), work_order_id, 1,
                                      {"part_number": part, "qty": "1"}).body["line_id"]
        lines.append(part_line)
    if warranty:
        lines.append(wos.add_labor_line(req(store_id, "advisor"), work_order_id, 1, {
            "op_code": "ECU-UPD", "description": "ECU update (campaign)", "hours": "0.5",
            "hourly_rate": "300.00", "pay_type": "warranty",
            "warranty": {"coverage_code": "C-22", "campaign_no": "RC2026-01"}}).body["line_id"])
    if insurance:
        lines.append(wos.add_labor_line(req(store_id, "advisor"), work_order_id, 1, {
            "op_code": "BODY-01", "description": "bumper repair (claim)", "hours": "0.5",
            "hourly_rate": "300.00", "pay_type": "insurance"}).body["line_id"])
    for line_id in lines:
        wos.authorize_line(req(store_id, "advisor"), work_order_id, line_id,
                           decision="approved", channel="in_person")
    technician = tech or f"tech-{store_id}"
    with_profile(container.technicians, req(store_id, "manager"), technician, store_id)
    wos.dispatch(req(store_id, "manager"), work_order_id, 1, technician_id=technician)
    if part_line is not None:
        wos.issue_part(req(store_id, "parts_clerk"), work_order_id, part_line)
    wos.clock_on(req(store_id, "technician", technician), work_order_id, 1)
    wos.clock_off(req(store_id, "technician", technician), work_order_id, 1)
    wos.complete_job(req(store_id, "technician", technician), work_order_id, 1)
    checked = wos.quality_check(req(store_id, "manager"), work_order_id, 1, passed=True)
    assert checked.body["status"] == "ready_for_settlement", checked.body
    return work_order_id


def draft(container: Container, store_id: str, work_order_id: UUID,
          **options: Any) -> UUID:
    return UUID(container.settlements.draft(req(store_id), work_order_id, **options).body["id"])


def version_of(container: Container, stream_id: UUID) -> int:
    """The stream's stored version, read from the events table (0 when it has none)."""
    stored = container.app.recorder.select_events(stream_id, desc=True, limit=1)
    return int(stored[0].originator_version) if stored else 0


def topics_of(container: Container, stream_id: UUID) -> list[str]:
    """The stream's stored event names, e.g. ["WorkOrder.Opened", ...]."""
    return [e.topic.split(":")[1] for e in container.app.recorder.select_events(stream_id)]


def events_of(container: Container, stream_id: UUID) -> list[Any]:
    return list(container.app.events.get(stream_id))


def topics_since(container: Container, after: int) -> list[str]:
    return [n.topic.split(":")[1]
            for n in container.app.recorder.select_notifications(start=after + 1, limit=10_000)]


def wait_for_projection(container: Container, name: str | None = None,
                        timeout: float = 30.0) -> int:
    """Poll until the projection (default: every read model, as store_rows reads several)
    has reached the log's head; returns that head."""
    target = head(container.app)
    names = [name] if name else [view.name for view in container.views]
    deadline = time.monotonic() + timeout
    while True:
        with container.pool.connection() as conn:
            rows = conn.execute("SELECT name, position FROM projection_positions "
                                "WHERE name = ANY(%s)", (names,)).fetchall()
        behind = {n: 0 for n in names} | {r[0]: int(r[1]) for r in rows}
        if all(position >= target for position in behind.values()):
            return target
        assert time.monotonic() < deadline, f"projections stuck: {behind} < {target}"
        time.sleep(0.05)


def store_rows(container: Container, store_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every finance row of one store, plus the store's work-order view statuses."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with container.pool.connection() as conn:
        for table in FINANCE_TABLES:
            out[table] = conn.execute(
                f"SELECT * FROM {table} t WHERE store_id = %s ORDER BY t::text",
                (store_id,)).fetchall()
        out["wo_view"] = conn.execute(
            "SELECT id, status, version FROM wo_view WHERE store_id = %s ORDER BY id",
            (store_id,)).fetchall()
    return out


def all_finance_rows(container: Container) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every finance table (all stores), in a stable order."""
    with container.pool.connection() as conn:
        return {table: conn.execute(f"SELECT * FROM {table} t ORDER BY t::text").fetchall()
                for table in FINANCE_TABLES}


FAULT_FUNCTION = """
CREATE OR REPLACE FUNCTION money_test_fault() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.topic = TG_ARGV[0] AND NEW.originator_id::text = TG_ARGV[1] THEN
        RAISE EXCEPTION 'injected fault: % of % refused', NEW.topic, NEW.originator_id;
    END IF;
    RETURN NEW;
END $$
"""


@contextmanager
def fault(database_url: str, event: type | str, stream_id: UUID) -> Iterator[str]:
    """A BEFORE INSERT trigger on the events table that fails the statement inserting an event
    of class (or topic) `event` into `stream_id`, so the whole save's transaction rolls back."""
    name = "money_fault_" + uuid4().hex[:10]
    topic = event if isinstance(event, str) else get_topic(event)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(FAULT_FUNCTION)
        conn.execute(sql.SQL(
            "CREATE TRIGGER {} BEFORE INSERT ON {} FOR EACH ROW "
            "EXECUTE FUNCTION money_test_fault({}, {})").format(
                sql.Identifier(name), sql.Identifier(EVENTS_TABLE), sql.Literal(topic),
                sql.Literal(str(stream_id))))
    try:
        yield topic
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(
                sql.Identifier(name), sql.Identifier(EVENTS_TABLE)))


def work_order(container: Container, work_order_id: UUID) -> WorkOrder:
    return load(container.app, WorkOrder, work_order_id)


def count_conflicts(monkeypatch: pytest.MonkeyPatch, *systems: Container) -> list[int]:
    """Count the saves refused by the event store's optimistic concurrency (IntegrityError),
    which ServiceCore.execute then retries on fresh state; one counter for all `systems`."""
    seen = [0]
    for system in systems:
        original = system.app.save

        def save(*aggregates: Any, _original: Any = original, **kwargs: Any) -> Any:
            try:
                return _original(*aggregates, **kwargs)
            except IntegrityError:
                seen[0] += 1
                raise

        monkeypatch.setattr(system.app, "save", save)
    return seen
