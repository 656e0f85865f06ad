"""A history staged in memory, then appended to the event store in large batches.

The staged application is a `ServiceCore` like the real one: the same area services decide on
the same aggregates and save through the same `execute()`, but its saves land in memory. Streams
that were already in the event store (the part master, a store's counters from an earlier run)
are read through from PostgreSQL the first time a command needs them, so versions and numbers
continue where the store left off. A `LogWriter` thread takes the staged saves in the order they
were made and appends them through the real recorder (`EventRecorder.insert_events`: one
statement per batch, hash chain and command registry included), never splitting a save; the new
customers' keys go to `customer_keys` just before the events sealed with them.

Nothing else may write to the same stores while a history is staged: a stream changed meanwhile
makes the batch fail as a version conflict, and the history stops there.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID, uuid4

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    Mapper,
    Notification,
    Recording,
    StoredEvent,
    Subscription,
)

from domain.application import (
    CommandResult,
    Decision,
    Request,
    ServiceCore,
    Session,
    collected,
)
from domain.pii import KeyStore, PersonalData
from servicecore.keystore import PostgresKeyStore
from servicecore.schema import EVENTS_TABLE

STAGED_ENV = {
    "PERSISTENCE_MODULE": "eventsourcing.popo",
    "IS_SNAPSHOTTING_ENABLED": "n",
    # Every aggregate stays in memory; nothing else writes meanwhile, so no fast-forward, and
    # no copy per load: a command that fails drops what it loaded instead (StagedServiceCore).
    "AGGREGATE_CACHE_MAXSIZE": "0",
    "AGGREGATE_CACHE_FASTFORWARD": "n",
    "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
}


def existing_streams(source: ServiceCore) -> set[UUID]:
    """The ids of every stream already in the event store (one query)."""
    recorder: Any = source.recorder
    with recorder.datastore.get_connection() as conn:
        rows = conn.execute(
            f"SELECT originator_id FROM {EVENTS_TABLE} WHERE originator_version = 1").fetchall()
    return {row["originator_id"] for row in rows}


class StagingRecorder(ApplicationRecorder):
    """Saves in memory, remembered in order until the writer takes them; a stream that the
    event store already holds is read from it once, the first time it is asked for."""

    def __init__(self, source: ApplicationRecorder, existing: set[UUID]) -> None:
        self.source, self.existing = source, existing
        self._lock = threading.RLock()
        self._streams: dict[UUID, list[StoredEvent]] = {}  # each in version order
        self._read: dict[UUID, int] = {}  # the version each read-through stream had
        self._log: list[StoredEvent] = []  # every staged event, in the order saved
        self._saves: deque[list[StoredEvent]] = deque()  # staged saves not yet taken
        self._staged = 0  # events in self._saves

    def _stream(self, originator_id: UUID | str) -> list[StoredEvent]:
        stream_id = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
        stream = self._streams.get(stream_id)
        if stream is None:
            stream = self._streams[stream_id] = list(
                self.source.select_events(stream_id) if stream_id in self.existing else ())
            self._read[stream_id] = stream[-1].originator_version if stream else 0
        return stream

    def grown(self) -> list[tuple[UUID, int, int]]:
        """Every stream this run added to: its id, its version before, its version now."""
        with self._lock:
            return [(stream_id, self._read[stream_id], stream[-1].originator_version)
                    for stream_id, stream in self._streams.items()
                    if stream and stream[-1].originator_version > self._read[stream_id]]

    def select_events(self, originator_id: UUID | str, *, gt: int | None = None,
                      lte: int | None = None, desc: bool = False,
                      limit: int | None = None) -> Sequence[StoredEvent]:
        with self._lock:
            found = [e for e in self._stream(originator_id)
                     if (gt is None or e.originator_version > gt)
                     and (lte is None or e.originator_version <= lte)]
        if desc:
            found.reverse()
        return found[:limit] if limit is not None else found

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        """All or nothing, like the event store: a version already taken is a conflict."""
        with self._lock:
            streams = [self._stream(e.originator_id) for e in stored_events]
            last: dict[int, int] = {}
            for stream, event in zip(streams, stored_events, strict=True):
                taken = last.get(id(stream), stream[-1].originator_version if stream else 0)
                if event.originator_version <= taken:
                    raise IntegrityError(f"stream {event.originator_id} already has version "
                                         f"{event.originator_version}")
                last[id(stream)] = event.originator_version
            for stream, event in zip(streams, stored_events, strict=True):
                stream.append(event)
            first = len(self._log) + 1
            self._log += stored_events
            self._saves.append(list(stored_events))
            self._staged += len(stored_events)
        return list(range(first, first + len(stored_events)))

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *,
                             inclusive_of_start: bool = True) -> Sequence[Notification]:
        first = max(1, (start or 1) + (0 if inclusive_of_start or start is None else 1))
        with self._lock:
            found = [Notification(id=n, originator_id=e.originator_id,
                                  originator_version=e.originator_version, topic=e.topic,
                                  state=e.state)
                     for n, e in enumerate(self._log[first - 1:stop], start=first)
                     if not topics or e.topic in topics]
        return found[:limit]

    def max_notification_id(self) -> int | None:
        with self._lock:
            return len(self._log) or None

    def subscribe(self, gt: int | None = None,
                  topics: Sequence[str] = ()) -> Subscription[ApplicationRecorder]:
        raise NotImplementedError("nothing follows a staged history; the event store's "
                                  "readers follow it once it is appended")

    def staged(self) -> int:
        """Events saved and not yet taken."""
        with self._lock:
            return self._staged

    def take(self, at_least: int) -> list[StoredEvent]:
        """The oldest saves not yet taken, whole, up to about `at_least` events."""
        taken: list[StoredEvent] = []
        with self._lock:
            while self._saves and len(taken) < at_least:
                taken += self._saves.popleft()
            self._staged -= len(taken)
        return taken


class StagingKeyStore:
    """New customers' keys made in memory until the writer stores them; a customer who was
    already in the event store keeps the key in `customer_keys`."""

    def __init__(self, source: KeyStore, existed: Callable[[UUID], bool]) -> None:
        self.source, self.existed = source, existed
        self._keys: dict[UUID, bytes] = {}
        self._new: dict[UUID, bytes] = {}
        self._lock = threading.Lock()

    def get_key(self, customer_id: UUID) -> bytes | None:
        with self._lock:
            if customer_id in self._keys:
                return self._keys[customer_id]
        return self.source.get_key(customer_id) if self.existed(customer_id) else None

    def get_keys(self, customer_ids: Iterable[UUID]) -> dict[UUID, bytes]:
        return {c: k for c in customer_ids if (k := self.get_key(c)) is not None}

    def create_key(self, customer_id: UUID) -> bytes:
        with self._lock:
            if customer_id in self._keys:
                return self._keys[customer_id]
        if self.existed(customer_id):
            key = self.source.create_key(customer_id)
        else:
            key = AESGCM.generate_key(bit_length=256)
            with self._lock:
                self._new[customer_id] = key
        with self._lock:
            return self._keys.setdefault(customer_id, key)

    def delete_key(self, customer_id: UUID) -> bool:
        raise NotImplementedError("a staged history never erases a customer")

    def take_new(self) -> dict[UUID, bytes]:
        with self._lock:
            new, self._new = self._new, {}
        return new


class StagedServiceCore(ServiceCore):
    """The service department's application with its saves staged in memory."""

    def __init__(self, source: ServiceCore) -> None:
        self.source = source
        self.staging = StagingRecorder(source.recorder, existing_streams(source))
        self.keys = StagingKeyStore(source.personal_data.keys, self._existed)
        super().__init__(STAGED_ENV, PersonalData(self.keys))

    def _existed(self, stream_id: UUID) -> bool:
        return stream_id in self.staging.existing

    def construct_mapper(self) -> Mapper[UUID]:
        return self.source.mapper  # byte for byte what the command path would store

    def construct_recorder(self) -> ApplicationRecorder:
        return self.staging

    def take_snapshots(self) -> int:
        """After the staged events are appended: the snapshots the command path would have
        left as the latest of each long stream (at the last multiple of its class's interval
        reached by this run), into the event store's snapshot table; how many."""
        intervals, store = type(self.source).snapshotting_intervals, self.source.snapshots
        if not intervals or store is None:
            return 0
        snapshots = []
        for stream_id, before, now in self.staging.grown():
            interval = intervals.get(type(self.repository.get(stream_id)))
            if interval is None or now // interval * interval <= before:
                continue
            state: Any = self.repository.get(stream_id, version=now // interval * interval)
            snapshot_class: Any = getattr(type(state), "Snapshot", self.snapshot_class)
            snapshots.append(snapshot_class.take(state))
        if snapshots:
            store.put(snapshots)
        return len(snapshots)

    def execute(self, request: Request, decide: Callable[[Session], Decision],
                streams: Any = ()) -> CommandResult:
        """One thread stages a history: no other writer to take turns with."""
        return self._execute(request, decide)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The aggregates `execute()` saves, recorded without snapshots (taken at the end)."""
        return self._record(collected(objs, **kwargs))

    def _execute(self, request: Request,
                 decide: Callable[[Session], Decision]) -> CommandResult:
        sessions: list[Session] = []

        def deciding(session: Session) -> Decision:
            sessions.append(session)
            return decide(session)

        try:
            return super()._execute(request, deciding)
        except BaseException:
            # the cached aggregates it changed were not saved: load them afresh next time
            cache: Any = self.repository.cache
            for session in sessions:
                for stream_id in session.aggregates:
                    with contextlib.suppress(KeyError):
                        cache.get(stream_id, evict=True)
            raise


class LogWriter:
    """Appends the staged saves, in the order they were made, to the real event store."""

    def __init__(self, staged: StagedServiceCore, batch_events: int = 4000) -> None:
        self.staged, self.batch_events = staged, batch_events
        target = staged.source.personal_data.keys
        if not isinstance(target, PostgresKeyStore):
            raise TypeError("the staged history needs the PostgreSQL key store")
        self.key_store = target
        self.events = self.batches = 0
        self.error: BaseException | None = None
        self._stopped = False
        self._wake = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="history-writer", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """More saves are staged: append them (raises the writer's error, if it failed)."""
        if self.error is not None:
            raise self.error
        self._wake.set()

    def stop(self) -> None:
        """Append nothing more (the history failed): what was appended stays, whole saves."""
        self._stopped = True
        self._done.set()
        self._wake.set()
        self._thread.join()

    def finish(self) -> int:
        """Append everything still staged and wait for it; the events appended in all."""
        self._done.set()
        self._wake.set()
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.events

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                done = self._done.is_set()
                while not self._stopped and self._append_one(whole=done):
                    pass
                if done:
                    return
        except BaseException as exc:  # noqa: BLE001 - raised again in the generator's thread
            self.error = exc

    def _append_one(self, *, whole: bool) -> bool:
        """One batch (when a full one is staged, or `whole`); False when there was none."""
        staged = self.staged.staging.staged()
        if not staged or (staged < self.batch_events and not whole):
            return False
        events = self.staged.staging.take(self.batch_events)
        self.key_store.add_keys(self.staged.keys.take_new())
        recorder: Any = self.staged.source.recorder
        recorder.insert_events(events, command_id=uuid4())
        self.events += len(events)
        self.batches += 1
        return True
