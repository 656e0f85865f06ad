"""A desk (lane) of a store in a history at scale (servicecore/demo_history.py): its people and
their requests, the parts delivered to the store, and what follows a visit's repair (the
cashier's settlement, the delivery and the follow-up call), the cashiers' day-end close and the
monthly stocktake; each step a command of the real area services."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from domain.aftercare import Aftercare
from domain.application import Request
from domain.common import Caller, DomainError
from domain.inventory import Inventory
from domain.settlements import Settlements
from domain.work_orders import WorkOrders
from servicecore.demo_catalog import (
    CSI_WEIGHTS,
    HISTORY_STOCKING,
    METHOD_WEIGHTS,
    SLOW_MOVER,
    SUPPLIER,
    ZONE,
)


@dataclass
class HistoryFigures:
    stores: int = 0
    days: int = 0
    visits: int = 0
    settled: int = 0
    cancelled: int = 0
    comebacks: int = 0
    refunds: int = 0
    stocktakes: int = 0
    day_closes: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def add(self, other: HistoryFigures) -> None:
        for name in ("days", "visits", "settled", "cancelled", "comebacks", "refunds",
                     "stocktakes", "day_closes", "errors"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.error_samples += other.error_samples[: 10 - len(self.error_samples)]


class Desk:
    """A desk of a store with its own advisor, cashier and two technicians, and the store's
    manager and parts clerk; what it has done so far (`figures`)."""

    def __init__(self, work_orders: WorkOrders, inventory: Inventory, settlements: Settlements,
                 aftercare: Aftercare, store: str, rng: random.Random, now: datetime,
                 lane: int = 0, day_start: threading.Barrier | None = None) -> None:
        self.wo, self.inv, self.money, self.after = work_orders, inventory, settlements, aftercare
        self.store, self.rng, self.now = store, rng, now
        self.lane, self.day_start = lane, day_start
        s, n = store.lower(), lane + 1
        # A lane is one desk of the store with its own advisor, cashier and two technicians:
        # lanes share only the store's counters and stock, so they rarely wait for each other.
        self.advisors = [f"adv-{s}-{n}"]
        self.cashiers = [f"cash-{s}-{n}"]
        self.techs = [f"tech-{s}-{n}a", f"tech-{s}-{n}b"]
        self.manager, self.clerk = f"mgr-{s}", f"clerk-{s}"
        self.figures = HistoryFigures()
        self.serial = 0
        self.ids = random.Random(uuid4().int)  # correlation ids: unique, no system call each

    def reference(self, method: str, at: datetime) -> str:
        """A provider's transaction reference: one per transaction across the store's desks
        and across staged runs (the business minute, the desk, this run's serial)."""
        return f"{method[:3].upper()}-{self.store}-{at:%y%m%d%H%M}-{self.lane + 1}-{self.serial:07d}"

    def req(self, role: str, user: str, at: datetime) -> Request:
        correlation = UUID(int=self.ids.getrandbits(128), version=4)
        return Request(Caller(user, role, (self.store,), at, str(correlation)))

    def receive(self, part: str, qty: object, at: datetime) -> None:
        cost = HISTORY_STOCKING[part][2] if part in HISTORY_STOCKING else "260.00"
        self.serial += 1
        self.inv.receive(self.req("parts_clerk", self.clerk, at), self.store, part, qty=qty,
                         unit_cost=cost, supplier=SUPPLIER,
                         supplier_doc=f"DN-{self.store}-{self.serial:06d}")

    def open_stock(self, at: datetime) -> None:
        for part, (_unit, _cat, _cost, _low, again) in HISTORY_STOCKING.items():
            self.receive(part, again * 2, at)
        self.receive(SLOW_MOVER[0], 3, at)

    def settle(self, wo: UUID, cashier: str, at: datetime, advisor: str, mileage: int) -> None:
        rng, f = self.rng, self.figures
        draft = self.money.draft(self.req("cashier", cashier, at), wo)
        sid = UUID(draft.body["id"])
        customer_bill = draft.body["bills"].get("customer")
        if customer_bill and rng.random() < 0.15:
            total = Decimal(customer_bill["total"])
            if rng.random() < 0.2:  # a larger goodwill discount needs the manager
                amount = (total * Decimal("0.15")).quantize(Decimal(1))
                if amount > 0:
                    self.money.discount(self.req("manager", self.manager, at), sid,
                                        bill="customer", amount=amount,
                                        reason="goodwill for a loyal customer")
            else:
                amount = (total * Decimal("0.05")).quantize(Decimal(1))
                if amount > 0:
                    self.money.discount(self.req("cashier", cashier, at), sid, bill="customer",
                                        amount=amount, reason="member's service discount")
        confirmed = self.money.confirm(self.req("cashier", cashier, at + timedelta(minutes=2)),
                                       sid)
        due = Decimal(confirmed.body["bills"].get("customer", {}).get("outstanding", "0.00"))
        method = rng.choices(list(METHOD_WEIGHTS), list(METHOD_WEIGHTS.values()))[0]
        parts = [due]
        if due > 200 and rng.random() < 0.1:  # split: part in cash, the rest electronically
            parts = [Decimal(100), due - 100]
        payments: list[tuple[str, str, Decimal]] = []
        for n, amount in enumerate(parts):
            if amount <= 0:
                continue
            how = "cash" if len(parts) > 1 and n == 0 else method
            self.serial += 1
            paid = self.money.pay(self.req("cashier", cashier, at + timedelta(minutes=4 + n)),
                                  work_order_id=wo, method=how, amount=amount,
                                  provider_ref=None if how == "cash" else self.reference(how, at))
            payments.append((paid.body["payment_id"], how, amount))
        self.figures.settled += 1
        if payments and rng.random() < 0.02:  # an overcharge found later the same day:
            payment_id, _how, amount = payments[-1]  # the bill asks less (a credit)
            refund = self.money.request_refund(
                self.req("cashier", cashier, at + timedelta(minutes=30)), sid,
                payment_id=payment_id, amount=min(amount, Decimal(50)),
                reason="charged for a part not fitted", kind="credit")
            self.money.decide_refund(self.req("manager", self.manager,
                                              at + timedelta(minutes=40)), sid,
                                     refund.body["refund_id"], approve=True)
            f.refunds += 1
        delivered = self.after.deliver(self.req("advisor", advisor, at + timedelta(minutes=45)),
                                       wo, mileage_out=mileage + rng.randint(30, 60),
                                       acknowledged_by="customer",
                                       method=rng.choice(["signature", "sms_code", "wechat"]))
        call = at + timedelta(days=3, hours=rng.randint(0, 4))
        if call > self.now or rng.random() < 0.12:
            return  # not reached (yet)
        follow_up = UUID(delivered.body["follow_up"]["id"])
        if rng.random() < 0.15:
            self.after.attempt(self.req("advisor", advisor, call), follow_up,
                               outcome="no_answer")
            call += timedelta(hours=3)
        csi = rng.choices(list(CSI_WEIGHTS), list(CSI_WEIGHTS.values()))[0]
        grievance = {"category": "repair_quality", "severity": "normal",
                     "words": "the problem came back"} if csi <= 2 and \
            rng.random() < 0.6 else None
        self.after.complete(self.req("advisor", advisor, call), follow_up, csi=csi,
                            comment=None, grievance=grievance)

    # -- the store's day ---------------------------------------------------------------------

    def close_days(self, day: datetime) -> None:
        from domain.cashier_day import CashierDay

        business_date = day.astimezone(ZONE).date().isoformat()
        at = day.replace(hour=10, minute=30)  # 18:30 in Shanghai
        for cashier in self.cashiers:
            found: Any = None
            try:
                found = self.money.app.repository.get(
                    CashierDay.create_id(self.store, cashier, business_date))
            except AggregateNotFoundError:
                found = None
            expected = found.expected_cash if found is not None else Decimal("0.00")
            short = self.rng.random() < 0.03 and expected > 20
            counted = expected - 10 if short else expected
            self.money.close_day(self.req("cashier", cashier, at), store_id=self.store,
                                 business_date=business_date, counted_cash=counted,
                                 reason="till short by 10" if short else None)
            self.figures.day_closes += 1

    def stocktake(self, at: datetime) -> None:
        from domain.inventory_desk import stock_stream

        for part in self.rng.sample(sorted(HISTORY_STOCKING), 3):
            item: Any = self.inv.app.repository.get(stock_stream(self.store, part))
            lots = [(lot_id, lot) for lot_id, lot in item.open_lots.items() if lot["on_hand"] > 1]
            if not lots:
                continue
            lot_id, lot = lots[0]
            delta = self.rng.choice([-1, -1, -1, 0, 1])
            counted = lot["on_hand"] + delta
            try:
                done = self.inv.count(self.req("parts_clerk", self.clerk, at), self.store, part,
                                      counted={lot_id: str(counted)},
                                      reason="monthly stocktake" if delta else None)
                if done.body["status"] == "awaiting_approval":
                    self.inv.decide_count(self.req("manager", self.manager,
                                                   at + timedelta(minutes=30)),
                                          self.store, part, done.body["count_id"], approve=True)
            except DomainError as exc:
                self._error(exc)
            self.figures.stocktakes += 1

    def _error(self, exc: Exception) -> None:
        self.figures.errors += 1
        if len(self.figures.error_samples) < 10:
            self.figures.error_samples.append(f"{self.store}: {type(exc).__name__}: {exc}")
