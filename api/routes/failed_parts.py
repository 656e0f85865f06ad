"""/failed-parts: the custody of parts removed under warranty (旧件) — tagged when the warranty
part line issues its new part, moved between storage places, requested back by the OEM, shipped
under a waybill, received by the OEM, scrapped on its instruction, or marked lost by a manager.
`GET /failed-parts` lists a store's tags by custody status (projections/failed_parts.py); `GET
/audit/failed-parts/overdue` lists what an OEM auditor would find missing: replaced parts never
tagged, tags held past the retention period (settings `SERVICECORE_FAILED_PART_TAG_DAYS`,
`SERVICECORE_FAILED_PART_RETENTION_DAYS`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import Field

from api.auth import Principal
from api.booleans import Boolean
from api.dates import Day
from api.deps import (
    Command,
    Ctx,
    IdFilter,
    Offset,
    WaitFor,
    command,
    reader,
    wait_for_projection,
    wait_for_views,
)
from api.histories import stream_history
from api.json_bodies import JsonBodyRoute
from api.paging import HistoryPage, Limit, Page
from api.schemas import Body, CommandAccepted, example
from domain.failed_part import MAX_LOCATION, MAX_REF, MAX_TAG, MAX_TEXT, STATUSES
from domain.failed_parts import FailedParts
from projections.failed_parts import list_failed_parts, overdue
from projections.repair_records import stores_asked

router = APIRouter(tags=["failed parts"], route_class=JsonBodyRoute)
CustodyCmd = Annotated[Command, Depends(command("failed_parts.manage"))]
LoseCmd = Annotated[Command, Depends(command("failed_parts.lose"))]
Reader = Annotated[Principal, Depends(reader("failed_parts.read"))]
Auditor = Annotated[Principal, Depends(reader("audit.failed_parts"))]
HistoryReader = Annotated[Principal, Depends(reader("failed_parts.history"))]
CustodyStatus = Literal["held", "requested", "shipped", "received_by_oem", "scrapped", "lost"]
assert set(CustodyStatus.__args__) == set(STATUSES)  # type: ignore[attr-defined]


class FailedPartTagIn(Body):
    model_config = example({"work_order_id": "0b8e2c1e-6a51-4f7a-9d6c-3f0a2b1c4d5e",
                            "line_id": "L1", "tag_number": "WT-0117",
                            "location": "warranty cage, shelf B2"})

    work_order_id: UUID = Field(description="the visit whose warranty part line replaced it")
    line_id: str = Field(min_length=1, max_length=20, description="that warranty part line")
    tag_number: str = Field(min_length=1, max_length=MAX_TAG, description=(
        "the tag hung on the part: unique in the store (kept in upper case, no spaces)"))
    location: str = Field(min_length=1, max_length=MAX_LOCATION,
                          description="where the part is kept")
    causal: Boolean | None = Field(default=None, description=(
        "the claim's causal (primary failed) part; unset: whether a warranty line of the job "
        "names its part as causal"))


class MoveIn(Body):
    model_config = example({"location": "returns bay 3", "note": "cage full"})

    location: str = Field(min_length=1, max_length=MAX_LOCATION)
    note: str | None = Field(default=None, max_length=MAX_TEXT)


class RequestIn(Body):
    model_config = example({"request_ref": "RR-2026-0042"})

    request_ref: str = Field(min_length=1, max_length=MAX_REF,
                             description="the OEM's return request reference")


class ShipmentIn(Body):
    model_config = example({"shipment_ref": "SF1234567890", "shipped_on": "2026-05-02"})

    shipment_ref: str = Field(min_length=1, max_length=MAX_REF,
                              description="the shipment or waybill reference")
    shipped_on: Day = Field(description="the day it left (YYYY-MM-DD)")


class OemReceiptIn(Body):
    model_config = example({"receipt_ref": "VW-RCV-7781"})

    receipt_ref: str | None = Field(default=None, max_length=MAX_REF,
                                    description="the OEM's receipt reference, when it gives one")


class FailedPartScrapIn(Body):
    model_config = example({"instruction_ref": "VW-SCRAP-2026-118"})

    instruction_ref: str | None = Field(default=None, max_length=MAX_REF, description=(
        "the OEM's scrap instruction; without it only a manager scraps, with a reason"))
    reason: str | None = Field(default=None, max_length=MAX_TEXT)


class LossIn(Body):
    model_config = example({"reason": "not found at the stocktake of the warranty cage"})

    reason: str = Field(min_length=1, max_length=MAX_TEXT, description="why (3+ characters)")


class FailedPartAccepted(CommandAccepted):
    tag_number: str
    store_id: str
    work_order_id: str
    line_id: str
    part_number: str
    causal: bool
    custody_status: str = Field(description="held, requested, shipped, received_by_oem, "
                                            "scrapped or lost")
    location: str


@router.post("/failed-parts", response_model=FailedPartAccepted, status_code=201)
def tag(body: FailedPartTagIn, cmd: CustodyCmd, ctx: Ctx) -> Any:
    """Tag the failed part a warranty part line replaced (its new part issued): held at
    `location`. A tag number already used in the store is 409."""
    return cmd.accepted(FailedParts(ctx.app).tag(
        cmd.envelope, body.work_order_id, line_id=body.line_id, tag_number=body.tag_number,
        location=body.location, causal=body.causal))


@router.post("/failed-parts/{failed_part_id}/move", response_model=FailedPartAccepted)
def move(failed_part_id: UUID, body: MoveIn, cmd: CustodyCmd, ctx: Ctx) -> Any:
    """Kept somewhere else now (held or requested only)."""
    return cmd.accepted(FailedParts(ctx.app).move(
        cmd.envelope, failed_part_id, location=body.location, note=body.note))


@router.post("/failed-parts/{failed_part_id}/return-request",
             response_model=FailedPartAccepted)
def request_return(failed_part_id: UUID, body: RequestIn, cmd: CustodyCmd, ctx: Ctx) -> Any:
    """The OEM asked for the held part back."""
    return cmd.accepted(FailedParts(ctx.app).request_return(
        cmd.envelope, failed_part_id, request_ref=body.request_ref))


@router.post("/failed-parts/{failed_part_id}/shipment", response_model=FailedPartAccepted)
def ship(failed_part_id: UUID, body: ShipmentIn, cmd: CustodyCmd, ctx: Ctx) -> Any:
    """The requested part sent to the OEM; it never goes back to held."""
    return cmd.accepted(FailedParts(ctx.app).ship(
        cmd.envelope, failed_part_id, shipment_ref=body.shipment_ref,
        shipped_on=body.shipped_on))


@router.post("/failed-parts/{failed_part_id}/receipt", response_model=FailedPartAccepted)
def receive(failed_part_id: UUID, body: OemReceiptIn, cmd: CustodyCmd, ctx: Ctx) -> Any:
    """The OEM has the shipped part (final)."""
    return cmd.accepted(FailedParts(ctx.app).receive(
        cmd.envelope, failed_part_id, receipt_ref=body.receipt_ref))


@router.post("/failed-parts/{failed_part_id}/scrap", response_model=FailedPartAccepted)
def scrap(failed_part_id: UUID, body: FailedPartScrapIn, cmd: CustodyCmd, ctx: Ctx) -> Any:
    """Scrapped on the OEM's instruction (held or requested; final); without an instruction
    a manager's alone, with a reason, and the claim package lists it as an error."""
    return cmd.accepted(FailedParts(ctx.app).scrap(
        cmd.envelope, failed_part_id, instruction_ref=body.instruction_ref,
        reason=body.reason))


@router.post("/failed-parts/{failed_part_id}/loss", response_model=FailedPartAccepted)
def lose(failed_part_id: UUID, body: LossIn, cmd: LoseCmd, ctx: Ctx) -> Any:
    """Marked lost by a manager, with the reason (final; not once received or scrapped)."""
    return cmd.accepted(FailedParts(ctx.app).lose(cmd.envelope, failed_part_id,
                                                  reason=body.reason))


@router.get("/failed-parts", response_model=Page)
def failed_parts(ctx: Ctx, principal: Reader, store_id: IdFilter = None,
                 status: CustodyStatus | None = None, limit: Limit = 50, offset: Offset = 0,
                 wait_for: WaitFor = None) -> Any:
    """The tags of the caller's stores (or `store_id`'s), in custody `status`, the oldest tag
    first: where each is kept, the visit and line, the OEM's references, who tagged it and
    the last step's who and when."""
    wait_for_projection(ctx, "failed_parts", wait_for)
    with ctx.pool.connection() as conn:
        return list_failed_parts(conn, principal.stores, store_id=store_id, status=status,
                                 limit=limit, offset=offset)


@router.get("/failed-parts/{failed_part_id}/history", response_model=HistoryPage)
def failed_part_history(failed_part_id: UUID, ctx: Ctx, principal: HistoryReader,
                        limit: Limit = 500, offset: Offset = 0) -> Any:
    """The tag's custody, oldest first, paged like every history: tagged (visit, line, part,
    place), each move, the OEM's request, the shipment, the OEM's receipt, the scrap or the
    loss, each with who, when and why. Another store's tag, or no tag: 404."""
    return stream_history(ctx, failed_part_id, "FailedPart", principal.stores,
                          f"failed part {failed_part_id} not found", limit=limit,
                          offset=offset).page


@router.get("/audit/failed-parts/overdue", response_model=Page)
def overdue_failed_parts(ctx: Ctx, principal: Auditor, store_id: IdFilter = None,
                         limit: Limit = 50, offset: Offset = 0,
                         wait_for: WaitFor = None) -> Any:
    """`untagged`: warranty part lines whose new part was issued more than the tagging window
    ago (`SERVICECORE_FAILED_PART_TAG_DAYS`) with no failed-part tag; `held_too_long`: tags
    still held past the retention period (`SERVICECORE_FAILED_PART_RETENTION_DAYS`). The
    oldest first, with the days since. `wait_for`: both the failed-parts view and the work-order
    list (which knows the visits' numbers) have applied it."""
    stores = stores_asked(principal.stores, store_id)
    wait_for_views(ctx, wait_for, "failed_parts", "work_orders")
    with ctx.pool.connection() as conn:
        return overdue(conn, stores, now=datetime.now(UTC), tag_days=ctx.failed_part_tag_days,
                       retention_days=ctx.failed_part_retention_days, limit=limit,
                       offset=offset)
