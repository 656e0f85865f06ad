"""The advisor's comeback mark (返修) on a work order: `POST /work-orders/{id}/comeback` names
the earlier visit it repeats, with a reason; `POST /work-orders/{id}/comeback/withdrawal`
withdraws a wrong mark, with a reason. The comeback rate counts a marked visit whatever the
automatic rule finds (analytics/comebacks.py)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import Field

from api.deps import Command, Ctx, command
from api.json_bodies import JsonBodyRoute
from api.schemas import Body, CommandAccepted, example
from domain.comeback_marks import ComebackMarks
from domain.work_order_comeback import MAX_REASON

router = APIRouter(tags=["work orders"], route_class=JsonBodyRoute)
ComebackCmd = Annotated[Command, Depends(command("work_orders.comeback"))]


class ComebackMarkIn(Body):
    model_config = example({"earlier_work_order_id": "6f1c2a4e-8a5b-4f7e-9a51-0d2c7b1e9f03",
                            "reason": "engine light back on, same misfire as last visit"})

    earlier_work_order_id: UUID = Field(description=(
        "the earlier visit this one repeats: same VIN, opened before, completed (QC passed); "
        "another store's of the group when the token names that store"))
    reason: str = Field(min_length=1, max_length=MAX_REASON, description=(
        "why it is a comeback (3+ characters)"))


class ComebackMarkWithdrawalIn(Body):
    model_config = example({"reason": "different fault: the earlier visit was a tyre"})

    reason: str = Field(min_length=1, max_length=MAX_REASON, description=(
        "why the mark was wrong (3+ characters)"))


class ComebackMarkAccepted(CommandAccepted):
    number: str
    status: str
    comeback_of: dict[str, str] | None = Field(description=(
        "the earlier visit (`earlier_work_order_id`, `earlier_number`, `earlier_store_id`) "
        "the work order is marked a comeback of; null once withdrawn"))


@router.post("/work-orders/{work_order_id}/comeback", response_model=ComebackMarkAccepted)
def mark_comeback(work_order_id: UUID, body: ComebackMarkIn, cmd: ComebackCmd,
                  ctx: Ctx) -> Any:
    """The visit is a comeback (返修) of an earlier work order: the same VIN, opened before
    this one and completed (ready for settlement or later). An unknown earlier visit, or one
    of a store the token does not name: 404 naming `earlier_work_order_id`; another VIN, this
    visit itself or a later one: 422 naming it; one not completed, or a visit already marked:
    409. The comeback rate counts it even where the automatic rule does not."""
    return cmd.accepted(ComebackMarks(ctx.app).mark(
        cmd.envelope, work_order_id, earlier_work_order_id=body.earlier_work_order_id,
        reason=body.reason))


@router.post("/work-orders/{work_order_id}/comeback/withdrawal",
             response_model=ComebackMarkAccepted)
def withdraw_comeback_mark(work_order_id: UUID, body: ComebackMarkWithdrawalIn,
                           cmd: ComebackCmd, ctx: Ctx) -> Any:
    """A wrong comeback mark withdrawn, with a reason (no mark: 409); the visit then counts as
    a comeback only where the automatic rule finds it. The mark stays in the history."""
    return cmd.accepted(ComebackMarks(ctx.app).withdraw(cmd.envelope, work_order_id,
                                                        reason=body.reason))
