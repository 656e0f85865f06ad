"""The work-order list's filters that take more than one plain value: several statuses, and
`me` for the caller's own visits."""

from __future__ import annotations

from typing import Annotated, get_args

from fastapi import Query

from api.deps import ID_MAX
from api.schemas import WorkOrderStatus

STATUSES = get_args(WorkOrderStatus)
_ONE = "|".join(STATUSES)
# One status or several separated by commas, each of the closed set (the pattern documents
# it in the OpenAPI, as an enum documents a single one; another value is a 422 naming it).
StatusFilter = Annotated[str | None, Query(
    max_length=200, pattern=rf"^({_ONE})(,({_ONE}))*$",
    description=f"one of {', '.join(STATUSES)}, or several separated by commas: "
                "checked_in,in_progress (none: every status)")]
TechnicianFilter = Annotated[str | None, Query(max_length=ID_MAX, description=(
    "a technician's user id, or `me`: the caller's own"))]


def statuses_of(status: str | None) -> list[str] | None:
    """The statuses a `status` filter names (comma-separated, as `/audit/log?event_type=`
    takes several; the pattern has checked each), or None for every status."""
    return None if status is None else list(dict.fromkeys(status.split(",")))
