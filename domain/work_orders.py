"""Work-order commands for the front desk, the workshop and QC."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.common import InvalidInput, NotPermitted, require, stable_id
from domain.counter import DocumentCounter
from domain.customer import Customer
from domain.technician import Technician
from domain.vehicle_ids import normalise_plate, normalise_vin
from domain.work_order import KINDS, WorkOrder
from domain.work_order_lines import labor_line, part_line

FUEL_LEVELS = range(101)


def vehicle_id(vin: str) -> UUID:
    return stable_id("vehicle", vin)


class WorkOrders:
    def __init__(self, app: ServiceCore, timezone: str = "Asia/Shanghai") -> None:
        self.app = app
        self.zone = ZoneInfo(timezone)

    def _on(self, request: Request, work_order_id: UUID,
            act: Callable[[Session, WorkOrder], dict[str, Any] | None],
            also: tuple[UUID, ...] = ()) -> CommandResult:
        """Load the work order (If-Match checked), let `act` change it, save everything.

        `also` names the other streams `act` may change (a technician's clock).
        """

        def decide(session: Session) -> Decision:
            work_order = session.target(WorkOrder, work_order_id, "work order")
            answer = act(session, work_order) or {}
            return Decision(work_order, {"number": work_order.number, **answer})

        return self.app.execute(request, decide, (work_order_id, *also))

    # -- reception ---------------------------------------------------------------------------

    def open(self, request: Request, *, store_id: str, customer: dict[str, Any],
             vehicle: dict[str, Any], mileage: int, complaints: list[str], kind: str = "repair",
             appointment_id: str | None = None, customer_id: UUID | None = None) -> CommandResult:
        caller = request.caller
        if not caller.may_use(store_id):
            raise NotPermitted(f"your token does not cover store {store_id}")
        if kind not in KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
        complaints = [c.strip() for c in complaints if c and c.strip()]
        require(bool(complaints), InvalidInput("a work order needs at least one complaint"))
        if mileage < 0:
            raise InvalidInput("mileage must not be negative")
        vin = normalise_vin(vehicle["vin"])
        snapshot = {
            "vin": vin, "vehicle_id": str(vehicle_id(vin)),
            "plate": normalise_plate(vehicle["plate"]) if vehicle.get("plate") else None,
            "brand": vehicle.get("brand"), "model": vehicle.get("model"),
            "year": vehicle.get("year"),
        }
        new_customer_id = customer_id or uuid4()
        year = caller.at.astimezone(self.zone).year
        # A new customer's data is sealed before taking the store's turn (the key look-up need
        # not hold up other desks); a known customer's only once we know they are not erased,
        # so that no key is ever made again for an erased customer.
        sealed = self._seal_customer(new_customer_id, customer, required=True) \
            if customer_id is None else {}

        def decide(session: Session) -> Decision:
            audit = session.audit(store_id)
            snapshot_pii = sealed
            if customer_id is not None:
                known = session.get(Customer, customer_id, "customer")
                require(not known.erased, InvalidInput("that customer has been erased"))
                snapshot_pii = (self._seal_customer(customer_id, customer, required=False)
                                or dict(known.sealed))
            else:
                session.add(Customer(id=new_customer_id, audit=audit,
                                     kind=customer.get("kind") or "person", sealed=sealed))
            number = session.next_number("work-order", "WO", store_id, year)
            work_order = WorkOrder(
                audit=audit, number=number, customer_id=new_customer_id, customer=snapshot_pii,
                vehicle=snapshot, mileage=mileage, kind=kind, appointment_id=appointment_id,
                complaints=complaints,
            )
            session.add(work_order)
            return Decision(work_order, {"number": number, "customer_id": str(new_customer_id)})

        counter = DocumentCounter.create_id("work-order", store_id, year)
        return self.app.execute(request, decide, (counter, new_customer_id))

    def _seal_customer(self, customer_id: UUID, given: dict[str, Any], *,
                       required: bool) -> dict[str, Any]:
        """Name, phone and WeChat id sealed with the customer's key ({} when none given)."""
        name = (given.get("name") or "").strip()
        phone = (given.get("phone") or "").strip()
        if not required and not name and not phone:
            return {}
        require(bool(name and phone), InvalidInput("customer name and phone are required"))
        return self.app.personal_data.seal_fields(customer_id, {
            "name": name, "phone": phone,
            "wechat_id": (given.get("wechat_id") or "").strip() or None})

    def check_in(self, request: Request, work_order_id: UUID, *, mileage_in: int,
                 fuel_level: int, damage_notes: str = "", belongings: str = "",
                 promised_at: str | None = None) -> CommandResult:
        if fuel_level not in FUEL_LEVELS:
            raise InvalidInput("fuel level is a percentage 0-100")
        details = {"mileage_in": mileage_in, "fuel_level": fuel_level,
                   "damage_notes": damage_notes, "belongings": belongings,
                   "promised_at": promised_at}
        return self._on(request, work_order_id, lambda s, wo: wo.check_in_vehicle(
            s.audit(wo.store_id), details))

    def add_job(self, request: Request, work_order_id: UUID, *, complaint: str) -> CommandResult:
        complaint = complaint.strip()
        require(bool(complaint), InvalidInput("complaint is required"))
        return self._on(request, work_order_id, lambda s, wo: {
            "job_no": wo.add_job(s.audit(wo.store_id), complaint)})

    def diagnose(self, request: Request, work_order_id: UUID, job_no: int, *, cause: str,
                 correction: str, fault_codes: list[str]) -> CommandResult:
        require(bool(cause.strip() and correction.strip()),
                InvalidInput("cause and correction are required"))
        codes = [c.strip().upper() for c in fault_codes if c.strip()]
        return self._on(request, work_order_id, lambda s, wo: wo.diagnose(
            s.audit(wo.store_id), job_no, cause.strip(), correction.strip(), codes))

    # -- estimate and authorization ----------------------------------------------------------

    def add_labor_line(self, request: Request, work_order_id: UUID, job_no: int,
                       line: dict[str, Any]) -> CommandResult:
        return self._add_line(request, work_order_id, job_no, line, labor_line)

    def add_part_line(self, request: Request, work_order_id: UUID, job_no: int,
                      line: dict[str, Any]) -> CommandResult:
        return self._add_line(request, work_order_id, job_no, line, part_line)

    def _add_line(self, request: Request, work_order_id: UUID, job_no: int,
                  data: dict[str, Any], build: Callable[..., dict[str, Any]]) -> CommandResult:
        def act(session: Session, wo: WorkOrder) -> dict[str, Any]:
            wo.job(job_no)
            line = build(wo.next_line_id(), job_no, data)
            return {"line_id": wo.add_line(session.audit(wo.store_id), line)}

        return self._on(request, work_order_id, act)

    def reprice_line(self, request: Request, work_order_id: UUID, line_id: str, *,
                     unit_price: object, reason: str | None) -> CommandResult:
        return self._on(request, work_order_id, lambda s, wo: wo.reprice_line(
            s.audit(wo.store_id), line_id, unit_price, reason))

    def authorize_line(self, request: Request, work_order_id: UUID, line_id: str, *,
                       decision: str, channel: str, note: str | None = None) -> CommandResult:
        return self._on(request, work_order_id, lambda s, wo: wo.authorize_line(
            s.audit(wo.store_id), line_id, decision, channel, note))

    # -- workshop ----------------------------------------------------------------------------

    def dispatch(self, request: Request, work_order_id: UUID, job_no: int, *,
                 technician_id: str, reason: str | None = None) -> CommandResult:
        def act(session: Session, wo: WorkOrder) -> None:
            session.technician(technician_id, wo.store_id)
            wo.dispatch(session.audit(wo.store_id), job_no, technician_id, reason)

        return self._on(request, work_order_id, act, (Technician.create_id(technician_id),))

    def _technician_for(self, request: Request, technician_id: str | None) -> str:
        caller = request.caller
        if caller.role == "technician":
            require(technician_id in (None, caller.user_id),
                    NotPermitted("technicians clock only for themselves"))
            return caller.user_id
        if not technician_id:
            raise InvalidInput("technician_id is required")
        return technician_id

    def clock_on(self, request: Request, work_order_id: UUID, job_no: int, *,
                 technician_id: str | None = None) -> CommandResult:
        tech_user = self._technician_for(request, technician_id)

        def act(session: Session, wo: WorkOrder) -> None:
            audit = session.audit(wo.store_id)
            wo.clock_on(audit, job_no, tech_user)
            session.technician(tech_user, wo.store_id).clock_on(audit, wo.id, job_no)

        return self._on(request, work_order_id, act, (Technician.create_id(tech_user),))

    def clock_off(self, request: Request, work_order_id: UUID, job_no: int, *,
                  technician_id: str | None = None) -> CommandResult:
        tech_user = self._technician_for(request, technician_id)

        def act(session: Session, wo: WorkOrder) -> dict[str, Any]:
            audit = session.audit(wo.store_id)
            seconds = wo.clock_off(audit, job_no, tech_user)
            session.technician(tech_user, wo.store_id).clock_off(audit, wo.id, job_no)
            return {"clocked_seconds": seconds}

        return self._on(request, work_order_id, act, (Technician.create_id(tech_user),))

    def complete_job(self, request: Request, work_order_id: UUID, job_no: int) -> CommandResult:
        return self._on(request, work_order_id, lambda s, wo: wo.complete_job(
            s.audit(wo.store_id), job_no))

    def quality_check(self, request: Request, work_order_id: UUID, job_no: int, *,
                      passed: bool, reason: str | None = None) -> CommandResult:
        def act(session: Session, wo: WorkOrder) -> dict[str, Any]:
            wo.quality_check(session.audit(wo.store_id), job_no, passed, reason)
            return {"status": wo.status}

        return self._on(request, work_order_id, act)

    def cancel(self, request: Request, work_order_id: UUID, *, reason: str) -> CommandResult:
        return self._on(request, work_order_id, lambda s, wo: wo.cancel(
            s.audit(wo.store_id), reason))
