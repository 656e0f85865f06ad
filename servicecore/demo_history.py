"""What happens in a dealership's days, desk by desk: the visits of a history at scale
(`servicecore demo-data --months N`; the dashboard's, the KPIs' and bench/analytics.py's data),
each step a command of the real area services. servicecore.demo_scale drives the days; a
desk's people, settlements, day-end closes and stocktakes are servicecore.demo_desk's."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.aftercare import Aftercare
from domain.common import DomainError
from domain.completion_certificates import CompletionCertificates
from domain.inventory import Inventory
from domain.settlements import Settlements
from domain.technicians import Technicians
from domain.work_orders import WorkOrders
from servicecore.demo_catalog import (
    BRANDS,
    GIVEN,
    HISTORY_STOCKING,
    MAINTENANCE,
    REPAIRS,
    SURNAMES,
    ZONE,
    make_vin,
    name_technicians,
)
from servicecore.demo_desk import Desk, HistoryFigures


@dataclass
class _Seen:
    """A vehicle the store has serviced (for returning customers and comebacks)."""

    customer_id: UUID
    vehicle: dict[str, Any]
    mileage: int
    complaint: str
    kind: str
    opened_at: datetime


class StoreHistory(Desk):
    """One desk (lane) of a store, day by day: its visits, its cashier's day-end close, and
    for lane 0 the store's first deliveries and monthly stocktakes."""

    def __init__(self, work_orders: WorkOrders, inventory: Inventory, settlements: Settlements,
                 aftercare: Aftercare, store: str, rng: random.Random, now: datetime,
                 lane: int = 0, day_start: threading.Barrier | None = None) -> None:
        super().__init__(work_orders, inventory, settlements, aftercare, store, rng, now, lane,
                         day_start)
        self.seen: list[_Seen] = []

    # -- one visit -------------------------------------------------------------------------

    def visit(self, at: datetime, *, partial: bool) -> None:
        rng, f = self.rng, self.figures
        advisor, cashier = rng.choice(self.advisors), rng.choice(self.cashiers)
        # a comeback returns within the 10 days / 2,000 km its minor repair is guaranteed
        recent = [s for s in self.seen[-200:] if at - s.opened_at <= timedelta(days=9)]
        returning: _Seen | None = None
        comeback = False
        if recent and rng.random() < 0.04:
            returning, comeback = rng.choice(recent), True
        elif self.seen and rng.random() < 0.35:
            returning = rng.choice(self.seen)
        if comeback and returning is not None:
            kind, complaint = returning.kind, returning.complaint
        elif rng.random() < 0.45:
            kind, complaint = "maintenance", None
        else:
            kind, complaint = "repair", None
        job = rng.choice(MAINTENANCE) if kind == "maintenance" else None
        repair = rng.choice(REPAIRS) if kind == "repair" else None
        if complaint is None:
            complaint = f"scheduled service: {job[1]}" if job else repair[0]  # type: ignore[index]
        elif kind == "repair":
            repair = next((r for r in REPAIRS if r[0] == complaint), repair)
        else:
            job = next((j for j in MAINTENANCE if complaint.endswith(j[1])), job)
        if returning is None:
            brand, model = rng.choice(BRANDS)
            vehicle = {"vin": make_vin(rng), "plate": f"沪A{rng.randint(10000, 99999)}",
                       "brand": brand, "model": model, "year": rng.randint(2014, 2025)}
            mileage = rng.randint(3_000, 150_000)
            customer = {"name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                        "phone": f"13{rng.randint(100000000, 999999999)}"}
            opened = self.wo.open(self.req("advisor", advisor, at), store_id=self.store,
                                  customer=customer, vehicle=vehicle, mileage=mileage,
                                  complaints=[complaint], kind=kind)
            customer_id = UUID(opened.body["customer_id"])
        else:
            vehicle, customer_id = returning.vehicle, returning.customer_id
            mileage = returning.mileage + (rng.randint(100, 1_500) if comeback
                                           else rng.randint(300, 8_000))
            opened = self.wo.open(self.req("advisor", advisor, at), store_id=self.store,
                                  customer={}, vehicle=vehicle, mileage=mileage,
                                  complaints=[complaint], kind=kind, customer_id=customer_id)
        f.visits += 1
        f.comebacks += comeback
        self.seen.append(_Seen(customer_id, vehicle, mileage, complaint, kind, at))
        wo = UUID(opened.body["id"])

        def t(minutes: float) -> datetime:
            return at + timedelta(minutes=minutes)

        if partial and rng.random() < 0.3:
            return  # still at reception when the history ends
        self.wo.check_in(self.req("advisor", advisor, t(8)), wo,
                         mileage_in=mileage + rng.randint(0, 30), fuel_level=rng.randint(10, 100))
        rate = rng.choice(["320.00", "320.00", "350.00", "380.00"])
        lines: list[tuple[str, str | None]] = []  # (line id, part number)
        part: str | None
        qty: str | None
        if job is not None:
            op, desc, hours, part, qty = job
        else:
            assert repair is not None
            _c, op, desc, hours, part, qty = repair
        answer = self.wo.add_labor_line(self.req("advisor", advisor, t(15)), wo, 1, {
            "op_code": op, "description": desc, "hours": hours, "hourly_rate": rate})
        lines.append((answer.body["line_id"], None))
        if part is not None:
            answer = self.wo.add_part_line(self.req("advisor", advisor, t(16)), wo, 1, {
                "part_number": part, "qty": qty})
            lines.append((answer.body["line_id"], part))
        if rng.random() < 0.12:  # a warranty or campaign line on the OEM's bill
            answer = self.wo.add_labor_line(self.req("advisor", advisor, t(17)), wo, 1, {
                "op_code": "CAMP-ECU", "description": "ECU software update (campaign)",
                "hours": "0.5", "hourly_rate": "260.00", "pay_type": "warranty",
                "warranty": {"coverage_code": "C-22", "campaign_no": f"RC{at.year}-01"}})
            lines.append((answer.body["line_id"], None))
        if rng.random() < 0.04:  # the customer walks away before any work
            self.wo.cancel(self.req("manager", self.manager, t(25)), wo,
                           reason="customer declined the estimate")
            f.cancelled += 1
            return
        declined = len(lines) > 1 and rng.random() < 0.05
        for n, (line_id, part_no) in enumerate(lines):
            decision = "declined" if declined and n == len(lines) - 1 else "approved"
            answer = self.wo.authorize_line(self.req("advisor", advisor, t(25)), wo, line_id,
                                            decision=decision,
                                            channel=rng.choice(["in_person", "phone", "link"]))
            supply = answer.body.get("supply")
            if decision == "approved" and part_no and supply != "reserved":
                # back order: the parts desk orders, the delivery comes, the line is reserved
                self.receive(part_no, HISTORY_STOCKING[part_no][4], t(90))
                self.wo.reserve_line(self.req("parts_clerk", self.clerk, t(95)), wo, line_id)
        if partial and rng.random() < 0.3:
            return
        tech = rng.choice(self.techs)
        self.wo.dispatch(self.req("manager", self.manager, t(100)), wo, 1, technician_id=tech)
        for n, (line_id, part_no) in enumerate(lines):
            if part_no and not (declined and n == len(lines) - 1):
                issued = self.wo.issue_part(self.req("parts_clerk", self.clerk, t(105)), wo,
                                            line_id)
                low = HISTORY_STOCKING[part_no][3]
                if Decimal(issued.body["available"]) < low:
                    self.receive(part_no, HISTORY_STOCKING[part_no][4], t(300))
        on = t(110 + rng.randint(0, 60))
        sold = sum(Decimal(h) for h in [hours] + (["0.5"] if len(lines) > 2 else []))
        worked = float(sold) * 60 * rng.uniform(0.7, 1.4)
        off = on + timedelta(minutes=max(10, worked))
        self.wo.clock_on(self.req("technician", tech, on), wo, 1)
        self.wo.clock_off(self.req("technician", tech, off), wo, 1)
        if partial and rng.random() < 0.3:
            return
        self.wo.complete_job(self.req("technician", tech, off + timedelta(minutes=2)), wo, 1)
        qc = off + timedelta(minutes=10)
        if rng.random() < 0.03:
            self.wo.quality_check(self.req("manager", self.manager, qc), wo, 1, passed=False,
                                  reason="road test: noise remains")
            self.wo.clock_on(self.req("technician", tech, qc + timedelta(minutes=5)), wo, 1)
            qc += timedelta(minutes=40)
            self.wo.clock_off(self.req("technician", tech, qc), wo, 1)
            self.wo.complete_job(self.req("technician", tech, qc), wo, 1)
            qc += timedelta(minutes=5)
        self.wo.quality_check(self.req("manager", self.manager, qc), wo, 1, passed=True)
        CompletionCertificates(self.wo.app).certify_if_major(
            self.req("manager", self.manager, qc), wo)
        if partial:
            return
        self.settle(wo, cashier, qc + timedelta(minutes=20), advisor, mileage)

    # -- the history, day by day ----------------------------------------------------------

    def setup(self, first_day: datetime) -> None:
        """The day before the history: the first deliveries (lane 0) and the desk's technicians."""
        if self.lane == 0:
            self.open_stock(first_day - timedelta(days=1))
        name_technicians(Technicians(self.wo.app), self.store, self.techs,
                         first_day - timedelta(days=1), first=2 * self.lane)

    def plan_day(self, day: datetime, per_day: float) -> list[datetime]:
        """When this desk's visits of the day open (more at weekends)."""
        weekend = day.astimezone(ZONE).weekday() >= 5
        mean = per_day * (1.3 if weekend else 1.0)
        count = max(0, round(self.rng.gauss(mean, max(1.0, mean / 4))))
        return [day + timedelta(minutes=slot * (480 / max(count, 1)) + self.rng.randint(0, 20))
                for slot in range(count)]

    def try_visit(self, at: datetime, *, partial: bool) -> None:
        """One visit; a command that the rules refuse is counted, and the visit stops there."""
        try:
            self.visit(at, partial=partial)
        except DomainError as exc:
            self._error(exc)

    def end_day(self, day: datetime) -> None:
        self.close_days(day)
        self.figures.days += self.lane == 0

    def run(self, days: list[datetime], per_day: float,
            tick: Callable[[int], None]) -> HistoryFigures:
        try:
            return self._run(days, per_day, tick)
        except BaseException:
            if self.day_start is not None:
                self.day_start.abort()  # the store's other lanes stop too
            raise

    def _run(self, days: list[datetime], per_day: float,
             tick: Callable[[int], None]) -> HistoryFigures:
        self.setup(days[0])
        last_month = None
        for number, day in enumerate(days):
            if day.month != last_month:  # the month's stocktake, while the lanes wait
                if self.day_start is not None:
                    self.day_start.wait()
                if self.lane == 0:
                    self.stocktake(day + timedelta(minutes=30))
                last_month = day.month
            if self.day_start is not None:
                self.day_start.wait()  # the store's lanes work the same day
            opening = self.plan_day(day, per_day)
            for at in opening:
                self.try_visit(at, partial=number >= len(days) - 2)
            self.end_day(day)
            tick(len(opening))
        return self.figures
