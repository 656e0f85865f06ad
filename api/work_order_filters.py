"""The work-order list's filters that take more than one plain value: several statuses, and
`me` for the caller's own visits."""

from __future__ import annotations

from typing import Annotated, get_args

from fastapi import Query

from api.deps import ID_MAX
from api.schemas import WorkOrderStatus
from domain.common import InvalidInput

STATUSES = get_args(WorkOrderStatus)
StatusFilter = Annotated[str | None, Query(max_length=200, description=(
    "a status, or several separated by commas: checked_in,in_progress (none: every status)"))]
TechnicianFilter = Annotated[str | None, Query(max_length=ID_MAX, description=(
    "a technician's user id, or `me`: the caller's own"))]


def statuses_of(status: str | None) -> list[str] | None:
    """The statuses a `status` filter names (comma-separated, as `/audit/log?event_type=`
    takes several), or None for every status; an unknown one is a 422 naming `status`."""
    if status is None:
        return None
    wanted = list(dict.fromkeys(s.strip() for s in status.split(",") if s.strip()))
    unknown = [s for s in wanted if s not in STATUSES]
    if unknown or not wanted:
        raise InvalidInput(f"unknown work-order status {(unknown or [status])[0]!r}: one or "
                           f"several of {', '.join(STATUSES)}, separated by commas",
                           field="status")
    return wanted
