"""What is coming to a store (domain/transfers_coming.py), in memory: every transfer to it,
typed at the counter or sent from suggestions, is on its way there until it is booked in, so a
send from suggestions is re-checked on it and never sends more than the store still needs,
whatever the stock view shows; transfers sent before that was kept count from the view's list.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from unittest import mock
from uuid import UUID

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import domain.transfer_dispatch
from domain.application import ServiceCore
from domain.inventory import Inventory
from domain.session import Session
from domain.transfer import Transfer
from domain.transfer_plan import need
from domain.transfer_suggesting import TransferPlanChanged, send_suggested
from domain.transfers_coming import TransfersComing, coming_stream, in_transit_to
from tests.unit.support import clerk, load_stock, register_part

D = Decimal
PART = "5Q0698151"
RECEIVERS = ("S01", "S02")
DONORS = ("S03", "S04")
GROUP = clerk(stores=RECEIVERS + DONORS)


@contextmanager
def sent_before_it_was_kept() -> Iterator[None]:
    """Dispatches as they were before what is coming to a store was kept: the transfer and
    the sender's item only."""
    with mock.patch.object(domain.transfer_dispatch, "note_sent", lambda session, t: None):
        yield


def _group(app: ServiceCore) -> Inventory:
    inv = Inventory(app, stores=RECEIVERS + DONORS)
    register_part(app, PART, min_stock="0", reorder_qty="0")
    for store in RECEIVERS:
        inv.set_levels(GROUP, store, PART, min_stock="6", reorder_qty="4")
    for store in DONORS:
        inv.receive(GROUP, store, PART, qty="500", unit_cost="10.00", supplier="FAW-VW Parts",
                    supplier_doc="DN-1")
    return inv


def _send(inv: Inventory, to_store: str, from_store: str, qty: object,
          listed: list[UUID] | None = None) -> dict[str, Any]:
    return send_suggested(inv, GROUP, to_store=to_store, lines=[
        {"part_number": PART, "from_store": from_store, "qty": qty}],
        in_transit={PART: listed} if listed else {}, waiting={}).body


def _in_transit(app: ServiceCore, store: str, listed: list[UUID] | None = None) -> Decimal:
    return in_transit_to(Session(app, GROUP), store, PART, listed or ())


def test_a_transfer_typed_at_the_counter_counts_as_coming_until_it_is_booked_in() -> None:
    app = ServiceCore()
    inv = _group(app)
    typed = inv.transfer(GROUP, from_store="S03", to_store="S01", part_number=PART, qty="5",
                         reason="a car waits at S01").body
    assert _in_transit(app, "S01") == 5
    # S01 has 0 + 5 coming, minimum 6: short 1, it needs its reorder quantity, 4 — not 6
    with pytest.raises(TransferPlanChanged) as refused:
        _send(inv, "S01", "S04", "6")
    assert (refused.value.extra["part_number"], refused.value.extra["needed"]) == (PART, "4")
    inv.receive_transfer(GROUP, UUID(typed["id"]), received_qty="4", reason="one set missing")
    assert _in_transit(app, "S01") == 0
    coming = app.repository.get(coming_stream("S01", PART))
    assert isinstance(coming, TransfersComing) and coming.coming == {}
    assert load_stock(app, PART, "S01").available == 4


def test_transfers_sent_before_it_was_kept_count_from_the_views_list() -> None:
    app = ServiceCore()
    inv = _group(app)
    with sent_before_it_was_kept():
        old = UUID(inv.transfer(GROUP, from_store="S03", to_store="S01", part_number=PART,
                                qty="6", reason="before the upgrade").body["id"])
    assert _in_transit(app, "S01") == 0
    # the view lists it in transit: it counts, and the store needs nothing
    assert _in_transit(app, "S01", [old]) == 6
    with pytest.raises(TransferPlanChanged):
        _send(inv, "S01", "S04", "4", [old])
    # booked in (nothing of it was kept: nothing to take off), it is on hand; a view that
    # still lists it in transit is not believed
    inv.receive_transfer(GROUP, old)
    assert _in_transit(app, "S01", [old]) == 0
    with pytest.raises(TransferPlanChanged):
        _send(inv, "S01", "S04", "4", [old])


@dataclass
class Sent:
    to_store: str
    qty: Decimal
    kept: bool  # sent since what is coming is kept
    open: bool = True


class ComingMachine(RuleBasedStateMachine):
    """Transfers typed at the counter (and some sent before what is coming was kept), sends from
    suggestions on a view that shows none of what is in transit, receipts full and short, in
    any order: what the command sees coming to a store is the sum of its open transfers, and a
    send from suggestions sends what the store needs at most, or nothing (409)."""

    @initialize()
    def start(self) -> None:
        self.app = ServiceCore()
        self.inv = _group(self.app)
        self.sent: dict[UUID, Sent] = {}

    def _open_to(self, store: str) -> Decimal:
        return sum((s.qty for s in self.sent.values() if s.open and s.to_store == store), D(0))

    def _listed(self, store: str) -> list[UUID]:
        """The view's list: every transfer ever sent there that was not kept (the view has
        them), and those booked in too (it has not caught up with the receipts)."""
        return [tid for tid, s in self.sent.items()
                if s.to_store == store and (not s.kept or not s.open)]

    @rule(from_store=st.sampled_from(DONORS), to_store=st.sampled_from(RECEIVERS),
          qty=st.integers(1, 4), kept=st.booleans())
    def typed_at_the_counter(self, from_store: str, to_store: str, qty: int, kept: bool) -> None:
        def typed() -> Any:
            return self.inv.transfer(GROUP, from_store=from_store, to_store=to_store,
                                     part_number=PART, qty=str(qty), reason="by hand").body
        if kept:
            body = typed()
        else:
            with sent_before_it_was_kept():
                body = typed()
        self.sent[UUID(body["id"])] = Sent(to_store, D(qty), kept)

    @rule(to_store=st.sampled_from(RECEIVERS), from_store=st.sampled_from(DONORS),
          qty=st.integers(1, 8))
    def sent_from_suggestions(self, to_store: str, from_store: str, qty: int) -> None:
        item = load_stock(self.app, PART, to_store)
        needed = need(item.available, item.on_order_total, self._open_to(to_store),
                      item.min_stock, item.reorder_qty)
        try:
            body = _send(self.inv, to_store, from_store, str(qty), self._listed(to_store))
        except TransferPlanChanged as refused:
            assert D(refused.extra["needed"]) == needed < qty
            return
        assert qty <= needed
        [transfer] = body["transfers"]
        self.sent[UUID(transfer["transfer_id"])] = Sent(to_store, D(qty), True)

    @precondition(lambda self: any(s.open for s in self.sent.values()))
    @rule(pick=st.integers(0, 100), short=st.booleans())
    def booked_in(self, pick: int, short: bool) -> None:
        open_ids = [tid for tid, s in self.sent.items() if s.open]
        tid = open_ids[pick % len(open_ids)]
        sent = self.sent[tid]
        if short and sent.qty > 1:
            self.inv.receive_transfer(GROUP, tid, received_qty=str(sent.qty - 1),
                                      reason="one set missing")
        else:
            self.inv.receive_transfer(GROUP, tid)
        sent.open = False

    @invariant()
    def what_is_coming_is_the_open_transfers(self) -> None:
        if not hasattr(self, "app"):
            return
        for store in RECEIVERS:
            assert _in_transit(self.app, store, self._listed(store)) == self._open_to(store)
            found = self.app.repository.get(coming_stream(store, PART)) \
                if coming_stream(store, PART) in self.app.repository else None
            kept = {str(tid): s.qty for tid, s in self.sent.items()
                    if s.kept and s.open and s.to_store == store}
            assert (found.coming if isinstance(found, TransfersComing) else {}) == kept
        for tid, s in self.sent.items():
            transfer = self.app.repository.get(tid)
            assert isinstance(transfer, Transfer)
            assert (transfer.status == "in_transit") == s.open


ComingMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25)
TestComingMachine = ComingMachine.TestCase
