"""Transfers from suggestions, in memory: the plan (most spare first, never more than needed,
never below a donor's floor), and the command that sends it, re-checked on the stock items."""

from __future__ import annotations

from decimal import Decimal

import pytest
from eventsourcing.application import AggregateNotFoundError
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import ServiceCore
from domain.common import InvalidInput, NotPermitted
from domain.inventory import Inventory
from domain.transfer import Transfer
from domain.transfer_plan import need, plan, spare
from domain.transfer_suggesting import (
    MAX_SUGGESTED_PARTS,
    TransferPlanChanged,
    send_suggested,
)
from tests.unit.support import clerk, events_stored, load_stock, register_part

D = Decimal
STORES = ("S01", "S02", "S03", "S04")
GROUP = clerk(stores=STORES)


def test_a_store_needs_its_reorder_qty_or_the_shortfall_once_what_comes_is_counted() -> None:
    # available 1 + on order 0 + in transit 0 < min 4: the reorder qty 6 (more than 3 short)
    assert need(D(1), D(0), D(0), D(4), D(6)) == 6
    # 10 short: more than the reorder qty
    assert need(D(0), D(0), D(0), D(10), D(6)) == 10
    # what is on order or in transit counts as coming: not short
    assert need(D(1), D(1), D(2), D(4), D(6)) == 0
    assert need(D(1), D(0), D(2), D(4), D(6)) == 6


def test_a_donor_keeps_its_minimum_and_what_its_work_orders_wait_for() -> None:
    assert spare(D(8), D(4), D(0)) == 4
    assert spare(D(9), D(4), D(3)) == 2
    assert spare(D(5), D(4), D(3)) == 0  # never below 0


def test_the_donor_with_the_most_spare_sends_first_and_no_more_than_needed() -> None:
    assert plan(D(6), [("S03", D(2)), ("S02", D(4)), ("S04", D(9))]) == [("S04", D(6))]
    assert plan(D(6), [("S03", D(2)), ("S02", D(4))]) == [("S02", D(4)), ("S03", D(2))]
    assert plan(D(5), [("S03", D(3)), ("S02", D(3))]) == [("S02", D(3)), ("S03", D(2))]
    assert plan(D(5), [("S02", D(0))]) == []


spares = st.lists(st.tuples(st.sampled_from(STORES), st.integers(0, 20)), max_size=4,
                  unique_by=lambda d: d[0])


@given(needed=st.integers(0, 40), donors=spares)
def test_a_plan_never_takes_a_donor_past_its_spare_nor_sends_more_than_needed(
        needed: int, donors: list[tuple[str, int]]) -> None:
    offered = {store: D(can) for store, can in donors}
    sends = plan(D(needed), offered.items())
    assert all(0 < qty <= offered[store] for store, qty in sends)
    assert len({store for store, _ in sends}) == len(sends)
    assert sum(qty for _, qty in sends) == min(D(needed), sum(offered.values(), D(0)))


def _register(app: ServiceCore, number: str) -> None:
    """In the master with levels no store's here are (each sets its own)."""
    register_part(app, number, min_stock="99", reorder_qty="99")


def _receive(app: ServiceCore, number: str, store: str, qty: int, cost: str) -> None:
    _register(app, number)
    Inventory(app, stores=STORES).receive(GROUP, store, number, qty=qty, unit_cost=cost,
                                          supplier="FAW-VW Parts", supplier_doc="DN-1")


def _short_receiver(app: ServiceCore, number: str, have: int, min_stock: int,
                    reorder: int) -> None:
    _register(app, number)
    if have:
        _receive(app, number, "S01", have, "100.00")
    _levels(app, number, "S01", min_stock, reorder)


def _donor(app: ServiceCore, number: str, store: str, lots: list[tuple[int, str]],
           min_stock: int) -> None:
    for qty, cost in lots:
        _receive(app, number, store, qty, cost)
    _levels(app, number, store, min_stock, 0)


def _levels(app: ServiceCore, number: str, store: str, min_stock: int, reorder: int) -> None:
    """The store's levels of the part (its item opened from the master's where it has none)."""
    try:
        item = load_stock(app, number, store)
    except AggregateNotFoundError:
        item = None
    if item is None or (item.min_stock, item.reorder_qty) != (min_stock, reorder):
        Inventory(app, stores=STORES).set_levels(GROUP, store, number, min_stock=min_stock,
                                                 reorder_qty=reorder)


def _planned(app: ServiceCore, number: str, donors: tuple[str, ...],
             waiting: dict[tuple[str, str], Decimal]) -> list[dict[str, object]]:
    """The plan as the suggestion list makes it, from the items' own figures."""
    receiver = load_stock(app, number, "S01")
    needed = need(receiver.available, receiver.on_order_total, D(0), receiver.min_stock,
                  receiver.reorder_qty)
    offered = []
    for store in donors:
        item = load_stock(app, number, store)
        offered.append((store, spare(item.available, item.min_stock,
                                     waiting.get((store, number), D(0)))))
    return [{"part_number": number, "from_store": store, "qty": qty}
            for store, qty in plan(needed, offered)]


def test_sending_the_plan_moves_the_units_in_transit_at_fifo_cost() -> None:
    app = ServiceCore()
    number = "5Q0698151"
    _short_receiver(app, number, 1, 4, 6)  # needs 6
    _donor(app, number, "S02", [(3, "100.00"), (5, "120.00")], 4)  # spare 4
    _donor(app, number, "S03", [(9, "90.00")], 4)  # spare 5, less 3 its work orders wait for
    lines = _planned(app, number, ("S02", "S03"), {("S03", number): D(3)})
    assert [(ln["from_store"], ln["qty"]) for ln in lines] == [("S02", 4), ("S03", 2)]
    sent = send_suggested(Inventory(app, stores=STORES), GROUP, to_store="S01", lines=lines,
                          in_transit={}, waiting={("S03", number): D(3)}).body
    assert [(t["from_store"], t["qty"], t["cost"]) for t in sent["transfers"]] == [
        ("S02", "4", "420.00"), ("S03", "2", "180.00")]  # 3 x 100 + 1 x 120; 2 x 90
    assert [t["number"][:6] for t in sent["transfers"]] == ["TR-S02", "TR-S03"]
    assert (load_stock(app, number, "S02").on_hand, load_stock(app, number, "S03").on_hand) == (
        4, 7)
    transfer = app.repository.get(sent["transfers"][0]["transfer_id"])
    assert isinstance(transfer, Transfer) and transfer.status == "in_transit"


def test_a_donor_whose_stock_changed_since_refuses_the_whole_plan() -> None:
    app = ServiceCore()
    number = "5Q0698151"
    inv = Inventory(app, stores=STORES)
    _short_receiver(app, number, 0, 4, 4)
    _donor(app, number, "S02", [(6, "100.00")], 2)
    _donor(app, number, "S03", [(4, "100.00")], 2)
    lines = _planned(app, number, ("S02", "S03"), {})
    assert [(ln["from_store"], ln["qty"]) for ln in lines] == [("S02", 4)]
    # S02 sends 3 elsewhere by hand meanwhile: it can spare 1 now
    inv.transfer(GROUP, from_store="S02", to_store="S04", part_number=number, qty="3",
                 reason="S04 has a car waiting")
    before = events_stored(app)
    with pytest.raises(TransferPlanChanged) as refused:
        send_suggested(inv, GROUP, to_store="S01", lines=lines, in_transit={}, waiting={})
    assert refused.value.extra["part_number"] == number
    assert refused.value.extra["from_store"] == "S02"
    assert events_stored(app) == before
    # what is already in transit to the store counts: 4 on the way, it needs nothing more
    # (though the view, `in_transit`, shows none of it yet)
    inv.transfer(GROUP, from_store="S03", to_store="S01", part_number=number, qty="2",
                 reason="a car waits at S01")
    inv.transfer(GROUP, from_store="S02", to_store="S01", part_number=number, qty="2",
                 reason="a car waits at S01")
    before = events_stored(app)
    with pytest.raises(TransferPlanChanged) as refused:
        send_suggested(inv, GROUP, to_store="S01", lines=[
            {"part_number": number, "from_store": "S03", "qty": 1}],
            in_transit={}, waiting={})
    assert refused.value.extra["needed"] == "0"
    assert events_stored(app) == before


def test_the_token_covers_the_receiving_store_and_every_donor() -> None:
    app = ServiceCore()
    number = "5Q0698151"
    _short_receiver(app, number, 0, 4, 4)
    _donor(app, number, "S02", [(6, "100.00")], 2)
    lines = [{"part_number": number, "from_store": "S02", "qty": 2}]
    inv = Inventory(app, stores=STORES)
    for stores in (("S01",), ("S02",)):
        with pytest.raises(NotPermitted):
            send_suggested(inv, clerk(stores=stores), to_store="S01", lines=lines,
                           in_transit={}, waiting={})


def test_more_than_500_parts_are_refused_before_any_stock_is_loaded() -> None:
    app = ServiceCore()
    lines = [{"part_number": f"P{n:05d}", "from_store": "S02", "qty": 1}
             for n in range(MAX_SUGGESTED_PARTS + 1)]
    with pytest.raises(InvalidInput) as refused:
        send_suggested(Inventory(app, stores=STORES), GROUP, to_store="S01", lines=lines,
                       in_transit={}, waiting={})
    assert refused.value.extra["limit"] == MAX_SUGGESTED_PARTS


@settings(max_examples=40)
@given(have=st.integers(0, 6), min_stock=st.integers(1, 12), reorder=st.integers(0, 10),
       donors=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 6), st.integers(0, 4)),
                       min_size=1, max_size=3))
def test_sent_and_received_no_donor_falls_below_its_floor_nor_any_stock_below_zero(
        have: int, min_stock: int, reorder: int, donors: list[tuple[int, int, int]]) -> None:
    app = ServiceCore()
    number = "5Q0698151"
    _register(app, number)
    _short_receiver(app, number, have, min_stock, reorder)
    stores = STORES[1:1 + len(donors)]
    waiting = {}
    for store, (on_hand, floor, waits) in zip(stores, donors, strict=False):
        _donor(app, number, store, [(on_hand, "50.00")] if on_hand else [], floor)
        waiting[(store, number)] = D(waits)
    needed = need(D(have), D(0), D(0), D(min_stock), D(reorder))
    lines = _planned(app, number, stores, waiting)
    if not lines:
        return
    inv = Inventory(app, stores=STORES)
    sent = send_suggested(inv, GROUP, to_store="S01", lines=lines, in_transit={},
                          waiting=waiting).body["transfers"]
    for t in sent:
        inv.receive_transfer(GROUP, app.repository.get(t["transfer_id"]).id)
    assert sum(D(t["qty"]) for t in sent) <= needed
    for store, (_, floor, waits) in zip(stores, donors, strict=False):
        item = load_stock(app, number, store)
        assert item.on_hand >= 0
        assert item.available >= floor + waits or not any(t["from_store"] == store
                                                          for t in sent)
    receiver = load_stock(app, number, "S01")
    assert receiver.on_hand == have + sum(D(t["qty"]) for t in sent) >= 0
