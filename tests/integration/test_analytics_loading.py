"""Loading the analytic tables: a rebuild from the whole log gives the tables incremental
loading gives, the set-based (SQL) reading of events gives those of the Python fold, and a loader
reading event by event agrees with one reading in batches (and with a rebuild) on the visits
whose events are easiest to get wrong: clock punches, a reversed settlement, a goodwill credit,
a technician renamed. Last, when the following loader pauses.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb
import pytest
from eventsourcing.persistence import StoredEvent
from psycopg.rows import tuple_row

from analytics.events import plain
from analytics.kpis import Filters, run
from analytics.loader import FOLLOW_SECONDS, AnalyticsLoader
from analytics.rebuild import rebuild
from analytics.schema import TABLES
from domain.settlement import Settlement
from domain.work_order import WorkOrder
from servicecore.container import Container
from servicecore.demo import make_vin
from tests.integration.analytics_support import (
    Shop,
    at,
    one_by_one_and_batched,
    rebuilt_tables,
    table_rows,
    visit,
    worked_visit,
)
from tests.scratch_systems import module_container

D = Decimal

# A log of this module's own: its tests rebuild and load the whole log, one of them event by
# event, which on the session's log (every earlier test's events) takes minutes each.
container = module_container("sc_loading")


def test_rebuild_equals_incremental_loading(container: Container, tmp_path: Path) -> None:
    store = "RB" + uuid.uuid4().hex[:6].upper()
    loader = AnalyticsLoader(container.app, tmp_path / "incremental.duckdb", batch_size=7)
    try:
        for step in range(3):  # the history grows while the loader follows it in small batches
            for n in range(2):
                visit(container, store, f"2025-04-{10 + step:02d}", 2 * step + n)
            while loader.run_batch():
                pass
        assert loader.position() == container.app.recorder.max_notification_id()
        figures = rebuild(container.app, tmp_path / "rebuilt.duckdb")
        # every stored event once (notification ids can have gaps: a save that rolled back)
        recorder = container.app.recorder
        with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(f"SELECT count(*) FROM {recorder._events} "
                        "WHERE notification_id <= %s", (loader.position(),))
            row = cur.fetchone()
        assert row is not None and figures["events"] == row[0]
        rebuilt = duckdb.connect(str(tmp_path / "rebuilt.duckdb"), read_only=True)
        try:
            for table in TABLES:
                assert table_rows(loader.conn, table.name) == table_rows(rebuilt, table.name), \
                    table.name
            assert rebuilt.execute("SELECT position FROM analytics_position").fetchone() == \
                (loader.position(),)
            assert rebuilt.execute("SELECT count(*) FROM fact_work_orders WHERE store_id = ?",
                                   [store]).fetchone() == (6,)
        finally:
            rebuilt.close()
    finally:
        loader.close()


def test_set_based_events_give_the_tables_of_the_python_fold(container: Container,
                                                             tmp_path: Path) -> None:
    store = "SB" + uuid.uuid4().hex[:6].upper()
    day = "2025-04-20"
    for n in range(3):  # clock punches, payments, follow-ups scheduled and completed
        visit(container, store, day, n)
    shop = Shop(container, store)  # a settlement reversed, and a visit cancelled
    wo = worked_visit(container, shop, day)
    sid = shop.settle(wo, at(day, "06:00"), [("cash", "300.00")])
    container.settlements.reverse(shop.r("manager", at(day, "06:30")), sid, reason="wrong bill")
    cancelled, _ = shop.open(make_vin(shop.rng), "noise", "repair", at(day, "07:00"))
    container.work_orders.cancel(shop.r("advisor", at(day, "07:10")), cancelled,
                                 reason="customer left")
    in_sql, in_python = (AnalyticsLoader(container.app, tmp_path / f"{name}.duckdb",
                                         batch_size=size)
                         for name, size in (("sql", 7), ("python", 100_000)))
    in_python.source.set_based = frozenset()  # every event through its Python handler
    try:
        for loader in (in_sql, in_python):
            loader.catch_up()
        for table in TABLES:
            assert table_rows(in_sql.conn, table.name) == table_rows(in_python.conn,
                                                                     table.name), table.name
        assert in_sql.conn.execute(
            "SELECT count(*), count(csi), count(DISTINCT p.notification_id), "
            "count(DISTINCT c.notification_id) FROM fact_follow_ups f "
            "JOIN fact_settlements s USING (work_order_id) "
            "JOIN fact_payments p USING (settlement_id) "
            "JOIN fact_clock_punches c USING (work_order_id) WHERE f.store_id = ?",
            [store]).fetchone() == (3, 3, 3, 3)
        assert in_sql.conn.execute(
            "SELECT status, count(*) FROM fact_work_orders WHERE store_id = ? GROUP BY 1 "
            "ORDER BY 1", [store]).fetchall() == [("cancelled", 1), ("closed", 3),
                                                  ("ready_for_settlement", 1)]
    finally:
        in_sql.close()
        in_python.close()


def test_events_stored_with_their_class_version_are_read_as_stored(container: Container,
                                                                  tmp_path: Path) -> None:
    store = "CV" + uuid.uuid4().hex[:6].upper()
    head = container.app.recorder.max_notification_id() or 0
    visit(container, store, "2025-04-21", 0)  # a line added (version 2), a payment taken
    loader = AnalyticsLoader(container.app, tmp_path / "cv.duckdb")
    try:
        batch = loader.source.read(head, 100_000)
        # DuckDB reads the payment (and the rest of the set-based events of the batch): the
        # version its class has needs no upcaster
        assert "Settlement.PaymentTaken" in {q for _, _, q, _ in batch.raw}
        # an older version among them (the mapper would upcast it): the batch is decoded
        payment = next(raw for raw in batch.raw if raw[2] == "Settlement.PaymentTaken")
        version = Settlement.PaymentTaken.class_version
        older = payment[3].replace(b',"class_version":%d}' % version,
                                   b',"class_version":%d}' % (version - 1))
        assert older != payment[3]
        assert loader.source._as_stored([*batch.raw, payment])
        assert not loader.source._as_stored([*batch.raw, (*payment[:3], older)])
        added = next(e for e in batch.events if e.qualname == "WorkOrder.LineAdded")
        recorder = container.app.recorder
        with recorder.datastore.get_connection() as conn, \
                conn.cursor(binary=True, row_factory=tuple_row) as cur:
            cur.execute(f"SELECT state FROM {recorder._events} WHERE notification_id = %s",
                        (added.notification_id,))
            found = cur.fetchone()
        assert found is not None
        stored = json.loads(bytes(found[0]))
        assert stored["class_version"] == WorkOrder.LineAdded.class_version == 2
        # read as stored, it gives what the mapper gives
        mapped = container.app.mapper.to_domain_event(StoredEvent(
            originator_id=UUID(added.originator_id), originator_version=1,
            topic=added.topic, state=bytes(found[0])))
        assert added.line == plain(mapped.line) and added.audit == mapped.audit
        with pytest.raises(AttributeError):
            added.class_version  # noqa: B018 - the number is not an attribute of the event
        # an older version goes through the mapper and its upcaster
        del stored["line"]["sublet"]
        upcast = loader.source.decode(added.notification_id, added.originator_id, added.topic,
                                     json.dumps({**stored, "class_version": 1}).encode())
        assert upcast.line == {**added.line, "sublet": None}
    finally:
        loader.close()


def test_discount_on_a_settlement_that_has_a_warranty_bill(container: Container,
                                                           tmp_path: Path) -> None:
    shop = Shop(container, "DW" + uuid.uuid4().hex[:6].upper())
    day = "2025-06-02"
    wo = worked_visit(container, shop, day, warranty_hours="1.5")
    shop.settle(wo, at(day, "06:00"), [("cash", "290.00")], discount="10.00")
    loader = AnalyticsLoader(container.app, tmp_path / "d.duckdb")
    try:
        loader.catch_up()
        # customer bill 300.00 - 10.00 = 290.00; warranty bill 1.5 x 250.00 = 375.00
        assert loader.conn.execute(
            "SELECT customer_total, warranty_total, discount FROM fact_settlements "
            "WHERE work_order_id = ?", [str(wo)]).fetchone() == (D("290.00"), D("375.00"),
                                                                D("10.00"))
    finally:
        loader.close()


def test_clock_punches_alone_in_a_batch_keep_the_work_orders_status(container: Container,
                                                                    tmp_path: Path) -> None:
    """A batch holding only a work order's clock events (event by event, each is one) sets its
    first clock-on and keeps the status its dispatch gave."""
    one, batched = one_by_one_and_batched(container, tmp_path)
    shop = Shop(container, "CK" + uuid.uuid4().hex[:6].upper())
    day = "2025-06-04"
    wo, _ = shop.open(make_vin(shop.rng), "noise", "repair", at(day, "03:00"))
    container.work_orders.check_in(shop.r("advisor", at(day, "03:10")), wo, mileage_in=30_010,
                                   fuel_level=50)
    shop.approve(wo, [shop.labor(wo, "1.0", "300.00", at(day, "03:15"))], at(day, "03:20"))
    seen: list[tuple[Any, ...]] = []

    def clocked() -> None:  # after the clock-on and clock-off, before the job is completed
        for loader in (one, batched):
            loader.catch_up()
            seen.append(loader.conn.execute(
                "SELECT status, first_clock_on_at, last_notification_id FROM fact_work_orders "
                "WHERE work_order_id = ?", [str(wo)]).fetchone() or ())

    try:
        shop.workshop(wo, shop.t1, at(day, "04:00"), at(day, "05:00"), before_complete=clocked)
        head = container.app.recorder.max_notification_id()
        assert [row[:2] for row in seen] == [("in_progress", at(day, "04:00"))] * 2
        assert seen[0][2] == seen[1][2] and seen[0][2] <= (head or 0)
        for table in TABLES:
            assert table_rows(one.conn, table.name) == table_rows(batched.conn, table.name), \
                table.name
    finally:
        one.close()
        batched.close()


def test_a_reversed_settlement_read_event_by_event_or_in_one_batch(container: Container,
                                                                   tmp_path: Path) -> None:
    one, batched = one_by_one_and_batched(container, tmp_path)
    shop = Shop(container, "RV" + uuid.uuid4().hex[:6].upper())
    day = "2025-06-03"
    wo = worked_visit(container, shop, day)
    sid = shop.settle(wo, at(day, "06:00"), [("cash", "300.00")])

    def states(loader: AnalyticsLoader) -> tuple[Any, ...]:
        loader.catch_up()
        return loader.conn.execute(
            "SELECT s.status, s.number, s.confirmed_at, s.settled_at, w.status, w.checked_in_at, "
            "w.mileage_in, w.first_clock_on_at, w.ready_at, w.settled_at, w.customer_total "
            "FROM fact_settlements s JOIN fact_work_orders w USING (work_order_id) "
            "WHERE s.settlement_id = ?", [str(sid)]).fetchone() or ()

    try:
        milestones = (at(day, "03:10"), 30_010, at(day, "04:00"), at(day, "05:10"))
        # the manager reverses it: the settlement is open again, the visit ready to settle
        s = container.settlements
        s.reverse(shop.r("manager", at(day, "06:30")), sid, reason="wrong bill")
        assert states(one) == ("open", None, None, None, "ready_for_settlement", *milestones,
                               None, None)
        # the cashier drafts and confirms it again: paid already, it is settled again
        s.draft(shop.r("cashier", at(day, "06:40")), wo)
        number = s.confirm(shop.r("cashier", at(day, "06:45")), sid).body["number"]
        again = ("settled", number, at(day, "06:45"), at(day, "06:45"), "settled", *milestones,
                 at(day, "06:45"), D("300.00"))
        assert states(one) == again
        assert states(batched) == again
        for table in TABLES:
            assert table_rows(one.conn, table.name) == table_rows(batched.conn, table.name), \
                table.name
    finally:
        one.close()
        batched.close()


def test_a_goodwill_credit_lowers_revenue_one_by_one_in_batches_and_rebuilt(
        container: Container, tmp_path: Path) -> None:
    one, batched = one_by_one_and_batched(container, tmp_path)
    shop = Shop(container, "CR" + uuid.uuid4().hex[:6].upper())
    day = "2025-06-04"
    wo = worked_visit(container, shop, day)
    sid = shop.settle(wo, at(day, "06:00"), [("cash", "300.00")])
    s = container.settlements
    (payment_id,) = container.app.repository.get(sid).payments
    # 50.00 back for the waiting time, as a price allowance: 44.25 revenue, 5.75 VAT at 13 %.
    refund = s.request_refund(shop.r("cashier", at(day, "06:30")), sid, payment_id=payment_id,
                              amount="50.00", reason="goodwill: waiting time",
                              kind="credit").body["refund_id"]
    s.decide_refund(shop.r("manager", at(day, "06:40")), sid, refund, approve=True)
    try:
        for loader in (one, batched):
            loader.catch_up()
            # 300.00 less its VAT 34.51 is 265.49; less the allowance 44.25: 221.24
            assert loader.conn.execute(
                "SELECT revenue, vat, allowances FROM fact_settlements WHERE settlement_id = ?",
                [str(sid)]).fetchone() == (D("221.24"), D("28.76"), D("50.00"))
            assert loader.conn.execute(
                "SELECT kind, status, amount FROM fact_refunds WHERE refund_id = ?",
                [refund]).fetchone() == ("credit", "approved", D("50.00"))
        with rebuilt_tables(container, tmp_path) as rebuilt:
            for table in TABLES:
                assert table_rows(one.conn, table.name) == table_rows(batched.conn, table.name), \
                    table.name
            for table in ("fact_settlements", "fact_refunds", "fact_payments"):
                query = f"SELECT * FROM {table} WHERE settlement_id = ? ORDER BY ALL"
                assert one.conn.execute(query, [str(sid)]).fetchall() == rebuilt.execute(
                    query, [str(sid)]).fetchall(), table
    finally:
        one.close()
        batched.close()


def test_technician_kpis_show_the_current_name_one_by_one_in_batches_and_rebuilt(
        container: Container, tmp_path: Path) -> None:
    one, batched = one_by_one_and_batched(container, tmp_path)
    shop = Shop(container, "TN" + uuid.uuid4().hex[:6].upper())
    day = "2025-06-05"
    profile = {"store_id": shop.store, "skills": {}, "hourly_cost": "85.00"}
    techs = container.technicians
    # t1 is on the roster as 张工 and works the visit's hour; later his name is corrected
    techs.set_profile(shop.r("manager", at(day, "02:00")), shop.t1, **profile, name="张工")
    worked_visit(container, shop, day)
    techs.set_profile(shop.r("manager", at(day, "07:00")), shop.t1, **profile, name="张伟")
    when = Filters(store_id=shop.store, date_from=date(2025, 6, 5), date_to=date(2025, 6, 5))

    def named(conn: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
        return {kpi: [(r["technician_id"], r["technician_name"], r["hours_clocked"])
                      for r in run(conn, kpi, when)["rows"]]
                for kpi in ("technician_efficiency", "productivity")}

    # the id stays the key; the name is the current one, for hours worked before the rename
    expected = {kpi: [(shop.t1, "张伟", D("1.0000"))]
                for kpi in ("technician_efficiency", "productivity")}
    try:
        for loader in (one, batched):
            loader.catch_up()
            assert named(loader.conn) == expected
        with rebuilt_tables(container, tmp_path) as rebuilt:
            assert named(rebuilt) == expected
            query = "SELECT * FROM dim_technician WHERE store_id = ? ORDER BY ALL"
            assert one.conn.execute(query, [shop.store]).fetchall() == batched.conn.execute(
                query, [shop.store]).fetchall() == rebuilt.execute(query, [shop.store]).fetchall()
    finally:
        one.close()


def test_the_following_loader_pauses_once_a_batch_reaches_the_head(
        container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Full batches follow each other at once; a batch that reached the head of the log (not
    full) is followed by a pause, as an empty one is: readers see the published snapshot only,
    so loading each new event as it comes would cost CPU and show them nothing sooner."""
    loader = AnalyticsLoader(container.app, tmp_path / "follow.duckdb", batch_size=7)
    counts = iter([7, 7, 3, 0, 7, 2])  # as run_batch would answer them
    done: list[int] = []
    waits: list[tuple[int, float | None]] = []

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append((len(done), timeout))
            if len(done) == 6:
                self.set()
            return self.is_set()

    def batch() -> int:
        done.append(next(counts))
        return done[-1]

    monkeypatch.setattr(loader, "run_batch", batch)
    monkeypatch.setattr(loader, "publish", lambda force=False: False)
    try:
        loader.run(Stop())
    finally:
        loader.close()
    assert done == [7, 7, 3, 0, 7, 2]
    # after the 3rd (reached the head), the 4th (nothing new) and the 6th; never after a full one
    assert waits == [(3, FOLLOW_SECONDS), (4, FOLLOW_SECONDS), (6, FOLLOW_SECONDS)]
