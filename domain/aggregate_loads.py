"""How commands load aggregates: eventsourcing's repository, cheaper per load.

Three things cost a command more than they need to, and are done here instead:

- A load from the aggregate cache hands out a copy (a command mutates it, and a command that
  fails must leave the cache as it was). `copy.deepcopy` spends most of its time on the
  generality of its memo; an aggregate's state is plain data (dicts, lists and immutable
  values), which `copy_aggregate` copies directly. Anything else, or a container reached twice
  (shared structure, which a copy must keep shared), and the whole aggregate goes through
  `deepcopy` as before.
- A cold load asked for the latest snapshot and then for the events after it: two round trips.
  A recorder that offers `select_state` answers both in one statement (one snapshot of the
  database, too).
- A snapshot the store refuses (its seal does not check out: domain/snapshot_seal.py) is
  passed over, and the stream replays from its first event.
- eventsourcing's projector asserts a runtime-checkable Protocol on every event it applies
  (~20 us each when it fails to short-cut); `replay` applies the events without it.

And one thing a snapshot cannot always do: stand for its events. A snapshot taken before the
aggregate kept something its events say (and that no upcast can work out from the state) is
refused by the aggregate's class (`outdated_snapshot(state)`, e.g. `Customer`): the load then
replays the stream's events from the first.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import uuid
from collections.abc import Iterable
from itertools import chain
from typing import Any, Protocol, TypeVar

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import AggregateRecorder, StoredEvent
from eventsourcing.utils import resolve_topic

from domain.unreadable_events import applying

A = TypeVar("A")

# Values that deepcopy would give back as they are, or as an equal object that nothing can
# tell apart: immutable scalars (a UUID or a datetime refuses attribute assignment).
IMMUTABLE: frozenset[type] = frozenset({
    str, int, float, bool, type(None), bytes, decimal.Decimal, uuid.UUID,
    datetime.datetime, datetime.date, datetime.time, datetime.timedelta, datetime.timezone,
})


class _Unusual(Exception):
    """The state holds something `copy_aggregate` does not copy itself."""


def _copy(value: Any, seen: set[int]) -> Any:
    kind = type(value)
    if kind in IMMUTABLE:
        return value
    if kind is dict:
        if id(value) in seen:
            raise _Unusual
        seen.add(id(value))
        copied = {}
        for key, item in value.items():
            if type(key) not in IMMUTABLE:
                raise _Unusual
            copied[key] = item if type(item) in IMMUTABLE else _copy(item, seen)
        return copied
    if kind is list:
        if id(value) in seen:
            raise _Unusual
        seen.add(id(value))
        return [item if type(item) in IMMUTABLE else _copy(item, seen) for item in value]
    if kind is tuple:
        items = [_copy(item, seen) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else tuple(items)
    raise _Unusual


def copy_plain(value: A) -> A:
    """What `copy.deepcopy(value)` gives, made directly when `value` is plain data."""
    try:
        return _copy(value, set())  # type: ignore[no-any-return]
    except _Unusual:
        return copy.deepcopy(value)


_PLAIN: dict[type, bool] = {}


def _slot_names(cls: type) -> set[str]:
    """The slots `cls` declares that hold state (typing.Generic declares none: `()`)."""
    slots = vars(cls).get("__slots__", ())
    return ({slots} if isinstance(slots, str) else set(slots)) - {"__dict__", "__weakref__"}


def _plain(cls: type) -> bool:
    """Is `cls` copied by deepcopy as a new instance with a copy of its __dict__?"""
    found = _PLAIN.get(cls)
    if found is None:
        found = (all(getattr(cls, name, None) is getattr(object, name)
                     for name in ("__reduce_ex__", "__reduce__", "__getstate__"))
                 and not hasattr(cls, "__setstate__") and not hasattr(cls, "__deepcopy__")
                 and not any(_slot_names(c) for c in cls.__mro__))
        _PLAIN[cls] = found
    return found


def copy_aggregate(aggregate: A) -> A:
    """What `copy.deepcopy(aggregate)` gives, made directly when the state is plain data.

    An attribute the class names in `shallow_copied` is a dict whose values the aggregate
    never changes in place (it replaces them): the copy gets a dict of its own holding the
    same values, so a long history in it (an item's exhausted lots) costs a command a dict
    copy, not a copy of every value."""
    cls = type(aggregate)
    if _plain(cls):
        shallow = getattr(cls, "shallow_copied", ())
        state = aggregate.__dict__
        try:
            if shallow:
                copied_state = _copy({k: v for k, v in state.items() if k not in shallow}, set())
                copied_state.update({k: _shallow(state[k]) for k in shallow if k in state})
            else:
                copied_state = _copy(state, set())
        except _Unusual:
            pass
        else:
            copied = cls.__new__(cls)
            copied.__dict__.update(copied_state)
            return copied
    return copy.deepcopy(aggregate)


def _shallow(value: Any) -> dict[Any, Any]:
    if type(value) is not dict:
        raise _Unusual
    return dict(value)


def replay(aggregate: Any, events: Iterable[Any]) -> Any:
    """eventsourcing's project_aggregate, without its per-event Protocol assertion; an event
    the aggregate cannot apply is raised as the UnreadableEvent naming it."""
    for event in events:
        try:
            aggregate = event.mutate(aggregate)
        except Exception as error:
            raise applying(event, error) from error
    return aggregate


class OutdatedSnapshot(Exception):
    """The snapshot a load started from cannot stand for its events (see the module doc), or
    the store refused it (its seal): the load replays the stream from its first event."""


def _usable(events: Iterable[Any]) -> Iterable[Any]:
    """`events`, unless the first is a snapshot its aggregate's class refuses."""
    ahead = iter(events)
    first = next(ahead, None)
    if first is None:
        return ()
    if isinstance(first, Snapshot):
        refuses = getattr(resolve_topic(first.topic), "outdated_snapshot", None)
        if refuses is not None and refuses(first.state):
            raise OutdatedSnapshot
    return chain([first], ahead)


class StateSelecting(Protocol):
    def select_state(self, originator_id: Any, snapshots: AggregateRecorder,
                     ) -> tuple[StoredEvent | None, list[StoredEvent]]:
        """The latest snapshot (if any) and the events after it, in one statement."""


class AggregateLoads(Repository[uuid.UUID]):
    """eventsourcing's Repository, with the cheaper copy, cold load and replay above.

    What a load returns is unchanged: a command gets its own copy of the cached aggregate,
    fast-forwarded with the events stored since (by this process or any other)."""

    def get(self, aggregate_id: uuid.UUID, *, version: int | None = None,
            projector_func: Any = replay, fastforward_skipping: bool = False,
            deepcopy_from_cache: bool = True) -> Any:
        aggregate = super().get(aggregate_id, version=version, projector_func=projector_func,
                                fastforward_skipping=fastforward_skipping,
                                deepcopy_from_cache=False)
        if self.cache is not None and version is None and deepcopy_from_cache \
                and self.deepcopy_from_cache:
            return copy_aggregate(aggregate)
        return aggregate

    def _reconstruct_aggregate(self, aggregate_id: uuid.UUID, version: int | None,
                               projector_func: Any) -> Any:
        def checked(initial: Any, events: Iterable[Any]) -> Any:
            return projector_func(initial, _usable(events))

        try:
            return self._reconstruct(aggregate_id, version, checked)
        except OutdatedSnapshot:
            aggregate = projector_func(None, self.event_store.get(aggregate_id, lte=version))
        if aggregate is None:
            msg = f"Aggregate {aggregate_id!r} version {version!r} not found."
            raise AggregateNotFoundError(msg)
        return aggregate

    def _reconstruct(self, aggregate_id: uuid.UUID, version: int | None,
                     projector_func: Any) -> Any:
        select = getattr(self.event_store.recorder, "select_state", None)
        if version is not None or self.snapshot_store is None or select is None:
            return super()._reconstruct_aggregate(aggregate_id, version, projector_func)
        snapshot, stored = select(aggregate_id, self.snapshot_store.recorder)
        events: Iterable[Any] = map(self.event_store.mapper.to_domain_event, stored)
        if snapshot is not None:
            decoded = getattr(self.snapshot_store, "decoded", None)
            opened = (self.snapshot_store.mapper.to_domain_event(snapshot) if decoded is None
                      else decoded(snapshot))
            if opened is None:  # refused (domain/snapshot_seal.py): replayed as an outdated one
                raise OutdatedSnapshot
            events = chain([opened], events)
        aggregate = projector_func(None, events)
        if aggregate is None:
            msg = f"Aggregate {aggregate_id!r} version {version!r} not found."
            raise AggregateNotFoundError(msg)
        return aggregate
