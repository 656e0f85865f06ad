"""A part's stock in a store as it stood at a moment (`GET /stock/{store}/{part}?as_of=`), and
when each reservation it then held was made (the first `Reserved` of its key still held, or
the `ScrapRequested` of a scrap request's hold, as the stock view's `at` keeps it).

The item is replayed from the latest trusted snapshot whose `stamped_until` is at or before the
moment (`stamped_start`), reading on until the first event stamped after it; the snapshot's
`reserved_since` (domain/stamps.py) tells when each reservation it held was made, so the read
costs about the events since that snapshot. Snapshots taken before those were kept take the
earlier path below: the item is replayed from the latest trusted snapshot at or before the
version the moment reaches (projections/as_of_start.py). A reservation the snapshot already held was made before
it, so its time is not among the events replayed: when one is still held at the moment, the
replay runs again from an earlier start that held none of them, where each was made after the
start. That start is found from the stream's `Reserved` events naming those keys (picked out
by the database): the latest trusted snapshot before the first of them that holds none of the
keys (checked on the snapshot itself, so a wrong pick only costs time), else the first event.
Any key held at that start and still held at the moment would have been held at the first
start too, and so is one of them: none is left unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from itertools import islice, takewhile
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.utils import get_topic

from domain.application import ServiceCore
from domain.stamps import RESERVED_SINCE
from domain.stock import StockItem, held_key
from domain.stock_state import count_hold, scrap_hold
from domain.transfer import Transfer
from domain.unreadable_events import mutated
from projections.as_of_start import (
    FIRST_EVENT,
    SNAPSHOT_PAGE,
    Start,
    reached_version,
    stamped_start,
    trusted_starts,
)
from projections.audit import aggregate_as_of, stream_events

RESERVED = get_topic(StockItem.Reserved)
SCRAP_REQUESTED = get_topic(StockItem.ScrapRequested)
COUNTED = get_topic(StockItem.Counted)
# The transfers of a part to a store sent by a moment and not booked in by then, as the stock
# view lists them (their stamps are the events'); each is then replayed to that moment.
SENT_BY = """SELECT id FROM transfers WHERE to_store = %s AND part_number = %s
    AND sent_at <= %s AND (received_at IS NULL OR received_at > %s)"""


def stock_as_of(app: ServiceCore, stream_id: UUID, at: datetime
                ) -> tuple[Any | None, dict[str, datetime]]:
    """The stock item at `at` (None before it was opened) and when each reservation it then
    held was made."""
    start = stamped_start(app, stream_id, at)
    if start is not None:
        item = start.aggregate
        for event in takewhile(lambda event: event.audit.at <= at,
                               stream_events(app, stream_id, gt=start.version)):
            item = mutated(event, item)
        since = getattr(item, RESERVED_SINCE, None)
        if isinstance(since, dict):
            return item, dict(since)
    reach = reached_version(app, stream_id, at)
    if reach is None:
        item, since = _replayed(FIRST_EVENT, takewhile(lambda event: event.audit.at <= at,
                                                        stream_events(app, stream_id)))
        return item, _known(since)
    start = next(trusted_starts(app, stream_id, reach))
    item, since = _replayed(start, stream_events(app, stream_id, gt=start.version, lte=reach))
    unknown = {key for key, made in since.items() if made is None}
    if unknown:
        start = _start_before(app, stream_id, start.version, unknown)
        item, since = _replayed(start, stream_events(app, stream_id, gt=start.version,
                                                     lte=reach))
    return item, _known(since)


def _known(since: dict[str, datetime | None]) -> dict[str, datetime]:
    return {key: made for key, made in since.items() if made is not None}


def _held(item: Any) -> dict[str, Any]:
    held: dict[str, Any] = getattr(item, "reserved", {})
    return held


def _replayed(start: Start, events: Iterable[Any]
              ) -> tuple[Any | None, dict[str, datetime | None]]:
    """The item the events make from `start`, and when each reservation it then holds was
    made (None: before the start)."""
    item = start.aggregate
    since: dict[str, datetime | None] = dict.fromkeys(_held(item))
    for event in events:
        item = mutated(event, item)
        key = held_key(event)
        if key is not None:
            since.setdefault(key, event.audit.at)
        held = _held(item)
        since = {k: v for k, v in since.items() if k in held}
    return item, since


def _start_before(app: ServiceCore, stream_id: UUID, version: int, keys: set[str]) -> Start:
    """A start at or before `version` that holds none of `keys`: the latest trusted snapshot
    before the first `Reserved` of one of them (or one of the few before it), else the
    stream's first event."""
    select = getattr(app.recorder, "select_events_holding", None)
    mapper = app.mapper
    if select is None or mapper.cipher is not None or mapper.compressor is not None:
        return FIRST_EVENT
    # each key as the stored state spells it: a JSON string, quotes included (a scrap
    # request's hold by its request id, as its `ScrapRequested` names it; a waiting count's by
    # its count id, as its `Counted` names it)
    needles = [mapper.transcoder.encode(key.removeprefix(scrap_hold("")).removeprefix(
        count_hold(""))) for key in sorted(keys)]
    found = select(stream_id, topics=[RESERVED, SCRAP_REQUESTED, COUNTED], needles=needles,
                   lte=version)
    if not found:
        return FIRST_EVENT
    first = min(event.originator_version for event in found)
    for start in islice(trusted_starts(app, stream_id, first - 1), SNAPSHOT_PAGE):
        if not keys & set(_held(start.aggregate)):
            return start
    return FIRST_EVENT


def in_transit_as_of(app: ServiceCore, conn: psycopg.Connection[Any], store_id: str,
                     part_number: str, at: datetime) -> Decimal:
    """The units of the part on their way to the store at `at`: the transfers sent to it by
    then and not yet booked in, each as its events stood at that moment (the `in_transit` the
    stock view showed then)."""
    total = Decimal(0)
    for (transfer_id,) in conn.execute(SENT_BY, (store_id, part_number, at, at)).fetchall():
        transfer = aggregate_as_of(app, transfer_id, at)
        if isinstance(transfer, Transfer) and transfer.status == "in_transit":
            total += transfer.qty
    return total
