"""Half a set on an estimate or an order is refused when the line is written, not when the
part is issued or received: a work order's part line (customer, warranty or insurance) and a
purchase order's line take a whole number of a part counted in pieces, naming the field and
the unit; litres stay fractional, and a part no one knows the unit of takes what it is given."""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import Any
from uuid import UUID

import pytest

from domain.application import ServiceCore
from domain.common import InvalidInput
from domain.inventory import Inventory
from domain.stock import StockItem
from domain.units import pieces_up
from domain.work_orders import WorkOrders
from tests.unit.support import (
    PADS,
    checked_in,
    clerk,
    events_stored,
    load,
    part,
    register_part,
    request,
    stock_part,
)

OIL = "G052195M4"
WARRANTY = {"coverage_code": "BASIC-3Y"}


def refused(run: Any, app: ServiceCore) -> InvalidInput:
    """The refusal `run` raises; nothing stored."""
    before = events_stored(app)
    with pytest.raises(InvalidInput) as error:
        run()
    assert events_stored(app) == before
    return error.value


@pytest.mark.parametrize("pay", [{}, {"pay_type": "warranty", "warranty": WARRANTY},
                                 {"pay_type": "insurance"}])
def test_a_part_line_of_half_a_set_is_refused_when_added(pay: dict[str, Any]) -> None:
    app = ServiceCore()
    wos = WorkOrders(app)
    register_part(app, PADS)  # in sets
    register_part(app, OIL, name="engine oil", unit="L", category="fluid")
    wo = checked_in(wos)
    error = refused(lambda: wos.add_part_line(request(), wo, 1, part(qty="1.5", **pay)), app)
    assert (error.extra["field"], error.extra["unit"]) == ("qty", "set")
    assert load(app, wo).lines == {}
    # whole sets, litres, and a part of no known unit (not in the master, none given: as
    # before) take their quantity
    for line in (part(qty="2"), part(part_number=OIL, qty="4.5"),
                 part(part_number="LOCAL-1", qty="1.5")):
        wos.add_part_line(request(), wo, 1, {**line, **pay})
    assert [line["qty"] for line in load(app, wo).lines.values()] == [
        Decimal(2), Decimal("4.5"), Decimal("1.5")]


def test_the_unit_a_line_gives_and_the_stock_items_are_checked_too() -> None:
    app = ServiceCore()
    wos = WorkOrders(app)
    wo = checked_in(wos)
    # a part outside the master, given in pairs
    error = refused(lambda: wos.add_part_line(
        request(), wo, 1, part(part_number="LOCAL-2", qty="0.5", unit="pair")), app)
    assert (error.extra["field"], error.extra["unit"]) == ("qty", "pair")
    # the master now says litres, but the store's stock item was opened in sets (its issue
    # refuses half a set)
    stock_part(app, PADS, "4")
    Inventory(app).change_part(request("manager"), PADS, {"unit": "L"}, "entered wrongly")
    error = refused(lambda: wos.add_part_line(request(), wo, 1, part(qty="1.5")), app)
    assert (error.extra["field"], error.extra["unit"]) == ("qty", "set")


def test_a_purchase_order_line_of_half_a_set_is_refused() -> None:
    app = ServiceCore()
    inventory = Inventory(app)
    register_part(app, PADS)
    register_part(app, OIL, name="engine oil", unit="L", category="fluid")
    lines = [{"part_number": OIL, "qty": "20.5", "unit_cost": "36.00"},
             {"part_number": PADS, "qty": "2.5", "unit_cost": "300.00"}]
    error = refused(lambda: inventory.draft_order(clerk(), store_id="S01", supplier="FAW",
                                                  lines=lines), app)
    assert (error.extra["field"], error.extra["unit"]) == ("lines[1].qty", "set")
    drafted = inventory.draft_order(clerk(), store_id="S01", supplier="FAW", lines=lines[:1])
    order_id = UUID(drafted.body["id"])
    error = refused(lambda: inventory.add_order_line(clerk(), order_id, lines[1]), app)
    assert (error.extra["field"], error.extra["unit"]) == ("qty", "set")
    assert inventory.add_order_line(clerk(), order_id, {**lines[1], "qty": "3"}).body[
        "line_no"] == 2


def test_a_reorder_suggestion_orders_whole_pieces() -> None:
    assert pieces_up(Decimal("2.5"), "set") == Decimal(3)
    assert pieces_up(Decimal(2), "pc") == Decimal(2)
    assert pieces_up(Decimal("2.5"), "L") == Decimal("2.5")
    app = ServiceCore()
    inventory = Inventory(app)
    register_part(app, PADS, preferred_supplier="FAW")
    # a minimum of half a set, set before levels were checked in whole pieces
    app.save(StockItem(store_id="S01", part_number=PADS, unit="set", min_stock=Decimal("2.5"),
                       audit=clerk().caller.audit("S01")))
    drafted = inventory.draft_from_suggestions(clerk(), store_id="S01", supplier="FAW",
                                               part_numbers=[PADS])
    assert drafted.body["lines"] == 1
    order: Any = app.repository.get(UUID(drafted.body["id"]))
    assert order.lines[1]["qty"] == Decimal(3)


def test_levels_of_half_a_set_are_refused_in_the_master_and_the_store() -> None:
    """A minimum or reorder quantity of a part counted in pieces is whole pieces, in the
    master (registered or changed) and a store's levels; litres stay fractional."""
    app = ServiceCore()
    inventory = Inventory(app)
    for levels, field in (({"min_stock": "1.5"}, "min_stock"),
                          ({"reorder_qty": "0.5"}, "reorder_qty")):
        error = refused(partial(register_part, app, PADS, **levels), app)
        assert (error.extra["field"], error.extra["unit"]) == (field, "set")
    register_part(app, PADS, min_stock="2", reorder_qty="6")
    register_part(app, OIL, name="engine oil", unit="L", category="fluid", min_stock="4.5")
    error = refused(lambda: inventory.change_part(request("manager"), PADS,
                                                  {"reorder_qty": "6.5"}, "bulk pack"), app)
    assert (error.extra["field"], error.extra["unit"]) == ("reorder_qty", "set")
    # the master made litres into pieces at the same time: the new unit counts
    error = refused(lambda: inventory.change_part(request("manager"), OIL, {
        "unit": "pc", "min_stock": "4.5"}, "sold in cans"), app)
    assert (error.extra["field"], error.extra["unit"]) == ("min_stock", "pc")
    for levels, field in ((("2.5", "6"), "min_stock"), (("2", "6.5"), "reorder_qty")):
        error = refused(partial(inventory.set_levels, clerk(), "S01", PADS,
                                min_stock=levels[0], reorder_qty=levels[1]), app)
        assert (error.extra["field"], error.extra["unit"]) == (field, "set")
    inventory.set_levels(clerk(), "S01", PADS, min_stock="3", reorder_qty="8")
    inventory.set_levels(clerk(), "S01", OIL, min_stock="10.5", reorder_qty="20.25")
    # the master now says pieces, the store's item was opened in litres: both are checked
    inventory.change_part(request("manager"), OIL, {"unit": "pc"}, "sold in cans")
    error = refused(lambda: inventory.set_levels(clerk(), "S01", OIL, min_stock="4.5",
                                                 reorder_qty="20"), app)
    assert (error.extra["field"], error.extra["unit"]) == ("min_stock", "pc")
