"""What the settlement desk's commands share: the money rules' settings, the service's clock
and zone, and the helpers that find or open a visit's settlement, its cashier's day, and settle
a visit once its customer bill is paid (with the loyalty points it earns).

The commands are in domain/settlements.py (drafting to reversal), domain/settlement_cashier.py
(payments and the day-end close) and domain/settlement_refunds.py (refunds and credits).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.application import CommandResult, Decision, Request, ServiceCore, Session
from domain.cashier_day import CashierDay
from domain.common import InvalidInput, require
from domain.customer import Customer
from domain.customers import earn_in
from domain.loyalty import LoyaltyRules
from domain.settlement import Settlement
from domain.work_order import WorkOrder


@dataclass(frozen=True)
class Policy:
    """Settings that shape money rules."""

    discount_approval_rate: Decimal = Decimal("0.10")
    deposit_ceiling: Decimal = Decimal("5000.00")  # deposits while no line is approved
    loyalty: LoyaltyRules | None = None  # points earned on the paid customer bill


def peek_settlement(app: ServiceCore, settlement_id: UUID) -> Settlement | None:
    """The settlement as last saved, read outside the command (which aggregates it holds);
    None for an unknown id or another kind of stream, which the command itself answers."""
    try:
        found: Any = app.repository.get(settlement_id)
    except Exception:  # noqa: BLE001 - unknown ids are answered by the command itself
        return None
    return found if isinstance(found, Settlement) else None


class SettlementDesk:
    """The settings and helpers the settlement commands share."""

    def __init__(self, app: ServiceCore, timezone: str = "Asia/Shanghai",
                 policy: Policy | None = None, stores: Iterable[str] = ()) -> None:
        self.app = app
        self.zone = ZoneInfo(timezone)
        self.policy = policy or Policy()
        self.stores = frozenset(stores)  # the group's stores (`require_group_store`)

    def today(self, request: Request) -> date:
        return request.caller.at.astimezone(self.zone).date()

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _settlement_for(session: Session, wo: WorkOrder) -> Settlement:
        found = session.find(Settlement, Settlement.create_id(wo.id))
        if found is None:
            found = Settlement(id=Settlement.create_id(wo.id), audit=session.audit(wo.store_id),
                               work_order_id=wo.id, work_order_number=wo.number,
                               customer_id=wo.customer_id)
            session.add(found)
        return found

    def _on(self, request: Request, settlement_id: UUID,
            act: Callable[[Session, Settlement], dict[str, Any] | None],
            also: tuple[UUID, ...] = ()) -> CommandResult:
        def decide(session: Session) -> Decision:
            settlement = session.target(Settlement, settlement_id, "settlement")
            answer = act(session, settlement) or {}
            return Decision(settlement, {**settlement.summary(), **answer})

        return self.app.execute(request, decide, (settlement_id, *also))

    def _work_order(self, session: Session, settlement: Settlement) -> WorkOrder:
        return session.get(WorkOrder, settlement.work_order_id, "work order")

    def _settle_if_paid(self, session: Session, settlement: Settlement) -> bool:
        audit = session.audit(settlement.store_id)
        if not settlement.settle_if_paid(audit):
            return False
        assert settlement.number is not None
        wo = self._work_order(session, settlement)
        wo.settle(audit, settlement.id, settlement.number, settlement.billed("customer"))
        self._earn_points(session, settlement, wo.number)
        return True

    def _earn_points(self, session: Session, settlement: Settlement, reference: str) -> None:
        """Loyalty points on what the customer paid, in the settling save (once per visit:
        a re-settlement after a reversal earns nothing more)."""
        rules = self.policy.loyalty
        paid = settlement.paid("customer")
        customer = session.find(Customer, settlement.customer_id)
        if rules is None or paid <= 0 or customer is None or customer.erased:
            return
        earn_in(session, rules, self.zone, settlement.customer_id, paid, reference)

    def _business_date(self, request: Request, given: str | None,
                       what: str = "a payment") -> str:
        today = self.today(request)
        if given is None:
            return today.isoformat()
        try:
            day = date.fromisoformat(given)
        except ValueError:
            raise InvalidInput("business_date must be YYYY-MM-DD",
                               field="business_date") from None
        require(day <= today, InvalidInput(f"{what} cannot be dated in the future",
                                           field="business_date", today=today.isoformat()))
        return day.isoformat()

    @staticmethod
    def _cashier_day(session: Session, store_id: str, business_date: str) -> CashierDay:
        cashier = session.caller.user_id
        day_id = CashierDay.create_id(store_id, cashier, business_date)
        found = session.find(CashierDay, day_id)
        if found is None:
            found = CashierDay(id=day_id, audit=session.audit(store_id), cashier_id=cashier,
                               business_date=business_date)
            session.add(found)
        return found

    def _peek(self, settlement_id: UUID) -> Settlement | None:
        return peek_settlement(self.app, settlement_id)

    def _store_of(self, work_order_id: UUID) -> str:
        try:
            found: Any = self.app.repository.get(work_order_id)
        except Exception:  # noqa: BLE001 - the command answers unknown ids
            return ""
        return str(getattr(found, "store_id", ""))


def business_day(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).date().isoformat()
