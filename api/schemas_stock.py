"""Request bodies for the part master, stock movements and purchase orders."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.booleans import Boolean
from api.dates import Day
from api.numbers import Number, NumberOrNone, Whole, WholeOrNone
from api.paging import Page, PageOf
from api.schemas import REASON, Body, Code, Ident, PartCategory, described, example
from domain.purchase_order import MAX_DRAFT_LINES

LOT = "5Q0698151-00001@S01"
WHOLE = "; whole pieces where the part's unit is counted in them (set, pc, …)"
MIN_STOCK = "below it (available + on order) the part is proposed for reordering" + WHOLE
REORDER_QTY = "how much a reorder proposes" + WHOLE
EXPECTED_ON = ("the day the supplier is expected to deliver (YYYY-MM-DD; not already past): "
               "once it is past and the order not received in full, the order is overdue")


class FitmentIn(Body):
    model_config = described("Which cars the part fits (for search).",
                             {"brands": ["Volkswagen"], "models": ["Lavida", "Sagitar"]})

    brands: list[Code] = Field(default_factory=list, max_length=50)
    models: list[Ident] = Field(default_factory=list, max_length=200)


class PartDetailsIn(Body):
    model_config = example({"min_stock": "4", "reorder_qty": "8",
                            "preferred_supplier": "FAW-VW Parts"})

    name: str | None = Field(default=None, min_length=1, max_length=200,
                             description="what the shop calls it")
    unit: str | None = Field(default=None, min_length=1, max_length=10,
                             description="the unit it is stocked and sold in: pc, set, L…")
    category: PartCategory | None = Field(default=None,
                                          description="the part group, for reports and search")
    fitment: FitmentIn | None = Field(default=None, description="which cars it fits")
    min_stock: NumberOrNone = Field(default=None, ge=0, le=1_000_000, description=MIN_STOCK)
    reorder_qty: NumberOrNone = Field(default=None, ge=0, le=1_000_000,
                                        description=REORDER_QTY)
    preferred_supplier: str | None = Field(default=None, max_length=100,
                                           description="whom reorder proposals go to")
    barcode: str | None = Field(default=None, max_length=64, description="EAN or the OEM's code")


class PartChangeIn(PartDetailsIn):
    model_config = example({"min_stock": "4", "reorder_qty": "8",
                            "preferred_supplier": "FAW-VW Parts",
                            "reason": "demand doubled since the fleet contract"})

    reason: str | None = Field(default=None, max_length=500, description=(
        "why the master data change (required, at least 3 characters)"))


class PartIn(PartDetailsIn):
    model_config = example({
        "part_number": "5Q0 698 151", "name": "front brake pads", "unit": "set",
        "category": "brake", "list_price": "560.00",
        "fitment": {"brands": ["Volkswagen"], "models": ["Lavida"]},
        "min_stock": "2", "reorder_qty": "4", "preferred_supplier": "FAW-VW Parts"})

    part_number: str = Field(min_length=1, max_length=40,
                             description="as the OEM writes it; blanks are ignored")
    name: str = Field(min_length=1, max_length=200, description="what the shop calls it")
    unit: str = Field(min_length=1, max_length=10,
                      description="the unit it is stocked and sold in: pc, set, L…")
    category: PartCategory = Field(description="the part group, for reports and search")
    list_price: Number = Field(ge=0, le=10_000_000, description="VAT-inclusive, CNY")


class PriceIn(Body):
    model_config = example({"list_price": "580.00", "reason": "OEM price list 2026-05"})

    list_price: Number = Field(ge=0, le=10_000_000, description="VAT-inclusive, CNY")
    reason: str = Field(min_length=1, max_length=500, description=REASON)


class LevelsIn(Body):
    model_config = example({"min_stock": "4", "reorder_qty": "8"})

    min_stock: Number = Field(ge=0, le=1_000_000, description=MIN_STOCK)
    reorder_qty: Number = Field(ge=0, le=1_000_000, description=REORDER_QTY)


class ReceiptIn(Body):
    model_config = example({"qty": "4", "unit_cost": "300.00", "supplier": "FAW-VW Parts",
                            "supplier_doc": "DN-88", "cert_ref": "CCC-2026-1187"})

    qty: Number = Field(gt=0, le=1_000_000, description="in the part's unit")
    unit_cost: Number = Field(ge=0, le=10_000_000, description="per unit, CNY")
    supplier: str = Field(min_length=1, max_length=100)
    supplier_doc: str = Field(min_length=1, max_length=60, description="delivery note number")
    cert_ref: str | None = Field(default=None, max_length=100,
                                 description="conformity certificate reference")
    purchase_order_id: UUID | None = Field(default=None,
                                           description="the order this delivery is against")
    po_line: WholeOrNone = Field(default=None, ge=1, le=10_000, description="the order's line")
    over_delivery_reason: str | None = Field(default=None, max_length=500, description=(
        "why more than the order line has outstanding is accepted; without it such a "
        "receipt is 409"))


class PoReceiptIn(Body):
    model_config = example({"line_no": 1, "qty": "4", "supplier_doc": "DN-88"})

    line_no: Whole = Field(ge=1, le=10_000, description="the order's line")
    qty: Number = Field(gt=0, le=1_000_000, description="received now; may be part")
    unit_cost: NumberOrNone = Field(default=None, ge=0, le=10_000_000,
                                      description="default: the ordered unit cost")
    supplier_doc: str = Field(min_length=1, max_length=60, description="delivery note number")
    cert_ref: str | None = Field(default=None, max_length=100,
                                 description="conformity certificate reference")
    over_delivery_reason: str | None = Field(default=None, max_length=500, description=(
        "why more than the line has outstanding is accepted (the supplier's over-delivery, "
        "booked into the same lot); without it such a receipt is 409 naming `outstanding`"))


class ScrapIn(Body):
    model_config = example({"qty": "1", "reason": "dropped; friction surface cracked",
                            "lot_id": LOT})

    qty: Number = Field(gt=0, le=1_000_000)
    reason: str = Field(min_length=1, max_length=500, description=REASON)
    lot_id: str | None = Field(default=None, max_length=80, description="default: the oldest lot")


class DecisionIn(Body):
    model_config = example({"approve": True, "reason": "checked on the shelf"})

    approve: Boolean = Field(description="by a manager other than the requester")
    reason: str | None = Field(default=None, max_length=500)


class CountIn(Body):
    model_config = example({"counted": {LOT: "3"}, "reason": "one set missing",
                            "count_ref": "ST-2026-05"})

    counted: dict[Ident, Number] = Field(min_length=1, max_length=500,
                                          description="lot id -> counted quantity")
    reason: str | None = Field(default=None, max_length=500,
                               description="required when the count differs from the book")
    count_ref: str | None = Field(default=None, max_length=40,
                                  description="the stocktake this count belongs to")
    as_of_version: WholeOrNone = Field(
        default=None, ge=1, le=2**62,
        description="the stock item's version (its ETag) the count sheet was printed at: the "
                    "count is compared with that book, carried forward by the movements "
                    "recorded since; omitted, the version the request finds")


class SupplierReturnIn(Body):
    model_config = example({"lot_id": LOT, "qty": "1", "reference": "RMA-5521",
                            "reason": "wrong fitment delivered"})

    lot_id: str = Field(min_length=1, max_length=80)
    qty: Number = Field(gt=0, le=1_000_000)
    reference: str = Field(min_length=1, max_length=60, description="the supplier's RMA number")
    reason: str = Field(min_length=1, max_length=500, description=REASON)


class TransferIn(Body):
    model_config = example({"from_store": "S01", "to_store": "S02", "part_number": "5Q0698151",
                            "qty": "2", "reason": "S02 has a car waiting"})

    from_store: str = Field(min_length=1, max_length=20)
    to_store: str = Field(min_length=1, max_length=20)
    part_number: str = Field(min_length=1, max_length=40)
    qty: Number = Field(gt=0, le=1_000_000)
    reason: str = Field(min_length=1, max_length=500, description=REASON)


class TransferReceiptIn(Body):
    model_config = example({"received_qty": "1", "reason": "one set missing from the crate"})

    received_qty: NumberOrNone = Field(default=None, ge=0, le=1_000_000, description=(
        "the units that arrived, when fewer than were sent (none: all of them); the rest are "
        "counted short at the receiving store under the transfer's number"))
    reason: str | None = Field(default=None, max_length=500,
                               description="required when fewer units arrived than were sent")


class OrderLineIn(Body):
    model_config = example({"part_number": "5Q0698151", "qty": "8", "unit_cost": "300.00"})

    part_number: str = Field(min_length=1, max_length=40)
    qty: Number = Field(gt=0, le=1_000_000)
    unit_cost: Number = Field(ge=0, le=10_000_000, description="per unit, CNY")
    emergency: Boolean | None = Field(default=None, description=(
        "an emergency purchase (bought outside normal replenishment to fill a demand the "
        "stock could not; counts against the parts fill rate); default: the order's "
        "`emergency`, false when added to a draft"))


class OrderIn(Body):
    model_config = example({
        "store_id": "S01", "supplier": "FAW-VW Parts",
        "lines": [{"part_number": "5Q0698151", "qty": "8", "unit_cost": "300.00"}]})

    store_id: str = Field(min_length=1, max_length=20)
    supplier: str = Field(min_length=1, max_length=100)
    lines: list[OrderLineIn] = Field(min_length=1, max_length=MAX_DRAFT_LINES)
    emergency: Boolean = Field(default=False, description=(
        "every line an emergency purchase unless the line says otherwise"))
    expected_on: Day | None = Field(default=None, description=EXPECTED_ON)

    def line_data(self) -> list[dict[str, Any]]:
        """The lines with their own `emergency`, or the order's."""
        return [{**line.model_dump(), "emergency": self.emergency if line.emergency is None
                 else line.emergency} for line in self.lines]


class FromSuggestionsIn(Body):
    model_config = example({"store_id": "S01", "supplier": "FAW-VW Parts"})

    store_id: str = Field(min_length=1, max_length=20)
    supplier: str = Field(min_length=1, max_length=100)
    part_numbers: list[Code] | None = Field(
        default=None, max_length=MAX_DRAFT_LINES,
        description=f"default: every part the suggestion list proposes from this supplier "
                    f"(422 when that is more than {MAX_DRAFT_LINES})")
    after_transfers: Boolean = Field(default=False, description=(
        "order only what the list with ?after_transfers=true proposes: what is in transit to "
        "the store and what its sister stores would send it count as coming"))
    expected_on: Day | None = Field(default=None, description=EXPECTED_ON)


class ExpectedDateIn(Body):
    model_config = example({"expected_on": "2026-12-10",
                            "reason": "supplier's warehouse short until Thursday"})

    expected_on: Day = Field(description=EXPECTED_ON)
    reason: str | None = Field(default=None, max_length=500, description=(
        "why the day moves: required (3+ characters) once a day was given"))


class CloseIn(Body):
    model_config = example({"reason": "supplier cannot deliver the rest"})

    reason: str | None = Field(default=None, max_length=500, description=REASON)


class IssueIn(Body):
    model_config = example({"qty": "1"})

    qty: NumberOrNone = Field(default=None, gt=0, le=1_000_000,
                                description="default: what the line still needs")


class PartReturnIn(Body):
    model_config = example({"qty": "1", "reason": "second set not needed"})

    qty: Number = Field(gt=0, le=1_000_000, description="unused units back into their lots")
    reason: str = Field(min_length=1, max_length=500, description=REASON)


class FollowOnIn(Body):
    model_config = example({"line_ids": ["L3"], "reason": "part back-ordered; car goes home"})

    line_ids: list[Code] = Field(min_length=1, max_length=100,
                                 description="back-ordered lines moved to the new work order")
    reason: str = Field(min_length=1, max_length=500, description=REASON)


class ApprovalOut(BaseModel):
    """A scrap request or a stocktake variance waiting for (or decided by) a manager."""

    model_config = ConfigDict(extra="allow")
    kind: Literal["scrap", "stocktake"]
    store_id: str
    part_number: str
    request_id: str | None = Field(default=None, description="a scrap's: as `POST …/scrap` "
                                   "answers it and `…/scrap/{request_id}/decision` takes it")
    count_id: str | None = Field(default=None, description="a stocktake's: as `POST "
                                 "…/stocktakes` answers it and `…/stocktakes/{count_id}/"
                                 "decision` takes it")
    ref: str = Field(deprecated=True, description="deprecated: the request_id or count_id")
    status: str


class ApprovalPage(PageOf[ApprovalOut]):
    """One page of the approvals, newest request first."""


class MovementPage(Page):
    """One page of the movement journal; `value` sums every movement the filters list, not
    only this page's (a stocktake's `reference`: its variances' net value)."""

    value: Decimal = Field(description="the listed movements' value at cost, CNY (signed)")


class ValuationPage(Page):
    """The valuation per store; with `as_of`, as it stood at that moment (echoed)."""

    as_of: str | None = Field(None, description="the moment answered (only with `as_of`)")


class TransferPage(Page):
    """One page of the transfers; `cost` sums every transfer the filters list, not only this
    page's (with `status=in_transit`: the value on its way)."""

    cost: Decimal = Field(description="what the listed transfers carry, at the cost it left "
                                      "with, CNY")


class SuggestedTransferIn(Body):
    part_number: Code
    from_store: str = Field(min_length=1, max_length=20, description="the donor store")
    qty: Number = Field(gt=0, le=1_000_000)


class TransfersFromSuggestionsIn(Body):
    model_config = example({"to_store": "S02"})

    to_store: str = Field(min_length=1, max_length=20, description="the store below minimum")
    lines: list[SuggestedTransferIn] | None = Field(
        default=None, max_length=2 * MAX_DRAFT_LINES, description=(
            "the donors and quantities as `GET /transfers/suggestions` showed them, each "
            "re-checked (409 naming the part where a donor can no longer spare it or the store "
            "no longer needs it); default: every part the list proposes now (422 when that is "
            f"more than {MAX_DRAFT_LINES} parts)"))
    reason: str | None = Field(default=None, max_length=500, description=REASON)


class PurchaseOrderPage(Page):
    """One page of purchase orders, the newest first; `open_value` sums what every order the
    filters list still owes at its ordered cost, not only this page's."""

    open_value: Decimal = Field(description="the listed orders' open value, CNY")
