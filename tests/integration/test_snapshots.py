"""Snapshots of long-lived streams: a cold process loads them, never a different state.

A counter holds one event per number; after `SNAPSHOT_EVERY` events a snapshot is stored in the
same process, and a process that starts cold loads the snapshot plus the events after it. The
state must equal a full replay of the events, which stay the record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from domain.application import SNAPSHOT_EVERY, ServiceCore
from domain.common import Audit
from domain.counter import DocumentCounter
from domain.stock_lots import EXHAUSTED_KEPT
from servicecore.container import Container, eventsourcing_env
from servicecore.schema import SNAPSHOTS_TABLE
from tests.scratch_systems import module_container

AUDIT = Audit("mgr-1", "manager", "S01", datetime.now(UTC), "snapshot-test")


# A database of the module's own: its tests put snapshots of older shapes, which `audit verify`
# of the database (a later test's, in the same test process) would rightly name as breaks.
container = module_container("sc_snapshots")


@pytest.fixture(scope="module")
def database_url(container: Container) -> str:
    return container.settings.database_url


def _state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if not k.startswith("_")} | {
        "version": aggregate.version}


def test_a_cold_process_loads_the_snapshot_and_gets_the_replayed_state(
        container: Container, database_url: str, store_id: str) -> None:
    app = container.app
    counter = DocumentCounter(series="snap", store_id=store_id, year=2026, audit=AUDIT)
    app.save(counter)
    for _ in range(SNAPSHOT_EVERY * 2 + 7):  # one number per save, as work orders take them
        counter.take(AUDIT, "WO")
        app.save(counter)

    with psycopg.connect(database_url) as conn:
        versions = [r[0] for r in conn.execute(
            f"SELECT originator_version FROM {SNAPSHOTS_TABLE} WHERE originator_id = %s "
            "ORDER BY 1", (counter.id,))]
    assert versions == [SNAPSHOT_EVERY, SNAPSHOT_EVERY * 2]

    cold = ServiceCore(env={**eventsourcing_env(database_url, container.settings),
                            "AGGREGATE_CACHE_MAXSIZE": ""})
    try:
        from_snapshot = cold.repository.get(counter.id)
        events = list(cold.events.get(counter.id))
        replayed = None
        for event in events:
            replayed = event.mutate(replayed)
    finally:
        cold.close()
    assert _state(from_snapshot) == _state(replayed) == _state(counter)
    assert from_snapshot.last == SNAPSHOT_EVERY * 2 + 7


def test_the_application_role_cannot_change_a_snapshot(container: Container,
                                                       database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn, \
            pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f"UPDATE {SNAPSHOTS_TABLE} SET state = state")


def test_a_save_of_aggregates_records_caches_and_snapshots_as_the_library_does(
        container: Container, store_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ServiceCore.save` collects aggregates itself (no runtime-protocol checks); anything
    else still goes through the library's `Application.save`."""
    from eventsourcing.application import Application, ProcessingEvent

    app = container.app
    ours = DocumentCounter(series="save-a", store_id=store_id, year=2026, audit=AUDIT)
    theirs = DocumentCounter(series="save-b", store_id=store_id, year=2026, audit=AUDIT)
    for _ in range(SNAPSHOT_EVERY - 1):
        ours.take(AUDIT, "WO")
        theirs.take(AUDIT, "WO")

    def refused(*_: Any, **__: Any) -> None:
        raise AssertionError("the library's collection was used")

    with monkeypatch.context() as patch:
        patch.setattr(ProcessingEvent, "collect_events", refused)
        mine = app.save(ours)
        with pytest.raises(AssertionError, match="library's collection"):
            app.save(None)  # not an aggregate: the library's path
    library = Application.save(app, theirs)

    assert [r.domain_event.originator_version for r in mine] == list(range(1, SNAPSHOT_EVERY + 1))
    assert ([type(r.domain_event) for r in mine]
            == [type(r.domain_event) for r in library])
    assert [r.notification.id for r in mine] == sorted(r.notification.id for r in mine)
    assert _state(app.repository.get(ours.id)) == _state(ours)
    for counter in (ours, theirs):  # version SNAPSHOT_EVERY reached: a snapshot each
        assert [s.originator_version for s in app.snapshots.get(counter.id)] == [SNAPSHOT_EVERY]
    assert not ours.collect_events()


def replay_of(app: ServiceCore, aggregate_id: Any) -> Any:
    """The aggregate its stored events give, replayed in this process."""
    replayed: Any = None
    for event in app.events.get(aggregate_id):
        replayed = event.mutate(replayed)  # type: ignore[attr-defined]
    return replayed


def _cold_load(container: Container, database_url: str, aggregate_id: Any) -> Any:
    """The aggregate as a process without it in memory loads it (snapshot + later events)."""
    cold = ServiceCore(env={**eventsourcing_env(database_url, container.settings),
                            "AGGREGATE_CACHE_MAXSIZE": ""})
    try:
        assert cold.snapshots is not None and list(cold.snapshots.get(aggregate_id))
        return cold.repository.get(aggregate_id)
    finally:
        cold.close()


def test_a_stock_item_loads_from_a_snapshot_of_its_first_shape(
        container: Container, database_url: str, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Stock items stored before open and used-up lots were kept apart have snapshots holding
    one `lots` dict (every lot ever taken in): a cold process upcasts such a snapshot to the
    state the events give, and numbers the next lot after every lot before it."""
    from eventsourcing.domain import Snapshot

    from domain.aggregate_loads import copy_plain
    from domain.stock import StockItem

    app = container.app
    clerk = Audit("clerk-1", "parts_clerk", store_id, datetime.now(UTC), "snapshot-test")
    item = StockItem(store_id=store_id, part_number="SNAP-1", unit="pc", min_stock=Decimal(0),
                     audit=clerk)
    held: dict[str, Any] = {}
    for n in range(SNAPSHOT_EVERY):  # a snapshot of today's shape on the way
        item.receive(clerk, qty=2, unit_cost="12.50", supplier="Mann", supplier_doc=f"DN-{n}")
        held[f"wo-{n}:L1"] = item.issue(clerk, f"wo-{n}:L1", 2)
    item.return_from_job(clerk, "wo-7:L1", 1, "not fitted",  # lot 8 opens again
                         held=held["wo-7:L1"])
    item.receive(clerk, qty=3, unit_cost="13.00", supplier="Mann", supplier_doc="DN-last")
    app.save(item)
    assert item.version % SNAPSHOT_EVERY != 0
    assert _state(_cold_load(container, database_url, item.id)) == _state(item)  # today's shape
    # The snapshot an older release would have taken now: one `lots` dict of every lot, every
    # job's picks, no class version.
    with monkeypatch.context() as patch:
        patch.setattr(StockItem, "exhausted_kept", 10**9)
        every = replay_of(app, item.id)
    assert len(every.lots) == SNAPSHOT_EVERY + 1
    taken = Snapshot.take(item)
    first_shape = {k: v for k, v in taken.state.items() if k not in (
        "class_version", "open_lots", "exhausted_lots", "lot_count", "units_on_hand",
        "lots_value", "last_unit_cost")} | {"lots": copy_plain(every.lots),
                                            "issued": copy_plain(held)}
    assert app.snapshots is not None
    app.snapshots.put([Snapshot(originator_id=item.id, originator_version=item.version,
                                timestamp=taken.timestamp, topic=taken.topic,
                                state=first_shape)])

    cold = ServiceCore(env={**eventsourcing_env(database_url, container.settings),
                            "AGGREGATE_CACHE_MAXSIZE": ""})
    try:
        assert cold.snapshots is not None
        assert [s.originator_version for s in cold.snapshots.get(item.id)][-1] == item.version
        loaded: StockItem = cold.repository.get(item.id)
        replayed: Any = None
        for event in cold.events.get(item.id):
            replayed = event.mutate(replayed)  # type: ignore[attr-defined]
    finally:
        cold.close()
    assert _state(loaded) == _state(replayed) == _state(item)
    assert len(loaded.exhausted_lots) == EXHAUSTED_KEPT
    assert list(loaded.open_lots) == [f"SNAP-1-{n:05d}@{store_id}" for n in (8, 101)]
    assert (loaded.on_hand, loaded.fifo_value) == (Decimal(4), Decimal("51.50"))
    assert loaded.next_lot_id() == f"SNAP-1-00102@{store_id}"


def test_a_customer_snapshot_from_before_shortfalls_were_kept_is_replayed_instead(
        container: Container, database_url: str, store_id: str) -> None:
    """A customer's snapshot taken after a refund fell short, by the release before lots kept
    `short`, cannot say how much of `taken_back` was short: a cold process replays the
    customer's events instead of starting from it, and the loaded lots say it."""
    from datetime import date
    from uuid import uuid4

    from eventsourcing.domain import Snapshot

    from domain.customer import Customer
    from domain.loyalty import LoyaltyRules

    app, rules, today = container.app, LoyaltyRules(), date(2026, 5, 1)
    desk = Audit("cash-1", "cashier", store_id, datetime.now(UTC), "snapshot-test")
    customer = Customer(id=uuid4(), audit=desk, kind="person", sealed={})
    customer.earn_points(desk, rules, Decimal("900.00"), "WO-1", today)  # 90 points
    customer.redeem_points(desk, rules, 80, "SHOP-1", today)
    customer.refunded(desk, rules, "RF-1", uuid4(), "WO-1", Decimal("900.00"), "payment_return",
                      today)  # 90 due, 10 taken, 80 short
    app.save(customer)
    taken = Snapshot.take(customer)
    old = {**taken.state, "lots": [{k: v for k, v in lot.items() if k != "short"}
                                   for lot in taken.state["lots"]]}
    assert app.snapshots is not None
    app.snapshots.put([Snapshot(originator_id=customer.id,
                                originator_version=customer.version,
                                timestamp=taken.timestamp, topic=taken.topic, state=old)])

    loaded = _cold_load(container, database_url, customer.id)

    assert _state(loaded) == _state(replay_of(app, customer.id)) == _state(customer)
    assert loaded.lots[0]["short"] == 80
