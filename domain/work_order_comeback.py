"""The advisor's comeback mark (返修): the visit is the vehicle back for a repair an earlier
work order did not fix. The automatic rule of the comeback rate (analytics/comebacks.py)
matches a repeat of the complaint text or of a labor operation code; the advisor's mark counts
a comeback the rule does not see (the complaint retyped, the repair coded otherwise), and a
wrong mark is withdrawn with a reason, its record kept.

The earlier visit is of the same VIN, opened before this one and completed (every job passed
QC: ready for settlement, settled, delivered or closed); another store's visit of the group
counts when the caller may use that store. One mark at a time: a different earlier visit is
named after withdrawing the mark.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.common import Audit, InvalidInput, a_text, require, require_reason
from domain.work_order_state import WorkOrderError, WorkOrderState

FIELD = "earlier_work_order_id"
COMPLETED = frozenset({"ready_for_settlement", "settled", "delivered", "closed"})
MAX_REASON = 500


class WorkOrderComeback(WorkOrderState):
    """The comeback-mark commands of `WorkOrder`."""

    store_id: str
    vehicle: dict[str, Any]
    opened_at: datetime
    comeback_mark: dict[str, Any] | None  # set by the first mark (`WorkOrder`'s event method)
    _comeback_marked: Callable[..., None]
    _comeback_mark_withdrawn: Callable[..., None]

    @property
    def comeback_of(self) -> dict[str, Any] | None:
        """The earlier visit this one is marked a comeback of (`earlier_work_order_id`,
        `earlier_number`, `earlier_store_id`), None when unmarked."""
        return getattr(self, "comeback_mark", None)

    def mark_comeback(self, audit: Audit, earlier: WorkOrderComeback, reason: str | None, *,
                      field: str = FIELD, reason_field: str = "reason") -> None:
        """This visit is a comeback of `earlier` (loaded by the caller, in its stores); errors
        name `field` (the earlier visit) or `reason_field`."""
        why = a_text(reason, reason_field, "the reason of a comeback mark", most=MAX_REASON)
        require(self.status != "cancelled", WorkOrderError(
            f"work order {self.number} is cancelled", work_order_status=self.status))
        held = self.comeback_of
        require(held is None, WorkOrderError(
            f"work order {self.number} is marked a comeback of {held and held['earlier_number']}"
            f": withdraw that mark first", comeback_of=held and held["earlier_number"],
            field=field))
        require(earlier.id != self.id, InvalidInput(  # type: ignore[attr-defined]
            "a visit is not a comeback of itself", field=field))
        vin, earlier_vin = self.vehicle.get("vin"), earlier.vehicle.get("vin")
        require(bool(vin) and vin == earlier_vin, InvalidInput(
            f"work order {earlier.number} is of VIN {earlier_vin}, this visit of {vin}: a "
            f"comeback is the same vehicle back", field=field))
        require(earlier.opened_at < self.opened_at, InvalidInput(
            f"work order {earlier.number} was opened after this visit: a comeback follows "
            f"the visit it repeats", field=field))
        require(earlier.status in COMPLETED, WorkOrderError(
            f"work order {earlier.number} is {earlier.status}: a comeback repeats a completed "
            f"visit (every job passed QC)", field=field, earlier_status=earlier.status))
        self._comeback_marked(audit, earlier.id,  # type: ignore[attr-defined]
                              earlier.number, earlier.store_id, why)

    def withdraw_comeback_mark(self, audit: Audit, reason: str | None) -> None:
        """A wrong mark withdrawn: the visit counts as a comeback only if the automatic rule
        finds it. Its record stays in the history."""
        held = self.comeback_of
        require(held is not None, WorkOrderError(
            f"work order {self.number} is not marked a comeback", comeback_of=None))
        assert held is not None
        why = require_reason(reason, "withdrawing a comeback mark")
        require(len(why) <= MAX_REASON, InvalidInput(
            f"the reason is at most {MAX_REASON} characters", field="reason"))
        self._comeback_mark_withdrawn(audit, UUID(str(held["earlier_work_order_id"])), why)
