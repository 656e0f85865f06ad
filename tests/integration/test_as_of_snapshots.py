"""`as_of` from a snapshot is `as_of` by full replay, on real PostgreSQL.

A stock item's `as_of` starts from the latest trusted snapshot at or before the version the
moment reaches (projections/as_of_start.py, projections/stock_as_of.py). For any run of
receipts, reservations, issues and releases, stamped mostly in order but now and then earlier
than the event before (a command retried on fresh state keeps its request's time), saved in
batches, and for every moment that matters (before the first event, exactly at each event's
stamp, between two, after the last), the item and its reservations' times are the ones the
replay from the first event gives; a snapshot forged behind the application's back (sealed with
another key, or not sealed) is passed over, never used.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.domain import Snapshot
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import ServiceCore
from domain.common import Audit, DomainError
from domain.snapshot_seal import sealed
from domain.stock import StockItem
from projections.as_of_start import reached_version, trusted_starts
from projections.audit import aggregate_as_of
from projections.stock_as_of import stock_as_of
from servicecore.container import Container, eventsourcing_env
from tests.scratch_systems import module_container

EVERY = 4  # a snapshot every 4 events: several in a short stream
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
KEYS = st.integers(0, 3)
STEP = st.one_of(
    st.tuples(st.just("receive"), st.sampled_from(["1", "2.5", "4"])),
    st.tuples(st.just("reserve"), KEYS, st.sampled_from(["0.5", "1", "2"])),
    st.tuples(st.just("issue"), KEYS, st.sampled_from(["0.5", "1"])),
    st.tuples(st.just("release"), KEYS),
)
# seconds after the event before: mostly later, sometimes the same time, sometimes earlier
GAP = st.integers(-3, 6)


class EveryFewEvents(ServiceCore):
    name = ServiceCore.name  # the same tables
    snapshotting_intervals = {StockItem: EVERY}  # noqa: RUF012


# A database of the module's own: its tests forge snapshots, which `audit verify` of the
# database (a later test's, in the same test process) would rightly name as breaks.
container = module_container("sc_as_of_snap")


@pytest.fixture(scope="module")
def database_url(container: Container) -> str:
    return container.settings.database_url


@pytest.fixture(scope="module")
def app(container: Container, database_url: str) -> Iterator[ServiceCore]:
    """A process of its own on the session's database, sealing with the server's key, with
    no aggregate cache."""
    made = EveryFewEvents(env={**eventsourcing_env(database_url, container.settings),
                               "AGGREGATE_CACHE_MAXSIZE": ""})
    yield made
    made.close()


def by_full_replay(app: ServiceCore, stream_id: UUID, at: datetime
                   ) -> tuple[Any | None, dict[str, datetime]]:
    """What `as_of` answered before snapshots: every event from the first, up to the first
    stamped after `at`."""
    item: Any = None
    since: dict[str, datetime] = {}
    for event in app.events.get(stream_id):
        if event.audit.at > at:
            break
        item = event.mutate(item)
        if isinstance(event, StockItem.Reserved):
            since.setdefault(event.key, event.audit.at)
        held = getattr(item, "reserved", {})
        since = {k: v for k, v in since.items() if k in held}
    return item, since


def _state(item: Any) -> dict[str, Any] | None:
    return None if item is None else {k: v for k, v in vars(item).items()
                                      if k != "_pending_events"}


def _audit(at: datetime) -> Audit:
    return Audit("clerk-1", "parts_clerk", "S01", at, "as-of-test")


def build(app: ServiceCore, steps: list[tuple[Any, ...]], gaps: list[int],
          saves: list[bool]) -> tuple[UUID, list[datetime]]:
    """A stock item of its own, made by the steps the rules allow, saved where `saves` says;
    and the stamp of each of its events."""
    at = T0
    item = StockItem(_audit(at), "S01", f"AS-OF-{uuid.uuid4().hex[:8]}", "pc", Decimal(1))
    stamps = [at]
    for i, step in enumerate(steps):
        at += timedelta(seconds=gaps[i % len(gaps)])
        before = item.version
        try:
            _apply(item, _audit(at), step)
        except DomainError:
            continue
        stamps += [at] * (item.version - before)
        if saves[i % len(saves)]:
            app.save(item)
    app.save(item)
    return item.id, stamps


def _apply(item: StockItem, audit: Audit, step: tuple[Any, ...]) -> None:
    kind, *args = step
    if kind == "receive":
        item.receive(audit, qty=args[0], unit_cost="12.50", supplier="Bosch",
                     supplier_doc="DN-1")
    elif kind == "reserve":
        item.reserve(audit, f"line-{args[0]}", args[1])
    elif kind == "issue":
        item.issue(audit, f"line-{args[0]}", args[1])
    else:
        item.release(audit, f"line-{args[0]}", "customer declined")


def moments(stamps: list[datetime]) -> list[datetime]:
    """Before the first event, at each stamp, just after each, and after the last."""
    inner = sorted({m for s in stamps for m in (s, s + timedelta(milliseconds=500))})
    return [stamps[0] - timedelta(seconds=1), *inner, max(stamps) + timedelta(hours=1)]


def forge(app: ServiceCore, database_url: str, stream_id: UUID, version: int,
          how: str, change: Callable[[Any], None] | None = None) -> None:
    """Insert a snapshot of `version` whose state is not the events' (by `change`; by default
    the minimum level raised), sealed with another key or not at all: as a writer without the
    key could."""
    item: Any = None
    for event in app.events.get(stream_id, lte=version):
        item = event.mutate(item)
    if change is None:
        item.min_stock += 7
    else:
        change(item)
    stored = app.mapper.to_stored_event(Snapshot.take(item))
    if how == "other key":
        stored = sealed(b"k" * 32, stored)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO servicecore_snapshots (originator_id, originator_version, "
                     "topic, state) VALUES (%s, %s, %s, %s)",
                     (stream_id, version, stored.topic, stored.state))


def check_every_moment(app: ServiceCore, stream_id: UUID, stamps: list[datetime]) -> None:
    for at in moments(stamps):
        item, since = by_full_replay(app, stream_id, at)
        reach = item.version if item is not None else 0
        assert reached_version(app, stream_id, at) == reach, at
        # the snapshot the replay starts from is the latest the application took (and sealed)
        assert next(trusted_starts(app, stream_id, reach)).version == reach // EVERY * EVERY
        got, got_since = stock_as_of(app, stream_id, at)
        assert _state(got) == _state(item), at
        assert got_since == since, at
        assert _state(aggregate_as_of(app, stream_id, at)) == _state(item), at


@settings(max_examples=25, deadline=None)
@given(steps=st.lists(STEP, min_size=1, max_size=40), gaps=st.lists(GAP, min_size=1),
       saves=st.lists(st.booleans(), min_size=1),
       forged=st.none() | st.tuples(st.integers(0, 200), st.sampled_from(["other key",
                                                                           "unsealed"])))
def test_as_of_from_a_snapshot_is_the_full_replay(
        app: ServiceCore, database_url: str, steps: list[tuple[Any, ...]], gaps: list[int],
        saves: list[bool], forged: tuple[int, str] | None) -> None:
    stream_id, stamps = build(app, steps, gaps, saves)
    if forged is not None:  # at a version the application did not snapshot
        version = forged[0] % len(stamps) + 1
        version -= 0 if version % EVERY else 1
        if version:
            forge(app, database_url, stream_id, version, forged[1])
    check_every_moment(app, stream_id, stamps)


def test_a_forged_snapshot_is_counted_as_refused_and_the_read_replays(
        app: ServiceCore, database_url: str) -> None:
    steps = [("receive", "4"), ("reserve", 0, "1"), ("issue", 0, "1"), ("receive", "2"),
             ("reserve", 1, "2"), ("release", 1), ("receive", "1")]
    stream_id, stamps = build(app, steps, [60], [True])  # versions 1..8, snapshots at 4 and 8
    forge(app, database_url, stream_id, 7, "other key")  # nothing was reserved then
    refused = sum(app.snapshots.refused.values())  # type: ignore[attr-defined]
    at = stamps[6]  # version 7: the forged snapshot is the latest at or before it
    item, since = by_full_replay(app, stream_id, at)
    got, got_since = stock_as_of(app, stream_id, at)
    assert (_state(got), got_since) == (_state(item), since)
    assert got is not None and got.min_stock == Decimal(1)  # not the forged 8
    assert sum(app.snapshots.refused.values()) > refused  # type: ignore[attr-defined]


def test_snapshots_sealed_under_another_key_are_never_a_start(
        container: Container, database_url: str) -> None:
    """A stream whose every snapshot another key sealed (a process without the server's key):
    each read replays from the first event, and answers as the full replay does."""
    other = EveryFewEvents(env={**eventsourcing_env(database_url, container.settings),
                                "AGGREGATE_CACHE_MAXSIZE": "",
                                ServiceCore.SNAPSHOT_SEAL_KEY: "ab" * 32})
    reader = EveryFewEvents(env={**eventsourcing_env(database_url, container.settings),
                                 "AGGREGATE_CACHE_MAXSIZE": ""})
    try:
        steps = [("receive", "4"), ("reserve", 0, "1"), ("receive", "1"), ("issue", 0, "1"),
                 ("reserve", 2, "2"), ("receive", "4"), ("receive", "1"), ("issue", 2, "1")]
        stream_id, stamps = build(other, steps, [30, -10, 45], [True, False])
        for at in moments(stamps):
            item, since = by_full_replay(reader, stream_id, at)
            reach = item.version if item is not None else 0
            assert next(trusted_starts(reader, stream_id, reach)).version == 0
            got, got_since = stock_as_of(reader, stream_id, at)
            assert (_state(got), got_since) == (_state(item), since), at
    finally:
        other.close()
        reader.close()


def test_a_reservation_held_from_before_the_snapshot_keeps_its_time(
        app: ServiceCore) -> None:
    """Line 0 is reserved by the third event and still held 20 events later: its time comes
    from an earlier start (here the first event), the other lines' from the snapshot on."""
    steps = [("receive", "4"), ("reserve", 0, "1")]
    steps += [("receive", "1"), ("reserve", 1, "1"), ("issue", 1, "1")] * 6
    stream_id, stamps = build(app, steps, [5, 0, 7, -2], [True, False, False])
    check_every_moment(app, stream_id, stamps)
    item, since = stock_as_of(app, stream_id, max(stamps))
    assert item is not None and "line-0" in item.reserved and since["line-0"] == stamps[2]


def test_a_stamp_without_its_offset_leaves_the_version_to_the_replay(app: ServiceCore) -> None:
    """The database would read a stamp without a UTC offset in its own time zone, the replay
    cannot compare it at all: the version is not worked out from it."""
    naive = Audit("clerk-1", "parts_clerk", "S01", datetime(2025, 3, 1, 9, 0), "as-of-test")
    item = StockItem(naive, "S01", f"AS-OF-{uuid.uuid4().hex[:8]}", "pc", Decimal(1))
    app.save(item)
    assert reached_version(app, item.id, T0) is None
    stream_id, _ = build(app, [("receive", "1")], [1], [True])
    assert reached_version(app, stream_id, T0) == 1
