"""The warranty clerk's and the technician's records for the OEM: part serials and evidence.

Each command loads the work order, lets it check and record (domain/work_order_evidence.py)
and saves it: one stream, so `If-Match` and `Idempotency-Key` work as on every work-order
command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from domain.application import CommandResult, Request, Session
from domain.work_order import WorkOrder
from domain.work_order_commands import WorkOrderCommands


class WarrantyEvidence(WorkOrderCommands):
    def record_serials(self, request: Request, work_order_id: UUID, line_id: str, *,
                       fitted: Sequence[object], removed: Sequence[Mapping[str, Any]],
                       reason: str | None = None) -> CommandResult:
        """The serials of a part line's fitted and removed parts; again, with a reason, to
        correct them. The same serials again store nothing (`recorded: false`)."""

        def act(session: Session, wo: WorkOrder) -> dict[str, Any]:
            recorded = wo.record_serials(session.audit(wo.store_id), line_id, fitted, removed,
                                         reason)
            return {"line_id": line_id, "recorded": recorded, **wo.serials[line_id]}

        return self._on_line(request, work_order_id, line_id, act)

    def add_evidence(self, request: Request, work_order_id: UUID, *, kind: str, sha256: str,
                     media_type: str, size: int, uri: str, job_no: int | None = None,
                     line_id: str | None = None, caption: str | None = None) -> CommandResult:
        """A reference to a photo or a diagnostic report kept elsewhere, on a job or a line."""

        def act(session: Session, wo: WorkOrder) -> dict[str, Any]:
            evidence_id = wo.add_evidence(
                session.audit(wo.store_id), job_no=job_no, line_id=line_id, kind=kind,
                sha256=sha256, media_type=media_type, size=size, uri=uri, caption=caption)
            return {"evidence_id": evidence_id, "job_no": wo.evidence[-1]["job_no"],
                    "line_id": line_id}

        return self._on(request, work_order_id, act)

    def withdraw_evidence(self, request: Request, work_order_id: UUID, evidence_id: str, *,
                          reason: str | None) -> CommandResult:
        def act(session: Session, wo: WorkOrder) -> dict[str, Any]:
            wo.withdraw_evidence(session.audit(wo.store_id), evidence_id, reason)
            return {"evidence_id": evidence_id, "withdrawn": True}

        return self._on(request, work_order_id, act)
