"""Where a replay up to a moment (`?as_of=`) starts: the latest trusted snapshot at or before
the version the moment reaches, not the stream's first event.

A long-lived stream (a part's stock in a store) gathers tens of thousands of events over the
years; replaying all of them for every `as_of` made the read slower every year. The version a
moment reaches is worked out by the database from the stored events' audit stamps, as the
replay would stop (at the first event stamped after the moment: see VERSION_AT in
servicecore/event_reads.py); the replay then starts from a snapshot at or before that version
and applies only the events after it, so it ends in the very state the replay from the first
event gives.

Only a snapshot the application sealed, and whose seal checks out (domain/snapshot_seal.py),
is trusted; a refused one is passed over (logged and counted, as a command's load does), as is
one its class refuses as outdated (`outdated_snapshot`: domain/aggregate_loads.py). Without a
trusted snapshot, or when the database cannot tell the version (a recorder without SQL, a
stamp it cannot compare), the read replays from the first event as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Snapshot
from eventsourcing.utils import resolve_topic

from domain.application import ServiceCore
from domain.snapshot_seal import SealedSnapshots
from domain.stamps import STAMPED_UNTIL

SNAPSHOT_PAGE = 8  # snapshots read per query while looking for a trusted one


@dataclass(frozen=True)
class Start:
    """A replay's starting point: the state at `version` (a fresh object of its own), or
    None and 0 for the stream's first event."""

    aggregate: Any | None
    version: int


FIRST_EVENT = Start(None, 0)


def reached_version(app: ServiceCore, stream_id: UUID, at: datetime) -> int | None:
    """The version a replay up to `at` reaches (0: none yet); None when the event store cannot
    tell (the caller replays from the first event and compares each stamp itself)."""
    select = getattr(app.recorder, "select_version_at", None)
    if select is None or app.mapper.cipher is not None or app.mapper.compressor is not None:
        return None
    found = select(stream_id, at)
    return found if isinstance(found, int) else None


def trusted_starts(app: ServiceCore, stream_id: UUID, reach: int) -> Iterator[Start]:
    """The trusted snapshots at or before version `reach`, latest first, each as a Start;
    then the stream's first event (FIRST_EVENT), always."""
    store = app.snapshots
    lte, page = reach, 1  # the latest is most often the one: read alone, then a page at a time
    while isinstance(store, SealedSnapshots) and lte > 0:
        rows = store.recorder.select_events(stream_id, lte=lte, desc=True, limit=page)
        for stored in rows:
            snapshot = store.decoded(stored)  # None: refused (its seal), logged and counted
            if isinstance(snapshot, Snapshot) and not _outdated(snapshot):
                yield Start(snapshot.mutate(None), snapshot.originator_version)
        if len(rows) < page:
            break
        lte, page = rows[-1].originator_version - 1, SNAPSHOT_PAGE
    yield FIRST_EVENT


def stamped_start(app: ServiceCore, stream_id: UUID, at: datetime) -> Start | None:
    """The latest trusted snapshot whose `stamped_until` (domain/stamps.py) is at or before
    `at`: every event up to it is stamped at or before the moment, so a replay up to `at`
    applies them all and may start there, reading on until the first event stamped after `at`.
    None when there is none (snapshots taken before the stamp was kept, none at all) or the
    database cannot tell: the caller takes the earlier path (`reached_version`)."""
    store = app.snapshots
    select = getattr(app.recorder, "select_snapshots_stamped", None)
    mapper = app.mapper
    if not isinstance(store, SealedSnapshots) or select is None \
            or mapper.cipher is not None or mapper.compressor is not None:
        return None
    lte, page = 2 ** 62, 1  # the latest is most often the one: read alone, then a page
    while True:
        rows = select(stream_id, store.recorder, at, lte, page)
        if not rows:
            return None
        for stored in rows:
            snapshot = store.decoded(stored)  # None: refused (its seal), logged and counted
            if not isinstance(snapshot, Snapshot) or _outdated(snapshot):
                continue
            stamped = snapshot.state.get(STAMPED_UNTIL)
            if isinstance(stamped, datetime) and stamped.utcoffset() is not None \
                    and stamped <= at:
                return Start(snapshot.mutate(None), snapshot.originator_version)
        if len(rows) < page:
            return None
        lte, page = rows[-1].originator_version - 1, SNAPSHOT_PAGE


def _outdated(snapshot: Snapshot) -> bool:
    refuses = getattr(resolve_topic(snapshot.topic), "outdated_snapshot", None)
    return bool(refuses is not None and refuses(snapshot.state))
