"""A poison event (a handler that raises on it, a state that does not decode): the view applies
every event before it, stops on it, and says which one and why; the good events of its batch do
not wait behind it, and none is applied twice."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from analytics.poison import PoisonEvent
from api.main import create_app
from domain.campaigns import Campaigns
from domain.grievances import Grievances
from domain.labor_operations import LaborOperations
from domain.lost_sales import LostSales
from domain.online_bookings import OnlineBookings
from domain.repair_filings import RepairFilings
from projections.base import ReadModel
from servicecore import cli
from servicecore.container import Container, build
from tests.conftest import JWT_SECRET, settings_for
from tests.integration.audit_support import new_vin
from tests.integration.kafka_support import wait_until
from tests.integration.support import head, open_order
from tests.integration.test_money_support import draft, ready_visit, req, wait_for_projection
from tests.integration.test_projection_group import (
    Ledger,
    _fresh,
    _position,
    _receipts,
    _stock_and_ledger,
)
from workers.projection_group import ProjectionGroup
from workers.projection_runner import ProjectionRunner
from workers.supervisor import Supervisor
from workers.view_verify import VERIFY_SUFFIX, verify_view


class Picky(Ledger):
    """A ledger whose handler raises on the event `poison` (a notification id), and only there."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.poison = 0

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        super().apply(conn, events, suffix)
        if any(nid == self.poison for nid, _ in events):
            raise RuntimeError("cannot apply this event")


def _ids(container: Container, table: str) -> list[int]:
    with container.pool.connection() as conn:
        return [int(r[0]) for r in conn.execute(f"SELECT id FROM {table} ORDER BY id")]


def _log(container: Container, after: int, upto: int) -> list[tuple[int, str]]:
    with container.pool.connection() as conn:
        return [(int(r[0]), str(r[1])) for r in conn.execute(
            "SELECT notification_id, topic FROM servicecore_events WHERE notification_id > %s "
            "AND notification_id <= %s ORDER BY notification_id", (after, upto))]


def poised(container: Container, store_id: str, view: Any, *, receipts: int,
           at: int) -> tuple[ProjectionRunner, list[tuple[int, str]], str]:
    """A runner of `view` (which fails on `view.poison`) in fresh tables from the log's head,
    after `receipts` parts are received; the new events' `at`-th is the poison. The runner,
    the new events (id, topic) and the tables' suffix."""
    start = head(container.app)
    _receipts(container, store_id, receipts)
    events = _log(container, start, head(container.app))
    suffix = "_ps" + uuid4().hex[:4]
    _fresh(container, view, suffix, start)
    view.poison = events[at][0]
    return ProjectionRunner(container.app, container.pool, view, suffix=suffix), events, suffix


def test_a_runner_applies_the_events_before_a_poison_event_and_stops_on_it(
        container: Container, store_id: str) -> None:
    view = Picky("zz_picky")
    runner, events, suffix = poised(container, store_id, view, receipts=4, at=5)
    poison, topic = events[5]

    # One batch would hold all the events: the five before the poison are applied all the same.
    with pytest.raises(PoisonEvent) as raised:
        runner.run_batch()
    assert (raised.value.position, raised.value.topic) == (poison, topic)
    assert str(raised.value) == (f"projection zz_picky{suffix} stops at event {poison} "
                                 f"({topic}): RuntimeError: cannot apply this event")
    assert _position(container, runner.position_name) == events[4][0]
    assert _ids(container, f"group_ledger{suffix}") == [nid for nid, _ in events[:5]]

    # Met again (the loop started again): it stops there at once, nothing moved or repeated.
    calls = view.calls
    with pytest.raises(PoisonEvent):
        runner.run_batch()
    assert view.calls == calls + 1
    assert runner.poison is not None and runner.poison.position == poison

    # Mended: the rest follows, every event once (the ledger's primary key).
    view.poison = 0
    runner.catch_up()
    assert runner.poison is None
    assert _ids(container, f"group_ledger{suffix}") == [nid for nid, _ in events]


def test_an_event_that_does_not_decode_stops_the_view_after_the_ones_before_it(
        container: Container, store_id: str) -> None:
    start = head(container.app)
    _receipts(container, store_id, 2)
    events = _log(container, start, head(container.app))
    suffix = "_pd" + uuid4().hex[:4]
    view = Ledger("zz_undecodable")
    _fresh(container, view, suffix, start)
    runner = ProjectionRunner(container.app, container.pool, view, suffix=suffix, batch_size=3)
    poison = events[1][0]
    decode = runner.reader.decode

    def broken(row: Any) -> Any:
        if row.id == poison:
            raise ValueError("state is not JSON")
        return decode(row)

    runner.reader.decode = broken  # type: ignore[method-assign]
    with pytest.raises(PoisonEvent, match=f"stops at event {poison} .*ValueError: state is not"):
        runner.catch_up()
    assert _ids(container, f"group_ledger{suffix}") == [events[0][0]]


def test_a_poison_event_in_a_group_holds_back_neither_its_view_nor_the_others(
        container: Container, store_id: str) -> None:
    start = head(container.app)
    suffix = "_pg" + uuid4().hex[:4]
    stock, _ = _stock_and_ledger(container, start, suffix)
    view = Picky("zz_picky")
    _fresh(container, view, suffix, start)
    stock_runner = ProjectionRunner(container.app, container.pool, stock, suffix=suffix)
    picky_runner = ProjectionRunner(container.app, container.pool, view, suffix=suffix)
    supervisor = Supervisor(container.database_url, first_backoff=0.2, max_backoff=0.5)
    group = ProjectionGroup(
        container.app, container.pool, [stock_runner, picky_runner],
        on_alone=lambda r: supervisor.start("alone-" + r.position_name, r.run, r.is_connected))
    _receipts(container, store_id, 3)
    events = _log(container, start, head(container.app))
    poison, topic = events[3]
    view.poison = poison
    supervisor.start("group", group.run, group.is_connected)
    try:
        last = head(container.app)
        wait_until(lambda: _position(container, stock_runner.position_name) == last, 20,
                   "the stock view to reach the head")
        wait_until(lambda: _position(container, picky_runner.position_name) == events[2][0],
                   20, "the picky view to apply the events before the poison")
        alone = "alone-" + picky_runner.position_name
        wait_until(lambda: supervisor.states().get(alone, {}).get("restarts", 0) >= 1, 20,
                   "the picky view's own loop to fail on the poison")
        error = supervisor.states()[alone]["last_error"]
        assert f"stops at event {poison} ({topic}): RuntimeError: cannot apply" in error
        assert _ids(container, f"group_ledger{suffix}") == [nid for nid, _ in events[:3]]
    finally:
        supervisor.stop()


class Refusing(ReadModel):
    """A view without tables whose handler raises on the event `poison`."""

    tables: dict[str, str] = {}  # noqa: RUF012

    def __init__(self, name: str, poison: int) -> None:
        self.name = name
        self.poison = poison

    def apply(self, conn: psycopg.Connection[Any], events: Sequence[tuple[int, Any]],
              suffix: str = "") -> None:
        if any(nid == self.poison for nid, _ in events):
            raise RuntimeError("cannot apply this event")


def test_health_names_the_event_a_view_stopped_at(
        database_url: str, tmp_path: Path, store_id: str) -> None:
    system = build(settings_for(database_url, tmp_path, pool_size=3))
    try:
        start = head(system.app)
        open_order(system.work_orders, store_id)
        poison, topic = _log(system, start, head(system.app))[-1]
        open_order(system.work_orders, store_id)
        view = Refusing(f"refusing_{uuid4().hex[:8]}", poison)
        system.views = [view]
        system.start_projections()
        with TestClient(create_app(system.api_context())) as client:
            wait_until(lambda: client.get("/health").json()["projections"][view.name][
                "stopped_at"] is not None, 30, "/health to name the poison event")
            answer = client.get("/health")
            stop = answer.json()["projections"][view.name]["stopped_at"]
            assert answer.status_code == 503
            assert stop == {"position": poison, "topic": topic,
                            "error": "RuntimeError: cannot apply this event"}
            assert answer.json()["projections"][view.name]["position"] < poison
            assert (f"projection {view.name} stops at event {poison} ({topic}): "
                    "RuntimeError: cannot apply this event") in answer.json()["reasons"]
            assert client.get("/health/ready").status_code == 503
    finally:
        system.close()


def _work_order(container: Container, store_id: str) -> None:
    open_order(container.work_orders, store_id)


def _labor_operation(container: Container, store_id: str) -> None:
    LaborOperations(container.app).register(
        req(store_id, "manager"), store_id=store_id, op_code="BRK-PAD",
        description="replace front brake pads", flat_rate_hours_="1.5",
        rates={"customer": "300.00", "warranty": "180.00", "insurance": "260.00",
               "internal": "150.00"})


def _settled_and_filed(container: Container, store_id: str) -> None:
    wo = ready_visit(container, store_id)
    confirmed = container.settlements.confirm(req(store_id), draft(container, store_id, wo)).body
    owed = confirmed["bills"]["customer"]["outstanding"]
    container.settlements.pay(req(store_id), work_order_id=wo, method="cash", amount=owed,
                              tendered=owed)
    RepairFilings(container.app).record(req(store_id, "advisor"), wo, outcome="failed",
                                        error="upload timed out")


def _failed_part_line(container: Container, store_id: str) -> None:
    """A warranty part line added to a visit (a line the failed-parts view follows)."""
    wo = container.work_orders
    work_order_id = UUID(open_order(wo, store_id)["id"])
    wo.add_part_line(req(store_id, "advisor"), work_order_id, 1, {
        "part_number": "03L130277B", "description": "injector", "qty": "1",
        "unit_price": "600.00", "pay_type": "warranty", "warranty": {"coverage_code": "W-3Y"}})


def _campaign(container: Container, store_id: str) -> None:
    number = "RC" + uuid4().hex[:8].upper()
    campaigns = Campaigns(container.app)
    campaigns.register(req(store_id, "manager"), campaign_no=number, brand="Volkswagen",
                       title="ECU software update", kind="safety_recall",
                       starts_on="2026-01-15")
    campaigns.list_vins(req(store_id, "manager"), number, [new_vin(), new_vin()])


def _lost_sale(container: Container, store_id: str) -> None:
    LostSales(container.app).record(req(store_id, "parts_clerk"), store_id,
                                    part_number="8W0071679", qty="2", reason="out_of_stock")


def _online_booking(container: Container, store_id: str) -> None:
    tomorrow = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)).isoformat()
    container.appointments.plan_capacity(
        req(store_id, "manager"), store_id=store_id, from_day=tomorrow, to_day=tomorrow,
        opens="08:00", closes="18:00", bays=1, skill_hours={"maintenance": 8})
    OnlineBookings(container.app, container.appointments, container.customers,
                   JWT_SECRET).request(
        req(store_id, "booking_channel"), store_id=store_id, name="王芳", phone="13700001111",
        vin=new_vin(), plate=None, day=tomorrow, arrival="09:00",
        services=[{"description": "oil change"}])


def _grievance(container: Container, store_id: str) -> None:
    customer = container.customers.register(req(store_id, "advisor"), store_id=store_id,
                                            kind="person", name="周婷", phones=["13900002222"])
    Grievances(container.app).register(
        req(store_id, "advisor"), store_id, customer_id=UUID(customer.body["id"]),
        kind="complaint", channel="phone", category="price", words="the bill was too high")


@pytest.mark.parametrize(("name", "setup"), [
    ("parts_demand", _work_order), ("labor_operations", _labor_operation),
    ("repair_filings", _settled_and_filed), ("finance", _settled_and_filed),
    ("failed_parts", _failed_part_line), ("campaigns", _campaign),
    ("lost_sales", _lost_sale), ("online_bookings", _online_booking),
    ("grievances", _grievance)])
def test_a_newer_view_stopped_by_a_stored_event_is_named_on_health_and_by_audit_views(
        name: str, setup: Callable[[Container, str], None], container: Container,
        client: TestClient, store_id: str, database_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    view = next(v for v in container.views if v.name == name)
    applies = type(view).apply

    def picky(self: ReadModel, conn: psycopg.Connection[Any],
              events: Sequence[tuple[int, Any]], suffix: str = "") -> None:
        if any(getattr(getattr(e, "audit", None), "store_id", None) == store_id
               for _, e in events):
            raise RuntimeError("cannot apply this event")
        applies(self, conn, events, suffix)

    wait_for_projection(container, name)
    start = head(container.app)
    with monkeypatch.context() as patched:
        # The view's handler cannot apply what this store stores (as a stored event of an
        # older shape, or a handler's bug, would): the first of them is the poison.
        patched.setattr(type(view), "apply", picky)
        setup(container, store_id)
        wait_until(lambda: name in container.stops(), 30, f"{name} to stop at the poison")
        stop = container.stops()[name]
        assert stop["position"] > start
        assert stop["error"] == "RuntimeError: cannot apply this event"
        # /health names the view and the event; the other views go on to the head.
        health = client.get("/health").json()
        assert health["projections"][name]["stopped_at"] == stop
        assert wait_for_projection(container, "work_orders") == head(container.app)
        # `audit views` names it too (the view's first event after its position does not
        # apply), and exits 1.
        for key, value in (("DATABASE_URL", database_url), ("SERVICECORE_DATA_DIR", str(tmp_path)),
                           ("SERVICECORE_JWT_SECRET", JWT_SECRET)):
            patched.setenv(key, value)
        capsys.readouterr()
        assert cli.main(["audit", "views", "--view", name]) == 1
        (line,) = capsys.readouterr().out.splitlines()
        checked = json.loads(line)
        assert (checked["view"], checked["ok"], checked["stopped_at"]) == (name, False, stop)
        assert checked["position"] < stop["position"]
    # Mended: the view applies it and goes on, and equals its rebuild from the log.
    wait_for_projection(container, name)
    assert name not in container.stops()
    assert verify_view(container.app, container.pool, view).ok


def test_a_rebuild_that_cannot_apply_an_event_the_live_view_applied_is_reported_not_raised(
        container: Container, store_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    view = next(v for v in container.views if v.name == "parts_demand")
    applies = type(view).apply
    start = head(container.app)
    open_order(container.work_orders, store_id)
    wait_for_projection(container, "parts_demand")

    def picky(self: ReadModel, conn: psycopg.Connection[Any],
              events: Sequence[tuple[int, Any]], suffix: str = "") -> None:
        if suffix == VERIFY_SUFFIX and any(
                getattr(getattr(e, "audit", None), "store_id", None) == store_id
                for _, e in events):
            raise RuntimeError("cannot apply this event")
        applies(self, conn, events, suffix)

    # The view's code changed since it applied this store's work order: its rebuild stops
    # there, which `audit views` reports for the view (and goes on to the next view).
    monkeypatch.setattr(type(view), "apply", picky)
    checked = verify_view(container.app, container.pool, view)
    assert not checked.ok
    assert checked.stopped_at is not None and checked.stopped_at["position"] > start
    assert checked.stopped_at["topic"].endswith("WorkOrder.Opened")
