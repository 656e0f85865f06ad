"""A technician's clock: at most one open clock across all work orders."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.common import Audit, IllegalTransition, require, stable_id


class TechnicianError(IllegalTransition):
    pass


class Technician(Aggregate):
    @staticmethod
    def create_id(user_id: str) -> UUID:
        return stable_id("technician", user_id)

    @event("Registered")
    def __init__(self, user_id: str, store_id: str, audit: Audit) -> None:
        self.user_id = user_id
        self.store_id = store_id
        self.open_clock: dict[str, str] | None = None

    def clock_on(self, audit: Audit, work_order_id: UUID, job_no: int) -> None:
        if self.open_clock is not None:
            raise TechnicianError(
                f"technician {self.user_id} is already clocked on work order "
                f"{self.open_clock['work_order_id']} job {self.open_clock['job_no']}",
                open_clock=self.open_clock,
            )
        self._clocked_on(audit, str(work_order_id), job_no)

    @event("ClockedOn")
    def _clocked_on(self, audit: Audit, work_order_id: str, job_no: int) -> None:
        self.open_clock = {"work_order_id": work_order_id, "job_no": str(job_no)}

    def clock_off(self, audit: Audit, work_order_id: UUID, job_no: int) -> None:
        require(
            self.open_clock == {"work_order_id": str(work_order_id), "job_no": str(job_no)},
            TechnicianError(f"technician {self.user_id} is not clocked on that job"),
        )
        self._clocked_off(audit, str(work_order_id), job_no)

    @event("ClockedOff")
    def _clocked_off(self, audit: Audit, work_order_id: str, job_no: int) -> None:
        self.open_clock = None
