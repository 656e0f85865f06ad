"""Recording a visit's completion certificate (竣工出厂合格证; domain/work_order_certificate.py):
its number and the inspector who signed it — by default the user recording it."""

from __future__ import annotations

from uuid import UUID

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.work_order import WorkOrder
from domain.work_order_certificate import MAJOR_CLASSES, certificate_input


class CompletionCertificates:
    def __init__(self, app: ServiceCore) -> None:
        self.app = app

    def certify(self, request: Request, work_order_id: UUID, *, cert_no: str | None,
                inspector: str | None = None) -> CommandResult:
        signed_by = inspector if inspector is not None else request.caller.user_id
        certificate_input(cert_no, signed_by)  # 422 before anything is read

        def decide(session: Session) -> Decision:
            wo = session.target(WorkOrder, work_order_id, "work order")
            wo.certify_completion(session.audit(wo.store_id), cert_no, signed_by)
            return Decision(wo, {"number": wo.number, "status": wo.status,
                                 "completion_certificate": wo.certificate})

        return self.app.execute(request, decide, (work_order_id,))

    def certify_if_major(self, request: Request, work_order_id: UUID) -> bool:
        """For the simulated days (the demo, the tests' shops): a major repair's certificate
        recorded under a number made of the work order's, by the request's user; False (and
        nothing stored) for any other visit or one that has a certificate."""
        wo: WorkOrder = self.app.repository.get(work_order_id)
        if wo.repair_class() not in MAJOR_CLASSES or wo.certificate is not None:
            return False
        self.certify(request, work_order_id, cert_no="JG-" + wo.number)
        return True
