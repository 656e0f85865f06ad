"""Incremental loading of the DuckDB analytic tables from the event log.

A batch of notifications is folded in memory (rows of keyed facts are fetched once per batch),
then written with Arrow — delete-and-insert for keyed rows, insert for growing facts — together
with the position, in one DuckDB transaction. Rebuilding (`analytics.rebuild`) loads the same
code from event 0 into a fresh file, so rebuild and incremental loading give the same tables;
the tables are made and their dictionary written by `analytics.tables`.

The batch in memory and its handlers' registry are `analytics.fold`; the handlers, by area,
`analytics.fold_work_orders`, `analytics.fold_settlements`, `analytics.fold_stock`,
`analytics.fold_purchasing`, `analytics.fold_grievances`, `analytics.fold_online_bookings`
and `analytics.fold_people`; the events folded set-based in DuckDB `analytics.set_based`.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError

# the fold's handlers: importing their modules registers them in HANDLERS
from analytics import (  # noqa: F401
    fold_grievances,
    fold_insurers,
    fold_online_bookings,
    fold_people,
    fold_purchasing,
    fold_settlements,
    fold_stock,
    fold_work_orders,
)
from analytics.events import Event, EventSource
from analytics.fold import HANDLERS, Fold
from analytics.log_mark import mark, restored_behind
from analytics.poison import Narrowing, PoisonEvent
from analytics.progress import LoadProgress
from analytics.publish import Publisher, snapshot_path, transaction
from analytics.set_based import SET_BASED, SHARED, SetBased
from analytics.tables import create
from domain.application import ServiceCore
from workers.supervisor import expect_progress

log = logging.getLogger(__name__)
FOLLOW_SECONDS = 0.5  # the pause of `run` once a batch has reached the head of the log
# Bump when what the fold writes changes (an event newly folded, a figure computed otherwise):
# the loader's first start of that version reloads every table from event 0.
REVISION = 15  # 2: labor lines carry passed_at (hours sold on QC pass); 3: a labor line added
# to a job dispatched without one is its technician's (dim_job); 4: settlements name their
# insurer as typed and its key, beside the insurer master (dim_insurer, dim_insurer_name);
# 5: work orders carry their brand's key (fact_work_orders.brand_key, the KPI brand filter);
# 6: work orders carry their model's key (fact_work_orders.model_key, the KPI model filter),
# vehicles their brand's and model's (dim_vehicle.brand_key, model_key); 7: technicians'
# hourly costs as they were set (fact_hourly_costs, the labor gross margin); 8: lost sales
# and purchase-order lines (fact_lost_sales, fact_purchase_order_lines: the parts fill rate);
# 9: a lost sale is a keyed row that a void marks (fact_lost_sales.voided_at), out of the rate;
# 10: customer complaint cases and suggestions (fact_grievances: complaints per 100 visits,
# on-time closure and first-contact rates); 11: online booking requests (fact_online_bookings:
# the online booking conversion); 12: refunds carry their approval's business day, the VAT a
# credit takes back and whether it has a red-letter invoice (fact_refunds: the credits KPI);
# online booking requests their channel (fact_online_bookings.channel: the conversion by=);
# receivables written off and taken back (fact_write_offs: the credits KPI); 13: work orders
# carry the advisor's comeback mark (fact_work_orders.comeback_of: the comeback rate); 14: a
# refund's money row goes out by its payout method, names who asked and who approved
# (fact_payments.cashier, approved_by; fact_refunds.requested_by, decided_by, payout_method)
# and bank receipts and bank refunds are marked (fact_payments.bank, fact_refunds.bank); 15: a
# bank refund's money row names who paid it out, the approving manager who recorded the bank
# transfer, as its cashier (fact_payments.cashier), not who asked for it: it left no drawer

# Positions of the log per batch. Each batch costs some 15 DuckDB statements besides its
# events (preloads, delete-and-insert per table, the position, the commit): catching up in
# batches of 25,000 takes two fifths less CPU than in batches of 5,000, for ~80 MB more
# memory at the peak (bench/README "Analytics"); a loader following the log reads what is new.
BATCH_SIZE = 25_000
# DuckDB's threads for the loader's connection: a batch's statements each handle a few
# thousand rows, where a second thread cost more CPU in waking and handing over than it saved
# (bench/README "Loading faster, fourth step")
DUCKDB_THREADS = 1
# Failures that are not the events' (the database away, the DuckDB file unwritable, no memory
# left): the batch fails as it is, without being narrowed to a poison event
NOT_THE_EVENTS = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError,
                  InterfaceError, duckdb.FatalException, duckdb.IOException, MemoryError)


class LogRestored(Exception):
    """The log no longer holds the events the tables were loaded from up to their position:
    the database was restored from a backup (or cut) behind it. Loaded again from event 0."""


class AnalyticsLoader(Narrowing, LoadProgress):
    TRANSIENT = NOT_THE_EVENTS
    POISON_KIND = "analytics"

    """Owns the DuckDB file (one writer process); publishes read-only snapshots."""

    def __init__(self, app: ServiceCore, path: Path, *, batch_size: int = BATCH_SIZE,
                 publish_every: float = 10.0, zone: str = "Asia/Shanghai",
                 revision: int = REVISION) -> None:
        self.app = app
        self.revision = revision
        self.zone = ZoneInfo(zone)  # the stores' day, where a date is made from an instant
        self.path = Path(path)
        self.batch_size = batch_size
        self.publish_every = publish_every
        self.processed = 0
        self.published_at = 0.0
        self.published_position = -1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = _connect(self.path)
        create(self.conn, revision)
        self.lock = threading.Lock()
        self.source = EventSource(app, sorted(HANDLERS), SET_BASED, SHARED)
        self.publisher = Publisher(self.conn, self.path)
        self.poison: PoisonEvent | None = None  # the event it stopped at, until it is loaded
        self._stopped_at = 0  # the position it stood at when it met `poison`
        self.loaded_position = self.position()  # kept in memory for /health (LoadProgress)

    @property
    def snapshot_path(self) -> Path:
        return snapshot_path(self.path)

    def position(self) -> int:
        found = self.conn.execute("SELECT position FROM analytics_position").fetchone()
        return int(found[0]) if found else 0

    def written_by(self) -> int:
        """The revision of the fold that wrote the tables (1 for a file from before
        revisions: the only one there was)."""
        found = self.conn.execute("SELECT revision FROM analytics_position").fetchone()
        return int(found[0]) if found and found[0] is not None else 1

    def restored_behind(self) -> str | None:
        """Why the log no longer holds the events loaded up to the position (the database
        restored from a backup behind it), or None (`analytics.log_mark`)."""
        found = self.conn.execute("SELECT position, mark FROM analytics_position").fetchone()
        if found is None:
            return None
        return restored_behind(self.app, int(found[0]), found[1])

    def reload_if_revised(self) -> bool:
        """Tables an earlier (or later) revision of the fold wrote are loaded again from event
        0 into a fresh file, which then takes this one's place; meanwhile readers in this
        process read the old tables, readers elsewhere the snapshot published last. Answers
        whether it reloaded."""
        with self.lock:
            written_by, position = self.written_by(), self.position()
            if written_by == self.revision or position == 0:
                self.conn.execute("UPDATE analytics_position SET revision = ?", [self.revision])
                return False
        log.warning("analytics: the tables were written by revision %d of the fold, this "
                    "version's is %d; loading them again from event 0 (or from where an "
                    "interrupted reload stopped)", written_by,
                    self.revision)
        return self._reload()

    def reload_if_restored(self) -> bool:
        """Tables loaded from events the log no longer holds (the database restored from a
        backup taken before their position, new events given the ids the lost ones had) are
        loaded again from event 0, as for a new revision: the lost events' facts go, the new
        events are loaded. Answers whether it reloaded."""
        with self.lock:
            reason = self.restored_behind()
        if reason is None:
            return False
        log.error("analytics: the event log was restored from a backup (or cut) behind the "
                  "tables: %s; loading them again from event 0, the facts of events no longer "
                  "in the log dropped", reason)
        return self._reload()

    def _reload(self) -> bool:
        from analytics.rebuild import into_place, load_fresh  # it builds loaders itself

        try:
            fresh, figures = load_fresh(self.app, self.path, batch_size=self.batch_size,
                                        zone=self.zone.key, revision=self.revision,
                                        known=self.poison,
                                        progress=lambda *_: self._progressed())
        except PoisonEvent as poison:  # the fresh file keeps what is loaded before it
            self.poison = poison
            raise
        self.poison = None
        with self.lock:
            self.conn.close()
            into_place(fresh, self.path)
            self.conn = _connect(self.path)
            self.publisher = Publisher(self.conn, self.path)  # its first copies are whole
            self.loaded_position = self.position()
        self.publish(force=True)
        log.info("analytics reloaded: %d events in %.1f s", figures["events"],
                 figures["seconds"])
        return True

    def run_batch(self) -> int:
        """Load the next batch; the number of events of the log it moved past (0: none new).

        A batch that fails for its events (not the database, not the DuckDB file) is tried
        again in halves (`Narrowing`): the events before the one that fails are loaded, and a
        `PoisonEvent` names that one. A log that no longer holds the events loaded up to the
        position (restored from a backup) raises `LogRestored`, nothing loaded."""
        with self.lock, _no_cyclic_gc():
            if reason := self.restored_behind():
                raise LogRestored(reason)
            covered = self._guarded()  # its objects are freed before the collector runs
            self.processed += covered
            return covered

    @property
    def _poison_name(self) -> str:
        return "loader"

    def _next_event(self, position: int) -> tuple[int, str] | None:
        found = self.app.recorder.select_notifications(start=position + 1, limit=1)
        return (found[0].id, found[0].topic) if found else None

    def _batch(self, limit: int | None) -> int:
        position = self.position()
        events, raw, reached, covered, joined = self.source.read(position,
                                                                 limit or self.batch_size)
        if reached <= position:
            self._progressed()
            return 0
        with transaction(self.conn), SetBased(self.conn, raw, joined) as set_based:
            set_based.before_fold()
            fold = Fold(self.conn, zone=self.zone)
            _preload(fold, events)
            for event in events:
                fold.current = event.notification_id
                HANDLERS[event.qualname](fold, event, event.notification_id)
            fold.write()
            set_based.after_write()
            self.conn.execute("UPDATE analytics_position SET position = ?, mark = ?",
                              [reached, mark(self.app, reached)])
        self.loaded_position = reached
        self._progressed()
        if self.poison is not None and reached >= self.poison.position:
            self.poison = None  # loaded after all (the fold was mended)
        return covered

    def catch_up(self) -> int:
        total = 0
        while count := self.run_batch():
            total += count
        return total

    def publish(self, force: bool = False) -> bool:
        """Bring the snapshot readers in other processes open up to date (analytics.publish:
        two files taking turns, changed rows only; a whole copy when it must)."""
        position = self.loaded_position  # not asked of its connection outside its lock
        due = force or time.monotonic() - self.published_at >= self.publish_every
        if not due or (position == self.published_position and not force):
            return False
        with self.lock:
            self.publisher.publish(position)
        self.published_at = time.monotonic()
        self.published_position = position
        return True

    def run(self, stop: threading.Event, max_age: float = 60.0) -> None:
        """Follow the log; publish a snapshot whenever it changed (and at least every max_age).

        Once a batch has reached the head of the log (it was not full), the next one waits
        half a second, as after an empty one: readers see the published snapshot only, so
        loading each event as it comes would add nothing they can see, while many small
        DuckDB transactions cost the serving processes' CPU. A full batch is followed at once.

        A failed batch raises (nothing of it is kept): the supervisor starts the loader again.
        A poison event raises after the events before it are loaded (`run_batch`) and
        published.

        While it runs it is stalled (`stalled_seconds`) when the log holds events beyond its
        position and it has loaded nothing for a while: /health names it.
        """
        self.progress_at = time.monotonic()  # each start is given its full time to load
        expect_progress()  # a run that loads no batch did not run, however long it lasted
        try:
            self.reopen_if_invalidated()
            if not self.reload_if_revised():
                self.reload_if_restored()
            with self.lock:  # as committed (a commit that failed after it was durable too)
                self.loaded_position = self.position()
                log.info("analytics loader following the log from position %d",
                         self.loaded_position)
            while not stop.is_set():
                try:
                    count = self.run_batch()
                except LogRestored:  # restored while it ran
                    self.reload_if_restored()
                    continue
                except PoisonEvent:
                    # what it loaded before the event it stops at reaches the readers too
                    if self.loaded_position != self.published_position:
                        self.publish(force=True)
                    raise
                self.publish(force=time.monotonic() - self.published_at >= max_age)
                self.failing_since = None  # a whole round went well
                if count < self.batch_size:
                    stop.wait(FOLLOW_SECONDS)
            self.publish(force=True)
        except PoisonEvent:
            raise  # reported as the event it stops at
        except BaseException as error:
            self._failed(error)  # until a whole round goes well: /health
            raise
        finally:
            self.progress_at = None

    def reopen_if_invalidated(self) -> bool:
        """After a fatal error (a commit whose checkpoint could not write: the disk full)
        DuckDB refuses every statement of the instance until the file is opened again; what
        it committed is durable, its position with it. Answers whether it opened it again."""
        with self.lock:
            try:
                self.conn.execute("SELECT 1").fetchone()
                return False
            except duckdb.FatalException as error:
                log.warning("analytics: the DuckDB file was invalidated (%s); opening it again",
                            " ".join(str(error).split())[:300])
            self.conn.close()
            self.conn = _connect(self.path)
            self.publisher = Publisher(self.conn, self.path)  # its first copies are whole
        return True

    def close(self) -> None:
        self.conn.close()


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), config={"threads": DUCKDB_THREADS})


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """A batch makes hundreds of thousands of small dicts that live until it ends: without
    the cycle collector running over them again and again, decoding takes a third of the time.
    They hold no cycles, so reference counting frees them; they must be gone before the block
    ends (the first collection after it would otherwise walk them all once more)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _preload(fold: Fold, events: list[Event]) -> None:
    """Fetch the keyed rows a batch will touch in one query per table."""
    ids: defaultdict[str, set[str]] = defaultdict(set)
    kinds: defaultdict[str, list[Event]] = defaultdict(list)  # the kinds looked into below
    for e in events:  # one pass over the batch
        ids[e.aggregate].add(e.originator_id)
        if e.qualname in PRELOADING:
            kinds[e.qualname].append(e)

    def of(qualname: str) -> list[Event]:
        return kinds.get(qualname, [])

    wo_ids = ids.get("WorkOrder", set())
    fold.preload("fact_work_orders", wo_ids)
    fold.preload("fact_labor_lines", wo_ids)
    fold.preload("fact_part_lines", wo_ids)
    fold.preload("dim_job", wo_ids)
    fold.preload("fact_settlements", ids.get("Settlement", ()))
    settled = {str(e.work_order_id) for e in of("Settlement.Opened")} | {
        row["work_order_id"] for row in fold.rows.get("fact_settlements", {}).values() if row}
    fold.preload("fact_labor_lines", settled)
    fold.preload("dim_stock_item", ids.get("StockItem", ()))
    opened = of("WorkOrder.Opened")
    fold.preload("dim_store", {e.audit.store_id for e in opened})
    fold.preload("dim_customer", {str(e.customer_id) for e in opened} | ids.get("Customer", set()))
    fold.preload("dim_technician", {e.technician_id for e in of("WorkOrder.JobDispatched")})
    fold.preload("dim_technician_stream", ids.get("Technician", ()))
    fold.preload("fact_follow_ups", ids.get("FollowUp", ()))
    fold.preload("fact_appointments", ids.get("Appointment", ()))
    fold.preload("dim_part", ids.get("Part", ()))
    fold.preload("fact_purchase_order_lines", ids.get("PurchaseOrder", ()))
    fold.preload("fact_lost_sales", ids.get("LostSale", ()))
    fold.preload("fact_grievances", ids.get("Grievance", ()))
    fold_online_bookings.preload(fold, ids.get("OnlineBooking", ()),
                                 (e.originator_id for e in of("Appointment.Arrived")))
    fold.preload("fact_refunds", {e.refund_id for q in REFUND_DECISIONS for e in of(q)})
    refunded = sorted({e.payment_id for e in of("Settlement.RefundRequested")})
    if refunded:  # a payment taken in this batch is found in its appends (looked at first)
        fold.payments.update((p, {"method": m, "bill": b}) for p, m, b in fold.conn.execute(
            "SELECT payment_id, method, bill FROM fact_payments WHERE payment_id IN "
            "(SELECT unnest(?::VARCHAR[]))", [refunded]).fetchall())


REFUND_DECISIONS = ("Settlement.RefundApproved", "Settlement.RefundRejected")
PRELOADING = frozenset(("Settlement.Opened", "WorkOrder.Opened", "WorkOrder.JobDispatched",
                        "Settlement.RefundRequested", "Appointment.Arrived", *REFUND_DECISIONS))
