"""`GET /grievances/{id}?as_of=`: a complaint case as it stood at a moment, folded from its
events as the `grievances` view applies them (projections/grievances.py), with its lateness
judged at that moment: was it contacted by its due time, was it still open?"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from domain.application import ServiceCore
from domain.grievance import Grievance
from projections.audit import folded_as_of


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def case_doc(doc: dict[str, Any] | None, e: Any) -> dict[str, Any]:
    """The case after `e` (`doc`: before it; None before its registration), in the columns
    of the view's row."""
    at = e.audit.at
    if isinstance(e, Grievance.Registered):
        doc = {"id": str(e.originator_id), "store_id": e.store_id,
               "customer_id": str(e.customer_id), "kind": e.kind, "channel": e.channel,
               "category": e.category, "severity": e.severity, "oem_case_no": e.oem_case_no,
               "work_order_id": _text(e.work_order_id),
               "work_order_number": e.work_order_number, "vin": e.vin,
               "follow_up_id": _text(e.follow_up_id), "status": "registered", "owner": None,
               "contact_due": e.contact_due, "close_due": e.close_due, "contacted_at": None,
               "resolved_at": None, "resolution": None, "accepted": None, "closed_at": None,
               "actions": 0, "reopened": 0, "registered_at": at,
               "registered_by": e.audit.user_id, "moved_from": e.moved_from,
               "words": e.words}
    else:
        assert doc is not None, f"case {e.originator_id} was never registered"
        doc = dict(doc)
        if isinstance(e, Grievance.Assigned):
            doc["owner"] = e.owner
            doc["status"] = "assigned" if doc["status"] == "registered" else doc["status"]
        elif isinstance(e, Grievance.Contacted):
            doc.update(status="in_progress", contacted_at=at)
        elif isinstance(e, Grievance.ActionTaken):
            doc["actions"] += 1
        elif isinstance(e, Grievance.Resolved):
            doc.update(status="resolved", resolved_at=at, resolution=e.resolution,
                       accepted=e.accepted)
        elif isinstance(e, Grievance.Closed):
            doc.update(status="closed", closed_at=at)
        else:  # Reopened
            doc.update(status="in_progress", closed_at=None, reopened=doc["reopened"] + 1)
    doc.update(changed_at=at, changed_by=e.audit.user_id, changed_role=e.audit.role,
               version=e.originator_version)
    return doc


def grievance_as_of(app: ServiceCore, grievance_id: UUID,
                    at: datetime) -> dict[str, Any] | None:
    """The case as it stood at `at`, its `words` and `resolution` still sealed (the caller
    opens them), late or not as of `at`, with `as_of`; None before its registration, or
    when the stream is no complaint case."""
    doc = folded_as_of(app, grievance_id, at, Grievance.Event, case_doc)
    if doc is None:
        return None
    still_open = doc["status"] != "closed"
    contact_due, close_due = doc["contact_due"], doc["close_due"]
    return {**doc,
            "contact_late": contact_due is not None and doc["contacted_at"] is None
            and still_open and contact_due < at,
            "closed_on_time": None if close_due is None or doc["closed_at"] is None
            else doc["closed_at"] <= close_due,
            "close_late": close_due is not None and still_open and close_due < at,
            "as_of": at.isoformat()}
