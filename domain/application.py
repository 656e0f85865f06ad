"""The one eventsourcing Application: one events table, one global notification log.

Every area service decides on aggregates inside a `Session` (domain/session.py, with the command's
`Request`, `Decision` and `CommandResult`) and ends in `ServiceCore.execute`,
which saves all of them, plus the idempotency record, in ONE `save()` (one transaction).
A version conflict re-runs the decision on fresh state; only a command that became illegal fails.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import (
    Application,
    ProcessingEvent,
    Repository,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    Mapper,
    Recording,
    Transcoding,
)

from domain.account_open import load_mark, note_reopened_charges
from domain.aggregate_loads import AggregateLoads, copy_plain, replay
from domain.cashier_day import CashierDay
from domain.common import (
    Audit,
    DomainError,
    IdempotencyKeyReused,
    StaleVersion,
    VersionConflict,
)
from domain.counter import DocumentCounter
from domain.customer import Customer
from domain.customer_lots import archive_used_up_lots
from domain.idempotency import IdempotencyRecord
from domain.message_size import MAX_MESSAGE_BYTES, refuse_oversized
from domain.pii import MemoryKeyStore, PersonalData
from domain.roster import Roster
from domain.session import CommandResult, Decision, Request, Session
from domain.snapshot_seal import SealedSnapshots
from domain.stamps import lacks_stamps
from domain.stock import StockItem
from domain.technician import Technician
from domain.transfers_coming import TransfersComing
from domain.unreadable_events import NamingMapper
from domain.workshop_day import WorkshopDay

# the command's envelope, decision, answer and session are domain/session.py's, named here too
__all__ = ["CONFLICT_RETRIES", "LOCK_STRIPES", "SNAPSHOT_EVERY", "AuditAsDict", "CommandResult",
           "Decision", "Request", "ServiceCore", "Session", "StreamLocks", "collected"]

log = logging.getLogger(__name__)
CONFLICT_RETRIES = 3
SNAPSHOT_EVERY = 100
LOCK_STRIPES = 512


class StreamLocks:
    """In-process striped locks: commands on the same streams queue instead of conflicting.

    Across processes the event store's optimistic concurrency still decides; these locks only
    keep one process's own writers from wasting attempts on each other.
    """

    def __init__(self, stripes: int = LOCK_STRIPES) -> None:
        self._locks = [threading.Lock() for _ in range(stripes)]

    @contextmanager
    def holding(self, stream_ids: Iterable[UUID]) -> Iterator[None]:
        stripes = sorted({stream_id.int % len(self._locks) for stream_id in stream_ids})
        for stripe in stripes:
            self._locks[stripe].acquire()
        try:
            yield
        finally:
            for stripe in reversed(stripes):
                self._locks[stripe].release()


class AuditAsDict(Transcoding):
    type = Audit
    name = "audit"

    def encode(self, obj: Audit) -> dict[str, Any]:
        return {
            "user_id": obj.user_id, "role": obj.role, "store_id": obj.store_id,
            "at": obj.at.isoformat(), "correlation_id": obj.correlation_id,
            "idempotency_key": obj.idempotency_key,
        }

    def decode(self, data: dict[str, Any]) -> Audit:
        return Audit(**{**data, "at": datetime.fromisoformat(data["at"])})


def collected(aggregates: Iterable[Aggregate], **kwargs: Any) -> ProcessingEvent[UUID]:
    """What `ProcessingEvent.collect_events` gathers from aggregates, without its two
    runtime-protocol `isinstance` checks per object (~28 us each on Python 3.11: every
    attribute of the protocol is looked up when the check fails)."""
    processing: ProcessingEvent[UUID] = ProcessingEvent()
    for aggregate in aggregates:
        processing.events.extend(aggregate.collect_events())
        processing.aggregates[aggregate.id] = aggregate
    processing.saved_kwargs.update(kwargs)
    return processing


class ServiceCore(Application[UUID]):
    """The event store of the whole service department."""

    name = "servicecore"
    # Loads fast-forward a cached copy with the newer events from the store (deep-copied for
    # each command), so the cache stays correct when several processes write.
    env = {"AGGREGATE_CACHE_MAXSIZE": "20000", "AGGREGATE_CACHE_FASTFORWARD": "y"}  # noqa: RUF012
    # Streams that live for years get a snapshot every N events, so a process that starts cold
    # loads the snapshot and at most N events, not the whole stream (a year's counter holds
    # one event per number). Snapshots are a cache: the events stay the record.
    snapshotting_intervals = {  # noqa: RUF012
        DocumentCounter: SNAPSHOT_EVERY, StockItem: SNAPSHOT_EVERY, CashierDay: SNAPSHOT_EVERY,
        Technician: SNAPSHOT_EVERY, WorkshopDay: SNAPSHOT_EVERY, Roster: SNAPSHOT_EVERY,
        Customer: SNAPSHOT_EVERY, TransfersComing: SNAPSHOT_EVERY,
    }

    # The key that seals snapshots (domain/snapshot_seal.py), hex: every process of one event
    # store needs the same (servicecore.container derives it from the server's secret).
    # Without one a process seals with a key of its own, and refuses every other's snapshots.
    SNAPSHOT_SEAL_KEY = "SNAPSHOT_SEAL_KEY"
    # The largest Kafka message the relay sends, in bytes (servicecore.container passes the
    # setting): an event whose message would be larger is refused before it is stored.
    MAX_MESSAGE_BYTES = "MAX_MESSAGE_BYTES"

    def __init__(self, env: dict[str, str] | None = None,
                 personal_data: PersonalData | None = None) -> None:
        super().__init__(env)
        self.max_message_bytes = int(self.env.get(self.MAX_MESSAGE_BYTES) or MAX_MESSAGE_BYTES)
        self.personal_data = personal_data or PersonalData(MemoryKeyStore())
        self.stream_locks = StreamLocks()

    def construct_mapper(self) -> Mapper[UUID]:
        """eventsourcing's mapper, naming a stored event it cannot decode (UnreadableEvent)."""
        return self.factory.mapper(transcoder=self.construct_transcoder(),
                                   mapper_class=NamingMapper)

    def construct_snapshot_store(self) -> SealedSnapshots:
        configured = self.env.get(self.SNAPSHOT_SEAL_KEY)
        key = bytes.fromhex(configured) if configured else secrets.token_bytes(32)
        return SealedSnapshots(self.mapper, self.factory.aggregate_recorder(purpose="snapshots"),
                               key)

    def construct_repository(self) -> Repository[UUID]:
        made = super().construct_repository()
        loads = AggregateLoads(
            made.event_store, snapshot_store=made.snapshot_store, fastforward=made.fastforward,
            fastforward_skipping=made.fastforward_skipping,
            deepcopy_from_cache=made.deepcopy_from_cache)
        loads.cache = made.cache
        return loads

    def cached(self, aggregate_id: UUID) -> Aggregate | None:
        """The cached state as it is, without asking the store for newer events: a hint for
        which streams a command will lock, never a basis for a decision. Read only."""
        cache = self.repository.cache
        if cache is None:
            return None
        try:
            found = cache.get(aggregate_id)
        except KeyError:
            return None
        return found if isinstance(found, Aggregate) else None

    def mark(self, aggregate: Aggregate) -> Any:
        """What a command's session notes of an aggregate as it loads it, to tell before its
        save what the command changed (domain/account_open.py); None: nothing."""
        return load_mark(aggregate)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """Application.save; aggregates (every save of a command) are collected directly."""
        if not all(isinstance(obj, Aggregate) for obj in objs):
            return super().save(*objs, **kwargs)
        processing = collected(objs, **kwargs)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        return recordings

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Application._record, for every save: nothing is stored when one of the events would
        be a message the relay cannot publish (domain/message_size.py)."""
        refuse_oversized(processing_event.events, self.max_message_bytes)
        return super()._record(processing_event)

    def take_snapshot(self, aggregate_id: UUID, version: int | None = None,
                      projector_func: Any = replay) -> None:
        """Application.take_snapshot; a stream whose latest snapshot was taken before its
        class kept stamps (domain/stamps.py) is snapshotted from its events alone, once, so its
        snapshots have them from then on and its `as_of` reads start from them."""
        def healed(initial: Any, events: Any) -> Any:
            made = projector_func(initial, events)
            if made is not None and lacks_stamps(made):
                made = projector_func(None, self.events.get(aggregate_id, lte=version))
            return made

        super().take_snapshot(aggregate_id, version=version, projector_func=healed)

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """After the events are stored: a snapshot that fails is logged, never the command's
        failure (the next load replays the events instead)."""
        try:
            super()._take_snapshots(processing_event)
        except Exception:
            log.exception("taking a snapshot failed; loads replay the events instead")

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(AuditAsDict())

    def execute(self, request: Request, decide: Callable[[Session], Decision],
                streams: Iterable[UUID] = ()) -> CommandResult:
        """Decide and save in one transaction; replay a remembered answer; retry conflicts.

        `streams` names the aggregates the command will change, so that this process's
        writers of the same streams take turns.
        """
        caller = request.caller
        locked = list(streams)
        if caller.idempotency_key is not None:
            locked.append(IdempotencyRecord.create_id(caller.user_id, caller.idempotency_key))
        with self.stream_locks.holding(locked):
            return self._execute(request, decide)

    def _execute(self, request: Request, decide: Callable[[Session], Decision]) -> CommandResult:
        caller = request.caller
        key = caller.idempotency_key
        for attempt in range(1 + CONFLICT_RETRIES):
            session = Session(self, request)
            # the caller just looked (replay-first): a key stored since makes the save
            # conflict on its record, and the refusal or the next attempt answers it
            if key is not None and not (attempt == 0 and request.key_looked_up):
                replay = self._replay(session, key, request.request_hash)
                if replay is not None:
                    return replay
            try:
                decision = decide(session)
            except DomainError:
                # the first attempt of this retry, stored meanwhile by another process, may be
                # what made it illegal (a vehicle already checked in, a moved If-Match)
                replay = self._replay_late(request, key)
                if replay is not None:
                    return replay
                raise
            note_reopened_charges(session)
            archive_used_up_lots(session)
            body = {"id": str(decision.stream.id), "version": decision.stream.version,
                    **decision.answer}
            pending = list(session.aggregates.values())
            if key is not None:
                store_id = getattr(decision.stream, "store_id", None) or caller.stores[0]
                pending.append(IdempotencyRecord(
                    user_id=caller.user_id, key=key, request_hash=request.request_hash or "",
                    response=body, audit=caller.audit(store_id),
                ))
            try:
                recordings = self.save(*pending)
            except IntegrityError:
                self._forget_ahead_of_store(pending)
                if request.expected_version is not None:
                    replay = self._replay_late(request, key)
                    if replay is not None:
                        return replay
                    raise StaleVersion("the stream changed while the command ran") from None
                time.sleep(random.uniform(0, 0.004 * (attempt + 1)))
                continue
            self._remember({r.domain_event.originator_id for r in recordings}, pending)
            last = max((r.notification.id for r in recordings), default=None)
            if last is None:  # nothing changed: where the state it answers was made
                last = self.position_of([(a.id, a.version) for a in session.aggregates.values()])
            # the answer may hold parts of the saved aggregates, which are now the cached state
            return CommandResult(body=copy_plain(body), notification_id=last)
        raise VersionConflict("too many concurrent changes; try again")

    def _forget_ahead_of_store(self, aggregates: list[Aggregate]) -> None:
        """After a conflicted save: a cached state at a version the store no longer holds (the
        database restored from a backup under this running process: the store refuses an
        event that does not follow the stream's last version) is dropped, so that the next
        attempt loads the stream as stored instead of conflicting on it for ever."""
        cache = self.repository.cache
        if cache is None:
            return
        for aggregate in aggregates:
            cached = self.cached(aggregate.id)
            if cached is None:
                continue
            last = self.recorder.select_events(aggregate.id, desc=True, limit=1)
            if not last or last[0].originator_version < cached.version:
                log.warning("stream %s: cached at version %d, the store holds %s: the "
                            "database was restored from a backup? loading it again", aggregate.id,
                            cached.version, last[0].originator_version if last else "none")
                cache.get(aggregate.id, evict=True)

    def _remember(self, changed: set[UUID], aggregates: list[Aggregate]) -> None:
        """The aggregates this command changed, as saved, become the cached state: the next
        load asks the store only for events after them (none, unless another process wrote),
        instead of replaying the command's own events (or, for a new aggregate, loading it
        cold). The session's objects are this command's own copies, never touched again."""
        cache = self.repository.cache
        if cache is None:
            return
        for aggregate in aggregates:
            if aggregate.id in changed:
                cached = self.cached(aggregate.id)
                if cached is None or cached.version < aggregate.version:
                    cache.put(aggregate.id, aggregate)

    def remembered(self, request: Request) -> CommandResult | None:
        """The answer remembered for the request's Idempotency-Key, if its command was stored
        (IdempotencyKeyReused if the key came with another request); None without a key or
        before it is stored. Asked before anything else a command route does (api/replays.py):
        a retry answers what the first attempt did, whatever the clock, a read model or a
        stream says by then (its first attempt's effect among it)."""
        return self._replay_late(request, request.caller.idempotency_key)

    def _replay_late(self, request: Request, key: str | None) -> CommandResult | None:
        """After a refusal: the remembered answer, if the same key's command was stored since
        this attempt looked (a retry racing its first attempt in another process)."""
        if key is None:
            return None
        return self._replay(Session(self, request), key, request.request_hash)

    def _replay(self, session: Session, key: str, request_hash: str | None) -> CommandResult | None:
        record = session.find(IdempotencyRecord,
                              IdempotencyRecord.create_id(session.caller.user_id, key))
        if record is None:
            return None
        if record.request_hash != (request_hash or ""):
            raise IdempotencyKeyReused("this Idempotency-Key was used with a different request")
        answered = record.response
        made = [(record.id, record.version)]
        if isinstance(answered.get("id"), str) and isinstance(answered.get("version"), int):
            made.append((UUID(answered["id"]), answered["version"]))
        return CommandResult(answered, self.position_of(made), replayed=True)

    def position_of(self, events: Iterable[tuple[UUID, int]]) -> int | None:
        """The notification id of the last of these events (stream, version) in the log: what
        a command that changes nothing (a repeat, a retry replayed by its Idempotency-Key)
        answers, so that `?wait_for=` reads the state it answered, as after the first time.
        A recorder that cannot say (the in-memory one of the unit tests) answers its head,
        which is never before them."""
        wanted = [(stream, version) for stream, version in events if version > 0]
        if not wanted:
            return None
        lookup = getattr(self.recorder, "notification_id_of", None)
        if lookup is None:
            return self.recorder.max_notification_id()
        found: int | None = lookup(wanted)
        return found
