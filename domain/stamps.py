"""What a stream's events were stamped with so far, kept on the aggregate and so in each of its
snapshots: where an `as_of` read may start and stop without scanning the whole stream
(projections/as_of_start.py).

`stamped_until` is the latest `audit.at` among the events up to the aggregate's version (a
stream's stamps need not rise with its versions: a command retried on fresh state keeps its
request's time). A snapshot whose `stamped_until` is at or before a moment stands for events
that a replay up to that moment all applies, so the replay may start from it and stop at the
first later event stamped after the moment. An aggregate loaded from a snapshot taken before
this was kept has no `stamped_until`; the application takes its next snapshot of such a
stream from the stream's events alone, with the stamps (`lacks_stamps`, `ServiceCore.
take_snapshot`). Until then its `as_of` reads take the earlier path (the version from the
events' stamps in the database).
A stamp without a UTC offset cannot be compared: `stamped_until` becomes None (unknown) and
stays so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

STAMPED_UNTIL = "stamped_until"
RESERVED_SINCE = "reserved_since"  # a stock item's (`note_reservation`)
# Kept on aggregates since this module: snapshots taken before it lack them (`audit verify`
# compares the rest: projections/snapshot_check.py).
KEPT_LATER = (STAMPED_UNTIL, RESERVED_SINCE)


def note_stamp(aggregate: Any, at: Any, created: bool) -> None:
    """Keep `stamped_until` on `aggregate` after an event stamped `at` was applied."""
    state = aggregate.__dict__
    if created:
        state[STAMPED_UNTIL] = at if _aware(at) else None
        return
    known = state.get(STAMPED_UNTIL)
    if known is None:  # unknown, or from a snapshot taken before it was kept
        return
    if not _aware(at):
        state[STAMPED_UNTIL] = None
    elif at > known:
        state[STAMPED_UNTIL] = at


def _aware(at: Any) -> bool:
    return isinstance(at, datetime) and at.utcoffset() is not None


def lacks_stamps(aggregate: Any) -> bool:
    """Whether `aggregate`, of a class that keeps stamps (`keeps_stamps`), came from a snapshot
    taken before they were kept (it has no `stamped_until` at all, not even None)."""
    return bool(getattr(type(aggregate), "keeps_stamps", False)) and \
        STAMPED_UNTIL not in aggregate.__dict__


def note_reservation(item: Any, reserved_key: str | None, at: Any, created: bool) -> None:
    """Keep `reserved_since` on a stock item after one of its events was applied (`reserved_key`
    when it was a `Reserved` or a `ScrapRequested`, stamped `at`): when each reservation it holds
    was made (the first such event of its key since it was last not held, as the stock view's
    `at` keeps it), so
    that an `as_of` read starting from a snapshot knows the times of those it already held.
    An item from a snapshot taken before this was kept has none, and keeps none."""
    state = item.__dict__
    if created:
        state[RESERVED_SINCE] = {}
    since: dict[str, Any] | None = state.get(RESERVED_SINCE)
    if since is None:
        return
    if reserved_key is not None:
        since.setdefault(reserved_key, at)
    held = item.reserved
    for key in [key for key in since if key not in held]:
        del since[key]
