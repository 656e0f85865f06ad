"""A part counted in whole pieces (a set of pads, a bulb) moves only in whole pieces; a part
measured in litres (oil) may move in fractions. A fraction of a piece is refused, naming the
field that carried it, and nothing is recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from domain.application import ServiceCore
from domain.common import Audit, InvalidInput
from domain.inventory import Inventory
from domain.stock import StockItem
from domain.units import counted_in_pieces
from tests.unit.support import clerk, register_part

AUDIT = Audit("clerk-1", "parts_clerk", "S01", datetime(2026, 5, 1, tzinfo=UTC), "corr-1")


def item(unit: str) -> StockItem:
    stock = StockItem(store_id="S01", part_number="P-1", unit=unit, min_stock=Decimal(0),
                      audit=AUDIT)
    stock.receive(AUDIT, qty=10, unit_cost="40.00", supplier="Mann", supplier_doc="DN-1")
    return stock


LOT = "P-1-00001@S01"
COMMANDS: dict[str, tuple[str, Any]] = {
    "receipt": ("qty", lambda s, q: s.receive(AUDIT, qty=q, unit_cost="40.00", supplier="M",
                                              supplier_doc="DN-2")),
    "issue": ("qty", lambda s, q: s.issue(AUDIT, "wo-1:L1", q)),
    "scrap": ("qty", lambda s, q: s.scrap(AUDIT, q, "water damage")),
    "transfer": ("qty", lambda s, q: s.transfer_out(AUDIT, "TR-1", "S02", q, "car waiting")),
    "supplier return": ("qty", lambda s, q: s.return_to_supplier(AUDIT, LOT, q, "RMA-1",
                                                                 "wrong fitment")),
    "count": (f"counted.{LOT}", lambda s, q: s.count(AUDIT, "ST-1", {LOT: q}, "found",
                                                     Decimal(1_000_000))),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("unit", ["set", "pc", " Pairs ", "套"])
def test_a_fraction_of_a_piece_is_refused_naming_the_field(command: str, unit: str) -> None:
    stock = item(unit)
    list(stock.collect_events())
    field, run = COMMANDS[command]
    with pytest.raises(InvalidInput) as refused:
        run(stock, "1.5")
    assert (refused.value.extra["field"], refused.value.extra["unit"]) == (field, unit)
    assert list(stock.collect_events()) == []
    run(stock, "2")  # whole pieces move
    assert list(stock.collect_events())


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_litres_move_in_fractions(command: str) -> None:
    stock = item("L")
    list(stock.collect_events())
    COMMANDS[command][1](stock, "1.5")
    assert list(stock.collect_events())


def test_which_units_are_counted_in_pieces() -> None:
    assert all(counted_in_pieces(u) for u in ("pc", "SET", "pair", "kit", "个", "件"))
    assert not any(counted_in_pieces(u) for u in ("L", "ml", "kg", "m", "tube", "g"))


def test_a_transfer_received_short_by_half_a_set_is_refused() -> None:
    app = ServiceCore()
    register_part(app, "5Q0698151")
    inventory = Inventory(app)
    inventory.receive(clerk(), "S01", "5Q0698151", qty=4, unit_cost="300.00", supplier="M",
                      supplier_doc="DN-1")
    sent = inventory.transfer(clerk(), from_store="S01", to_store="S02", part_number="5Q0698151",
                              qty=2, reason="car waiting")
    with pytest.raises(InvalidInput) as refused:
        inventory.receive_transfer(clerk(stores=("S02",)), UUID(sent.body["id"]),
                                   received_qty="1.5", reason="half a set missing")
    assert refused.value.extra["field"] == "received_qty"
