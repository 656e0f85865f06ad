"""What the parts desk's commands share: the approval thresholds, the service's zone and stores,
and the helpers that find a part in the master, find or open a store's stock item of it, and run
a command on one stock item.

The commands are in domain/inventory.py (the part master, receipts, scrap and stocktakes,
returns to the supplier, transfers) and domain/inventory_orders.py (purchase orders).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import NotFound, NotPermitted, StaleVersion, require, require_group_store
from domain.money import shown_quantity
from domain.part import Part, normalise_part_number
from domain.stock import StockItem


@dataclass(frozen=True)
class Thresholds:
    """Above these, scrap and stocktake variances wait for the approval of a manager other than
    the user who asked or counted, whatever the asker's own role."""

    scrap_qty: Decimal = Decimal(10)
    scrap_value: Decimal = Decimal("500.00")
    stocktake_value: Decimal = Decimal("500.00")


def find_part(session: Session, part_number: str) -> Part:
    number = normalise_part_number(part_number)
    part = session.find(Part, Part.create_id(number))
    if part is None:
        raise NotFound(f"part {number} is not in the part master")
    return part


def stock_item(session: Session, store_id: str, part_number: str, *,
               create: bool = False) -> StockItem | None:
    """The store's stock item of a part; opened from the master's levels when `create`."""
    require(session.caller.may_use(store_id),
            NotPermitted(f"your token does not cover store {store_id}"))
    number = normalise_part_number(part_number)
    item = session.find(StockItem, StockItem.create_id(store_id, number))
    if item is None and create:
        part = find_part(session, number)
        item = StockItem(audit=session.audit(store_id), store_id=store_id, part_number=number,
                         unit=part.details["unit"], min_stock=part.details["min_stock"],
                         reorder_qty=part.details["reorder_qty"])
        session.add(item)
    return item


def existing_stock(session: Session, store_id: str, part_number: str) -> StockItem:
    item = stock_item(session, store_id, part_number)
    if item is None:
        raise NotFound(f"store {store_id} holds no stock of {normalise_part_number(part_number)}")
    return item


def stock_stream(store_id: str, part_number: str) -> UUID:
    return StockItem.create_id(store_id, normalise_part_number(part_number))



class InventoryDesk:
    def __init__(self, app: ServiceCore, timezone: str = "Asia/Shanghai",
                 thresholds: Thresholds | None = None,
                 stores: Iterable[str] = ()) -> None:
        self.app = app
        self.zone = ZoneInfo(timezone)
        self.thresholds = thresholds or Thresholds()
        self.stores = frozenset(stores)

    def _require_known(self, *store_ids: str) -> None:
        """A command that opens stock, an order or a transfer names the group's stores only
        (`require_group_store`)."""
        require_group_store(self.stores, *store_ids)

    def _year(self, request: Request) -> int:
        return request.caller.at.astimezone(self.zone).year

    def _on_stock(self, request: Request, store_id: str, part_number: str,
                  act: Callable[[Session, StockItem], dict[str, Any] | None], *,
                  create: bool = False, also: Iterable[UUID] = ()) -> CommandResult:
        if create:
            self._require_known(store_id)

        def decide(session: Session) -> Decision:
            item = stock_item(session, store_id, part_number, create=create)
            if item is None:
                raise NotFound(f"store {store_id} holds no stock of "
                               f"{normalise_part_number(part_number)}")
            expected = request.expected_version
            if expected is not None and item.version != expected:
                raise StaleVersion(f"version is {item.version}, If-Match said {expected}",
                                   current=item.version)
            answer = act(session, item) or {}
            return Decision(item, {"store_id": store_id, "part_number": item.part_number,
                                   **{k: str(shown_quantity(v)) for k, v in item.figures().items()},
                                   **answer})

        return self.app.execute(request, decide, (stock_stream(store_id, part_number), *also))
