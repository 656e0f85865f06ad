"""The fold's handlers of customer complaint cases and suggestions (`fact_grievances`): one row
per case, put at its registration and updated by each later step, in whatever batch it comes
(the case's row is preloaded for the batch: analytics/loader.py). The customer's words, sealed
personal data, are never read."""

from __future__ import annotations

from typing import Any

from analytics.fold import Fold, ignore, on
from domain.grievance import Grievance

TABLE = "fact_grievances"


@on(Grievance.Registered)
def _registered(fold: Fold, e: Grievance.Registered, n: int) -> None:
    fold.put(TABLE, {
        "notification_id": n, "grievance_id": str(e.originator_id), "store_id": e.store_id,
        "customer_id": str(e.customer_id), "kind": e.kind, "channel": e.channel,
        "category": e.category, "severity": e.severity,
        "work_order_id": None if e.work_order_id is None else str(e.work_order_id),
        "registered_at": e.audit.at, "contact_due": e.contact_due, "close_due": e.close_due,
        "status": "registered", "reopened": 0})


def _case(fold: Fold, e: Any) -> dict[str, Any] | None:
    """The case's row, marked as changed (None: a case whose registration the tables do not
    hold, which no step of the domain makes)."""
    return fold.touch(TABLE, str(e.originator_id))


@on(Grievance.Assigned)
def _assigned(fold: Fold, e: Grievance.Assigned, n: int) -> None:
    row = _case(fold, e)
    if row is not None and row["status"] == "registered":
        row["status"] = "assigned"


@on(Grievance.Contacted)
def _contacted(fold: Fold, e: Grievance.Contacted, n: int) -> None:
    row = _case(fold, e)
    if row is not None:
        row["status"] = "in_progress"
        if row["contacted_at"] is None:
            row["contacted_at"] = e.audit.at


@on(Grievance.Resolved)
def _resolved(fold: Fold, e: Grievance.Resolved, n: int) -> None:
    row = _case(fold, e)
    if row is not None:
        row.update(status="resolved", resolved_at=e.audit.at, accepted=e.accepted)


@on(Grievance.Closed)
def _closed(fold: Fold, e: Grievance.Closed, n: int) -> None:
    row = _case(fold, e)
    if row is not None:
        row.update(status="closed", closed_at=e.audit.at)
        if row["first_closed_at"] is None:
            row["first_closed_at"] = e.audit.at


@on(Grievance.Reopened)
def _reopened(fold: Fold, e: Grievance.Reopened, n: int) -> None:
    row = _case(fold, e)
    if row is not None:
        row.update(status="in_progress", closed_at=None, reopened=row["reopened"] + 1)


# an action taken changes no figure of the case; `Step` is the later steps' base, never stored
ignore(Grievance.ActionTaken, Grievance.Step)
