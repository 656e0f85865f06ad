"""Random workshop days against the WorkOrders service, checked against a small model.

Refused commands store nothing; after every step the work orders, technicians' clocks and the
stock of the one part every part line uses agree with the model. Rules mostly pick a job the
command suits, so that visits get as far as QC. The store holds plenty of that part: stock is
not the subject here, only that a job's approved parts are issued before it is reported done,
and that a line holds what it still needs (also after parts come back from it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.application import CommandResult, Request, ServiceCore
from domain.common import DomainError
from domain.technician import Technician
from domain.work_order import WorkOrder
from domain.work_order_lines import PAY_TYPES
from domain.work_order_state import STATUSES
from domain.work_orders import WorkOrders
from tests.unit.support import (
    T0,
    clerk,
    events_stored,
    load,
    load_stock,
    on_roster,
    open_order,
    register_part,
    request,
    stock_part,
)

CENT = Decimal("0.01")
TECHNICIANS = ("tech-1", "tech-2", "tech-3")
PICK = st.integers(0, 9)
STRAY = 5  # this pick means: any open work order, and a job or line it does not have
ANY_JOB = (8, 9)  # these picks mean: any existing job, whatever its state
MINUTES = st.integers(0, 240)
REASON = st.sampled_from(["goodwill gesture", None, ""])
WHO = st.sampled_from([None, None, *TECHNICIANS])  # None: whoever the job is dispatched to
PART = "P-1"
ON_SHELF = Decimal(100_000)  # plenty: every approved part line is reserved in full
# how much the clerk issues: None all that is outstanding, else a percentage of it (0 and 101
# are refused), or a malformed quantity
ISSUE = st.sampled_from([None, None, 100, 50, 101, 0, "1.0005"])


def half_up(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class LineModel:
    job_no: int
    kind: str
    pay_type: str
    qty: Decimal
    unit_price: Decimal
    vat_rate: Decimal
    status: str = "pending"
    issued: Decimal = Decimal(0)

    @property
    def unissued(self) -> bool:
        """An approved part line whose parts have not all been issued to the job."""
        return self.kind == "part" and self.status == "approved" and self.issued < self.qty

    @property
    def gross(self) -> Decimal:
        return half_up(self.qty * self.unit_price)

    @property
    def vat(self) -> Decimal:
        return half_up(self.gross * self.vat_rate / (1 + self.vat_rate))


@dataclass
class JobModel:
    stage: str = "reported"
    technician: str | None = None
    clocked_on_at: datetime | None = None
    clocked_seconds: int = 0


@dataclass
class OrderModel:
    id: UUID
    jobs: dict[int, JobModel]
    checked_in: bool = False
    cancelled: bool = False
    lines: dict[str, LineModel] = field(default_factory=dict)

    def authorized(self, job_no: int) -> bool:
        statuses = {line.status for line in self.lines.values() if line.job_no == job_no}
        return "approved" in statuses and "pending" not in statuses

    def pending(self) -> int:
        return sum(line.status == "pending" for line in self.lines.values())

    def unissued(self, job_no: int | None = None) -> list[str]:
        return [k for k, line in self.lines.items()
                if line.unissued and job_no in (None, line.job_no)]

    def issued(self) -> bool:
        return any(line.issued > 0 for line in self.lines.values())

    def line_id(self, pick: int, *, pending_first: bool = False,
                prefer: Callable[[LineModel], bool] | None = None) -> str:
        preferred = [k for k, line in self.lines.items()
                     if (line.status == "pending" if pending_first else prefer and prefer(line))]
        if pick == STRAY or not self.lines:
            return f"L{len(self.lines) + 1}"
        if preferred:
            return preferred[pick % len(preferred)]
        return f"L{pick % len(self.lines) + 1}"

    def open_lines(self, job_no: int) -> bool:
        """Work still open on the job: a line approved or awaiting the customer's decision."""
        return any(line.status in ("approved", "pending") and line.job_no == job_no
                   for line in self.lines.values())

    def nothing_left_to_do(self) -> bool:
        """The settlement rule, restated: nothing pending, approved work all passed QC, every
        approved part issued, no job left without estimate lines unless it was closed, and
        some job passed QC or closed."""
        passed = {no for no, job in self.jobs.items() if job.stage == "passed"}
        closed = {no for no, job in self.jobs.items() if job.stage == "closed"}
        estimated = {line.job_no for line in self.lines.values()}
        approved = {line.job_no for line in self.lines.values() if line.status == "approved"}
        return (self.pending() == 0 and approved <= passed and bool(passed | closed)
                and set(self.jobs) <= estimated | closed and not self.unissued())


Want = Callable[[OrderModel, int, JobModel], object]


def reference_totals(lines: Iterable[LineModel]) -> dict[str, dict[str, Decimal]]:
    approved = [line for line in lines if line.status == "approved"]
    result: dict[str, dict[str, Decimal]] = {}
    for pay_type in PAY_TYPES:
        mine = [line for line in approved if line.pay_type == pay_type]
        if mine:
            labor = sum((ln.gross for ln in mine if ln.kind == "labor"), Decimal("0.00"))
            parts = sum((ln.gross for ln in mine if ln.kind == "part"), Decimal("0.00"))
            vat = sum((ln.vat for ln in mine), Decimal("0.00"))
            result[pay_type] = {"labor": labor, "parts": parts, "vat": vat,
                                "total": labor + parts}
    if "warranty" in result:  # the customer's share of warranty lines: none asked here
        result["warranty"]["deductible"] = Decimal("0.00")
    return result


def dispatchable(order: OrderModel, job_no: int, job: JobModel) -> bool:
    """Authorized and not yet with a technician (reassignments come from ANY_JOB picks)."""
    return order.checked_in and order.authorized(job_no) and job.technician is None


def closable(order: OrderModel, job_no: int, job: JobModel) -> bool:
    """Checked in, not done, and no work open on it (no lines, or all declined), on a visit
    not yet ready for settlement: a job whose lines the customer all declined holds nothing
    back, and once nothing is left to do the visit is no longer worked on."""
    return (order.checked_in and not order.cancelled and job.stage not in ("passed", "closed")
            and not order.open_lines(job_no) and job.clocked_on_at is None
            and not order.nothing_left_to_do())


def clockable(order: OrderModel, job_no: int, job: JobModel) -> bool:
    return job.stage in ("dispatched", "in_repair") and job.clocked_on_at is None


def on_the_clock(order: OrderModel, job_no: int, job: JobModel) -> bool:
    return job.clocked_on_at is not None


def finished(order: OrderModel, job_no: int, job: JobModel) -> bool:
    return job.stage == "in_repair" and job.clocked_on_at is None


def awaiting_qc(order: OrderModel, job_no: int, job: JobModel) -> bool:
    return job.stage == "awaiting_qc"


def some_job(want: Want) -> Callable[[WorkshopDay], bool]:
    return lambda machine: bool(machine.candidates(want))


def some_line(*statuses: str) -> Callable[[WorkshopDay], bool]:
    return lambda machine: any(line.status in statuses for order in machine.active()
                               for line in order.lines.values())


class WorkshopDay(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.app = ServiceCore()
        self.wos = WorkOrders(self.app)
        self.now = T0
        self.orders: list[OrderModel] = []
        # The part every part line asks for is in the master, measured in litres (lines of
        # a hundredth move), and a big delivery came in.
        register_part(self.app, PART, unit="L")
        stock_part(self.app, PART, ON_SHELF, unit_cost="12.50")
        for tech in TECHNICIANS:  # the desk dispatches to the store's technicians only
            on_roster(self.app, tech)

    def request(self, role: str = "advisor", user: str | None = None) -> Request:
        return request(role, user, at=self.now)

    def active(self) -> list[OrderModel]:
        return [order for order in self.orders if not order.cancelled] or self.orders

    def candidates(self, want: Want) -> list[tuple[OrderModel, int]]:
        return [(order, no) for order in self.active() for no, job in order.jobs.items()
                if want(order, no, job)]

    def order(self, pick: int, prefer: Callable[[OrderModel], object] = bool) -> OrderModel:
        preferred = [order for order in self.active() if prefer(order)]
        pool = preferred if preferred and pick != STRAY else self.active()
        return pool[pick % len(pool)]

    def job(self, pick: int, want: Want) -> tuple[OrderModel, int]:
        """Mostly a job the command suits; sometimes any job, or one that does not exist."""
        suitable = self.candidates(want)
        if suitable and pick != STRAY and pick not in ANY_JOB:
            return suitable[pick % len(suitable)]
        order = self.order(pick)
        return order, (len(order.jobs) + 1 if pick == STRAY else pick % len(order.jobs) + 1)

    def attempt(self, command: Callable[[], CommandResult]) -> CommandResult | None:
        """Run a command; a refusal must leave the event store exactly as it was."""
        before = events_stored(self.app)
        try:
            result = command()
        except DomainError:
            assert events_stored(self.app) == before
            return None
        assert events_stored(self.app) > before
        return result

    def technician(self, user_id: str) -> Technician | None:
        try:
            found: object = self.app.repository.get(Technician.create_id(user_id))
        except AggregateNotFoundError:
            return None
        assert isinstance(found, Technician)
        return found

    @initialize(hours=st.decimals(min_value="0.1", max_value=8, places=1),
                rate=st.sampled_from([Decimal("300.00"), Decimal("488.88")]))
    def first_car_arrives_with_an_approved_estimate(self, hours: Decimal, rate: Decimal) -> None:
        wo_id = open_order(self.wos, at=self.now, complaints=("brake noise", "oil service"))
        self.wos.check_in(self.request(), wo_id, mileage_in=42_000, fuel_level=50)
        self.wos.add_labor_line(self.request(), wo_id, 1, {
            "op_code": "BRK01", "description": "front pads", "hours": str(hours),
            "hourly_rate": str(rate)})
        self.wos.authorize_line(self.request(), wo_id, "L1", decision="approved",
                                channel="in_person")
        model = OrderModel(wo_id, {1: JobModel(), 2: JobModel()}, checked_in=True)
        model.lines["L1"] = LineModel(1, "labor", "customer", hours, rate, Decimal("0.13"),
                                      status="approved")
        self.orders.append(model)

    @precondition(lambda self: len(self.orders) < 6 and len(self.active()) < 3)
    @rule()
    def another_customer_arrives(self) -> None:
        self.orders.append(OrderModel(open_order(self.wos, at=self.now), {1: JobModel()}))

    @precondition(lambda self: any(not order.checked_in for order in self.active()))
    @rule(order=PICK, mileage=st.sampled_from([42_000, 42_050, 41_990]),
          fuel=st.sampled_from([40, 0, 100, 101]))
    def check_in(self, order: int, mileage: int, fuel: int) -> None:
        model = self.order(order, lambda model: not model.checked_in)
        if self.attempt(lambda: self.wos.check_in(self.request(), model.id, mileage_in=mileage,
                                                  fuel_level=fuel)):
            assert not model.checked_in and mileage >= 42_000 and fuel <= 100
            model.checked_in = True

    @precondition(lambda self: sum(len(order.jobs) for order in self.active()) < 5)
    @rule(order=PICK)
    def add_job(self, order: int) -> None:
        model = self.order(order)
        result = self.attempt(lambda: self.wos.add_job(self.request(), model.id,
                                                       complaint="rattle"))
        if result is not None:
            model.jobs[len(model.jobs) + 1] = JobModel()
            assert result.body["job_no"] == len(model.jobs)

    @precondition(lambda self: any(order.pending() < 2 for order in self.active()))
    @rule(job=PICK, kind=st.sampled_from(["labor", "part"]),
          qty=st.decimals(min_value="0.01", max_value=20, places=2),
          price=st.decimals(min_value=0, max_value=5_000, places=2),
          pay_type=st.sampled_from(PAY_TYPES),
          rate=st.sampled_from([Decimal("0.13"), Decimal("0.09"), Decimal("0.06"), Decimal(0)]),
          coverage=st.booleans())
    def add_line(self, job: int, kind: str, qty: Decimal, price: Decimal, pay_type: str,
                 rate: Decimal, coverage: bool) -> None:
        model, job_no = self.job(job, lambda order, no, job: order.pending() < 2
                                 and job.stage not in ("passed", "closed"))
        data: dict[str, Any] = {"description": "work", "pay_type": pay_type, "vat_rate": str(rate)}
        if pay_type == "warranty" and coverage:
            data["warranty"] = {"coverage_code": "PT-5Y"}
        if kind == "labor":
            data.update(op_code="OP1", hours=str(qty), hourly_rate=str(price))
            command = self.wos.add_labor_line
        else:
            data.update(part_number=PART.lower(), qty=str(qty), unit_price=str(price))
            command = self.wos.add_part_line
        result = self.attempt(lambda: command(self.request(), model.id, job_no, data))
        if result is not None:
            assert qty > 0 and (pay_type != "warranty" or coverage)
            line_id = result.body["line_id"]
            assert line_id == f"L{len(model.lines) + 1}"
            model.lines[line_id] = LineModel(job_no, kind, pay_type, qty, price, rate)
            if model.jobs[job_no].stage == "awaiting_qc":  # new work sends the job back
                model.jobs[job_no].stage = "in_repair"

    @precondition(some_line("pending"))
    @rule(order=PICK, line=PICK, decision=st.sampled_from(["approved", "declined"]))
    def customer_decides(self, order: int, line: int, decision: str) -> None:
        model = self.order(order, lambda model: model.pending())
        line_id = model.line_id(line, pending_first=True)
        if self.attempt(lambda: self.wos.authorize_line(
                self.request(), model.id, line_id, decision=decision, channel="phone")):
            assert model.lines[line_id].status == "pending"
            model.lines[line_id].status = decision

    @precondition(some_line("pending"))  # prices are corrected while the estimate is open
    @rule(order=PICK, line=PICK, price=st.decimals(min_value=0, max_value=5_000, places=2),
          role=st.sampled_from(["advisor", "manager"]), reason=REASON)
    def reprice(self, order: int, line: int, price: Decimal, role: str,
                reason: str | None) -> None:
        model = self.order(order, lambda model: model.lines)
        line_id = model.line_id(line)
        if self.attempt(lambda: self.wos.reprice_line(
                self.request(role), model.id, line_id, unit_price=str(price), reason=reason)):
            repriced = model.lines[line_id]
            assert repriced.status == "pending" or (repriced.status == "approved"
                                                    and role == "manager" and reason)
            repriced.unit_price = price

    @precondition(some_job(dispatchable))
    @rule(job=PICK, tech=st.sampled_from(TECHNICIANS), reason=st.sampled_from(["bay swap", None]))
    def dispatch(self, job: int, tech: str, reason: str | None) -> None:
        model, job_no = self.job(job, dispatchable)
        if self.attempt(lambda: self.wos.dispatch(self.request("manager"), model.id, job_no,
                                                  technician_id=tech, reason=reason)):
            dispatched = model.jobs[job_no]
            assert dispatched.technician is None or (dispatched.technician != tech and reason)
            dispatched.technician = tech
            if dispatched.stage == "reported":
                dispatched.stage = "dispatched"

    @precondition(lambda self: any(job.stage not in ("passed", "closed")
                                   for order in self.active() for job in order.jobs.values()))
    @rule(job=PICK, outcome=st.sampled_from(["no_fault_found", "declined", "repaired"]),
          reason=REASON)
    def close_job(self, job: int, outcome: str, reason: str | None) -> None:
        model, job_no = self.job(job, closable)
        target = model.jobs.get(job_no)
        # Refused unless the job is closable, the outcome one of the two and a reason given.
        allowed = (target is not None and closable(model, job_no, target) and bool(reason)
                   and outcome in ("no_fault_found", "declined"))
        result = self.attempt(lambda: self.wos.close_job(self.request(), model.id, job_no,
                                                         outcome=outcome, reason=reason))
        assert (result is not None) == allowed, (job_no, outcome, reason, model)
        if result is not None and target is not None:
            target.stage = "closed"

    def technician_for(self, model: OrderModel, job_no: int, who: str | None) -> str:
        return who or getattr(model.jobs.get(job_no), "technician", None) or TECHNICIANS[0]

    @precondition(some_job(clockable))
    @rule(job=PICK, who=WHO, minutes=MINUTES)
    def clock_on(self, job: int, who: str | None, minutes: int) -> None:
        model, job_no = self.job(job, clockable)
        tech = self.technician_for(model, job_no, who)
        self.now += timedelta(minutes=minutes)
        if self.attempt(lambda: self.wos.clock_on(self.request("technician", tech), model.id,
                                                  job_no)):
            assert model.jobs[job_no].technician == tech
            model.jobs[job_no].clocked_on_at = self.now
            model.jobs[job_no].stage = "in_repair"

    @precondition(some_job(on_the_clock))
    @rule(job=PICK, who=WHO, minutes=MINUTES)
    def clock_off(self, job: int, who: str | None, minutes: int) -> None:
        model, job_no = self.job(job, on_the_clock)
        tech = self.technician_for(model, job_no, who)
        self.now += timedelta(minutes=minutes)
        result = self.attempt(lambda: self.wos.clock_off(self.request("technician", tech),
                                                         model.id, job_no))
        if result is not None:
            clocked = model.jobs[job_no]
            assert clocked.technician == tech and clocked.clocked_on_at is not None
            seconds = int((self.now - clocked.clocked_on_at).total_seconds())
            assert result.body["clocked_seconds"] == seconds
            clocked.clocked_seconds += seconds
            clocked.clocked_on_at = None

    @precondition(lambda self: any(order.unissued() for order in self.active()))
    @rule(order=PICK, line=PICK, share=ISSUE)
    def issue(self, order: int, line: int, share: int | str | None) -> None:
        model = self.order(order, lambda model: model.unissued())
        line_id = model.line_id(line, prefer=lambda line: line.unissued)
        target = model.lines.get(line_id)
        outstanding = target.qty - target.issued if target is not None else Decimal(0)
        qty: Decimal | str | None = share if share is None or isinstance(share, str) else \
            (outstanding * share / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        amount = outstanding if qty is None else Decimal(qty)
        job = model.jobs[target.job_no] if target is not None else None
        allowed = (target is not None and job is not None and not model.cancelled
                   and target.kind == "part" and target.status == "approved"
                   and job.stage != "passed" and 0 < amount <= outstanding
                   and amount == amount.quantize(Decimal("0.001")))
        result = self.attempt(lambda: self.wos.issue_part(
            clerk(at=self.now), model.id, line_id, qty=None if qty is None else str(qty)))
        assert (result is not None) == allowed, (line_id, target, qty, model)
        if result is not None and target is not None:
            assert Decimal(result.body["issued_qty"]) == amount
            assert Decimal(result.body["cost"]) == half_up(amount * Decimal("12.50"))
            target.issued += amount

    @precondition(lambda self: any(line.issued > 0 for order in self.active()
                                   for line in order.lines.values()))
    @rule(order=PICK, line=PICK, share=ISSUE, reason=REASON)
    def return_parts(self, order: int, line: int, share: int | str | None,
                     reason: str | None) -> None:
        model = self.order(order, lambda model: model.issued())
        line_id = model.line_id(line, prefer=lambda line: line.issued > 0)
        target = model.lines.get(line_id)
        issued = target.issued if target is not None else Decimal(0)
        amount = issued if share is None else Decimal(share) if isinstance(share, str) else \
            (issued * share / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        allowed = (target is not None and target.kind == "part" and bool(reason)
                   and 0 < amount <= issued and amount == amount.quantize(Decimal("0.001")))
        result = self.attempt(lambda: self.wos.return_part(
            clerk(at=self.now), model.id, line_id, qty=str(amount), reason=reason))
        assert (result is not None) == allowed, (line_id, target, amount, model)
        if result is not None and target is not None:
            assert Decimal(result.body["returned_qty"]) == amount
            target.issued -= amount
            # What the line lacks again is held for it while its job can still take issues.
            open_job = model.jobs[target.job_no].stage != "passed"
            assert result.body.get("supply") == ("reserved" if open_job else None)

    @precondition(some_job(finished))
    @rule(job=PICK, who=WHO)
    def complete(self, job: int, who: str | None) -> None:
        model, job_no = self.job(job, finished)
        tech = self.technician_for(model, job_no, who)
        done = model.jobs.get(job_no)
        # Refused unless the job is finished and authorized and all its parts have been issued.
        allowed = (done is not None and not model.cancelled and finished(model, job_no, done)
                   and model.authorized(job_no) and not model.unissued(job_no))
        result = self.attempt(lambda: self.wos.complete_job(self.request("technician", tech),
                                                            model.id, job_no))
        assert (result is not None) == allowed, (job_no, model)
        if result is not None:
            model.jobs[job_no].stage = "awaiting_qc"

    @precondition(some_job(awaiting_qc))
    @rule(job=PICK, passed=st.sampled_from([True, False]), reason=REASON)
    def quality_check(self, job: int, passed: bool, reason: str | None) -> None:
        model, job_no = self.job(job, awaiting_qc)
        if self.attempt(lambda: self.wos.quality_check(
                self.request("manager", "qc-1"), model.id, job_no, passed=passed,
                reason=reason)):
            assert awaiting_qc(model, job_no, model.jobs[job_no]) and (passed or reason)
            assert not any(ln.status == "pending" and ln.job_no == job_no
                           for ln in model.lines.values())
            model.jobs[job_no].stage = "passed" if passed else "in_repair"

    @precondition(lambda self: self.now >= T0 + timedelta(hours=2))  # customers lose patience
    @rule(order=PICK, reason=REASON)
    def cancel(self, order: int, reason: str | None) -> None:
        model = self.order(order, lambda model: not model.checked_in)
        allowed = (not model.cancelled and bool(reason) and not model.issued()
                   and not any(job.clocked_on_at for job in model.jobs.values()))
        result = self.attempt(lambda: self.wos.cancel(self.request(), model.id,
                                                      reason=reason or ""))
        assert (result is not None) == allowed, model
        if result is not None:
            model.cancelled = True

    @invariant()
    def work_orders_agree_with_the_model(self) -> None:
        for model in self.orders:
            wo = load(self.app, model.id)
            assert wo.status in STATUSES
            assert (wo.status == "cancelled") == model.cancelled
            assert {k: v["status"] for k, v in wo.lines.items()} == {
                k: v.status for k, v in model.lines.items()}
            assert {k: v["gross"] for k, v in wo.lines.items()} == {
                k: v.gross for k, v in model.lines.items()}
            assert {k: v["issued_qty"] for k, v in wo.lines.items() if v["kind"] == "part"} == {
                k: v.issued for k, v in model.lines.items() if v.kind == "part"}
            assert wo.totals() == reference_totals(model.lines.values())
            assert sorted(wo.jobs) == sorted(model.jobs)
            for job_no, job in wo.jobs.items():
                expected = model.jobs[job_no]
                assert job["status"] == expected.stage  # 'passed' only after a QC pass
                assert job["technician_id"] == expected.technician
                assert (job["clock"] is not None) == (expected.clocked_on_at is not None)
                assert job["clocked_seconds"] == expected.clocked_seconds >= 0
            if wo.status == "ready_for_settlement":
                assert model.nothing_left_to_do()
            if wo.status in ("checked_in", "in_progress"):
                assert not model.nothing_left_to_do()

    @invariant()
    def stock_follows_the_issues_and_reservations(self) -> None:
        """Every approved part line of a live order whose job has not passed QC holds what it
        still needs (also after a return); the rest left."""
        item = load_stock(self.app, PART)
        issued = sum((line.issued for model in self.orders for line in model.lines.values()),
                     Decimal(0))
        assert item.on_hand == ON_SHELF - issued
        assert item.reserved == {
            WorkOrder.stock_key(model.id, k): line.qty - line.issued
            for model in self.orders if not model.cancelled
            for k, line in model.lines.items()
            if line.unissued and model.jobs[line.job_no].stage != "passed"}
        assert not item.alert_raised

    @invariant()
    def each_technician_holds_at_most_one_clock(self) -> None:
        clocks: dict[str, list[dict[str, Any]]] = {tech: [] for tech in TECHNICIANS}
        for model in self.orders:
            for job_no, job in load(self.app, model.id).jobs.items():
                if job["clock"] is not None:
                    assert job["clock"]["technician_id"] == job["technician_id"]
                    clocks[job["clock"]["technician_id"]].append(
                        {"work_order_id": str(model.id), "job_no": job_no})
        for tech, held in clocks.items():
            assert len(held) <= 1
            technician = self.technician(tech)
            open_clock = technician.open_clock if technician is not None else None
            assert open_clock == (held[0] if held else None)


TestWorkshopDay = WorkshopDay.TestCase
TestWorkshopDay.settings = settings(max_examples=60, stateful_step_count=40)
