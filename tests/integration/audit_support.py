"""Helpers for the audit-export tests (no tests here): a store of its own whose visits are driven
through the domain services at chosen business times (Shanghai local time)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.application import Request
from domain.common import Caller
from servicecore.container import Container
from servicecore.demo import make_vin
from tests.integration.support import with_profile

ZONE = ZoneInfo("Asia/Shanghai")


def at(day: str, hhmm: str) -> datetime:
    """A Shanghai business time."""
    return datetime.fromisoformat(f"{day}T{hhmm}:00+08:00")


def new_store() -> str:
    return "A" + uuid.uuid4().hex[:6].upper()


def new_vin() -> str:
    return make_vin(random.Random(uuid.uuid4().int))


@dataclass
class Desk:
    """One store's staff: advisor, manager, parts clerk, cashier and two technicians."""

    c: Container
    store: str = field(default_factory=new_store)

    def __post_init__(self) -> None:
        s = self.store.lower()
        self.adv, self.mgr, self.clerk, self.cashier = (f"adv-{s}", f"mgr-{s}", f"clerk-{s}",
                                                        f"cash-{s}")
        self.t1, self.t2 = f"t1-{s}", f"t2-{s}"

    def r(self, role: str, when: datetime, user: str | None = None) -> Request:
        users = {"advisor": self.adv, "manager": self.mgr, "parts_clerk": self.clerk,
                 "cashier": self.cashier}
        return Request(Caller(user or users[role], role, (self.store,), when, str(uuid.uuid4())))

    def tech(self, user: str, when: datetime) -> Request:
        return self.r("technician", when, user)

    def on_roster(self, user: str, when: datetime) -> None:
        """A profile at the store for a technician who has none yet: the desk dispatches to
        the store's roster only."""
        with_profile(self.c.technicians, self.r("manager", when), user, self.store)

    # -- parts ---------------------------------------------------------------------------------

    def part(self, name: str, price: str, when: datetime) -> str:
        number = "W" + uuid.uuid4().hex[:10].upper()
        self.c.inventory.register_part(self.r("parts_clerk", when), part_number=number, details={
            "name": name, "unit": "pc", "category": "other", "min_stock": 0, "reorder_qty": 0},
            list_price=price)
        return number

    def receive(self, part: str, qty: int, cost: str, when: datetime, *, supplier: str,
                doc: str, cert: str | None = None) -> str:
        done = self.c.inventory.receive(self.r("parts_clerk", when), self.store, part, qty=qty,
                                        unit_cost=cost, supplier=supplier, supplier_doc=doc,
                                        cert_ref=cert)
        return str(done.body["lot_id"])

    # -- the visit -----------------------------------------------------------------------------

    def open(self, vin: str, complaints: list[str], when: datetime, *, kind: str = "repair",
             mileage: int = 12_000, plate: str | None = "沪B52819",
             customer_id: UUID | None = None) -> UUID:
        opened = self.c.work_orders.open(
            self.r("advisor", when), store_id=self.store,
            customer={"name": "李娜", "phone": "13800138000"}, customer_id=customer_id,
            vehicle={"vin": vin, "plate": plate, "brand": "Volkswagen", "model": "Tiguan L",
                     "year": 2024}, mileage=mileage, complaints=complaints, kind=kind)
        return UUID(opened.body["id"])

    def check_in(self, wo: UUID, mileage: int, when: datetime) -> None:
        self.c.work_orders.check_in(self.r("advisor", when), wo, mileage_in=mileage,
                                    fuel_level=50)

    def diagnose(self, wo: UUID, job: int, cause: str, correction: str, codes: list[str],
                 when: datetime) -> None:
        self.c.work_orders.diagnose(self.tech(self.t1, when), wo, job, cause=cause,
                                    correction=correction, fault_codes=codes)

    def labor(self, wo: UUID, job: int, op_code: str, hours: str, when: datetime, *,
              description: str = "labor", rate: str = "300.00",
              warranty: dict[str, Any] | None = None) -> str:
        line: dict[str, Any] = {"op_code": op_code, "description": description, "hours": hours,
                                "hourly_rate": rate}
        if warranty is not None:
            line.update(pay_type="warranty", warranty=warranty)
        return str(self.c.work_orders.add_labor_line(self.r("advisor", when), wo, job,
                                                     line).body["line_id"])

    def part_line(self, wo: UUID, job: int, part: str, qty: int, when: datetime, *,
                  warranty: dict[str, Any] | None = None) -> str:
        line: dict[str, Any] = {"part_number": part, "qty": qty}
        if warranty is not None:
            line.update(pay_type="warranty", warranty=warranty)
        return str(self.c.work_orders.add_part_line(self.r("advisor", when), wo, job,
                                                    line).body["line_id"])

    def approve(self, wo: UUID, lines: list[str], when: datetime, channel: str = "in_person",
                decision: str = "approved") -> None:
        for line in lines:
            self.c.work_orders.authorize_line(self.r("advisor", when), wo, line,
                                              decision=decision, channel=channel)

    def repair(self, wo: UUID, job: int, tech: str, on: datetime, off: datetime, *,
               issue: tuple[str, ...] = (), dispatch: bool = True) -> None:
        """Dispatch, issue the parts, one clock punch, complete and pass QC."""
        w = self.c.work_orders
        if dispatch:
            self.on_roster(tech, on - timedelta(minutes=30))
            w.dispatch(self.r("manager", on - timedelta(minutes=20)), wo, job, technician_id=tech)
        for line in issue:
            w.issue_part(self.r("parts_clerk", on - timedelta(minutes=10)), wo, line)
        w.clock_on(self.tech(tech, on), wo, job)
        w.clock_off(self.tech(tech, off), wo, job)
        w.complete_job(self.tech(tech, off + timedelta(minutes=5)), wo, job)
        w.quality_check(self.r("manager", off + timedelta(minutes=10)), wo, job, passed=True)

    def settle(self, wo: UUID, when: datetime, discount: str | None = None) -> UUID:
        """Draft (with `discount` off the customer bill), confirm (a number) and pay what the
        customer owes in cash."""
        s = self.c.settlements
        sid = UUID(s.draft(self.r("cashier", when), wo).body["id"])
        if discount:
            s.discount(self.r("manager", when), sid, bill="customer", amount=discount,
                       reason="member's discount")
        confirmed = s.confirm(self.r("cashier", when + timedelta(minutes=1)), sid).body
        if not confirmed["settled"]:
            owed = confirmed["bills"]["customer"]["outstanding"]
            paid = s.pay(self.r("cashier", when + timedelta(minutes=2)), work_order_id=wo,
                         method="cash", amount=owed, tendered=owed).body
            assert paid["settled"], paid
        return sid

    def deliver(self, wo: UUID, mileage_out: int, when: datetime) -> None:
        self.c.aftercare.deliver(self.r("advisor", when), wo, mileage_out=mileage_out,
                                 acknowledged_by="李娜")

    def warranty_visit(self, vin: str, complaint: str, op_code: str, checked_in: datetime,
                       ready: datetime, *, mileage: int = 12_000,
                       part: str | None = None) -> UUID:
        """A warranty repair checked in at `checked_in`, ready for settlement at `ready`."""
        wo = self.open(vin, [complaint], checked_in - timedelta(minutes=10), mileage=mileage)
        self.check_in(wo, mileage, checked_in)
        lines = [self.labor(wo, 1, op_code, "1.0", checked_in + timedelta(minutes=5),
                            warranty={"coverage_code": "W-3Y"})]
        if part is not None:
            lines.append(self.part_line(wo, 1, part, 1, checked_in + timedelta(minutes=6),
                                        warranty={"coverage_code": "W-3Y"}))
        self.approve(wo, lines, checked_in + timedelta(minutes=7))
        self.repair(wo, 1, self.t1, ready - timedelta(hours=2), ready - timedelta(minutes=10),
                    issue=tuple(lines[1:]))
        return wo


def older_complaint(app: Any, work_order_id: UUID, description: str,
                    when: datetime | None = None, user: str = "adv-old") -> UUID:
    """A complaint of the older register (`/complaints`), as the follow-up call opened one
    before it opened complaint cases: written to the log as it was then."""
    from domain.common import Audit
    from domain.follow_up import Complaint

    order = app.repository.get(work_order_id)
    complaint_id = uuid.uuid4()
    app.save(Complaint(
        id=complaint_id, audit=Audit(user, "advisor", order.store_id,
                                     when or datetime.now(ZoneInfo("UTC")), "corr-old"),
        work_order_id=work_order_id, work_order_number=order.number,
        customer_id=order.customer_id, description=description, source="follow_up"))
    return complaint_id
