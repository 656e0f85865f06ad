"""A work-order + stock command is one save: refused on either side, nothing is stored.

Issuing and returning parts change the work order and the stock item together. When the stock
side refuses, when the work-order side refuses (even after the stock item was already changed
in memory), when another writer moves a stream between decide and save, and when the database
itself fails in the middle of the insert or at commit, the log holds either the whole command
or nothing of it, and a retried decision is stored exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import PersistenceError
from psycopg import sql

from domain.application import CommandResult
from domain.common import VersionConflict
from domain.stock import StockItem
from domain.stock_state import InsufficientStock
from domain.work_order import WorkOrder
from domain.work_order_state import WorkOrderError
from servicecore.container import Container
from servicecore.schema import EVENTS_TABLE
from tests.integration.support import head
from tests.integration.test_parts_support import (
    events_of,
    interfering,
    item_of,
    named,
    new_part,
    receive,
    req,
    stock_id,
    version_of,
    wo_of,
    work_order,
)


class Snapshot:
    """The stored versions of a work order and a stock item, and the log's head."""

    def __init__(self, container: Container, work_order_id: UUID, item_id: UUID) -> None:
        self.container, self.work_order_id, self.item_id = container, work_order_id, item_id
        self.taken = self._now()

    def _now(self) -> tuple[int, int, int]:
        c = self.container
        return (version_of(c, self.work_order_id), version_of(c, self.item_id), head(c.app))

    def assert_unchanged(self) -> None:
        assert self._now() == self.taken


def _issue(container: Container, store_id: str, work_order_id: UUID, line_id: str,
           qty: object | None = None) -> CommandResult:
    return container.work_orders.issue_part(req(store_id), work_order_id, line_id, qty=qty)


def _one_save(container: Container, result: CommandResult, streams: set[UUID]) -> None:
    """The command's events (those carrying its correlation id) are consecutive notifications
    ending at the one the command answered with, on exactly the given streams."""
    app = container.app
    last = result.notification_id
    assert last is not None
    window = app.recorder.select_notifications(start=max(1, last - 50), limit=100)
    events = {n.id: (n, app.mapper.to_domain_event(n)) for n in window}
    correlation = events[last][1].audit.correlation_id
    mine = sorted(nid for nid, (_, e) in events.items() if e.audit.correlation_id == correlation)
    assert mine == list(range(mine[0], last + 1))
    assert {UUID(str(events[nid][0].originator_id)) for nid in mine} == streams


# -- (i) the stock side refuses ----------------------------------------------------------------

def test_issuing_more_than_available_stores_nothing_on_either_side(
        container: Container, store_id: str) -> None:
    number = new_part(container, store_id)
    receive(container, store_id, number, 1)
    wo_id, (line_id,) = work_order(container, store_id, [(number, 3)])
    assert wo_of(container, wo_id).lines[line_id]["supply"] == "back_order"
    before = Snapshot(container, wo_id, stock_id(store_id, number))

    with pytest.raises(InsufficientStock) as refused:
        _issue(container, store_id, wo_id, line_id)          # the whole line: 3 of 1

    assert refused.value.extra["available"] == "1"
    before.assert_unchanged()
    assert wo_of(container, wo_id).lines[line_id]["issued_qty"] == 0
    assert item_of(container, store_id, number).on_hand == 1


def test_issuing_units_reserved_for_another_line_stores_nothing(
        container: Container, store_id: str) -> None:
    number = new_part(container, store_id)
    receive(container, store_id, number, 2)
    holder, (held,) = work_order(container, store_id, [(number, 2)])      # reserves both
    wo_id, (line_id,) = work_order(container, store_id, [(number, 1)])    # back order
    assert wo_of(container, wo_id).lines[line_id]["supply"] == "back_order"
    before = Snapshot(container, wo_id, stock_id(store_id, number))

    with pytest.raises(InsufficientStock) as refused:
        _issue(container, store_id, wo_id, line_id)

    assert refused.value.extra["available"] == "0"
    before.assert_unchanged()
    item = item_of(container, store_id, number)
    assert item.reserved == {WorkOrder.stock_key(holder, held): 2}


def test_scrapping_more_than_on_hand_is_refused_with_what_is_available(
        container: Container, store_id: str) -> None:
    number = new_part(container, store_id)
    receive(container, store_id, number, 1)
    item_id = stock_id(store_id, number)
    before = (version_of(container, item_id), head(container.app))

    with pytest.raises(InsufficientStock) as refused:
        container.inventory.scrap(req(store_id), store_id, number, qty=2,
                                  reason="damaged in the store room")

    assert (version_of(container, item_id), head(container.app)) == before
    assert refused.value.extra["available"] == "1"


# -- (ii) the work-order side refuses ----------------------------------------------------------

def _declined(container: Container, store_id: str, number: str) -> tuple[UUID, str]:
    wo_id, (line_id,) = work_order(container, store_id, [(number, 1)], approve=False)
    container.work_orders.authorize_line(req(store_id, "advisor"), wo_id, line_id,
                                         decision="declined", channel="phone")
    return wo_id, line_id


def _cancelled(container: Container, store_id: str, number: str) -> tuple[UUID, str]:
    wo_id, (line_id,) = work_order(container, store_id, [(number, 1)])
    item = item_of(container, store_id, number)
    assert WorkOrder.stock_key(wo_id, line_id) in item.reserved
    done = container.work_orders.cancel(req(store_id, "advisor"), wo_id,
                                        reason="customer went elsewhere")
    # Cancelling released the reservation in the same save.
    _one_save(container, done, {wo_id, item.id})
    assert WorkOrder.stock_key(wo_id, line_id) not in item_of(container, store_id,
                                                              number).reserved
    return wo_id, line_id


def _over_issued(container: Container, store_id: str, number: str) -> tuple[UUID, str]:
    return work_order(container, store_id, [(number, 2)])[0], "L1"


CASES: dict[str, tuple[Callable[[Container, str, str], tuple[UUID, str]], object, str]] = {
    "declined line": (_declined, None, "declined"),
    "more than the line's outstanding qty": (_over_issued, "3", "needs only 2 more"),
    "cancelled work order": (_cancelled, None, "work order is cancelled"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_work_order_refusal_leaves_the_stock_item_untouched(
        container: Container, store_id: str, case: str) -> None:
    make, qty, message = CASES[case]
    number = new_part(container, store_id)
    receive(container, store_id, number, 5)
    wo_id, line_id = make(container, store_id, number)
    item = item_of(container, store_id, number)
    before = Snapshot(container, wo_id, item.id)

    with pytest.raises(WorkOrderError, match=message):
        _issue(container, store_id, wo_id, line_id, qty)

    before.assert_unchanged()
    after = item_of(container, store_id, number)
    assert (after.figures(), after.reserved, after.open_lots) == (
        item.figures(), item.reserved, item.open_lots)


def test_returning_more_than_was_issued_leaves_both_untouched(container: Container,
                                                              store_id: str) -> None:
    number = new_part(container, store_id)
    receive(container, store_id, number, 5)
    wo_id, (line_id,) = work_order(container, store_id, [(number, 2)])
    _issue(container, store_id, wo_id, line_id, "1")
    before = Snapshot(container, wo_id, stock_id(store_id, number))

    with pytest.raises(WorkOrderError, match="only 1 was issued"):
        container.work_orders.return_part(req(store_id), wo_id, line_id, qty="2",
                                          reason="wrong part")
    before.assert_unchanged()


SECOND_HALF = {  # command: (the stock item's half, the work order's half)
    "issue": ("issue", "record_issue"),
    "return": ("return_from_job", "record_return"),
}


@pytest.mark.parametrize("command", list(SECOND_HALF))
def test_a_refusal_after_the_stock_item_changed_in_memory_stores_nothing(
        container: Container, store_id: str, command: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The work order refuses only after the stock item already moved the units in memory."""
    number = new_part(container, store_id)
    receive(container, store_id, number, 5)
    wo_id, (line_id,) = work_order(container, store_id, [(number, 2)])
    _issue(container, store_id, wo_id, line_id, "1")
    item = item_of(container, store_id, number)
    before = Snapshot(container, wo_id, item.id)
    stock_half, work_order_half = SECOND_HALF[command]
    original = getattr(StockItem, stock_half)
    moved: list[Decimal] = []

    def stock_moves(self: StockItem, *args: Any, **kwargs: Any) -> Any:
        picks = original(self, *args, **kwargs)
        moved.append(self.on_hand)
        return picks

    def work_order_refuses(self: WorkOrder, *args: Any, **kwargs: Any) -> None:
        raise WorkOrderError("refused by the work order after the stock moved")

    monkeypatch.setattr(StockItem, stock_half, stock_moves)
    monkeypatch.setattr(WorkOrder, work_order_half, work_order_refuses)
    with pytest.raises(WorkOrderError, match="after the stock moved"):
        if command == "issue":
            _issue(container, store_id, wo_id, line_id, "1")
        else:
            container.work_orders.return_part(req(store_id), wo_id, line_id, qty="1",
                                              reason="not needed")
    monkeypatch.undo()

    # The stock item had moved in memory; none of it was stored.
    assert moved == [item.on_hand + (-1 if command == "issue" else 1)]
    before.assert_unchanged()
    # The next command sees the stored state, not the refused command's in-memory change.
    again = item_of(container, store_id, number)
    assert (again.figures(), again.open_lots) == (item.figures(), item.open_lots)
    done = _issue(container, store_id, wo_id, line_id, "1")
    _one_save(container, done, {wo_id, item.id})
    assert item_of(container, store_id, number).on_hand == item.on_hand - 1
    assert wo_of(container, wo_id).lines[line_id]["issued_qty"] == 2


# -- (iii) another writer moves a stream between decide and save -------------------------------

def test_a_receipt_between_decide_and_save_retries_into_exactly_one_issue(
        container: Container, other: Container, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    number = new_part(container, store_id)
    receive(container, store_id, number, 3)
    wo_id, (line_id,) = work_order(container, store_id, [(number, 1)])   # reserved
    item_id = stock_id(store_id, number)
    wo_version, item_version = version_of(container, wo_id), version_of(container, item_id)

    def other_receives(n: int) -> None:
        other.inventory.receive(req(store_id, user="clerk-2"), store_id, number, qty=2,
                                unit_cost="10.00", supplier="FAW-VW Parts",
                                supplier_doc=f"DN-OTHER-{n}")

    with interfering(monkeypatch, other_receives) as calls:
        done = _issue(container, store_id, wo_id, line_id)

    # The first decision lost the race, the second (on the fresh stream) was stored, once.
    assert calls == [item_version, item_version + 1]
    item = item_of(container, store_id, number)
    assert (item.on_hand, item.reserved_total) == (3 + 2 - 1, 0)
    events = events_of(container, item_id)
    assert [e.key for e in named(events, "Issued")] == [WorkOrder.stock_key(wo_id, line_id)]
    assert len(named(events, "Received")) == 2
    assert item.version == item_version + 2
    wo = wo_of(container, wo_id)
    assert wo.version == wo_version + 1 and wo.lines[line_id]["issued_qty"] == 1
    assert len(named(events_of(container, wo_id), "PartsIssued")) == 1
    _one_save(container, done, {wo_id, item_id})


def test_a_change_to_the_work_order_between_decide_and_save_retries_once(
        container: Container, other: Container, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    number = new_part(container, store_id)
    receive(container, store_id, number, 3)
    wo_id, (line_id,) = work_order(container, store_id, [(number, 2)])
    item_id = stock_id(store_id, number)
    wo_version, item_version = version_of(container, wo_id), version_of(container, item_id)

    def other_adds_a_job(n: int) -> None:
        other.work_orders.add_job(req(store_id, "advisor", "adv-2"), wo_id,
                                  complaint=f"rattle {n}")

    with interfering(monkeypatch, other_adds_a_job) as calls:
        done = _issue(container, store_id, wo_id, line_id, "1")

    assert len(calls) == 2
    item = item_of(container, store_id, number)
    assert (item.on_hand, item.reserved_total, item.version) == (2, 1, item_version + 1)
    assert len(named(events_of(container, item_id), "Issued")) == 1
    wo = wo_of(container, wo_id)
    assert wo.version == wo_version + 2 and len(wo.jobs) == 2
    assert wo.lines[line_id]["issued_qty"] == 1
    _one_save(container, done, {wo_id, item_id})


def test_the_last_unit_taken_between_decide_and_save_refuses_on_retry(
        container: Container, other: Container, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    number = new_part(container, store_id)
    receive(container, store_id, number, 1)
    mine, (my_line,) = work_order(container, store_id, [(number, 2)])       # back order
    theirs, (their_line,) = work_order(container, store_id, [(number, 2)])  # back order
    before = Snapshot(container, mine, stock_id(store_id, number))

    def other_takes_it(n: int) -> None:
        other.work_orders.issue_part(req(store_id, user="clerk-2"), theirs, their_line,
                                     qty="1")

    with interfering(monkeypatch, other_takes_it) as calls, \
            pytest.raises(InsufficientStock) as refused:
        _issue(container, store_id, mine, my_line, "1")

    assert refused.value.extra["available"] == "0"
    # Their issue was called through the patched method too: [mine, theirs, mine again].
    assert len(calls) == 3
    item = item_of(container, store_id, number)
    assert item.on_hand == 0
    assert [e.key for e in named(events_of(container, item.id), "Issued")] == [
        WorkOrder.stock_key(theirs, their_line)]
    assert version_of(container, mine) == before.taken[0]
    assert wo_of(container, mine).lines[my_line]["issued_qty"] == 0
    assert head(container.app) == before.taken[2] + 2     # only their one save


def test_losing_every_race_ends_in_version_conflict_and_stores_nothing(
        container: Container, other: Container, store_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    number = new_part(container, store_id)
    receive(container, store_id, number, 5)
    wo_id, (line_id,) = work_order(container, store_id, [(number, 1)])
    item_id = stock_id(store_id, number)
    wo_version = version_of(container, wo_id)
    docs: list[str] = []

    def other_receives(n: int) -> None:
        docs.append(f"DN-RACE-{n}")
        other.inventory.receive(req(store_id, user="clerk-2"), store_id, number, qty=1,
                                unit_cost="10.00", supplier="FAW-VW Parts",
                                supplier_doc=docs[-1])

    with interfering(monkeypatch, other_receives, times=100) as calls, \
            pytest.raises(VersionConflict):
        _issue(container, store_id, wo_id, line_id)

    assert len(calls) == 4                      # the first attempt and three retries
    events = events_of(container, item_id)
    assert named(events, "Issued") == []
    assert [e.supplier_doc for e in named(events, "Received")][1:] == docs
    assert version_of(container, wo_id) == wo_version
    assert item_of(container, store_id, number).reserved_total == 1


# -- (iv) the database fails in the middle of the save -----------------------------------------

@contextmanager
def _failing_insert(owner_database_url: str, originator_id: UUID, topic: str, *,
                    at_commit: bool = False) -> Iterator[None]:
    """A trigger on the events table that raises for one stream's events of one topic (only
    the table's owner may add one: the application's role cannot)."""
    name = f"parts_fail_{originator_id.hex[:12]}"
    raise_fn = sql.SQL(
        "CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'injected failure on %', NEW.topic; END $$").format(
            fn=sql.Identifier(name))
    when = sql.SQL("WHEN (NEW.originator_id = {id} AND NEW.topic = {topic})").format(
        id=sql.Literal(str(originator_id)), topic=sql.Literal(topic))
    if at_commit:
        trigger = sql.SQL(
            "CREATE CONSTRAINT TRIGGER {t} AFTER INSERT ON {table} DEFERRABLE INITIALLY "
            "DEFERRED FOR EACH ROW {when} EXECUTE FUNCTION {fn}()")
    else:
        trigger = sql.SQL(
            "CREATE TRIGGER {t} BEFORE INSERT ON {table} FOR EACH ROW {when} "
            "EXECUTE FUNCTION {fn}()")
    with psycopg.connect(owner_database_url, autocommit=True) as conn, conn.transaction():
        conn.execute(raise_fn)
        conn.execute(trigger.format(t=sql.Identifier(name), table=sql.Identifier(EVENTS_TABLE),
                                    when=when, fn=sql.Identifier(name)))
    try:
        yield
    finally:
        with psycopg.connect(owner_database_url, autocommit=True) as conn, conn.transaction():
            conn.execute(sql.SQL("DROP TRIGGER IF EXISTS {t} ON {table}").format(
                t=sql.Identifier(name), table=sql.Identifier(EVENTS_TABLE)))
            conn.execute(sql.SQL("DROP FUNCTION IF EXISTS {fn}()").format(
                fn=sql.Identifier(name)))


@pytest.mark.parametrize("at_commit", [False, True], ids=["mid-insert", "at-commit"])
def test_a_database_failure_mid_save_leaves_nothing_of_the_command(
        container: Container, owner_database_url: str, store_id: str, at_commit: bool) -> None:
    number = new_part(container, store_id)
    receive(container, store_id, number, 2)
    wo_id, (line_id,) = work_order(container, store_id, [(number, 1)])
    item_id = stock_id(store_id, number)
    before = Snapshot(container, wo_id, item_id)

    # The work order's PartsIssued row goes in first; the stock item's Issued row then fails.
    with _failing_insert(owner_database_url, item_id, "domain.stock:StockItem.Issued",
                         at_commit=at_commit), pytest.raises(PersistenceError) as failed:
        _issue(container, store_id, wo_id, line_id)

    assert "injected failure" in str(failed.value)
    before.assert_unchanged()
    assert named(events_of(container, wo_id), "PartsIssued") == []
    assert item_of(container, store_id, number).reserved_total == 1

    # With the database healthy again the same command is stored, once, in one save.
    done = _issue(container, store_id, wo_id, line_id)
    _one_save(container, done, {wo_id, item_id})
    assert item_of(container, store_id, number).on_hand == 1
    assert len(named(events_of(container, wo_id), "PartsIssued")) == 1

