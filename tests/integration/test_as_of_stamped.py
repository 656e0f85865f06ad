"""`as_of` from a snapshot's own stamps is `as_of` by full replay, on real PostgreSQL.

Each snapshot now states `stamped_until`, the latest stamp of the events it stands for, and a
stock item's `reserved_since`, when each reservation it holds was made (both domain/stamps.py):
the read starts from the latest trusted snapshot whose `stamped_until` is at or before the
moment and reads on to the first event stamped after it (projections/as_of_start.py
`stamped_start`), with no scan of the stream. For any run of
events stamped mostly in order but now and then earlier than the one before, for every moment
that matters, the start is the latest snapshot the replay up to the moment passes, and the
answer is the full replay's; snapshots forged with a stamp before every moment (sealed with
another key, or not at all) are passed over; snapshots taken before the stamps were kept
(sealed by the application, without the fields) take the earlier path and answer the same;
`audit verify` accepts both kinds and names one whose kept stamps are not its events'.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.domain import Snapshot
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import ServiceCore
from domain.stamps import KEPT_LATER, RESERVED_SINCE, STAMPED_UNTIL
from projections.as_of_start import stamped_start
from projections.snapshot_check import _check_stream
from projections.stock_as_of import stock_as_of
from servicecore.container import Container, eventsourcing_env
from tests.integration.test_as_of_snapshots import (
    EVERY,
    GAP,
    STEP,
    T0,
    EveryFewEvents,
    _audit,
    build,
    by_full_replay,
    forge,
    moments,
)
from tests.scratch_systems import module_container

FORGERY = st.tuples(st.integers(0, 200), st.sampled_from(["other key", "unsealed"]))


# A database of the module's own: its tests forge snapshots, which `audit verify` of the
# database (a later test's, in the same test process) would rightly name as breaks.
container = module_container("sc_as_of_stamped")


@pytest.fixture(scope="module")
def database_url(container: Container) -> str:
    return container.settings.database_url


@pytest.fixture(scope="module")
def app(container: Container, database_url: str) -> Iterator[ServiceCore]:
    made = EveryFewEvents(env={**eventsourcing_env(database_url, container.settings),
                               "AGGREGATE_CACHE_MAXSIZE": ""})
    yield made
    made.close()


class NoSnapshots(ServiceCore):
    name = ServiceCore.name  # the same tables
    snapshotting_intervals = {}  # noqa: RUF012


@pytest.fixture(scope="module")
def writer(container: Container, database_url: str) -> Iterator[ServiceCore]:
    """A process that takes no snapshots (the test takes them, in either format)."""
    made = NoSnapshots(env={**eventsourcing_env(database_url, container.settings),
                            "AGGREGATE_CACHE_MAXSIZE": ""})
    yield made
    made.close()


def _state(item: Any, kept: bool = True) -> dict[str, Any] | None:
    if item is None:
        return None
    return {k: v for k, v in vars(item).items()
            if k != "_pending_events" and (kept or k not in KEPT_LATER)}


def _replayed(app: ServiceCore, stream_id: UUID, version: int) -> Any:
    item: Any = None
    for event in app.events.get(stream_id, lte=version):
        item = event.mutate(item)
    return item


def _insert(database_url: str, stored: Any) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO servicecore_snapshots (originator_id, originator_version, "
                     "topic, state) VALUES (%s, %s, %s, %s)",
                     (stored.originator_id, stored.originator_version, stored.topic,
                      stored.state))


def snapshot_every_few(app: ServiceCore, database_url: str, stream_id: UUID, last: int,
                       old_upto: int) -> None:
    """The application's own (sealed) snapshots every EVERY events of a stream saved without
    them; those up to version `old_upto` as they were taken before the stamps were kept
    (without `stamped_until` and `reserved_since`)."""
    for version in range(EVERY, last + 1, EVERY):
        item = _replayed(app, stream_id, version)
        for key in KEPT_LATER if version <= old_upto else ():
            del item.__dict__[key]
        _insert(database_url, app.snapshots.mapper.to_stored_event(Snapshot.take(item)))


def _forged_stamp(item: Any) -> None:
    """A stamp before every moment, so the database's hint picks the row, and a changed level."""
    item.stamped_until = T0 - timedelta(days=1)
    item.min_stock += 7


def expected_start(reach: int, old_upto: int) -> int | None:
    """The latest snapshot the application took at or before `reach`, if it has the stamps."""
    version = reach // EVERY * EVERY
    return version if version > old_upto and version > 0 else None


def check_every_moment(app: ServiceCore, stream_id: UUID, stamps: list[datetime],
                       old_upto: int = 0) -> None:
    for at in moments(stamps):
        item, since = by_full_replay(app, stream_id, at)
        reach = item.version if item is not None else 0
        start = stamped_start(app, stream_id, at)
        assert (start and start.version) == expected_start(reach, old_upto), at
        got, got_since = stock_as_of(app, stream_id, at)
        # from a snapshot without the stamps the item keeps none (the read does not use them)
        assert _state(got, kept=start is not None) == _state(item, kept=start is not None), at
        assert got_since == since, at


@settings(max_examples=30, deadline=None)
@given(steps=st.lists(STEP, min_size=1, max_size=40), gaps=st.lists(GAP, min_size=1),
       saves=st.lists(st.booleans(), min_size=1), forged=st.none() | FORGERY,
       old=st.integers(0, 48))
def test_as_of_from_the_stamped_snapshot_is_the_full_replay(
        app: ServiceCore, writer: ServiceCore, database_url: str,
        steps: list[tuple[Any, ...]], gaps: list[int], saves: list[bool],
        forged: tuple[int, str] | None, old: int) -> None:
    stream_id, stamps = build(writer, steps, gaps, saves)
    old_upto = old % (len(stamps) + 1) if old % 3 else 0  # a third: no old snapshot
    snapshot_every_few(app, database_url, stream_id, len(stamps), old_upto)
    if forged is not None:  # at a version the application did not snapshot
        version = forged[0] % len(stamps) + 1
        version -= 0 if version % EVERY else 1
        if version:
            forge(app, database_url, stream_id, version, forged[1], change=_forged_stamp)
    check_every_moment(app, stream_id, stamps, old_upto)


def test_a_reservation_held_since_the_first_events_keeps_its_time_from_the_snapshot(
        app: ServiceCore) -> None:
    steps = [("receive", "4"), ("reserve", 0, "1")]
    steps += [("receive", "1"), ("reserve", 1, "1"), ("issue", 1, "1")] * 8
    stream_id, stamps = build(app, steps, [5, 0, 7, -2], [True, False, False])
    check_every_moment(app, stream_id, stamps)
    start = stamped_start(app, stream_id, max(stamps))
    assert start is not None and start.version > 3
    assert getattr(start.aggregate, RESERVED_SINCE)["line-0"] == stamps[2]
    item, since = stock_as_of(app, stream_id, max(stamps))
    assert item is not None and since["line-0"] == stamps[2]


def test_a_stamp_out_of_order_bounds_the_start(app: ServiceCore) -> None:
    """An event stamped after the moment and followed by earlier stamps: the replay stops at
    it, so no snapshot after it is a start, though the events before and after it are
    stamped before the moment."""
    steps = [("receive", "1")] * 12
    gaps = [10, 10, 10, 10, 10, 100, -95, 1, 1, 1, 1, 1]  # version 7 is stamped late
    stream_id, stamps = build(app, steps, gaps, [True])
    at = stamps[7] + timedelta(milliseconds=1)  # after version 8, before version 7's stamp
    item, _ = by_full_replay(app, stream_id, at)
    assert item is not None and item.version == 6
    start = stamped_start(app, stream_id, at)
    assert start is not None and start.version == 4
    assert getattr(start.aggregate, STAMPED_UNTIL) == stamps[3]
    check_every_moment(app, stream_id, stamps)


def test_audit_verify_accepts_both_formats_and_names_wrong_stamps(
        app: ServiceCore, writer: ServiceCore, database_url: str) -> None:
    steps = [("receive", "4"), ("reserve", 0, "1"), ("receive", "1"), ("reserve", 1, "1")] * 3
    stream_id, stamps = build(writer, steps, [5, -2], [True])
    snapshot_every_few(app, database_url, stream_id, len(stamps), 4)
    with psycopg.connect(database_url) as conn:
        assert _check_stream(conn, app.mapper, stream_id) == (len(stamps) // EVERY, None)
    assert len(stamps) >= 8
    item = _replayed(app, stream_id, 6)
    item.reserved_since = {key: T0 for key in item.reserved_since}  # sealed, but not so
    _insert(database_url, app.snapshots.mapper.to_stored_event(Snapshot.take(item)))
    with psycopg.connect(database_url) as conn:
        _, broken = _check_stream(conn, app.mapper, stream_id)
    assert broken is not None and broken.version == 6


def test_a_stream_snapshotted_before_the_stamps_has_them_from_its_next_snapshot_on(
        app: ServiceCore, writer: ServiceCore, database_url: str) -> None:
    steps = [("receive", "4"), ("reserve", 0, "1"), ("receive", "1")] * 3
    stream_id, stamps = build(writer, steps, [5], [True])
    old = len(stamps)
    snapshot_every_few(app, database_url, stream_id, old, old_upto=old)  # every one without
    item = app.repository.get(stream_id)
    assert STAMPED_UNTIL not in vars(item)  # loaded from one of them: it keeps no stamps
    # Events up to the application's next snapshot, the item loaded from the old one: that
    # snapshot is taken from the stream's events alone, with the stamps.
    at = max(stamps)
    while item.version % EVERY or item.version == old:
        at += timedelta(seconds=3)
        item.receive(_audit(at), qty="1", unit_cost="12.50", supplier="Bosch",
                     supplier_doc="DN-2")
        stamps.append(at)
    app.save(item)
    start = stamped_start(app, stream_id, at)
    assert start is not None and start.version == item.version
    assert _state(start.aggregate) == _state(_replayed(app, stream_id, item.version))
    assert getattr(start.aggregate, RESERVED_SINCE) == {"line-0": stamps[2]}
    check_every_moment(app, stream_id, stamps, old_upto=old)
