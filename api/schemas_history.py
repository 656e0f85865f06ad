"""Request bodies for the service history brought over from the previous system."""

from __future__ import annotations

from pydantic import Field

from api.dates import PlainDay
from api.numbers import Number, NumberOrNone, Whole
from api.schemas import Body, Complaint, PayType, WorkOrderKind, described


class PriorWorkIn(Body):
    op_code: str | None = Field(default=None, max_length=40, description="labour op code")
    description: str = Field(min_length=1, max_length=500)


class PriorPartIn(Body):
    part_number: str = Field(min_length=1, max_length=40)
    name: str | None = Field(default=None, max_length=500)
    qty: Number = Field(gt=0, le=100_000, description="up to 3 decimals")


class PriorTotalsIn(Body):
    labor: NumberOrNone = Field(default=None, ge=0, description="CNY, VAT included")
    parts: NumberOrNone = Field(default=None, ge=0, description="CNY, VAT included")
    total: NumberOrNone = Field(default=None, ge=0, description="CNY, VAT included")


class PriorVisitIn(Body):
    model_config = described(
        "A visit from the previous system (go-live data migration): kept on the vehicle's "
        "record as imported, never as a work order. Importing a `source_ref` again changes "
        "nothing and answers the first import.",
        {"store_id": "S01", "source_ref": "DMS-2021-004512", "date_in": "2021-06-03",
         "date_out": "2021-06-03", "mileage_in": 30120, "kind": "maintenance",
         "pay_type": "customer", "complaints": ["30,000 km service"],
         "work": [{"op_code": "MNT-30K", "description": "30,000 km service"}],
         "parts": [{"part_number": "06L115562", "name": "oil filter", "qty": "1"}],
         "totals": {"total": "860.00"}})

    store_id: str = Field(min_length=1, max_length=20, description="the store of the visit")
    source_ref: str = Field(min_length=1, max_length=64, description=(
        "the record's reference in the previous system, unique per store"))
    date_in: PlainDay
    date_out: PlainDay | None = None
    mileage_in: Whole = Field(ge=0, le=3_000_000, description="odometer at reception, km")
    kind: WorkOrderKind = "repair"
    pay_type: PayType = Field(default="customer", description="warranty: the OEM paid")
    complaints: list[Complaint] = Field(default_factory=list, max_length=50)
    work: list[PriorWorkIn] = Field(default_factory=list, max_length=50)
    parts: list[PriorPartIn] = Field(default_factory=list, max_length=50)
    totals: PriorTotalsIn | None = None

