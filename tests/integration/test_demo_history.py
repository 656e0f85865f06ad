"""The history at scale: staged in memory and appended in batches (the default), or one save
per command. Both are the same visits through the same rules, and the log they leave is sound
and readable by every reader. Each test works on databases of its own."""

from __future__ import annotations

import dataclasses
import random
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.persistence import IntegrityError

from analytics.kpis import Filters, run
from analytics.loader import AnalyticsLoader
from domain.application import Request, ServiceCore
from domain.common import Audit, Caller
from domain.counter import parse_number
from domain.customer import Customer
from domain.pii import ERASED
from domain.work_order import WorkOrder
from servicecore import audit_chain
from servicecore.container import Container, build
from servicecore.demo import load_history, stage_history
from servicecore.demo_catalog import GIVEN, SURNAMES, ZONE, make_vin
from servicecore.demo_desk import HistoryFigures
from servicecore.demo_staging import LogWriter, StagedServiceCore
from servicecore.schema import SNAPSHOTS_TABLE
from tests.conftest import settings_for
from tests.databases import scratch_database

NOW = datetime(2025, 6, 11, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
# ids made at random: UUIDs, and the short ones of stocktakes, scrap requests, payments, refunds
RANDOM_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                       r"|\b(?:ST|SC)-[0-9A-F]{10}\b|\b(?:PAY|RF)-[0-9A-F]{12}\b")


def events(app: ServiceCore) -> Iterator[Any]:
    """Every stored event, in notification order."""
    start = 0
    while batch := app.recorder.select_notifications(start=start + 1, limit=2000):
        for notification in batch:
            yield app.mapper.to_domain_event(notification)
        start = batch[-1].id


def normalised(app: ServiceCore) -> list[tuple[Any, ...]]:
    """The log with every id replaced by the order it first appears in, sealed personal data
    by a marker, the wall-clock stamp and the correlation id left out: what two runs of the
    same history share."""
    labels: dict[str, str] = {}

    def label(text: str) -> str:
        return labels.setdefault(text, f"#{len(labels)}")

    def norm(value: Any) -> Any:
        if isinstance(value, UUID):
            return label(str(value))
        if isinstance(value, str):
            return "sealed" if value.startswith("pii1:") else RANDOM_ID.sub(
                lambda found: label(found.group()), value)
        if isinstance(value, Audit):
            return value.user_id, value.role, value.store_id, value.at, value.idempotency_key
        if isinstance(value, dict):
            return {norm(k): norm(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [norm(v) for v in value]
        return value

    return [(label(str(event.originator_id)), event.originator_version, type(event).__qualname__,
             {name: norm(value) for name, value in vars(event).items()
              if name not in ("originator_id", "originator_version", "timestamp")})
            for event in events(app)]


@pytest.fixture
def two_systems(server_url: str, tmp_path: Path) -> Iterator[tuple[Container, Container]]:
    with scratch_database(server_url, "sc_hist_a") as a, \
            scratch_database(server_url, "sc_hist_b") as b:
        first = build(settings_for(a, tmp_path / "a"))
        second = build(settings_for(b, tmp_path / "b"))
        try:
            yield first, second
        finally:
            first.close()
            second.close()


@pytest.mark.slow
def test_the_staged_history_is_the_command_paths_history_and_continues_a_store(
        two_systems: tuple[Container, Container]) -> None:
    by_commands, staged = two_systems
    same: dict[str, Any] = {"stores": ("S01",), "months": 1, "per_day": 3.5, "lanes": 1,
                            "seed": 11, "now": NOW}
    # The same month of S01, one save per command in one database, staged in the other ...
    figures = load_history(by_commands.work_orders, by_commands.inventory,
                           by_commands.settlements, by_commands.aftercare, **same)
    assert figures.errors == 0 and figures.visits > 30 and figures.settled > 20
    assert asdict(stage_history(staged, **same)) == asdict(figures)
    # ... is event for event the same history: streams, versions, event types, every field,
    # who did it and when (the business time), numbers; only ids, seals and wall clocks differ.
    assert normalised(staged.app) == normalised(by_commands.app)
    # The long streams' latest snapshots are where the command path left them.
    assert latest_snapshots(staged) == latest_snapshots(by_commands)
    assert latest_snapshots(staged), "a month of S01 has streams past 100 events"

    # A staged month more for the same store continues its streams and numbers.
    head = by_commands.app.recorder.max_notification_id() or 0
    more = stage_history(by_commands, stores=("S01",), months=1, per_day=1.0, lanes=1, seed=12,
                         now=NOW + timedelta(days=31))
    assert more.errors == 0 and more.visits > 10
    log = list(events(by_commands.app))
    assert len(log) > head
    numbers = sorted(parse_number(e.number).seq for e in log if isinstance(e, WorkOrder.Opened))
    assert numbers == list(range(1, figures.visits + more.visits + 1))
    assert_versions_contiguous(log)


def latest_snapshots(system: Container) -> list[tuple[str, int]]:
    """Each snapshotted stream's kind and its latest snapshot's version."""
    with psycopg.connect(system.database_url) as conn:
        rows = conn.execute(f"SELECT topic, max(originator_version) FROM {SNAPSHOTS_TABLE} "
                            "GROUP BY originator_id, topic ORDER BY 1, 2").fetchall()
    return [(topic, version) for topic, version in rows]


def assert_versions_contiguous(log: list[Any]) -> None:
    """Every stream's versions run 1, 2, 3, ... in notification order."""
    last: dict[UUID, int] = {}
    for event in log:
        assert event.originator_version == last.get(event.originator_id, 0) + 1, event
        last[event.originator_id] = event.originator_version


@pytest.fixture(scope="module")
def group(server_url: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Container, HistoryFigures, str]]:
    """Two stores, two desks each, staged by two processes (one per store)."""
    with scratch_database(server_url, "sc_hist_group") as url:
        system = build(settings_for(url, tmp_path_factory.mktemp("group")))
        try:
            figures = stage_history(system, stores=("S01", "S02"), months=1, per_day=3.0,
                                    lanes=2, seed=5, now=NOW, jobs=2)
            yield system, figures, url
        finally:
            system.close()


def test_a_staged_group_history_leaves_a_sound_log(
        group: tuple[Container, HistoryFigures, str]) -> None:
    system, figures, url = group
    assert figures.errors == 0, figures.error_samples
    assert figures.stores == 2 and figures.days == 2 * 30 and figures.day_closes == 2 * 2 * 30
    log = list(events(system.app))
    assert_versions_contiguous(log)
    # gap-free numbers per store and year, the counters saying the same
    taken: dict[tuple[str, str], list[int]] = defaultdict(list)
    for event in log:
        if isinstance(event, WorkOrder.Opened):
            number = parse_number(event.number)
            taken[(number.store_id, f"WO{number.year}")].append(number.seq)
    assert {store for store, _ in taken} == {"S01", "S02"}
    for seqs in taken.values():
        assert seqs == list(range(1, len(seqs) + 1))  # in order, too: one stream per store-year
    counted = [e for e in log if type(e).__qualname__ == "DocumentCounter.Taken"]
    assert len(counted) >= sum(len(seqs) for seqs in taken.values())
    # visits per store per day near --per-day (more at weekends), business times never later
    # than now and in working hours in Shanghai
    opened = [e for e in log if isinstance(e, WorkOrder.Opened)]
    for store in ("S01", "S02"):
        per_day = len([e for e in opened if e.audit.store_id == store]) / 30
        assert 2.5 <= per_day <= 4.5, (store, per_day)
    assert max(e.audit.at for e in log) <= NOW
    assert all(8 <= e.audit.at.astimezone(ZONE).hour < 18 for e in opened)
    # the hash chain links every appended event
    with psycopg.connect(url, autocommit=True) as conn:
        verified = audit_chain.verify(conn)
    assert verified.ok and verified.checked == len(log)
    # the long streams' snapshots hold the state their events make
    with psycopg.connect(url) as conn:
        snapshotted: list[tuple[UUID, int]] = conn.execute(
            f"SELECT originator_id, originator_version FROM {SNAPSHOTS_TABLE}").fetchall()
    assert snapshotted  # the busiest stock items pass 100 events in a month
    snapshots = system.app.snapshots
    assert snapshots is not None
    for stream_id, version in snapshotted:
        snapshot: Any = next(iter(snapshots.get(stream_id, lte=version, desc=True, limit=1)))
        replayed = project_aggregate(None, system.app.events.get(stream_id, lte=version))
        assert vars(snapshot.mutate(None)) == vars(replayed)
    # and `audit verify` finds every one of them sound
    with psycopg.connect(url) as conn:
        checked = audit_chain.verify_snapshots(conn)
    assert checked.ok and checked.checked == len(snapshotted), checked


def test_every_reader_processes_a_staged_history(
        group: tuple[Container, HistoryFigures, str], tmp_path: Path) -> None:
    system, figures, _url = group
    head = system.app.recorder.max_notification_id()
    for runner in system.make_runners():
        runner.catch_up()
        assert runner.position() == head, runner.view.name
    with psycopg.connect(system.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM wo_view").fetchone()
    assert row is not None and row[0] == figures.visits
    loader = AnalyticsLoader(system.app, tmp_path / "history.duckdb")
    try:
        loader.catch_up()
        assert loader.position() == head
        csi = run(loader.conn, "csi", Filters(store_id="S01", date_to=NOW.date()))["rows"][0]
        assert csi["surveys"] > 20 and 3 <= csi["average_score"] <= 5
        profit = run(loader.conn, "gross_profit", Filters(date_to=NOW.date()))["rows"]
        assert {row["store_id"] for row in profit} == {"S01", "S02"}
    finally:
        loader.close()


def test_a_staged_customers_data_is_sealed_with_a_key_of_their_own(
        group: tuple[Container, HistoryFigures, str]) -> None:
    system, _figures, _url = group
    registered = [e for e in events(system.app) if isinstance(e, Customer.Registered)]
    assert len(registered) > 100
    pii = system.app.personal_data
    for event in registered[:20]:
        assert event.sealed["name"].startswith("pii1:")
        name = pii.open(event.originator_id, event.sealed["name"])
        assert name and name[0] in SURNAMES and name[1:] in GIVEN
    with psycopg.connect(system.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM customer_keys").fetchone()
    assert row is not None and row[0] == len(registered)
    # erasure shreds the key that the staged history stored
    erased = registered[0]
    manager = Request(Caller("mgr", "manager", (erased.audit.store_id,), NOW, "corr-erase"))
    system.customers.erase(manager, erased.originator_id, reason="customer asked (PIPL)")
    assert pii.open(erased.originator_id, erased.sealed["name"]) == ERASED
    assert pii.open(registered[1].originator_id, registered[1].sealed["name"]) != ERASED


@pytest.fixture
def scratch(server_url: str, tmp_path: Path) -> Iterator[Container]:
    with scratch_database(server_url, "sc_hist_one") as url:
        system = build(settings_for(url, tmp_path))
        try:
            yield system
        finally:
            system.close()


def test_a_store_changed_while_its_history_is_staged_stops_it_with_no_double_number(
        scratch: Container) -> None:
    system = scratch
    clerk = Request(Caller("adv-s01", "advisor", ("S01",), NOW, "corr-desk"))
    visit: dict[str, Any] = {"store_id": "S01", "customer": {"name": "王磊", "phone": "13800138000"},
             "mileage": 42_000, "complaints": ["engine warning light"]}
    vins = [make_vin(random.Random(n)) for n in range(3)]
    system.work_orders.open(clerk, vehicle={"vin": vins[0]}, **visit)
    # A history is being staged for S01: its next work order takes number 2 in memory ...
    staged = StagedServiceCore(system.app)
    writer = LogWriter(staged, batch_events=1)
    desk = dataclasses.replace(system, app=staged).work_orders
    assert desk.open(clerk, vehicle={"vin": vins[1]}, **visit).body["number"] == \
        "WO-S01-2025-000002"
    # ... while the front desk, against the rule, opens one in the store: number 2 as well.
    system.work_orders.open(clerk, vehicle={"vin": vins[2]}, **visit)
    head = system.app.recorder.max_notification_id()
    # The staged save conflicts on the store's counter: the history stops, nothing of it lands.
    with pytest.raises(IntegrityError):
        writer.nudge()
        writer.finish()
    assert system.app.recorder.max_notification_id() == head
    log = list(events(system.app))
    numbers = [e.number for e in log if isinstance(e, WorkOrder.Opened)]
    assert numbers == ["WO-S01-2025-000001", "WO-S01-2025-000002"]
    assert_versions_contiguous(log)
