"""Settlement, delivery and closing commands of a work order, and its 三包 compensation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.common import Audit, InvalidInput, require
from domain.money import money
from domain.work_order_state import COMPENSATION_KINDS, WorkOrderError, WorkOrderState


class WorkOrderSettling(WorkOrderState):
    """The closing commands of `WorkOrder`: each checks, then calls its event method."""

    # -- settlement, delivery, closing -------------------------------------------------------

    def confirm_settlement(self, audit: Audit, settlement_id: UUID, number: str) -> None:
        require(self.status == "ready_for_settlement",
                WorkOrderError(f"work order is {self.status}, not ready for settlement",
                               blockers=self.blockers()))
        require(self.settlement is None, WorkOrderError("a settlement is already confirmed"))
        self._settlement_confirmed(audit, settlement_id, number)

    def settle(self, audit: Audit, settlement_id: UUID, number: str,
               customer_total: Decimal) -> None:
        require(self.status == "ready_for_settlement" and self.settlement is not None,
                WorkOrderError(f"work order is {self.status}"))
        self._settled(audit, settlement_id, number, customer_total)

    def reverse_settlement(self, audit: Audit, number: str, reason: str) -> None:
        require(self.status in ("ready_for_settlement", "settled") and self.settlement is not None,
                WorkOrderError(f"work order is {self.status}: a delivered visit's settlement "
                               "is corrected by a new document, not reversed"))
        self._settlement_reversed(audit, number, reason)

    def deliver(self, audit: Audit, mileage_out: int, handed_over_by: str,
                acknowledgement: dict[str, Any], follow_up_id: UUID, follow_up_due: str) -> None:
        require(self.status == "settled",
                WorkOrderError(f"work order is {self.status}; delivery follows settlement"))
        if mileage_out < self.mileage:
            raise InvalidInput(f"mileage out is below the {self.mileage} km at check-in",
                               field="mileage_out", recorded=self.mileage)
        self._delivered(audit, mileage_out, handed_over_by, acknowledgement, follow_up_id,
                        follow_up_due, self.customer_id)

    def close(self, audit: Audit, follow_up_id: UUID) -> None:
        require(self.status == "delivered",
                WorkOrderError(f"work order is {self.status}; it closes after delivery"))
        self._closed(audit, follow_up_id)

    # -- 三包 compensation -----------------------------------------------------------------------

    def record_compensation(self, audit: Audit, kind: str, amount: object, days: int | None,
                            reference: str | None, note: str | None) -> None:
        """What the visit cost the customer and the shop paid: towing in, a loaner car (with
        its days), travel; recorded on the visit's repair record, after delivery too."""
        require(self.status != "cancelled", WorkOrderError("work order is cancelled"))
        if kind not in COMPENSATION_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(COMPENSATION_KINDS)}",
                               field="kind")
        value = money(amount, "compensation", field="amount")
        require(value > 0, InvalidInput("a compensation must be positive", field="amount"))
        if days is not None and kind != "loaner":
            raise InvalidInput("days go with a loaner car", field="days")
        if days is not None and days < 1:
            raise InvalidInput("a loaner car is lent for at least 1 day", field="days")
        self._compensation_recorded(audit, kind, value, days, (reference or "").strip() or None,
                                    (note or "").strip() or None)
