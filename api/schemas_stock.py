"""Request bodies for the part master, stock movements and purchase orders."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from pydantic import Field

from api.schemas import Body, Code, Ident


class FitmentIn(Body):
    brands: list[Code] = Field(default_factory=list, max_length=50)
    models: list[Ident] = Field(default_factory=list, max_length=200)


class PartDetailsIn(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    unit: str | None = Field(default=None, min_length=1, max_length=10)
    category: str | None = Field(default=None, max_length=30)
    fitment: FitmentIn | None = None
    min_stock: Decimal | None = Field(default=None, ge=0, le=1_000_000)
    reorder_qty: Decimal | None = Field(default=None, ge=0, le=1_000_000)
    preferred_supplier: str | None = Field(default=None, max_length=100)
    barcode: str | None = Field(default=None, max_length=64)


class PartIn(PartDetailsIn):
    part_number: str = Field(min_length=1, max_length=40,
                             description="as the OEM writes it; blanks are ignored")
    name: str = Field(min_length=1, max_length=200)
    unit: str = Field(min_length=1, max_length=10)
    category: str = Field(max_length=30)
    list_price: Decimal = Field(ge=0, le=10_000_000, description="VAT-inclusive, CNY")


class PriceIn(Body):
    list_price: Decimal = Field(ge=0, le=10_000_000)
    reason: str = Field(min_length=1, max_length=500)


class LevelsIn(Body):
    min_stock: Decimal = Field(ge=0, le=1_000_000)
    reorder_qty: Decimal = Field(ge=0, le=1_000_000)


class ReceiptIn(Body):
    qty: Decimal = Field(gt=0, le=1_000_000)
    unit_cost: Decimal = Field(ge=0, le=10_000_000, description="per unit, CNY")
    supplier: str = Field(min_length=1, max_length=100)
    supplier_doc: str = Field(min_length=1, max_length=60, description="delivery note number")
    cert_ref: str | None = Field(default=None, max_length=100,
                                 description="conformity certificate reference")
    purchase_order_id: UUID | None = None
    po_line: int | None = Field(default=None, ge=1)


class PoReceiptIn(Body):
    line_no: int = Field(ge=1)
    qty: Decimal = Field(gt=0, le=1_000_000)
    unit_cost: Decimal | None = Field(default=None, ge=0, le=10_000_000,
                                      description="default: the ordered unit cost")
    supplier_doc: str = Field(min_length=1, max_length=60)
    cert_ref: str | None = Field(default=None, max_length=100)


class ScrapIn(Body):
    qty: Decimal = Field(gt=0, le=1_000_000)
    reason: str = Field(min_length=1, max_length=500)
    lot_id: str | None = Field(default=None, max_length=80)


class DecisionIn(Body):
    approve: bool
    reason: str | None = Field(default=None, max_length=500)


class CountIn(Body):
    counted: dict[Ident, Decimal] = Field(min_length=1, max_length=500,
                                          description="lot id -> counted quantity")
    reason: str | None = Field(default=None, max_length=500)
    count_ref: str | None = Field(default=None, max_length=40,
                                  description="the stocktake this count belongs to")


class SupplierReturnIn(Body):
    lot_id: str = Field(min_length=1, max_length=80)
    qty: Decimal = Field(gt=0, le=1_000_000)
    reference: str = Field(min_length=1, max_length=60, description="the supplier's RMA number")
    reason: str = Field(min_length=1, max_length=500)


class TransferIn(Body):
    from_store: str = Field(min_length=1, max_length=20)
    to_store: str = Field(min_length=1, max_length=20)
    part_number: str = Field(min_length=1, max_length=40)
    qty: Decimal = Field(gt=0, le=1_000_000)
    reason: str = Field(min_length=1, max_length=500)


class OrderLineIn(Body):
    part_number: str = Field(min_length=1, max_length=40)
    qty: Decimal = Field(gt=0, le=1_000_000)
    unit_cost: Decimal = Field(ge=0, le=10_000_000)


class OrderIn(Body):
    store_id: str = Field(min_length=1, max_length=20)
    supplier: str = Field(min_length=1, max_length=100)
    lines: list[OrderLineIn] = Field(min_length=1, max_length=500)


class FromSuggestionsIn(Body):
    store_id: str = Field(min_length=1, max_length=20)
    supplier: str = Field(min_length=1, max_length=100)
    part_numbers: list[Code] | None = Field(
        default=None, max_length=500,
        description="default: every part the suggestion list proposes from this supplier")


class CloseIn(Body):
    reason: str | None = Field(default=None, max_length=500)


class IssueIn(Body):
    qty: Decimal | None = Field(default=None, gt=0, le=1_000_000,
                                description="default: what the line still needs")


class PartReturnIn(Body):
    qty: Decimal = Field(gt=0, le=1_000_000)
    reason: str = Field(min_length=1, max_length=500)


class FollowOnIn(Body):
    line_ids: list[Code] = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=500)
