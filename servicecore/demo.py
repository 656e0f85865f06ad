"""Demo histories, built through the real command path (never by writing rows): the small one
for `make run` (`load_demo`, here) and months of a dealership at scale (`load_history`, in
servicecore.demo_history).

Business times are the store's working hours (Asia/Shanghai) and never after now: a step that
would happen later is not taken, so today's visits stay where they would be at this hour.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

from domain.aftercare import Aftercare
from domain.application import Request
from domain.common import Caller
from domain.completion_certificates import CompletionCertificates
from domain.inventory import Inventory
from domain.repair_guarantee import GUARANTEES, class_of_op_code
from domain.settlements import Settlements
from domain.technicians import Technicians
from domain.work_orders import WorkOrders
from servicecore.demo_catalog import (
    BRANDS,
    COMPLAINTS,
    CSI_WEIGHTS,
    FINDINGS,
    GIVEN,
    HISTORY_PARTS,
    HISTORY_STOCKING,
    INSURANCE_JOB,
    INSURERS,
    INTERNAL_JOB,
    LABOR,
    MAINTENANCE,
    METHOD_WEIGHTS,
    PARTS,
    REPAIRS,
    SUPPLIER,
    SURNAMES,
    USED_CAR_DESK,
    ZONE,
    make_vin,
    name_technicians,
    register_parts,
)
from servicecore.demo_desk import HistoryFigures
from servicecore.demo_scale import load_history, stage_history

__all__ = ["BRANDS", "COMPLAINTS", "GIVEN", "LABOR", "PARTS", "SURNAMES", "HistoryFigures",
           "load_demo", "load_history", "make_vin", "stage_history"]

# One visit of each kind in turn, so that even a few dozen visits show every outcome.
PLAN = ("maintenance", "repair", "warranty", "insurance", "declined", "comeback", "cancelled",
        "failed_qc", "internal", "discount", "repair", "maintenance")
SLOTS = ((9, 0), (10, 40), (13, 30), (15, 10))  # when visits open, local time (+ 0-25 min)
TECHNICIANS_PER_STORE = 4


class _NotYet(Exception):
    """The visit's next step would be after now: the visit stays where it is."""


@dataclass(frozen=True)
class _Job:
    kind: str
    complaint: str
    op_code: str
    description: str
    hours: str
    part: str | None = None
    qty: str | None = None


@dataclass
class _Seen:
    vehicle: dict[str, object]
    customer_id: UUID
    complaint: str
    opened_at: datetime
    mileage: int
    op_code: str = ""
    mileage_in: int = 0
    ready_at: datetime | None = None  # when its repair passed the quality check

    def guarantees(self, at: datetime, mileage_in: int) -> bool:
        """Whether a return at `at` with `mileage_in` on the odometer is still within the
        repair guarantee of this visit's class (`domain.repair_guarantee`)."""
        guarantee = next(g for g in GUARANTEES if g.repair_class == class_of_op_code(
            self.op_code))
        return (self.ready_at is not None and self.ready_at <= at
                <= self.ready_at + timedelta(days=guarantee.days)
                and mileage_in - self.mileage_in <= guarantee.km)


def opening_times(visits: int, now: datetime, rng: random.Random) -> list[datetime]:
    """`visits` opening times drawn from the working-day slots of the last ~5/4 × `visits`
    days (at least two weeks), all at least half an hour before now; oldest first, in UTC."""
    today = now.astimezone(ZONE).date()
    span = max(14, visits * 5 // 4)
    slots = []
    for back in range(span + visits):
        day = today - timedelta(days=back)
        for hour, minute in SLOTS:
            at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE) + timedelta(
                minutes=rng.randint(0, 25))
            if at <= now - timedelta(minutes=30):
                slots.append(at.astimezone(UTC))
        if back + 1 >= span and len(slots) >= visits:
            break
    return sorted(rng.sample(slots, visits))


class _StoreDemo:
    """One store's small demo: visits of every kind through the command path."""

    def __init__(self, work_orders: WorkOrders, inventory: Inventory,
                 settlements: Settlements | None, aftercare: Aftercare | None, store: str,
                 rng: random.Random, now: datetime) -> None:
        self.wo, self.inv, self.money, self.after = work_orders, inventory, settlements, aftercare
        self.store, self.rng, self.now = store, rng, now
        s = store.lower()
        self.advisors, self.manager = [f"adv-{s}-1", f"adv-{s}-2"], f"mgr-{s}"
        self.clerk, self.cashier = f"clerk-{s}", f"cash-{s}"
        self.techs = [f"tech-{s}-{n}" for n in range(1, TECHNICIANS_PER_STORE + 1)]
        self.clocked_on: set[str] = set()  # technicians whose last visit stopped mid-clock
        self.seen: list[_Seen] = []
        self.opened_at = now

    def req(self, role: str, user: str, minutes: float) -> Request:
        at = self.opened_at + timedelta(minutes=minutes)
        if at > self.now:
            raise _NotYet
        return Request(Caller(user, role, (self.store,), at, str(uuid4())))

    def visit(self, at: datetime, plan: str) -> None:
        self.opened_at = at
        try:
            self._visit(plan)
        except _NotYet:
            pass

    def _what(self, plan: str) -> tuple[str, _Job, _Seen | None]:
        """The visit's plan (a comeback needs an earlier repair), its job, the returning car."""
        rng = self.rng
        if plan == "comeback":  # back within the guarantee of the earlier repair's class
            recent = [s for s in self.seen
                      if s.guarantees(self.opened_at, self._last_mileage(s) + 1_530)
                      and any(r[0] == s.complaint for r in REPAIRS)]
            if recent:
                back = rng.choice(recent)
                return plan, _Job("repair", *next(r for r in REPAIRS if r[0] == back.complaint)
                                  ), back
            plan = "repair"
        if plan in ("maintenance", "declined", "discount"):
            op, desc, hours, part, qty = rng.choice(MAINTENANCE)
            return plan, _Job("maintenance", f"scheduled service: {desc}", op, desc, hours,
                              part, qty), None
        if plan == "insurance":
            return plan, _Job("repair", *INSURANCE_JOB), None
        if plan == "internal":
            return plan, _Job("maintenance", *INTERNAL_JOB), None
        return plan, _Job("repair", *rng.choice(REPAIRS)), None

    def _last_mileage(self, seen: _Seen) -> int:
        return max(s.mileage for s in self.seen if s.vehicle["vin"] == seen.vehicle["vin"])

    def _open(self, kind: str, complaint: str, returning: _Seen | None,
              plan: str) -> tuple[UUID, int]:
        rng, advisor = self.rng, self.rng.choice(self.advisors)
        if returning is not None:  # on from the car's latest visit, never back
            mileage = self._last_mileage(returning) + rng.randint(200, 1_500)
            opened = self.wo.open(self.req("advisor", advisor, 0), store_id=self.store,
                                  customer={}, vehicle=dict(returning.vehicle), mileage=mileage,
                                  complaints=[complaint], kind=kind,
                                  customer_id=returning.customer_id)
            vehicle, customer_id = returning.vehicle, returning.customer_id
        else:
            brand, model = rng.choice(BRANDS)
            vehicle = {"vin": make_vin(rng), "plate": f"沪A{rng.randint(10000, 99999)}",
                       "brand": brand, "model": model, "year": rng.randint(2015, 2025)}
            name = USED_CAR_DESK if plan == "internal" else rng.choice(SURNAMES) + rng.choice(
                GIVEN)
            mileage = rng.randint(5_000, 150_000)
            opened = self.wo.open(self.req("advisor", advisor, 0), store_id=self.store,
                                  customer={"name": name,
                                            "phone": f"13{rng.randint(100000000, 999999999)}"},
                                  vehicle=vehicle, mileage=mileage, complaints=[complaint],
                                  kind=kind)
            customer_id = UUID(opened.body["customer_id"])
        self.seen.append(_Seen(vehicle, customer_id, complaint, self.opened_at, mileage))
        return UUID(opened.body["id"]), mileage

    def _visit(self, plan: str) -> None:
        rng = self.rng
        plan, job, returning = self._what(plan)
        wo, mileage = self._open(job.kind, job.complaint, returning, plan)
        advisor = rng.choice(self.advisors)
        mileage += rng.randint(0, 30)  # the drive to the workshop
        self.wo.check_in(self.req("advisor", advisor, 8), wo, mileage_in=mileage,
                         fuel_level=rng.randint(10, 100))
        seen = self.seen[-1]
        seen.op_code, seen.mileage_in = job.op_code, mileage
        if job.op_code in FINDINGS:  # a repair: the technician's 3C before the estimate
            cause, codes = FINDINGS[job.op_code]
            self.wo.diagnose(self.req("technician", self.techs[0], 12), wo, 1, cause=cause,
                             correction=job.description, fault_codes=codes)
        pay_type = {"insurance": "insurance", "internal": "internal"}.get(plan, "customer")
        lines: list[tuple[str, str | None]] = []
        answer = self.wo.add_labor_line(self.req("advisor", advisor, 15), wo, 1, {
            "op_code": job.op_code, "description": job.description, "hours": job.hours,
            "pay_type": pay_type,
            "hourly_rate": rng.choice(["320.00", "350.00", "380.00"])})
        lines.append((answer.body["line_id"], None))
        sold = Decimal(job.hours)
        if job.part is not None:
            answer = self.wo.add_part_line(self.req("advisor", advisor, 16), wo, 1, {
                "part_number": job.part, "qty": job.qty})
            lines.append((answer.body["line_id"], job.part))
        if plan == "warranty":  # the OEM's campaign, on its bill
            answer = self.wo.add_labor_line(self.req("advisor", advisor, 17), wo, 1, {
                "op_code": "CAMP-ECU", "description": "ECU software update (campaign)",
                "hours": "0.5", "hourly_rate": "260.00", "pay_type": "warranty",
                "warranty": {"coverage_code": "C-22", "campaign_no": "RC2025-01"}})
            lines.append((answer.body["line_id"], None))
            sold += Decimal("0.5")
        if plan == "declined":  # the advisor suggests a cabin filter; the customer says no
            answer = self.wo.add_part_line(self.req("advisor", advisor, 17), wo, 1, {
                "part_number": "1K0819653B", "qty": "1"})
            lines.append((answer.body["line_id"], "1K0819653B"))
        if plan == "cancelled":
            self.wo.cancel(self.req("advisor", advisor, 25), wo,
                           reason="customer declined the estimate")
            return
        for n, (line_id, part_no) in enumerate(lines):
            decision = "declined" if plan == "declined" and n == len(lines) - 1 else "approved"
            answer = self.wo.authorize_line(self.req("advisor", advisor, 25), wo, line_id,
                                            decision=decision,
                                            channel=rng.choice(["in_person", "phone", "link"]))
            if decision == "approved" and part_no and answer.body.get("supply") != "reserved":
                self.inv.receive(self.req("parts_clerk", self.clerk, 28), self.store, part_no,
                                 qty=HISTORY_STOCKING[part_no][4], unit_cost=HISTORY_STOCKING[
                                     part_no][2], supplier=SUPPLIER,
                                 supplier_doc=f"DN-{self.store}-{wo.hex[:8]}")
                self.wo.reserve_line(self.req("parts_clerk", self.clerk, 29), wo, line_id)
        free = [t for t in self.techs if t not in self.clocked_on]
        if not free:
            return  # waits for a technician
        tech = rng.choice(free)
        self.wo.dispatch(self.req("manager", self.manager, 30), wo, 1, technician_id=tech)
        for n, (line_id, part_no) in enumerate(lines):
            if part_no and not (plan == "declined" and n == len(lines) - 1):
                self.wo.issue_part(self.req("parts_clerk", self.clerk, 35), wo, line_id)
        on = 45 + rng.randint(0, 60)
        off = on + max(10.0, float(sold) * 60 * rng.uniform(0.7, 1.4))
        self.wo.clock_on(self.req("technician", tech, on), wo, 1)
        self.clocked_on.add(tech)
        self.wo.clock_off(self.req("technician", tech, off), wo, 1)
        self.clocked_on.discard(tech)
        self.wo.complete_job(self.req("technician", tech, off + 2), wo, 1)
        qc = off + 10
        if plan == "failed_qc":
            self.wo.quality_check(self.req("manager", self.manager, qc), wo, 1, passed=False,
                                  reason="road test: noise remains")
            self.wo.clock_on(self.req("technician", tech, qc + 5), wo, 1)
            self.clocked_on.add(tech)
            self.wo.clock_off(self.req("technician", tech, qc + 45), wo, 1)
            self.clocked_on.discard(tech)
            self.wo.complete_job(self.req("technician", tech, qc + 46), wo, 1)
            qc += 50
        passed = self.req("manager", self.manager, qc)
        self.wo.quality_check(passed, wo, 1, passed=True)
        CompletionCertificates(self.wo.app).certify_if_major(passed, wo)
        seen.ready_at = passed.caller.at
        self._settle(wo, plan, qc + 20, mileage, advisor)

    def _settle(self, wo: UUID, plan: str, at: float, mileage: int, advisor: str) -> None:
        if self.money is None or self.after is None:
            return
        rng, cashier = self.rng, self.cashier
        draft = self.money.draft(
            self.req("cashier", cashier, at), wo,
            insurance={"insurer": rng.choice(INSURERS),
                       "claim_number": f"CLM-{wo.hex[:10].upper()}"} if plan == "insurance"
            else None, internal_department=USED_CAR_DESK if plan == "internal" else None)
        settlement = UUID(draft.body["id"])
        bill = draft.body["bills"].get("customer")
        if plan == "discount" and bill:
            amount = (Decimal(bill["total"]) * Decimal("0.05")).quantize(Decimal(1))
            if amount > 0:
                self.money.discount(self.req("cashier", cashier, at + 1), settlement,
                                    bill="customer", amount=amount,
                                    reason="member's service discount")
        confirmed = self.money.confirm(self.req("cashier", cashier, at + 2), settlement)
        due = confirmed.body["bills"].get("customer", {}).get("outstanding", "0.00")
        if due != "0.00":
            method = rng.choices(list(METHOD_WEIGHTS), list(METHOD_WEIGHTS.values()))[0]
            self.money.pay(self.req("cashier", cashier, at + 4), work_order_id=wo,
                           method=method, amount=due, provider_ref=None if method == "cash"
                           else f"{method[:3].upper()}-{wo.hex[:12]}")
        delivered = self.after.deliver(self.req("advisor", advisor, at + 30), wo,
                                       mileage_out=mileage + rng.randint(20, 60),
                                       acknowledged_by="customer",
                                       method=rng.choice(["signature", "sms_code", "wechat"]))
        if plan in ("discount", "internal"):
            return  # the call did not reach the customer / no customer to call
        call = at + 3 * 24 * 60 + rng.randint(0, 240)
        comeback = plan == "comeback"
        csi = 2 if comeback else rng.choices(list(CSI_WEIGHTS), list(CSI_WEIGHTS.values()))[0]
        self.after.complete(self.req("advisor", advisor, call),
                            UUID(delivered.body["follow_up"]["id"]), csi=csi, comment=None,
                            grievance={"category": "repair_quality", "severity": "normal",
                                       "words": "the same problem came back"}
                            if comeback else None)


def stock_parts(inventory: Inventory, stores: tuple[str, ...], at: datetime,
                visits: int) -> None:
    """The part master and a first delivery per store, enough for the demo's visits."""
    register_parts(inventory, stores, at, HISTORY_PARTS)
    for store in stores:
        caller = Caller(f"clerk-{store.lower()}", "parts_clerk", (store,), at, str(uuid4()))
        for part_number, _name, _qty, _price in HISTORY_PARTS:
            _unit, _category, cost, _low, again = HISTORY_STOCKING[part_number]
            inventory.receive(Request(caller), store, part_number,
                              qty=max(again, 2 * visits // len(stores)), unit_cost=cost,
                              supplier=SUPPLIER, supplier_doc=f"DN-{store}-{part_number}",
                              cert_ref=f"CCC-{part_number}")


def load_demo(work_orders: WorkOrders, inventory: Inventory, *, visits: int = 30,
              stores: tuple[str, ...] = ("S01",), seed: int = 7,
              progress: Callable[[int, int], None] | None = None,
              settlements: Settlements | None = None, aftercare: Aftercare | None = None,
              now: datetime | None = None) -> int:
    """`visits` visits over the last weeks, each store's in turn: maintenance and repairs of
    several brands, a warranty campaign line, an insurance and an internal job, a declined
    line, a comeback, a cancellation, a failed quality check, a discount, four named
    technicians per store. With `settlements` and `aftercare` the visits are settled,
    delivered and followed up (when that time has come); without, they stop when ready."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    times = opening_times(visits, now, rng)
    stock_parts(inventory, stores, times[0] - timedelta(days=1) if times else now, visits)
    demos = {store: _StoreDemo(work_orders, inventory, settlements, aftercare, store,
                               random.Random(f"{seed}-{store}"), now) for store in stores}
    technicians = Technicians(work_orders.app)
    for n, (store, demo) in enumerate(demos.items()):
        name_technicians(technicians, store, demo.techs,
                         (times[0] if times else now) - timedelta(days=1),
                         first=TECHNICIANS_PER_STORE * n)
    for n, at in enumerate(times):
        demos[stores[n % len(stores)]].visit(at, PLAN[(n // len(stores)) % len(PLAN)])
        if progress:
            progress(n + 1, visits)
    return visits
