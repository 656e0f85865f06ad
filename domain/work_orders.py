"""Work-order commands for the front desk, the workshop and QC."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from domain.application import CommandResult, Decision, Request, Session
from domain.comeback_marks import earlier_visit
from domain.common import (
    InvalidInput,
    NotPermitted,
    require,
    require_group_store,
    stable_id,
)
from domain.counter import DocumentCounter
from domain.customer import Customer
from domain.customers import normalise_phone
from domain.dispatch import current_technician, hand_over, require_qualified, rostered
from domain.labor_pricing import check_reprice, priced_labor_line
from domain.labor_pricing import from_master as labor_from_master
from domain.part import Part, normalise_part_number
from domain.part_units import part_units
from domain.technician import Technician
from domain.units import require_whole
from domain.vehicle import Vehicle
from domain.vehicle_ids import normalise_plate, normalise_vin
from domain.warranty_coverage import check_covered, visit_coverage
from domain.work_order import WorkOrder
from domain.work_order_lines import part_line
from domain.work_order_state import KINDS
from domain.work_order_stock import WorkOrderStock

FUEL_LEVELS = range(101)


def vehicle_id(vin: str) -> UUID:
    return stable_id("vehicle", vin)


SEEN_FIELDS = ("plate", "brand", "model", "year")
VehicleFile = Callable[[str], "dict[str, Any] | None"]  # a VIN -> the vehicle file's fields


def on_file(session: Session, given: dict[str, Any],
            seen: dict[str, Any] | None = None) -> dict[str, Any]:
    """The vehicle as the work order records it: what the desk gave, and where the desk gave
    none the plate, brand, model and year of the registered VIN, else those the vehicle file
    `seen` holds of a car known from an earlier visit (a car named by its VIN alone still has
    them on the claim, the repair record, the lists and in the plate search)."""
    known = session.find(Vehicle, vehicle_id(given["vin"]))
    vehicle = dict(given)
    for found in (known.snapshot() if known is not None else {}, seen or {}):
        vehicle.update({key: found[key] for key in SEEN_FIELDS
                        if vehicle.get(key) is None and found.get(key) is not None})
    return vehicle


class WorkOrders(WorkOrderStock):
    """The work order's commands from opening to closing (its warranty serials and evidence
    are `WarrantyEvidence`'s, domain/warranty_evidence.py; its stock commands are
    `WorkOrderStock`'s, domain/work_order_stock.py)."""

    # -- reception ---------------------------------------------------------------------------

    def open(self, request: Request, *, store_id: str, customer: dict[str, Any],
             vehicle: dict[str, Any], mileage: int, complaints: list[str], kind: str = "repair",
             appointment_id: str | None = None, customer_id: UUID | None = None,
             vehicle_file: VehicleFile | None = None) -> CommandResult:
        """Open the visit; `vehicle_file` looks up the plate, brand, model and year the vehicle
        file (a read model) holds of a VIN: its proposal fills what neither the desk nor a
        registration gives (`on_file`)."""
        caller = request.caller
        require_group_store(self.stores, store_id)
        if not caller.may_use(store_id):
            raise NotPermitted(f"your token does not cover store {store_id}")
        if kind not in KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")
        complaints = [c.strip() for c in complaints if c and c.strip()]
        require(bool(complaints), InvalidInput("a work order needs at least one complaint",
                                               field="complaints"))
        if mileage < 0:
            raise InvalidInput("mileage must not be negative", field="mileage")
        vin = normalise_vin(vehicle["vin"], "vehicle.vin")
        snapshot = {
            "vin": vin, "vehicle_id": str(vehicle_id(vin)),
            "plate": normalise_plate(vehicle["plate"], "vehicle.plate")
            if vehicle.get("plate") else None,
            "brand": vehicle.get("brand"), "model": vehicle.get("model"),
            "year": vehicle.get("year"),
        }
        seen = (vehicle_file(vin) if vehicle_file is not None
                and any(snapshot[key] is None for key in SEEN_FIELDS) else None)
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
                require(not known.erased, InvalidInput("that customer has been erased",
                                                        field="customer_id"))
                snapshot_pii = (self._seal_customer(customer_id, customer, required=False)
                                or dict(known.sealed))
            else:
                session.add(Customer(id=new_customer_id, audit=audit,
                                     kind=customer.get("kind") or "person", sealed=sealed))
            number = session.next_number("work-order", "WO", store_id, year)
            work_order = WorkOrder(
                audit=audit, number=number, customer_id=new_customer_id, customer=snapshot_pii,
                vehicle=on_file(session, snapshot, seen), mileage=mileage, kind=kind, appointment_id=appointment_id,
                complaints=complaints,
            )
            session.add(work_order)
            return Decision(work_order, {"number": number, "customer_id": str(new_customer_id)})

        counter = DocumentCounter.create_id("work-order", store_id, year)
        return self.app.execute(request, decide, (counter, new_customer_id))

    def _seal_customer(self, customer_id: UUID, given: dict[str, Any], *,
                       required: bool) -> dict[str, Any]:
        """Name, phone and WeChat id sealed with the customer's key ({} when none given); the
        phone kept as a registered customer's is (`normalise_phone`: ASCII digits, no blanks or
        dashes), or refused naming `customer.phone`."""
        name = (given.get("name") or "").strip()
        phone = (given.get("phone") or "").strip()
        if not required and not name and not phone:
            return {}
        require(bool(name and phone), InvalidInput(
            "customer name and phone are required",
            field="customer.phone" if name else "customer.name"))
        phone = normalise_phone(phone, "customer.phone")
        return self.app.personal_data.seal_fields(customer_id, {
            "name": name, "phone": phone,
            "wechat_id": (given.get("wechat_id") or "").strip() or None})

    def check_in(self, request: Request, work_order_id: UUID, *, mileage_in: int,
                 fuel_level: int, damage_notes: str = "", belongings: str = "",
                 promised_at: str | None = None, comeback_of: UUID | None = None,
                 comeback_reason: str | None = None) -> CommandResult:
        """`comeback_of`: the advisor's word at reception that the car is back for the repair
        of that earlier work order, with `comeback_reason` (domain/work_order_comeback.py);
        saved with the check-in, or neither is."""
        if fuel_level not in FUEL_LEVELS:
            raise InvalidInput("fuel level is a percentage 0-100", field="fuel_level")
        details = {"mileage_in": mileage_in, "fuel_level": fuel_level,
                   "damage_notes": damage_notes, "belongings": belongings,
                   "promised_at": promised_at}

        def act(s: Session, wo: WorkOrder) -> None:
            wo.check_in_vehicle(s.audit(wo.store_id), details)
            if comeback_of is not None:
                wo.mark_comeback(s.audit(wo.store_id),
                                 earlier_visit(s, comeback_of, "comeback_of"), comeback_reason,
                                 field="comeback_of", reason_field="comeback_reason")

        return self._on(request, work_order_id, act)

    def add_job(self, request: Request, work_order_id: UUID, *, complaint: str) -> CommandResult:
        complaint = complaint.strip()
        require(bool(complaint), InvalidInput("complaint is required", field="complaint"))
        return self._on(request, work_order_id, lambda s, wo: {
            "job_no": wo.add_job(s.audit(wo.store_id), complaint)})

    def diagnose(self, request: Request, work_order_id: UUID, job_no: int, *, cause: str,
                 correction: str, fault_codes: list[str]) -> CommandResult:
        require(bool(cause.strip() and correction.strip()),
                InvalidInput("cause and correction are required",
                             field="correction" if cause.strip() else "cause"))
        codes = [c.strip().upper() for c in fault_codes if c.strip()]
        return self._on(request, work_order_id, lambda s, wo: wo.diagnose(
            s.audit(wo.store_id), job_no, cause.strip(), correction.strip(), codes))

    # -- estimate and authorization ----------------------------------------------------------

    def add_labor_line(self, request: Request, work_order_id: UUID, job_no: int,
                       line: dict[str, Any]) -> CommandResult:
        """A labor line; priced from the store's labor-operation master where its op code is
        in it (domain/labor_pricing.py)."""
        return self._add_line(request, work_order_id, job_no, line, priced_labor_line,
                              lambda s, wo, data: labor_from_master(s, wo.store_id, data))

    def add_part_line(self, request: Request, work_order_id: UUID, job_no: int,
                      line: dict[str, Any]) -> CommandResult:
        """A part line; description, unit and price default to the part master's. A part
        counted in whole pieces takes a whole number of them (`part_units`)."""

        def from_master(session: Session, wo: WorkOrder, data: dict[str, Any]) -> dict[str, Any]:
            number = data.get("part_number")
            part = session.find(Part, Part.create_id(normalise_part_number(number))) \
                if number else None
            if part is None:
                return data
            defaults = {"description": part.details["name"], "unit": part.details["unit"],
                        "unit_price": part.list_price, "part_number": part.part_number}
            return defaults | {k: v for k, v in data.items() if v is not None}

        def whole(session: Session, wo: WorkOrder, built: dict[str, Any]) -> None:
            for unit in part_units(session, wo.store_id, built["part_number"], line.get("unit")):
                require_whole(built["qty"], unit, "qty")

        return self._add_line(request, work_order_id, job_no, line, part_line, from_master,
                              whole)

    def _add_line(self, request: Request, work_order_id: UUID, job_no: int,
                  data: dict[str, Any], build: Callable[..., dict[str, Any]],
                  complete: Callable[[Session, WorkOrder, dict[str, Any]], dict[str, Any]]
                  | None = None,
                  check: Callable[[Session, WorkOrder, dict[str, Any]], None] | None = None,
                  ) -> CommandResult:
        def act(session: Session, wo: WorkOrder) -> dict[str, Any]:
            wo.job(job_no)
            line = build(wo.next_line_id(), job_no,
                         complete(session, wo, data) if complete else data)
            if check:
                check(session, wo, line)
            if line["pay_type"] == "warranty":
                check_covered(line, visit_coverage(session, wo, self.warranty, self.zone))
            return {"line_id": wo.add_line(session.audit(wo.store_id), line)}

        return self._on(request, work_order_id, act)

    def reprice_line(self, request: Request, work_order_id: UUID, line_id: str, *,
                     unit_price: object, reason: str | None) -> CommandResult:
        def act(session: Session, wo: WorkOrder) -> None:
            check_reprice(session.caller.role, wo.line(line_id), unit_price, reason)
            wo.reprice_line(session.audit(wo.store_id), line_id, unit_price, reason)

        return self._on_line(request, work_order_id, line_id, act)

    def authorize_line(self, request: Request, work_order_id: UUID, line_id: str, *,
                       decision: str, channel: str, note: str | None = None) -> CommandResult:
        """The customer's decision, or a change of mind on it: an approved part line reserves
        its stock in the same save, and a part line no longer wanted lets its reservation go."""

        def act(session: Session, wo: WorkOrder) -> dict[str, Any] | None:
            wo.authorize_line(session.audit(wo.store_id), line_id, decision, channel, note)
            line = wo.lines[line_id]
            if line["kind"] == "part" and decision == "approved":
                return {"supply": self._reserve(session, wo, line)}
            if line["kind"] == "part":
                self._release(session, wo, line, f"line {line_id} declined: {note}")
            return None

        return self._on_line(request, work_order_id, line_id, act,
                             self._stock_streams(work_order_id, [line_id]))

    def authorize_lines(self, request: Request, work_order_id: UUID, decisions: dict[str, str],
                        *, channel: str, guard: Callable[[Session, WorkOrder], None] | None = None,
                        ) -> CommandResult:
        """Several of the customer's decisions in one save (their progress page).

        A line already decided the same way is left as it is, so a repeated submit decides
        once; `guard` re-checks, on fresh state, that the caller may still decide.
        """

        def act(session: Session, wo: WorkOrder) -> dict[str, Any]:
            if guard is not None:
                guard(session, wo)
            audit = session.audit(wo.store_id)
            decided, unchanged, supply = [], [], {}
            for line_id, decision in decisions.items():
                line = wo.line(line_id)
                if line["status"] == decision:
                    unchanged.append(line_id)
                    continue
                wo.authorize_line(audit, line_id, decision, channel, None)
                decided.append(line_id)
                if line["kind"] == "part" and decision == "approved":
                    supply[line_id] = self._reserve(session, wo, line)
            return {"decided": decided, "unchanged": unchanged, "supply": supply}

        return self._on(request, work_order_id, act,
                        self._stock_streams(work_order_id, list(decisions)))

    # -- workshop ----------------------------------------------------------------------------

    def dispatch(self, request: Request, work_order_id: UUID, job_no: int, *,
                 technician_id: str, reason: str | None = None) -> CommandResult:
        """The desk's dispatch to a named technician on the store's roster who has the skills
        and levels the job needs (`require_qualified`; a reassignment needs a reason; the shift
        is not checked: a technician may be dispatched ahead of it). The technician's
        assignment is saved with the work order, as auto-dispatch and the manager's override
        save it: the job counts in the technician's open load."""
        previous = current_technician(self.app, work_order_id, job_no)

        def act(session: Session, wo: WorkOrder) -> None:
            audit = session.audit(wo.store_id)
            before = wo.jobs[job_no]["technician_id"] if job_no in wo.jobs else None
            tech = rostered(session, wo.store_id, technician_id)
            require_qualified(wo, job_no, tech)
            wo.dispatch(audit, job_no, technician_id, reason)
            hand_over(session, audit, wo, job_no, tech, before, reason or "dispatched")

        streams = [Technician.create_id(technician_id)]
        if previous is not None and previous != technician_id:
            streams.append(Technician.create_id(previous))
        return self._on(request, work_order_id, act, tuple(streams))

    def close_job(self, request: Request, work_order_id: UUID, job_no: int, *, outcome: str,
                  reason: str | None) -> CommandResult:
        """Close a job without repair work (no fault found, or declined by the customer)."""

        def act(session: Session, wo: WorkOrder) -> dict[str, Any]:
            wo.close_job(session.audit(wo.store_id), job_no, outcome, reason)
            return {"job_no": job_no, "status": wo.status}

        return self._on(request, work_order_id, act)

    def _technician_for(self, request: Request, technician_id: str | None) -> str:
        caller = request.caller
        if caller.role == "technician":
            require(technician_id in (None, caller.user_id),
                    NotPermitted("technicians clock only for themselves"))
            return caller.user_id
        if not technician_id:
            raise InvalidInput("technician_id is required", field="technician_id")
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

    def record_compensation(self, request: Request, work_order_id: UUID, *, kind: str,
                            amount: object, days: int | None = None,
                            reference: str | None = None,
                            note: str | None = None) -> CommandResult:
        """Towing, a loaner car or travel paid for the customer (三包 repair record)."""
        return self._on(request, work_order_id, lambda s, wo: wo.record_compensation(
            s.audit(wo.store_id), kind, amount, days, reference, note), ending=True)

    def cancel(self, request: Request, work_order_id: UUID, *, reason: str) -> CommandResult:
        """Cancel (issued parts must be returned first); reservations end in the same save."""

        def act(session: Session, wo: WorkOrder) -> None:
            wo.cancel(session.audit(wo.store_id), reason)
            for line in wo.lines.values():
                if line["kind"] == "part" and line["status"] == "approved":
                    self._release(session, wo, line, f"work order cancelled: {reason}")

        return self._on(request, work_order_id, act, self._stock_streams(work_order_id, None),
                        ending=True)
