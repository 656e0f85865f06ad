"""/commands/{command_id}: was a save stored? The answer for a command whose 503 said the
database went away before it could tell (its problem names the command id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.deps import Ctx, reader
from api.errors import unavailable_problem
from api.json_bodies import JsonBodyRoute
from domain.common import NotFound
from projections.audit import SaveStillCommitting, stored_command

router = APIRouter(prefix="/commands", tags=["commands"], route_class=JsonBodyRoute)


class StoredCommand(BaseModel):
    command_id: UUID
    stored: bool = Field(description="always true: a save not stored is 404")
    notification_ids: list[int] = Field(description="the positions of its events in the log")
    recorded_at: datetime


@router.get("/{command_id}", response_model=StoredCommand,
            dependencies=[Depends(reader("commands.read"))])
def command_outcome(command_id: UUID, ctx: Ctx) -> Any:
    """Final once answered: the lookup waits for any save still committing (half the
    request's deadline at most, then 503 naming the command id: ask again), and a save not
    stored is voided, so it can never be stored later. 404: it was not stored (send the
    command again)."""
    try:
        with ctx.pool.connection() as conn:
            found = stored_command(conn, command_id, ctx.db_deadline.seconds / 2 or None)
    except SaveStillCommitting:
        return unavailable_problem(
            f"a save of command {command_id} is still being committed, so whether it is "
            "stored cannot be told yet: ask again shortly", command_id=str(command_id))
    if found is None:
        raise NotFound(f"command {command_id} was not stored")
    return found
