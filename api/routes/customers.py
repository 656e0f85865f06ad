"""/customers: erasure on request (PIPL). The customer area grows here."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends

from api.deps import Command, Ctx, command
from api.schemas import CommandAccepted, ReasonIn

router = APIRouter(prefix="/customers", tags=["customers"])


@router.post("/{customer_id}/erasure", response_model=CommandAccepted)
def erase_customer(customer_id: UUID, body: ReasonIn,
                   cmd: Annotated[Command, Depends(command("customers.erase"))], ctx: Ctx) -> Any:
    """Shred the customer's key: personal fields read as erased, every other fact stays."""
    return cmd.accepted(ctx.customers.erase(cmd.envelope, customer_id, reason=body.reason))
