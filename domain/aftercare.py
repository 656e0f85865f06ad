"""Delivery, the follow-up call and the older register's complaints: the visit after the
money."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import InvalidInput, NotFound, a_text, require, stable_id
from domain.customer import Customer
from domain.follow_up import Complaint, FollowUp
from domain.grievance import MAX_WORDS
from domain.grievances import GrievanceTerms, Intake, open_case
from domain.work_order import WorkOrder

ACK_METHODS = ("signature", "sms_code", "wechat")


class Aftercare:
    def __init__(self, app: ServiceCore, timezone: str = "Asia/Shanghai",
                 follow_up_days: int = 3, grievance_terms: GrievanceTerms | None = None) -> None:
        self.app = app
        self.zone = ZoneInfo(timezone)
        self.follow_up_days = follow_up_days
        self.grievance_terms = grievance_terms or GrievanceTerms()

    def deliver(self, request: Request, work_order_id: UUID, *, mileage_out: int,
                handed_over_by: str | None = None, acknowledged_by: str,
                method: str = "signature", note: str | None = None) -> CommandResult:
        """Hand the car back after settlement; the follow-up task is scheduled in the same save."""
        require(mileage_out >= 0,
                InvalidInput("mileage out must not be negative", field="mileage_out"))
        require(bool(acknowledged_by.strip()),
                InvalidInput("who acknowledged the delivery?", field="acknowledged_by"))
        if method not in ACK_METHODS:
            raise InvalidInput(f"method must be one of {', '.join(ACK_METHODS)}",
                               field="method")
        follow_up_id = stable_id("follow-up", work_order_id)
        due = (request.caller.at.astimezone(self.zone).date()
               + timedelta(days=self.follow_up_days)).isoformat()

        def decide(session: Session) -> Decision:
            wo = session.target(WorkOrder, work_order_id, "work order", ending=True)
            if wo.status == "settled":  # else delivery's own refusal says what is missing
                wo.require_certificate()  # a major repair's completion certificate
            audit = session.audit(wo.store_id)
            # the name signed with is the customer's: sealed with their key (never a new key
            # for an erased customer: then it is kept as erased)
            signed = self.app.personal_data.seal_with_kept_key(wo.customer_id,
                                                               acknowledged_by.strip())
            wo.deliver(audit, mileage_out, (handed_over_by or session.caller.user_id).strip(),
                       {"acknowledged_by": signed, "method": method,
                        "note": (note or "").strip() or None}, follow_up_id, due)
            session.add(FollowUp(id=follow_up_id, audit=audit, work_order_id=wo.id,
                                 work_order_number=wo.number, customer_id=wo.customer_id,
                                 due_on=due))
            return Decision(wo, {"number": wo.number, "status": wo.status,
                                 "follow_up": {"id": str(follow_up_id), "due_on": due}})

        return self.app.execute(request, decide, (work_order_id, follow_up_id))

    def _on_follow_up(self, request: Request, follow_up_id: UUID,
                      act: Callable[[Session, FollowUp], dict[str, Any] | None],
                      also: tuple[UUID, ...] = ()) -> CommandResult:
        def decide(session: Session) -> Decision:
            follow_up = session.target(FollowUp, follow_up_id, "follow-up")
            answer = act(session, follow_up) or {}
            return Decision(follow_up, {"status": follow_up.status, **answer})

        return self.app.execute(request, decide, (follow_up_id, *also))

    def attempt(self, request: Request, follow_up_id: UUID, *, outcome: str,
                note: str | None = None) -> CommandResult:
        return self._on_follow_up(request, follow_up_id, lambda s, f: f.attempt(
            s.audit(f.store_id), outcome, note))

    def complete(self, request: Request, follow_up_id: UUID, *, csi: int,
                 comment: str | None = None,
                 complaint: dict[str, Any] | None = None,
                 grievance: dict[str, Any] | None = None) -> CommandResult:
        """The call's result; the work order closes in the same save. A dissatisfied
        customer's `grievance` (category, severity, their words) opens a complaint case of
        channel follow_up about the visit, one per follow-up (its id is the follow-up's);
        `complaint` (its `description`) is the older shorthand for one of category `other`,
        severity `normal` (both at once: 422 naming `complaint`)."""
        intake = self._intake(complaint, grievance)
        case_id = stable_id("grievance", "follow-up", follow_up_id)

        def act(session: Session, follow_up: FollowUp) -> dict[str, Any]:
            audit = session.audit(follow_up.store_id)
            wo = session.get(WorkOrder, follow_up.work_order_id, "work order")
            follow_up.complete(audit, csi, comment, None)
            wo.close(audit, follow_up.id)
            if intake is not None:
                customer = session.find(Customer, wo.customer_id)
                if customer is None:
                    raise NotFound(f"customer {wo.customer_id} not found")
                vin = wo.vehicle.get("vin")
                open_case(session, self.app, self.grievance_terms, case_id, follow_up.store_id,
                          customer, intake, work_order=wo, vin=str(vin) if vin else None,
                          follow_up_id=follow_up.id)
            # `complaint_id` stays in the answer's shape: no call opens an old complaint now
            return {"work_order_status": wo.status, "complaint_id": None,
                    "grievance_id": str(case_id) if intake is not None else None}

        peek: Any = None
        try:
            peek = self.app.repository.get(follow_up_id)
        except Exception:  # noqa: BLE001 - the command answers unknown ids
            peek = None
        also: tuple[UUID, ...] = (peek.work_order_id,) if isinstance(peek, FollowUp) else ()
        also += (case_id,) if intake is not None else ()
        return self._on_follow_up(request, follow_up_id, act, also)

    @staticmethod
    def _intake(complaint: dict[str, Any] | None,
                grievance: dict[str, Any] | None) -> Intake | None:
        """The case the call's result opens, if any: checked before anything is read."""
        require(complaint is None or grievance is None, InvalidInput(
            "give the complaint case as `grievance` only (`complaint` is its older shorthand)",
            field="complaint"))
        if complaint is not None:
            words = a_text(complaint.get("description"), "complaint.description",
                           "the complaint's description", 3, MAX_WORDS)
            return Intake.of(kind="complaint", channel="follow_up", category="other",
                             severity="normal", words=words, oem_case_no=None)
        if grievance is not None:
            return Intake.of(kind="complaint", channel="follow_up",
                             category=grievance.get("category"),
                             severity=grievance.get("severity") or "normal",
                             words=grievance.get("words"), oem_case_no=None)
        return None

    def _on_complaint(self, request: Request, complaint_id: UUID,
                      act: Callable[[Session, Complaint], None]) -> CommandResult:
        def decide(session: Session) -> Decision:
            complaint = session.target(Complaint, complaint_id, "complaint")
            act(session, complaint)
            return Decision(complaint, {"status": complaint.status})

        return self.app.execute(request, decide, (complaint_id,))

    def assign_complaint(self, request: Request, complaint_id: UUID, *, assignee: str,
                         note: str | None = None) -> CommandResult:
        return self._on_complaint(request, complaint_id, lambda s, c: c.assign(
            s.audit(c.store_id), assignee, note))

    def resolve_complaint(self, request: Request, complaint_id: UUID, *,
                          resolution: str) -> CommandResult:
        return self._on_complaint(request, complaint_id, lambda s, c: c.resolve(
            s.audit(c.store_id), resolution))
