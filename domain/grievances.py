"""Customer complaint cases and suggestions (投诉建议): register, assign, first contact, actions,
resolve, close, reopen. The deadlines a complaint is registered with come from `GrievanceTerms`
(settings `SERVICECORE_GRIEVANCE_*`); the customer's words, and the staff's notes of each step,
are sealed with their key."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID, uuid4

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import (
    InvalidInput,
    NotFound,
    NotPermitted,
    a_text,
    require,
    require_group_store,
)
from domain.customer import Customer
from domain.grievance import (
    CATEGORIES,
    CHANNELS,
    KINDS,
    MAX_CASE_NO,
    MAX_WORDS,
    SEVERITIES,
    Grievance,
    GrievanceRefused,
    Seal,
    one_of,
)
from domain.work_order import WorkOrder


@dataclass(frozen=True)
class GrievanceTerms:
    """How soon a complaint is answered: first contact within `contact_hours`, closed within
    `close_days` (normal) or `serious_close_days` (serious). Suggestions have no deadline."""

    contact_hours: int = 24
    close_days: int = 7
    serious_close_days: int = 3

    def due(self, kind: str, severity: str, at: datetime) -> tuple[datetime | None,
                                                                   datetime | None]:
        if kind != "complaint":
            return None, None
        days = self.serious_close_days if severity == "serious" else self.close_days
        return at + timedelta(hours=self.contact_hours), at + timedelta(days=days)


@dataclass(frozen=True)
class Intake:
    """What the customer said, checked before anything is read (422 naming the field)."""

    kind: str
    channel: str
    category: str
    severity: str
    words: str
    oem_case_no: str | None

    @classmethod
    def of(cls, *, kind: str | None, channel: str | None, category: str | None,
           severity: str | None, words: str | None, oem_case_no: str | None) -> Intake:
        channel = one_of(channel, CHANNELS, "channel")
        case_no = None if not (oem_case_no or "").strip() else a_text(
            oem_case_no, "oem_case_no", "the OEM's case number", 1, MAX_CASE_NO)
        require(channel != "oem_hotline" or case_no is not None, InvalidInput(
            "a case the OEM's hotline passed on (厂家转交) names the OEM's case number",
            field="oem_case_no"))
        return cls(one_of(kind, KINDS, "kind"), channel, one_of(category, CATEGORIES, "category"),
                   one_of(severity, SEVERITIES, "severity"),
                   a_text(words, "words", "the customer's words", 3, MAX_WORDS), case_no)


def view(case: Grievance) -> dict[str, Any]:
    return {"store_id": case.store_id, "customer_id": str(case.customer_id), "kind": case.kind,
            "severity": case.severity, "grievance_status": case.status, "owner": case.owner}


def open_case(session: Session, app: ServiceCore, terms: GrievanceTerms, case_id: UUID,
              store_id: str, customer: Customer, intake: Intake, *,
              work_order: WorkOrder | None = None, vin: str | None = None,
              follow_up_id: UUID | None = None,
              moved_from: dict[str, str] | None = None) -> Grievance:
    """The case, added to the session; the words sealed with the customer's key (an erased
    customer's words are not taken: 409)."""
    require(not customer.erased, GrievanceRefused(
        f"customer {customer.id} has been erased: no case is registered for them",
        customer_id=str(customer.id)))
    audit = session.audit(store_id)
    contact_due, close_due = terms.due(intake.kind, intake.severity, audit.at)
    sealed = app.personal_data.seal(customer.id, intake.words)
    assert sealed is not None
    case = Grievance(
        audit=audit, store_id=store_id, customer_id=customer.id, kind=intake.kind,
        channel=intake.channel, category=intake.category, severity=intake.severity,
        oem_case_no=intake.oem_case_no,
        work_order_id=work_order.id if work_order is not None else None,
        work_order_number=work_order.number if work_order is not None else None,
        vin=vin, follow_up_id=follow_up_id, words=sealed, contact_due=contact_due,
        close_due=close_due, moved_from=moved_from, id=case_id)
    session.add(case)
    return case


class Grievances:
    def __init__(self, app: ServiceCore, terms: GrievanceTerms | None = None,
                 stores: Iterable[str] = ()) -> None:
        self.app = app
        self.terms = terms or GrievanceTerms()
        self.stores = frozenset(stores)

    def register(self, request: Request, store_id: str, *, customer_id: UUID,
                 kind: str | None, channel: str | None, category: str | None,
                 severity: str | None = "normal", words: str | None,
                 oem_case_no: str | None = None, work_order_id: UUID | None = None,
                 vin: str | None = None) -> CommandResult:
        """A complaint or suggestion of a customer the store knows, about one of the store's
        visits or a car when it names one (unknown: 404 naming the field)."""
        intake = Intake.of(kind=kind, channel=channel, category=category, severity=severity,
                           words=words, oem_case_no=oem_case_no)
        require_group_store(self.stores, store_id)
        require(request.caller.may_use(store_id), NotPermitted(
            f"your token does not cover store {store_id}", store_id=store_id))
        car = None if not (vin or "").strip() else (vin or "").strip().upper()
        case_id = uuid4()

        def decide(session: Session) -> Decision:
            customer = session.find(Customer, customer_id)
            if customer is None or not session.caller.may_use(customer.store_id):
                raise NotFound(f"customer {customer_id} not found", field="customer_id")
            order = None
            if work_order_id is not None:
                order = session.find(WorkOrder, work_order_id)
                if order is None or order.store_id != store_id:
                    raise NotFound(f"work order {work_order_id} not found in store {store_id}",
                                   field="work_order_id")
                require(order.customer_id == customer_id, InvalidInput(
                    f"work order {order.number} is another customer's", field="work_order_id"))
            plate_vin = car or (str(order.vehicle.get("vin")) if order is not None
                                and order.vehicle.get("vin") else None)
            case = open_case(session, self.app, self.terms, case_id, store_id, customer, intake,
                             work_order=order, vin=plate_vin)
            return Decision(case, view(case))

        return self.app.execute(request, decide, (case_id,))

    def _step(self, request: Request, case_id: UUID,
              change: Callable[[Session, Grievance, Seal], None]) -> CommandResult:
        """One step on the case; its free text sealed with the customer's key as it is now
        (`[erased]` once the customer is: no key is made again)."""
        def decide(session: Session) -> Decision:
            case = session.target(Grievance, case_id, "case")
            change(session, case, partial(self.app.personal_data.seal_with_kept_key,
                                          case.customer_id))
            return Decision(case, view(case))

        return self.app.execute(request, decide, (case_id,))

    def assign(self, request: Request, case_id: UUID, *, owner: str | None,
               note: str | None = None) -> CommandResult:
        return self._step(request, case_id, lambda s, c, seal: c.assign(
            s.audit(c.store_id), owner, note, seal))

    def contact(self, request: Request, case_id: UUID, *, note: str | None = None
                ) -> CommandResult:
        return self._step(request, case_id, lambda s, c, seal: c.contact(
            s.audit(c.store_id), note, seal))

    def act(self, request: Request, case_id: UUID, *, action: str | None) -> CommandResult:
        return self._step(request, case_id, lambda s, c, seal: c.act(
            s.audit(c.store_id), action, seal))

    def resolve(self, request: Request, case_id: UUID, *, resolution: str | None,
                accepted: bool) -> CommandResult:
        return self._step(request, case_id, lambda s, c, seal: c.resolve(
            s.audit(c.store_id), resolution, accepted, seal))

    def close(self, request: Request, case_id: UUID, *, note: str | None = None
              ) -> CommandResult:
        return self._step(request, case_id, lambda s, c, seal: c.close(
            s.audit(c.store_id), note, seal))

    def reopen(self, request: Request, case_id: UUID, *, reason: str | None) -> CommandResult:
        return self._step(request, case_id, lambda s, c, seal: c.reopen(
            s.audit(c.store_id), reason, seal))
